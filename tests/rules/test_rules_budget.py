"""Regexes can never stall a connector: one time budget per message for all its rules,
and warnings (file:line) about patterns that backtrack without end. No database here;
tests/rules/test_rules_pipeline.py routes a hostile message through ingest on both databases."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.base import Address, Inbound
from inbox.core.routing import RouteFacts
from inbox.rules import Known, LiveRules, RuleSet, load_rules
from inbox.rules.backtrack import backtracks

FIRST = RouteFacts(first_message=True)
KNOWN = Known(teams={"billing": (), "tech": ()})

# Patterns that match at once (each its own: a search is not repeated for a message),
# but read the clock like any other regex.
QUICK = """
- name: quick {n}
  when: {{body: {{regex: 'order {n}*\\d+'}}}}
  then: {{add_tags: [q{n}]}}
"""


def folder_with(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "10-a.yaml").write_text(text, encoding="utf-8")
    return folder


def ticking(step: float) -> Callable[[], float]:
    """A monotonic clock that moves `step` seconds each time it is read, as if each regex
    search took that long."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]
    return clock


def msg(body: str, subject: str = "") -> Inbound:
    return Inbound(channel="email", account="support", external_id="m1",
                   sender=Address("anna@example.com"),
                   received_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
                   subject=subject, text=body)


def test_all_rules_of_a_message_share_one_budget(tmp_path: Path) -> None:
    """Each search takes 0.2 s of a 0.5 s budget: two fit, the third finds the time gone,
    and the fourth is not even tried; rules without regexes still apply."""
    text = "".join(QUICK.format(n=n) for n in range(4)) + """
- name: words still count
  when: {body: [order]}
  then: {team: billing}
"""
    folder = folder_with(tmp_path, text)
    for way in ("route", "explain"):
        rs = load_rules(folder, KNOWN, budget=0.5, clock=ticking(0.2))
        decided = rs.route(msg("order 12"), FIRST) if way == "route" else \
            rs.explain(msg("order 12"), FIRST).decision
        assert decided.add_tags == ("q0", "q1") and decided.team == "billing", way
        assert decided.over_budget is not None, way
        assert (decided.over_budget.rule, decided.over_budget.source) == (
            "quick 2", "rules/10-a.yaml:10"), way


def test_the_why_and_the_explanation_name_the_pattern_and_the_budget(
        tmp_path: Path) -> None:
    rs = load_rules(folder_with(tmp_path, QUICK.format(n=0)), KNOWN, budget=0.0)
    decided = rs.route(msg("order 12"), FIRST)
    assert decided.add_tags == () and decided.over_budget is not None
    assert decided.over_budget.why == (
        "the 0 s the rules have for one message ran out while body was matched "
        "against /order 0*\\d+/; it and the regexes after it counted as not matching")
    [report] = rs.explain(msg("order 12"), FIRST).reports
    assert report.matched is False and "ran out" in report.why


def test_a_budget_that_runs_out_is_logged_once_per_rule_until_reloaded(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = folder_with(tmp_path, QUICK.format(n=0) + QUICK.format(n=1))
    with caplog.at_level(logging.WARNING, logger="inbox.rules"):
        rs = load_rules(folder, KNOWN, budget=0.0)
        for _ in range(3):
            rs.route(msg("order 12"), FIRST)
        assert _budget_lines(caplog) == ["rules/10-a.yaml:2"]
        rs = load_rules(folder, KNOWN, budget=0.0)  # what a reload does
        rs.route(msg("order 12"), FIRST)
        assert _budget_lines(caplog) == ["rules/10-a.yaml:2"] * 2


def _budget_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage().split(": ")[0] for r in caplog.records
            if "ran out" in r.getMessage()]


def test_a_runaway_pattern_costs_the_budget_not_more(tmp_path: Path) -> None:
    """With the real clock and the real `regex` timeout: ten rules of a pattern that
    backtracks for minutes on this text are done within a generous bound."""
    slow = "".join(f"- name: slow {n}\n  when: {{body: {{regex: '(a|aa)+$'}}}}\n"
                   f"  then: {{add_tags: [s{n}]}}\n" for n in range(10))
    rs = load_rules(folder_with(tmp_path, slow), KNOWN, budget=0.2)
    started = time.monotonic()
    decided = rs.route(msg("a" * 40 + "!"), FIRST)
    assert time.monotonic() - started < 1.5
    assert decided.add_tags == () and decided.over_budget is not None
    assert decided.over_budget.rule == "slow 0"


HOSTILE = ["(a+)+$", "(a*)*", "(a|a)+", "(a|aa)+$", r"(\w+\s?)+$", "(.*,)+$",
           r"(\w|\d)+$", r"^(\d+)*$", "((ab)+)+$", "(x+x+)+y", r"(\s*\w+)*$",
           "(?:a+|b)+$", r"([a-z0-9.-]+\.)+[a-z]{2,}", "(?i)(A|a)+$", r"(\d+\.?\d+)*x"]
ORDINARY = [r"^\s*yes\b",
            r"\b(viagra|cialis|casino|crypto ?(giveaway|airdrop)|lottery winner)\b",
            r"\bSEO (services|ranking)\b", r"\border\s+#?\d+", r"\border\s*#?\d{4,}",
            r"\border\s+#?\d+", r"([a-z0-9-]+\.)+[a-z]{2,}", r"(\d{1,3}\.){3}\d{1,3}",
            r"^(?:re|fw|aw):\s*", r"[A-Z]{2,}-\d+", r"(?:\s*,\s*\w+)*", r"\p{Lu}{3,}",
            "(foo|for)+", r"(https?|ftp)://\S+", r"(re|fw):\s*(\w+\s)+", "(ab|ac)+",
            r"(?>a+)+$", r"(a++)+$", r"(\w+\b\s*)+x"]


@pytest.mark.parametrize("pattern", HOSTILE)
def test_patterns_that_backtrack_are_recognised(pattern: str) -> None:
    assert backtracks(pattern, ignore_case=True) is not None


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_are_left_alone(pattern: str) -> None:
    assert backtracks(pattern, ignore_case=True) is None


def test_warnings_carry_file_line_and_do_not_refuse_the_rules(tmp_path: Path) -> None:
    rs: RuleSet = load_rules(folder_with(tmp_path, """
- name: fine
  when: {subject: {regex: '\\border\\s+\\d+'}}
  then: {team: billing}
- name: runaway
  when:
    any:
      - subject: [refund]
      - body: {regex: ['x', '(\\w+\\s?)+$']}
  then: {team: tech}
"""), KNOWN)
    [warning] = rs.warnings
    assert str(warning).startswith(
        "rules/10-a.yaml:9: body: the regex '(\\w+\\s?)+$' can backtrack")
    assert rs.route(msg("", subject="refund"), FIRST).team == "tech"


def test_the_daemon_warns_at_start_and_at_each_reload(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = folder_with(tmp_path, "- name: a\n  when: {body: {regex: '(a+)+$'}}\n"
                                   "  then: {team: billing}\n")
    now = [0.0]
    with caplog.at_level(logging.WARNING, logger="inbox.rules"):
        live = LiveRules(folder, KNOWN, interval=5, clock=lambda: now[0])
        assert "rules/10-a.yaml:2: body: the regex '(a+)+$' can backtrack" in caplog.text
        caplog.clear()
        (folder / "10-a.yaml").write_text("- name: a\n  when: {body: {regex: '(a+)+$'}}\n"
                                          "  then: {team: tech}\n")
        now[0] = 5
        assert live.route(msg("hello"), FIRST).team is None
        assert "rules/10-a.yaml:2: body: the regex '(a+)+$' can backtrack" in caplog.text
