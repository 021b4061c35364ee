"""`inbox escalate` and `inbox queue --escalated`, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import add_agents, eml, inbox, inbox_json


@pytest.mark.usefixtures("app")
def test_escalate_from_the_command_line(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    eml(tmp_path / "mail", "a1")
    eml(tmp_path / "mail", "b1", sender="bob@example.org", subject="Delivery time")
    inbox("ingest", str(tmp_path / "mail"))
    add_agents("kim")
    monkeypatch.setenv("INBOX_AGENT_PASSWORD", "correct horse battery staple")
    inbox("agent", "add", "boss@shop.example", "--name", "boss", "--role", "supervisor")
    done = inbox("escalate", "1", "--reason", "Wants a refund over the limit.", "--as", "kim")
    assert done.stdout == "#1: escalated to the supervisors\n"
    again = inbox("escalate", "1", "--reason", "Now angry.", "--to", "boss", "--as", "kim")
    assert again.stdout == "#1: reason added to its open escalation\n"
    [row] = inbox_json("queue", "--escalated")
    assert row["id"] == 1 and row["escalated"] and row["escalation"]["by"] == "kim"
    assert row["escalation"]["reason"] == "Wants a refund over the limit."
    assert [r["escalated"] for r in inbox_json("queue")] == [True, False]
    shown = inbox("show", "1").stdout
    assert "ESCALATED to the supervisors by \u2068kim\u2069" in shown
    assert "\u2068Wants a refund over the limit.\u2069" in shown
    assert "[escalated: Wants a refund over the limit.] Order 1234" in inbox(
        "queue", "--width", "0").stdout
    refused = inbox("escalate", "2", "--reason", "x", "--to", "kim", ok=False)
    assert refused.exit_code != 0 and "unknown supervisor 'kim'" in refused.output
    empty = inbox("escalate", "2", "--reason", " ", ok=False)
    assert empty.exit_code != 0 and "say why you escalate" in empty.output
    assert [r["id"] for r in inbox_json("queue", "--escalated")] == [1]
