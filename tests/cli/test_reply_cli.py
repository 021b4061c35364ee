"""`inbox reply` as an agent types it: copies (--cc), and the desk's collision check
(--seen-up-to) with --force to send anyway."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import add_agents, eml, inbox, inbox_json


@pytest.mark.usefixtures("app")
def test_reply_with_cc_copies_everyone_and_refuses_what_is_no_address(tmp_path: Path) -> None:
    inbox("ingest", str(eml(tmp_path / "mail", "a1")))
    add_agents("kim")
    bad = inbox("reply", "1", "-m", "Hi", "--as", "kim", "--cc", "bob at example", ok=False)
    assert bad.exit_code == 1
    assert bad.stderr == "inbox: 'bob at example' is not an e-mail address (Cc)\n"
    out = inbox_json("reply", "1", "-m", "It ships today.", "--as", "kim",
                     "--cc", "Bob <bob@example.pl>", "--cc", "ewa@example.com")
    assert out["cc"] == ["bob@example.pl", "ewa@example.com"]
    [*_, sent] = inbox_json("show", "1")["messages"]
    assert sent["recipients"] == ["anna@example.com", "bob@example.pl", "ewa@example.com"]
    assert [r["recipient"] for r in inbox_json("outbox") if r["kind"] == "reply"] == [
        "anna@example.com"]


@pytest.mark.usefixtures("app")
def test_seen_up_to_refuses_after_a_colleagues_reply_and_force_sends(tmp_path: Path) -> None:
    inbox("ingest", str(eml(tmp_path / "mail", "a1")))
    add_agents("ana", "kim")
    seen = max(m["id"] for m in inbox_json("show", "1")["messages"])  # what ana read
    inbox("reply", "1", "-m", "It left today.", "--as", "kim")
    asked = inbox("reply", "1", "-m", "We are looking into it.", "--as", "ana",
                  "--seen-up-to", str(seen), ok=False)
    assert asked.exit_code == 3
    assert asked.stderr.splitlines() == [
        "inbox: kim replied meanwhile:", f"  #{seen + 1} kim: It left today.",
        "inbox: nothing sent; read their reply, or send anyway with --force"]
    assert [m["author"] for m in inbox_json("show", "1")["messages"]][2:] == ["kim"]
    inbox("reply", "1", "-m", "Her own second reply.", "--as", "kim",
          "--seen-up-to", str(seen))  # one's own earlier reply is no collision
    inbox("reply", "1", "-m", "We are looking into it.", "--as", "ana",
          "--seen-up-to", str(seen), "--force")
    assert [m["author"] for m in inbox_json("show", "1")["messages"]][2:] == [
        "kim", "kim", "ana"]
