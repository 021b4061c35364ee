"""Rules in the languages our customers write (issue #17): Persian spellings, Polish
endings (`faktur*`), Vietnamese and Polish typed without diacritics, short Thai keywords,
and `language: unknown`."""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox.core.routing import RouteFacts
from inbox.rules.text import fold
from tests.rules.test_rules import matches, msg, problems, route, rules

# Five ways customers really type پیگیری ("follow-up", "tracking"): as the Persian
# keyboard writes it, with a zero-width non-joiner between its parts, with a space
# instead, on an Arabic keyboard (Arabic yeh), and the Arabic-keyboard spelling with a
# space, pasted with right-to-left marks from a phone.
PERSIAN_SPELLINGS = [
    "لطفا سفارش من را پیگیری کنید",
    "لطفا سفارش من را پی\u200cگیری کنید",
    "لطفا سفارش من را پی گیری کنید",
    "لطفا سفارش من را پيگيري كنيد",
    "\u200fلطفا سفارش من را پي\u200f گيري كنيد\u200f",
]
FOLLOW_UP = """
- name: order follow-up
  when: {text: [پی‌گیری]}
  then: {team: support}
"""


def test_one_persian_rule_matches_every_spelling_customers_type(tmp_path: Path) -> None:
    """The issue's measurement: on main (802da1c) this rule matched 3 of these 5."""
    rs = rules(tmp_path, FOLLOW_UP)
    matched = [s for s in PERSIAN_SPELLINGS if route(rs, msg("", s)).team == "support"]
    assert matched == PERSIAN_SPELLINGS


@pytest.mark.parametrize(("typed", "canonical"), [
    ("پیگیری\u200e", "پیگیری"),                      # left-to-right mark
    ("\u202bپی\u200cگیری\u202c", "پیگیری"),          # embedding, ZWNJ, pop
    ("\u2067پیگیری\u2069", "پیگیری"),                # isolate
    ("رسالة", "رساله"),                              # teh marbuta
    ("خانۀ", "خانه"), ("خانهٔ", "خانه"),             # ezafe heh, both encodings
    ("مسأله", "مساله"), ("إسم", "اسم"),              # alef with hamza
    ("سفارش ۱۲۳۴", "سفارش 1234"), ("٤٥", "45"),      # Persian and Arabic digits
])
def test_persian_variants_fold_to_one_form(typed: str, canonical: str) -> None:
    assert fold(typed) == fold(canonical)


def test_persian_parts_join_but_a_word_is_not_found_inside_another(tmp_path: Path) -> None:
    rs = rules(tmp_path, """
- name: refund
  when: {text: [بازپرداخت, "رمز عبور"]}
  then: {team: billing}
- name: payment
  when: {text: [پرداخت]}
  then: {team: tech}
""")
    assert matches(rs, msg("", "باز پرداخت")) == ["refund", "payment"]  # two words
    assert matches(rs, msg("", "بازپرداخت")) == ["refund"]              # one word
    assert matches(rs, msg("", "رمزعبور را فراموش کردم")) == ["refund"]
    assert matches(rs, msg("", "رمز عبور")) == ["refund"]


BILLING = """
- name: billing
  when: {text: [faktur*, "zwrot pieniędz*", płatnoś*, hoàn tiền, hủy, łódź]}
  then: {team: billing}
"""


@pytest.mark.parametrize("text", [
    "Faktura", "Proszę o fakturę", "zapłacę fakturą", "błąd w fakturze", "FAKTURY",
    "Chcę zwrot pieniędzy", "problem z płatnością",
])
def test_a_prefix_matches_every_ending(tmp_path: Path, text: str) -> None:
    assert route(rules(tmp_path, BILLING), msg("", text)).team == "billing"


@pytest.mark.parametrize("text", ["manufaktura", "zwrot towaru", "fak tura"])
def test_a_prefix_matches_only_the_start_of_a_word(tmp_path: Path, text: str) -> None:
    assert route(rules(tmp_path, BILLING), msg("", text)).team is None


@pytest.mark.parametrize("text", [
    "hoan tien", "HOÀN TIỀN", "Tôi muốn hoàn tiền", "Toi muon HOAN TIEN",
    "problem z platnoscia", "huy don hang", "Lodz",
])
def test_keywords_match_text_typed_without_diacritics(tmp_path: Path, text: str) -> None:
    assert route(rules(tmp_path, BILLING), msg("", text)).team == "billing"


@pytest.mark.parametrize("text", [
    "hoàn tiện",           # accents typed: tiện (convenient) is not tiền (money)
    "Tôi là Huy",          # accents typed elsewhere: huy is the name Huy, not hủy
    "lódz",                # the customer typed accents, and not these
])
def test_a_text_with_diacritics_keeps_them(tmp_path: Path, text: str) -> None:
    assert route(rules(tmp_path, BILLING), msg("", text)).team is None


def test_explain_says_a_word_was_typed_without_accents(tmp_path: Path) -> None:
    rs = rules(tmp_path, BILLING)
    [report] = rs.explain(msg("", "hoan tien please"), RouteFacts(True)).reports
    assert report.why == "text has the word 'hoàn tiền' (typed without accents)"
    [report] = rs.explain(msg("huy"), RouteFacts(True)).reports
    assert report.why == "text has the word 'hủy' (typed without accents)"


@pytest.mark.parametrize(("word", "problem"), [
    ("'*'", "'*' alone would match every word"),
    ("fa*", "'fa*': a prefix needs at least three letters before `*`"),
    ("fak*tura", "'fak*tura': `*` may only end a keyword"),
])
def test_check_refuses_a_bare_or_short_prefix_with_file_line(tmp_path: Path, word: str,
                                                             problem: str) -> None:
    found = problems(tmp_path, f"- name: x\n  when:\n    text: [invoice,\n      {word}]\n"
                                "  then: {team: billing}\n")
    assert len(found) == 1 and found[0].startswith(f"rules/10-test.yaml:4: text: {problem}")


def test_check_warns_of_short_thai_keywords_with_file_line(tmp_path: Path) -> None:
    rs = rules(tmp_path, """
- name: eyes
  when:
    text: [คืนเงิน,
           ตา]
  then: {team: support}
""")
    [warning] = rs.warnings
    assert str(warning).startswith("rules/10-test.yaml:5: text: the Thai keyword 'ตา' has "
                                   "only 2 letters")
    assert "use a longer keyword" in warning.message
    # The warning is deserved: the short keyword matches "camera" and "schedule".
    assert route(rs, msg("", "ตากล้อง")).team == "support"
    assert route(rs, msg("", "ตาราง")).team == "support"


LANGUAGES = """
- name: polish
  when: {language: pl}
  then: {add_tags: [pl]}
- name: unknown
  when: {language: unknown}
  then: {add_tags: [unknown]}
- name: thai or unknown
  when: {language: [th, unknown]}
  then: {add_tags: [th-or-unknown]}
"""


@pytest.mark.parametrize(("text", "facts", "matched"), [
    ("Dzień dobry", RouteFacts(True, language="pl", language_source="detected"),
     ["polish"]),
    ("Dzień dobry", RouteFacts(True, language="en", language_source="default"),
     ["unknown", "thai or unknown"]),
    ("ok", RouteFacts(True), ["unknown", "thai or unknown"]),       # no pipeline answer
    ("สวัสดีค่ะ", RouteFacts(True), ["thai or unknown"]),           # its script tells
    ("สวัสดีค่ะ", RouteFacts(True, language="th", language_source="detected"),
     ["thai or unknown"]),
])
def test_language_uses_the_pipeline_answer_and_matches_unknown(
        tmp_path: Path, text: str, facts: RouteFacts, matched: list[str]) -> None:
    assert matches(rules(tmp_path, LANGUAGES), msg("", text), facts) == matched


def test_explain_says_where_the_language_came_from(tmp_path: Path) -> None:
    rs = rules(tmp_path, LANGUAGES)
    detected = rs.explain(msg("", "Dzień dobry"),
                          RouteFacts(True, language="pl", language_source="detected"))
    assert detected.language == ("pl", "detected")
    assert detected.reports[0].why == "language is pl (from the pipeline: detected)"
    fallen = rs.explain(msg("", "Dzień dobry"),
                        RouteFacts(True, language="en", language_source="default"))
    assert fallen.language == (None, "")
    assert fallen.reports[0].why == "language is unknown, not 'pl'"
    assert fallen.reports[1].why == "language is unknown"


def test_text_with_a_lone_surrogate_is_routed_not_crashed_on(tmp_path: Path) -> None:
    """Mail decoded with surrogateescape carries lone surrogates into rules."""
    rs = rules(tmp_path, FOLLOW_UP)
    assert route(rs, msg("\udcff", "پی گیری \udcfe")).team == "support"
