"""`inbox rules check | explain | test | replay` as an admin runs them."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inbox.cli.main import cli

runner = CliRunner()


def inbox(*args: str, code: int = 0) -> Any:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def eml(path: Path, subject: str, body: str, sender: str = "anna@example.com") -> Path:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, "support@shop.example", subject
    m["Message-ID"] = f"<{path.stem}@example.com>"
    m.set_content(body)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(m.as_bytes())
    return path


def test_a_fresh_deployment_ships_rules_that_pass_their_own_tests(deployment: Path) -> None:
    assert "12 rules in 5 files are valid" in inbox("rules", "check").stdout
    out = inbox("rules", "test").stdout
    assert out.strip().endswith("0 failed") and "FAIL" not in out
    assert len(json.loads(inbox("rules", "test", "--json").stdout)) >= 15


def test_a_broken_edit_is_shown_with_file_line_and_suggestion(deployment: Path) -> None:
    path = deployment / "rules" / "20-billing.yaml"
    path.write_text(path.read_text().replace("team: billing", "team: biling", 1))
    err = inbox("rules", "check", code=1).stderr
    assert "rules/20-billing.yaml:" in err and "did you mean 'billing'?" in err
    inbox("rules", "test", code=1)


def test_a_failing_case_fails_the_run_and_names_the_rule(deployment: Path) -> None:
    (deployment / "rules" / "tests" / "mine.yaml").write_text("""
- name: refunds are urgent
  message: {subject: Refund please}
  expect: {team: billing, priority: urgent}
""")
    out = inbox("rules", "test", code=1).stdout
    assert "FAIL  rules/tests/mine.yaml:2  refunds are urgent" in out
    assert "priority: expected 'urgent', got nothing" in out


@pytest.mark.usefixtures("app")
def test_explain_a_text_an_eml_file_and_a_stored_message(deployment: Path,
                                                        tmp_path: Path) -> None:
    out = inbox("rules", "explain", "--text", "Tôi muốn hoàn tiền", "--subject", "Hóa đơn",
                "--at", "2026-11-25T10:00:00+00:00").stdout
    assert "MATCH  rules/20-billing.yaml:5  billing" in out
    assert "because: text has the word 'hóa đơn'" in out
    assert "language: vi (guessed from its script)" in out
    assert "team      billing   (rule 'billing')" in out

    mail = eml(tmp_path / "mail" / "x1.eml", "Casino bonus", "Win now")
    data = json.loads(inbox("rules", "explain", str(mail), "--json").stdout)
    assert data["outcome"]["spam"] is True
    assert [r["matched"] for r in data["rules"]][:2] == [False, True]

    inbox("ingest", str(mail.parent))
    stored = json.loads(inbox("show", "1", "--json").stdout)
    [message] = [m for m in stored["messages"] if m["direction"] == "in"]
    out = inbox("rules", "explain", "--message", str(message["id"])).stdout
    assert "MATCH  rules/10-spam.yaml:14  obvious spam" in out
    assert "(nothing was changed)" in out
    inbox("rules", "explain", "--message", "999", code=1)


def test_explain_needs_exactly_one_message(deployment: Path) -> None:
    assert "give one of" in inbox("rules", "explain", code=1).stderr


@pytest.mark.usefixtures("app")
def test_replay_shows_what_a_changed_rule_set_would_do(deployment: Path,
                                                       tmp_path: Path) -> None:
    mails = tmp_path / "mail"
    eml(mails / "a.eml", "Refund", "Please refund order 1")
    eml(mails / "b.eml", "Opening hours", "Are you open?", sender="bob@example.org")
    inbox("ingest", str(mails))
    unchanged = json.loads(inbox("rules", "replay", "--since", "3650d", "--json").stdout)
    assert (unchanged["replayed"], unchanged["changed"]) == (2, 0)

    candidate = tmp_path / "candidate"
    candidate.mkdir()
    (candidate / "10-all.yaml").write_text(
        "- name: everything to tech\n  when: always\n  then: {team: tech}\n")
    changed = json.loads(inbox("rules", "replay", "--since", "3650d", "--rules",
                               str(candidate), "--json").stdout)
    assert changed["changed"] == 2
    by_subject = {c["then"]["team"]: c for c in changed["changes"]}
    assert set(by_subject) == {"billing", None}
    assert all(c["now"]["team"] == "tech" and "team" in c["fields"]
               for c in changed["changes"])
    out = inbox("rules", "replay", "--since", "3650d", "--rules", str(candidate)).stdout
    assert "2 would be routed differently" in out and "team: billing -> tech" in out


def test_check_warns_of_patterns_that_backtrack_with_file_line(deployment: Path) -> None:
    (deployment / "rules" / "60-slow.yaml").write_text("""\
- name: runaway
  when:
    body:
      regex:
        - '\\border\\s+#?\\d+'
        - '(\\w+\\s?)+$'
  then: {team: billing}
- name: fine
  when: {subject: {regex: '(re|fw):\\s*(\\w+\\s)+'}}
  then: {team: billing}
- name: also runaway
  when: {subject: {regex: '^(a|a)+$'}}
  then: {team: billing}
""")
    result = inbox("rules", "check")
    assert "15 rules in 6 files are valid" in result.stdout
    warned = [ln for ln in result.stderr.splitlines() if "warning" in ln]
    assert [ln.split(": warning: ")[0] for ln in warned] == [
        "rules/60-slow.yaml:6", "rules/60-slow.yaml:12"]
    assert "'(\\w+\\s?)+$'" in warned[0] and "backtrack" in warned[0]
    assert "'^(a|a)+$'" in warned[1]
    assert "2 warnings" in inbox("rules", "check", "--strict", code=1).stderr
    out = inbox("rules", "explain", "--text", "hi", "--subject", "a" * 40 + "!").stdout
    assert ("out of time: rules/60-slow.yaml:11  also runaway: the 0.5 s the rules have "
            "for one message ran out while subject was matched against /^(a|a)+$/") in out


def test_the_shipped_rules_give_no_warning(deployment: Path) -> None:
    assert "warning" not in inbox("rules", "check", "--strict").output


def test_check_warns_of_short_thai_keywords_and_explain_takes_a_language(
        deployment: Path) -> None:
    (deployment / "rules" / "60-eyes.yaml").write_text("""\
- name: eye care
  when: {text: [ตา]}
  then: {add_tags: [eyes]}
- name: unknown language
  when: {language: unknown}
  then: {add_tags: [unknown-language]}
""")
    err = inbox("rules", "check").stderr
    assert "rules/60-eyes.yaml:2: warning: text: the Thai keyword 'ตา' has only 2 letters" \
        in err and "use a longer keyword" in err
    polish = inbox("rules", "explain", "--text", "Dzień dobry", "--language", "pl").stdout
    assert "language: pl (given with --language)" in polish
    assert "no     rules/60-eyes.yaml:4  unknown language" in polish
    unknown = json.loads(inbox("rules", "explain", "--text", "Dzień dobry", "--language",
                               "unknown", "--json").stdout)
    assert unknown["language"] is None and "unknown-language" in unknown["outcome"]["add_tags"]
