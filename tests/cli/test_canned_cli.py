"""`inbox canned` in a real shell, as an admin types it: add (from an option, a file or a
pipe), list, show and remove, and a broken body refused with its line, saving nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from inbox.runtime.app import App
from tests.cli.test_agents import INBOX, listed, shell

# A thin face over inbox.desk.canned, which tests/desk/test_canned.py runs on both
# databases; each command here is a process of its own (about a second).
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_add_list_show_and_remove_round_trip(app: App, tmp_path: Path) -> None:
    done = shell(app, "canned", "add", "refund-status", "--text",
                 "Hello {{ customer_first_name }}, your refund is on its way.")
    assert (done.returncode, done.stdout) == (0, "canned answer refund-status added\n"), \
        done.stderr
    polish = tmp_path / "zwrot.txt"
    polish.write_text("Dzień dobry, {{ customer_name }}!\nZwrot jest w drodze.\n")
    done = shell(app, "canned", "add", "Refund-Status", "--language", "pl", "--file",
                 str(polish))
    assert done.stdout == "canned answer refund-status (pl) added\n", done.stderr
    piped = subprocess.run([*INBOX, "canned", "add", "invoice", "--team", "billing"],
                           cwd=app.settings.base_dir, env=dict(os.environ),
                           input="Your invoice: {{ reference }}", capture_output=True,
                           text=True, check=False)
    assert piped.returncode == 0, piped.stderr

    rows = listed(app, "canned")
    assert [(r["name"], r["team"], r["language"]) for r in rows] == [
        ("invoice", "billing", None), ("refund-status", None, None),
        ("refund-status", None, "pl")]
    assert rows[2]["body"] == polish.read_text()
    lines = shell(app, "canned", "list").stdout.splitlines()
    assert lines[2].split() == ["refund-status", "*", "pl", "Dzień", "dobry,",
                                "{{", "customer_name", "}}!"]
    shown = shell(app, "canned", "show", "refund-status", "--language", "pl")
    assert shown.stdout == "Dzień dobry, {{ customer_name }}!\nZwrot jest w drodze.\n"

    replaced = shell(app, "canned", "add", "refund-status", "--text", "Again", "--replace")
    assert replaced.stdout == "canned answer refund-status changed\n", replaced.stderr
    gone = shell(app, "canned", "remove", "refund-status", "--language", "pl")
    assert gone.stdout == "canned answer refund-status (pl) removed\n", gone.stderr
    assert [(r["name"], r["language"], r["body"]) for r in listed(app, "canned")] == [
        ("invoice", None, "Your invoice: {{ reference }}"), ("refund-status", None, "Again")]


def test_a_broken_body_is_refused_with_its_line_and_nothing_saved(app: App) -> None:
    done = shell(app, "canned", "add", "hello", "--language", "vi", "--text",
                 "Chào {{ customer_first_name }},\n{{ custmer_name }}")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("inbox: hello (vi):2: unknown variable 'custmer_name'")
    again = shell(app, "canned", "remove", "hello", "--language", "vi")
    assert (again.returncode, again.stderr) == (1, "inbox: no canned answer hello (vi)\n")
    nothing = shell(app, "canned", "add", "hello")  # stdin is no terminal, and empty
    assert nothing.returncode == 1 and "the text is empty" in nothing.stderr
