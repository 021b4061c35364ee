"""`inbox templates check` on a deployment made by `inbox init`, as an admin uses it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inbox.cli.main import cli


def inbox(*args: str, ok: bool = True) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("INBOX_DATABASE_URL", raising=False)
    inbox("init", str(tmp_path / "desk"))
    monkeypatch.setenv("INBOX_CONFIG", str(tmp_path / "desk" / "inbox.toml"))
    return tmp_path / "desk"


def test_the_shipped_templates_render_with_every_sample(desk: Path) -> None:
    result = inbox("templates", "check")
    shipped = len(list((desk / "templates").glob("*/*.txt")))
    assert result.stdout.strip().endswith(f"{shipped} templates, all render")
    report = json.loads(inbox("templates", "check", "--json").stdout)
    assert report["problems"] == [] and "ack/email.pl.txt" in report["templates"]


def test_every_broken_template_is_named_with_its_line(desk: Path) -> None:
    t = desk / "templates"
    (t / "ack" / "email.pl.txt").write_text("Subject: {{ reference }}\n\nDzień dobry\n"
                                            "{{ 1/0 }}\n")
    (t / "notify" / "email.txt").write_text("Subject: x\n\n{{ no_such_variable }}\n")
    (t / "sla" / "default.txt").write_text("SLA\n{% if state %}\n")
    (t / "ack-after-hours" / "default.txt").write_text("{{ 'x' * 1000000000 }}\n")
    (t / "ack" / "telegram.de.txt").write_text("Hallo {{ customer_name[0] }}\n")
    result = inbox("templates", "check", ok=False)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-1].endswith("5 problems")
    for where in ("ack/email.pl.txt:4: ", "notify/email.txt:3: ", "sla/default.txt:2: ",
                  "ack-after-hours/default.txt:1: ", "ack/telegram.de.txt:1: "):
        assert any(f"{t}/{where}" in line for line in lines), where
    # Only an empty name breaks the German greeting: the check tries one.
    assert any("telegram.de.txt" in line and "empty values" in line for line in lines)


def test_the_json_report_lists_each_problem_once(desk: Path) -> None:
    (desk / "templates" / "ack" / "email.txt").write_text("Subject: {{ oops }}\n\nHi\n")
    (desk / "templates" / "ack" / "old version.txt").write_text("never used\n")
    result = inbox("templates", "check", "--json", ok=False)
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert [(p["template"], p["error"].split(": ")[0]) for p in problems] == [
        ("ack/email.txt", "ack/email.txt:1"), ("ack/old version.txt", "ack/old version.txt")]
