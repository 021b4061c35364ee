"""`inbox agent` and `inbox team` in a real shell, as an operator types them: the agents
they make are the ones `inbox assign`, `inbox rules check` and sign-in know."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from inbox.desk import accounts
from inbox.runtime.app import App, utcnow
from tests.cli.test_cli import inbox_json
from tests.runtime.test_operator import one_mail

INBOX = [sys.executable, "-m", "inbox"]
PASSWORD = "a long enough password"


def shell(app: App, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("INBOX_AGENT",
                                                            "INBOX_AGENT_PASSWORD")}
    if password is not None:
        env["INBOX_AGENT_PASSWORD"] = password
    return subprocess.run([*INBOX, *args], cwd=app.settings.base_dir, env=env,
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)


def listed(app: App, what: str) -> Any:
    done = shell(app, what, "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_agent_added_in_a_shell_signs_in_is_assignable_and_known_to_the_rules(
        app: App, tmp_path: Path) -> None:
    assert shell(app, "team", "add", "vip").returncode == 0
    done = shell(app, "agent", "add", "Lee@Shop.example", "--name", "lee", "--role",
                 "supervisor", "--team", "vip", password=PASSWORD)
    assert (done.returncode, done.stdout) == (
        0, "agent lee <lee@shop.example> added as supervisor in vip\n"), done.stderr
    [lee] = listed(app, "agent")
    assert {k: lee[k] for k in ("name", "email", "role", "teams", "enabled",
                                "can_sign_in")} == {
        "name": "lee", "email": "lee@shop.example", "role": "supervisor", "teams": ["vip"],
        "enabled": True, "can_sign_in": True}
    assert {"name": "vip", "agents": ["lee"]} in listed(app, "team")
    with Session(app.engine) as s:
        assert accounts.authenticate(s, "lee@shop.example", PASSWORD, "127.0.0.1",
                                     utcnow()).name == "lee"

    (app.settings.base_dir / "rules" / "60-lee.yaml").write_text(
        "- name: to lee\n  when: {subject: {words: [order]}}\n"
        "  then: {assign: {round_robin: vip}}\n")
    done = shell(app, "rules", "check")
    assert done.returncode == 0, done.stderr
    inbox_json("ingest", one_mail(tmp_path), "--no-ack")
    done = shell(app, "assign", "1", "lee", "--team", "vip", "--as", "lee")
    assert (done.returncode, done.stdout) == (0, "#1: assignee lee, team vip\n"), done.stderr


def test_weak_missing_or_duplicate_answers_are_refused_in_one_line(app: App) -> None:
    for args, password, error in (
            (("lee@shop.example", "--name", "lee"), "short", "too short: at least 12"),
            (("lee@shop.example", "--name", "lee"), None, "no password: set "
                                                          "INBOX_AGENT_PASSWORD"),
            (("lee@shop.example", "--name", "lee", "--role", "boss"), PASSWORD, "boss"),
            (("lee@shop.example", "--name", "lee", "--team", "nope"), PASSWORD,
             "unknown team 'nope'")):
        done = shell(app, "agent", "add", *args, password=password)
        assert done.returncode != 0 and error in done.stderr, done.stderr
    assert listed(app, "agent") == []
    assert shell(app, "agent", "add", "lee@shop.example", "--name", "lee",
                 password=PASSWORD).returncode == 0
    done = shell(app, "agent", "add", "LEE@shop.example", "--name", "lee2", password=PASSWORD)
    assert (done.returncode, done.stderr) == (
        1, "inbox: an agent with this e-mail exists already: lee\n")


def test_disable_and_passwd_end_the_agents_sessions(app: App) -> None:
    assert shell(app, "agent", "add", "lee@shop.example", "--name", "lee",
                 password=PASSWORD).returncode == 0

    def session() -> str:
        with Session(app.engine, expire_on_commit=False) as s, s.begin():
            lee = accounts.find_agent(s, "lee")
            return accounts.open_session(s, lee, "127.0.0.1", "test", utcnow(),
                                         secret=app.secret)[0]

    def signed_in(token: str) -> bool:
        with Session(app.engine) as s, s.begin():
            return accounts.session_agent(s, token, utcnow()) is not None

    token = session()
    done = shell(app, "agent", "disable", "lee@shop.example")
    assert (done.returncode, done.stdout) == (0, "agent lee disabled; 1 sessions ended\n")
    assert not signed_in(token)
    assert listed(app, "agent")[0]["can_sign_in"] is False
    assert shell(app, "agent", "enable", "lee").returncode == 0
    token = session()
    done = shell(app, "agent", "passwd", "lee", password="another long password")
    assert (done.returncode, done.stdout) == (0, "password of lee set; 1 sessions ended\n")
    assert not signed_in(token)
    done = shell(app, "agent", "passwd", "lea", password="another long password")
    assert (done.returncode, done.stderr) == (
        1, "inbox: unknown agent 'lea' (did you mean 'lee'? known agents: lee)\n")


def test_team_members_keep_their_round_robin_order(app: App) -> None:
    for name in ("ana", "ben", "cy"):
        assert shell(app, "agent", "add", f"{name}@shop.example", "--name", name,
                     password=PASSWORD).returncode == 0
    assert shell(app, "team", "add", "vip").returncode == 0
    assert shell(app, "team", "add-member", "vip", "cy", "ana", "ben").returncode == 0
    assert shell(app, "team", "remove-member", "vip", "ana").returncode == 0
    done = shell(app, "team", "add-member", "vip", "ana", "cy")
    assert done.stdout == "ana joined vip\ncy is already in vip\n"
    assert {"name": "vip", "agents": ["cy", "ben", "ana"]} in listed(app, "team")


def test_rules_check_without_a_database_reads_the_config(tmp_path: Path) -> None:
    from inbox.runtime.deployment import init_deployment

    config = init_deployment(tmp_path / "ci")
    (tmp_path / "ci" / "rules" / "60-ana.yaml").write_text(
        "- name: to ana\n  when: always\n  then: {assign: ana}\n")
    config.write_text(config.read_text() + '\n[agents.ana]\nemail = "ana@shop.example"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}
    done = subprocess.run([*INBOX, "--config", str(config), "rules", "check"], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "ci" / "inbox.db").exists()


def test_agents_and_teams_of_the_config_become_records_on_upgrade(app: App) -> None:
    config = app.settings.base_dir / "inbox.toml"
    config.write_text(config.read_text().replace(
        "[teams.billing]\nagents = []", '[teams.billing]\nagents = ["ana", "ben"]')
        + '\n[agents.ana]\nemail = "Ana@Shop.example"\ntelegram = "42"\n')
    done = shell(app, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "agents copied from inbox.toml: ana, ben" in done.stdout
    agents = {a["name"]: a for a in listed(app, "agent")}
    assert (agents["ana"]["email"], agents["ana"]["telegram"]) == ("ana@shop.example", "42")
    assert [a["can_sign_in"] for a in agents.values()] == [False, False]
    assert {"name": "billing", "agents": ["ana", "ben"]} in listed(app, "team")
    assert "copied" not in shell(app, "db", "upgrade").stdout  # once
    assert shell(app, "agent", "passwd", "ana", password=PASSWORD).returncode == 0
    with Session(app.engine) as s:
        assert accounts.authenticate(s, "ana@shop.example", PASSWORD, "127.0.0.1",
                                     utcnow()).name == "ana"


def test_a_disabled_agent_is_given_no_new_work_by_hand_or_by_rule(
        app: App, tmp_path: Path) -> None:
    assert shell(app, "agent", "add", "lee@shop.example", "--name", "lee",
                 password=PASSWORD).returncode == 0
    assert shell(app, "agent", "disable", "lee").returncode == 0
    (app.settings.base_dir / "rules" / "60-lee.yaml").write_text(
        "- name: to lee\n  when: always\n  then: {assign: lee}\n")
    inbox_json("ingest", one_mail(tmp_path), "--no-ack")
    shown = inbox_json("show", "1")
    assert shown["assignee"] is None  # the rule's agent is away for good: left for others
    assert {"assignee": None, "by": "rules", "reason": "agent lee is disabled"} in [
        e["detail"] for e in shown["events"] if e["kind"] == "assigned"]
    done = shell(app, "assign", "1", "lee")
    assert (done.returncode, done.stderr) == (
        1, "inbox: agent 'lee' is disabled (`inbox agent enable lee` first)\n")
    assert inbox_json("show", "1")["assignee"] is None
