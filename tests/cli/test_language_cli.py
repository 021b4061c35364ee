"""`inbox show` says which language a conversation is answered in and why; `inbox
language` changes it; `inbox agent language` sets the language staff notices come in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import add_agents, eml, inbox, inbox_json


@pytest.mark.usefixtures("app")
def test_an_agent_sees_and_changes_the_language(tmp_path: Path) -> None:
    eml(tmp_path / "mail", "p1", body="Dzień dobry, zamówienie jeszcze nie dotarło. "
                                      "Proszę sprawdzić, co się dzieje.")
    inbox("ingest", str(tmp_path / "mail"))
    add_agents("kim")
    assert "language pl (detected)" in inbox("show", "1").stdout
    [row] = inbox_json("queue")
    assert row["language"] == "pl"
    done = inbox("language", "1", "vi", "--contact", "--as", "kim")
    assert done.stdout == "#1: language vi (agent), also the contact's preference\n"
    shown = inbox("show", "1").stdout
    assert "language vi (agent)" in shown
    assert "language set to vi by \u2068kim\u2069 and as the contact's preference (was pl)" in shown
    assert inbox_json("show", "1")["language_source"] == "agent"
    refused = inbox("language", "1", "xx", ok=False)
    assert refused.exit_code != 0 and "not a language this deployment serves" in refused.output
    back = inbox("language", "1", "auto")
    assert back.stdout == "#1: language vi (chosen again at the next message)\n"


@pytest.mark.usefixtures("app")
def test_an_agents_notices_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_AGENT_PASSWORD", "correct horse battery staple")
    inbox("agent", "add", "kim@shop.example", "--name", "kim")
    assert inbox("agent", "language", "kim", "th").stdout == "agent kim: notices in th\n"
    [kim] = inbox_json("agent", "list")
    assert kim["language"] == "th"
    assert inbox("agent", "language", "kim", "default").stdout == (
        "agent kim: notices in en (the default)\n")
    refused = inbox("agent", "language", "kim", "de", ok=False)
    assert refused.exit_code != 0 and "'de' is not a language" in refused.output
