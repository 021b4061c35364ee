"""What a new operator meets in the first hour, followed step by step in a real shell."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inbox.runtime.app import App
from inbox.runtime.deployment import init_deployment
from tests import mailcorpus as mc
from tests.cli.test_cli import inbox, inbox_json

INBOX = [sys.executable, "-m", "inbox"]


def bare_env() -> dict[str, str]:
    """The operator's shell: no INBOX_* variables set by a test fixture."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}


def test_a_deployment_keeps_its_secrets_and_data_out_of_git(tmp_path: Path) -> None:
    desk = tmp_path / "desk"
    init_deployment(desk)
    (desk / "inbox.db").write_bytes(b"")
    (desk / "inbox.db-wal").write_bytes(b"")
    (desk / "blobs" / "ab").mkdir(parents=True)
    (desk / "blobs" / "ab" / "cdef").write_bytes(b"raw mail")
    (desk / "telegram.token").write_text("7001:secret\n")
    subprocess.run(["git", "init", "-q", str(desk)], check=True)
    status = subprocess.run(["git", "-C", str(desk), "status", "--porcelain",
                             "--untracked-files=all", "--ignored"],
                            check=True, capture_output=True, text=True).stdout.splitlines()
    ignored = {line[3:] for line in status if line.startswith("!! ")}
    tracked = {line[3:] for line in status if line.startswith("?? ")}
    assert {"secret.key", "inbox.db", "inbox.db-wal", "blobs/ab/cdef",
            "telegram.token"} <= ignored
    assert {"inbox.toml", ".gitignore", "rules/10-spam.yaml"} <= tracked


def test_outside_a_deployment_a_command_says_where_it_looked_and_creates_nothing(
        tmp_path: Path) -> None:
    done = subprocess.run([*INBOX, "queue"], cwd=tmp_path, env=bare_env(),
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "no inbox.toml" in done.stderr and str(tmp_path / "inbox.toml") in done.stderr
    assert "inbox init" in done.stderr and "--config" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no ./inbox.db, no second deployment


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
def test_a_queue_piped_into_head_ends_quietly(app: App, tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for n in range(150):  # ~100 kB of listing: more than a pipe holds, so head must close it
        box.add(mc.plain_mail(sender=f"c{n}@example.com", message_id=f"<q{n}@example.com>",
                              subject=f"Question {n} " + "about my order " * 40))
    inbox_json("ingest", str(tmp_path / "Maildir"), "--no-ack")
    shell = f"{sys.executable} -m inbox queue --limit 500 | head -1"
    done = subprocess.run(["bash", "-c", shell], cwd=app.settings.base_dir, capture_output=True,
                          text=True, check=False)
    assert len(done.stdout.splitlines()) == 1
    assert done.stderr == ""  # before: "inbox: [Errno 32] Broken pipe"


def add_email_accounts(app: App, *names: str) -> None:
    """E-mail accounts in the deployment's inbox.toml, as an operator writes them."""
    config = app.settings.base_dir / "inbox.toml"
    text = config.read_text()
    for name in names:
        text += (f'\n[channels.email.{name}]\naddress = "{name}@shop.example"\n'
                 f'[channels.email.{name}.imap]\nhost = "imap.shop.example"\n'
                 f'password_env = "IMAP_PASSWORD"\n'
                 f'[channels.email.{name}.smtp]\nhost = "smtp.shop.example"\n')
    config.write_text(text)


def one_mail(tmp_path: Path) -> str:
    path = tmp_path / "new.eml"
    path.write_bytes(mc.plain_mail(sender="anna@example.com", message_id="<n1@example.com>"))
    return str(path)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_ingest_files_new_mail_under_the_one_email_account(
        app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAP_PASSWORD", "x")
    add_email_accounts(app, "support")
    inbox_json("ingest", one_mail(tmp_path))
    [row] = inbox_json("outbox")
    assert (row["channel"], row["account"], row["blocked"]) == ("email", "support", None)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_with_several_accounts_ingest_asks_which_and_names_them(
        app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAP_PASSWORD", "x")
    add_email_accounts(app, "support", "sales")
    refused = inbox("ingest", one_mail(tmp_path), ok=False)
    assert refused.exit_code == 1
    assert "--account" in refused.stderr and "sales, support" in refused.stderr
    assert inbox_json("outbox") == []
    inbox_json("ingest", one_mail(tmp_path), "--account", "sales")
    assert [r["account"] for r in inbox_json("outbox")] == ["sales"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_outbox_says_why_a_send_cannot_leave(app: App, tmp_path: Path) -> None:
    inbox_json("ingest", one_mail(tmp_path))  # no e-mail account: filed under `import`
    [row] = inbox_json("outbox")
    assert row["blocked"] == "no channel serves email/import"
    assert "no channel serves email/import" in inbox("outbox").stdout


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database is not the point
def test_assign_takes_only_the_agents_and_teams_the_deployment_has(
        app: App, tmp_path: Path) -> None:
    inbox_json("ingest", one_mail(tmp_path), "--no-ack")
    config = app.settings.base_dir / "inbox.toml"
    config.write_text(config.read_text().replace(
        "[teams.billing]\nagents = []", '[teams.billing]\nagents = ["ana", "kim"]'))
    env = {k: v for k, v in os.environ.items() if k != "INBOX_AGENT"}

    def shell(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*INBOX, *args], cwd=app.settings.base_dir, env=env,
                              capture_output=True, text=True, check=False)

    def trail() -> tuple[object, ...]:
        shown = inbox_json("show", "1")
        return shown["assignee"], shown["team"], [
            e["detail"] for e in shown["events"] if e["kind"] == "assigned"]

    done = shell("assign", "1", "ania", "--team", "nosuchteam")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "inbox: unknown agent 'ania' (did you mean 'ana'? known agents: ana, kim) and "
        "unknown team 'nosuchteam' (known teams: billing, support, tech)\n")
    assert trail() == (None, None, [])  # nothing changed
    # The rules are checked against the same names.
    (app.settings.base_dir / "rules" / "60-ania.yaml").write_text(
        "- name: to ania\n  when: {subject: {words: [order]}}\n  then: {assign: ania}\n")
    assert "unknown 'ania' (did you mean 'ana'?)" in shell("rules", "check").stderr
    (app.settings.base_dir / "rules" / "60-ania.yaml").unlink()

    assert shell("assign", "1", "ana", "--team", "billing", "--as", "ania").returncode == 1
    assert trail() == (None, None, [])
    done = shell("assign", "1", "ana", "--team", "billing", "--as", "kim")
    assert (done.returncode, done.stdout) == (0, "#1: assignee ana, team billing\n")
    done = shell("assign", "1", "")  # an empty name still takes the conversation away
    assert done.returncode == 0
    assert trail() == (None, "billing", [
        {"before": {"assignee": None, "team": None}, "assignee": "ana", "team": "billing",
         "by": "kim"},
        {"before": {"assignee": "ana", "team": "billing"}, "assignee": None,
         "team": "billing", "by": os.environ.get("USER", "cli")}])
