"""The `inbox` command as an operator and an agent use it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from inbox.cli.main import cli
from inbox.runtime.app import App
from inbox.store.models import Outbox

runner = CliRunner()


def inbox(*args: str, ok: bool = True) -> Any:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def inbox_json(*args: str) -> Any:
    return json.loads(inbox(*args, "--json").stdout)


def add_agents(*names: str, config: Path | None = None) -> None:
    """Agents in the deployment's inbox.toml (default: $INBOX_CONFIG's), as an operator
    adds them."""
    path = config or Path(os.environ["INBOX_CONFIG"])
    path.write_text(path.read_text() + "".join(
        f'\n[agents.{name}]\nemail = "{name}@shop.example"\n' for name in names))


def eml(directory: Path, name: str, *, sender: str = "Anna Nowak <anna@example.com>",
        subject: str = "Order 1234", body: str = "Where is my order?",
        message_id: str | None = None, in_reply_to: str | None = None) -> Path:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, "support@shop.example", subject
    m["Message-ID"] = f"<{message_id or name}@example.com>"
    m["Return-Path"] = "<anna@example.com>"
    if in_reply_to:
        m["In-Reply-To"] = m["References"] = f"<{in_reply_to}>"
    m.set_content(body)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.eml"
    path.write_bytes(m.as_bytes())
    return path


@pytest.mark.usefixtures("app")
def test_ingest_queue_show_reply_outbox(tmp_path: Path) -> None:
    mails = tmp_path / "mail"
    eml(mails, "a1")
    eml(mails, "b1", sender="Bob <bob@example.org>", subject="Delivery time")
    assert inbox_json("ingest", str(mails)) == {"stored": 2, "duplicates": 0, "quarantined": 0,
                                                "flagged": 0, "acks_queued": 2}
    queue = inbox_json("queue")
    assert [c["subject"] for c in queue] == ["Order 1234", "Delivery time"]
    first = queue[0]
    assert first["contact"] == {"id": first["contact"]["id"], "name": "Anna Nowak",
                                "address": "anna@example.com"}
    assert first["sla"]["state"] == "ok" and first["sla"]["seconds_left"] > 23 * 3600
    shown = inbox_json("show", str(first["id"]))
    assert [(m["kind"], m["direction"], m["delivery"]) for m in shown["messages"]] == [
        ("customer", "in", "none"), ("auto-ack", "out", "queued")]
    assert shown["messages"][0]["external_id"] == "a1@example.com"
    assert "ack.queued" in [e["kind"] for e in shown["events"]]

    add_agents("kim")
    reply = json.loads(inbox("reply", str(first["id"]), "-m", "It ships today.",
                             "--as", "kim", "--json").stdout)
    assert reply["delivery"] == "queued"
    pending = inbox_json("outbox")
    assert sorted((r["kind"], r["recipient"], r["state"]) for r in pending) == [
        ("ack", "anna@example.com", "pending"), ("ack", "bob@example.org", "pending"),
        ("reply", "anna@example.com", "pending")]
    answered = inbox_json("queue")
    # answered sorts last
    assert [c["subject"] for c in answered] == ["Delivery time", "Order 1234"]
    assert answered[1]["sla"]["state"] == "met"


@pytest.mark.usefixtures("app")
def test_ingesting_twice_changes_nothing(tmp_path: Path) -> None:
    mails = tmp_path / "mail"
    eml(mails, "a1")
    eml(mails, "a2", subject="Re: Order 1234", in_reply_to="a1@example.com")
    inbox("ingest", str(mails))
    before = inbox_json("show", "1")
    assert inbox_json("ingest", str(mails))["duplicates"] == 2
    assert inbox_json("show", "1")["messages"] == before["messages"]
    assert len(inbox_json("queue")) == 1 and len(inbox_json("outbox")) == 1


@pytest.mark.usefixtures("app")
def test_assign_status_and_filters(tmp_path: Path) -> None:
    eml(tmp_path / "mail", "a1")
    eml(tmp_path / "mail", "b1", sender="bob@example.org", subject="Delivery time")
    inbox("ingest", str(tmp_path / "mail"))
    add_agents("kim")
    inbox("assign", "1", "kim", "--team", "billing")
    assert [c["id"] for c in inbox_json("queue", "--assignee", "kim")] == [1]
    assert [c["id"] for c in inbox_json("queue", "--team", "billing")] == [1]
    inbox("status", "2", "resolved")
    assert [c["id"] for c in inbox_json("queue")] == [1]
    assert [c["id"] for c in inbox_json("queue", "--status", "resolved")] == [2]
    trail = [e["kind"] for e in inbox_json("show", "1")["events"]]
    assert "assigned" in trail


@pytest.mark.usefixtures("app")
def test_a_reply_names_a_known_agent_as_its_author(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox("ingest", str(eml(tmp_path / "mail", "a1")))
    add_agents("ana", "kim")
    monkeypatch.delenv("INBOX_AGENT", raising=False)
    nobody = inbox("reply", "1", "-m", "It ships today.", ok=False)
    assert nobody.exit_code == 1
    assert nobody.stderr == ("inbox: say who answers: --as NAME or INBOX_AGENT=NAME "
                             "(agents: ana, kim)\n")
    stranger = inbox("reply", "1", "-m", "It ships today.", "--as", "ania", ok=False)
    assert stranger.exit_code == 1
    assert stranger.stderr == ("inbox: unknown agent 'ania' (did you mean 'ana'? known "
                               "agents: ana, kim)\n")
    monkeypatch.setenv("INBOX_AGENT", "ania")
    assert "unknown agent 'ania'" in inbox("reply", "1", "-m", "Hi", ok=False).stderr
    assert [m["kind"] for m in inbox_json("show", "1")["messages"]] == [
        "customer", "auto-ack"]  # nothing was queued

    monkeypatch.setenv("INBOX_AGENT", "kim")
    inbox("reply", "1", "-m", "It ships today.")
    inbox("reply", "1", "-m", "And it is insured.", "--as", "ana")
    shown = inbox_json("show", "1")
    assert [(m["kind"], m["author"]) for m in shown["messages"][2:]] == [
        ("agent", "kim"), ("agent", "ana")]
    assert [e["detail"]["author"] for e in shown["events"] if e["kind"] == "reply.queued"
            ] == ["kim", "ana"]


@pytest.mark.usefixtures("app")
def test_errors_are_one_line_and_nonzero() -> None:
    for args, words in ((["show", "999"], "no conversation 999"),
                        (["reply", "999", "-m", "hi"], "say who answers: --as NAME"),
                        (["queue", "--status", "bogus"], "unknown status 'bogus'"),
                        (["ingest", "/no/such/file.eml"], "/no/such/file.eml")):
        result = inbox(*args, ok=False)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("inbox: ") and words in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_unmigrated_database_is_refused_with_a_clear_message(
        deployment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = inbox("queue", ok=False)
    assert result.exit_code == 1 and "inbox db upgrade" in result.stderr
    result = inbox("db", "status", ok=False)
    assert "empty" in result.stdout
    inbox("db", "upgrade")
    inbox("db", "status")
    assert inbox_json("queue") == []


def test_config_errors_name_the_setting(deployment: Path) -> None:
    config = deployment / "inbox.toml"
    config.write_text(config.read_text().replace("per_sender_daily_cap = 3",
                                                 "per_sender_daily_cap = -1"))
    result = inbox("queue", ok=False)
    assert "ack.per_sender_daily_cap" in result.stderr and result.exit_code == 1
    config.write_text("this is not toml = [")
    assert "inbox.toml" in inbox("queue", ok=False).stderr


def test_init_makes_a_private_secret_and_refuses_to_clobber(tmp_path: Path) -> None:
    inbox("init", str(tmp_path / "d"))
    key = tmp_path / "d" / "secret.key"
    assert key.stat().st_mode & 0o077 == 0 and len(key.read_text().strip()) >= 32
    assert (tmp_path / "d" / "templates" / "ack" / "email.txt").exists()
    assert "exists already" in inbox("init", str(tmp_path / "d"), ok=False).stderr


@pytest.mark.usefixtures("app")
def test_daemon_starts_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with subprocess.Popen([sys.executable, "-m", "inbox", "run"], stderr=subprocess.PIPE,
                          text=True, env=os.environ.copy()) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait for the daemon to say it is up
            if "daemon started" in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == 0, rest
    assert "daemon stopped" in rest


@pytest.mark.usefixtures("app")
def test_an_unreadable_file_is_one_clear_error(tmp_path: Path) -> None:
    mails = tmp_path / "mail"
    eml(mails, "a1")
    locked = eml(mails, "b1")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: make it a directory-less link
        locked.unlink()
        locked.symlink_to(tmp_path / "gone.eml")
    result = inbox("ingest", "--workers", "2", str(mails), ok=False)
    assert result.exit_code == 1 and "b1.eml" in result.stderr


def test_outbox_retry_sends_a_dead_send_again(app: App, tmp_path: Path) -> None:
    inbox("ingest", str(eml(tmp_path / "mail", "a1")))
    with Session(app.engine) as s, s.begin():  # the server refused it for good
        s.execute(sa.update(Outbox).values(state="dead", attempts=1,
                                           last_error="550 mailbox full"))
    [dead] = inbox_json("outbox", "--state", "dead")
    assert dead["last_error"] == "550 mailbox full"
    assert inbox("outbox", "retry", str(dead["id"])).stdout == (
        f"send {dead['id']} (ack to anna@example.com) queued again\n")
    [again] = inbox_json("outbox")
    assert (again["id"], again["state"], again["attempts"]) == (dead["id"], "pending", 0)
    refused = inbox("outbox", "retry", str(dead["id"]), ok=False)
    assert refused.exit_code == 1 and "not dead: nothing to retry" in refused.output
