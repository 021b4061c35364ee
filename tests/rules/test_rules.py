"""Routing rules as an admin meets them: the format, validation, matching in any script,
explain, reload. No database here (see test_rules_pipeline.py and test_rules_cli.py)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bench.rules import generate_messages, generate_rules
from bench.rules import known as bench_known
from channels.base import Address, Inbound, InboundAttachment
from inbox.core.config import BusinessHoursSettings
from inbox.core.directory import Agent
from inbox.core.routing import RouteDecision, RouteFacts
from inbox.rules import Known, LiveRules, RulesError, RuleSet, load_rules
from inbox.rules.text import required_literals, trim_quotes

WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
FIRST = RouteFacts(first_message=True)
KNOWN = Known(
    teams={"billing": ("ana", "ben"), "tech": ("tom",), "support": ()},
    agents={"ana": Agent("ana", email="ana@shop.example"), "ben": Agent("ben"),
            "tom": Agent("tom", telegram="42")},
    templates=frozenset({"ack", "ack-vip", "notify"}),
    policies=frozenset({"default", "vip"}),
    accounts={"email": ("support",), "telegram": ("bot",)},
    hours=BusinessHoursSettings(timezone="Europe/Warsaw", holidays=[date(2026, 12, 25)]),
)


def rules(tmp_path: Path, text: str, known: Known = KNOWN, name: str = "10-test.yaml",
          ) -> RuleSet:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return load_rules(folder, known)


def problems(tmp_path: Path, text: str, known: Known = KNOWN) -> list[str]:
    with pytest.raises(RulesError) as caught:
        rules(tmp_path, text, known)
    return [str(p) for p in caught.value.problems]


def msg(subject: str = "", body: str = "", sender: str = "anna@example.com",
        **kw: object) -> Inbound:
    return Inbound(channel=str(kw.pop("channel", "email")), account="support",
                   external_id="m1", sender=Address(sender, str(kw.pop("name", ""))),
                   received_at=kw.pop("at", WEDNESDAY), subject=subject,  # type: ignore[arg-type]
                   text=body, **kw)  # type: ignore[arg-type]


def route(rs: RuleSet, m: Inbound, facts: RouteFacts = FIRST) -> RouteDecision:
    decided = rs.route(m, facts)
    assert decided == rs.explain(m, facts).decision  # the index never changes the outcome
    return decided


def matches(rs: RuleSet, m: Inbound, facts: RouteFacts = FIRST) -> list[str]:
    return [h.rule for h in route(rs, m, facts).hits]


WORDS = """
- name: refund
  when:
    text: [refund, "money back", คืนเงิน, بازپرداخت, "hoàn tiền", रिफंड, 退款, straße]
  then: {team: billing}
"""


@pytest.mark.parametrize(("subject", "body"), [
    ("Refund!", ""),
    ("", "Can I get my MONEY-BACK, please?"),
    ("ขอคืนเงินค่ะ", ""),                                  # Thai: no spaces between words
    ("", "สวัสดีค่ะ ฉันต้องการคืนเงินสำหรับคำสั่งซื้อนี้"),
    ("", "می\u200cخواهم بازپرداخت كنم"),                   # Persian with ZWNJ, Arabic kaf
    ("", "بازپرداخت"),
    ("YÊU CẦU HOÀN TIỀN", ""),                             # Vietnamese, upper case
    ("", "Tôi muốn hoa\u0300n tie\u0302\u0300n"),          # Vietnamese typed decomposed
    ("", "मुझे रिफंड चाहिए"),                                # Devanagari vowel signs are marks
    ("我要退款", ""),
    ("Adresse: STRASSE 5", ""),                            # ß folds to ss
])
def test_words_match_in_any_script_and_case(tmp_path: Path, subject: str, body: str) -> None:
    assert route(rules(tmp_path, WORDS), msg(subject, body)).team == "billing"


@pytest.mark.parametrize(("subject", "body"), [
    ("Refundable ticket", ""),          # a word inside a longer word is not the word
    ("money", "back later"),            # a phrase must be in one field, in order
    ("", "ฉันต้องการคืน"),               # Thai: only part of the word
    ("", "ค"),
])
def test_words_do_not_match_parts_of_other_words(tmp_path: Path, subject: str,
                                                 body: str) -> None:
    assert route(rules(tmp_path, WORDS), msg(subject, body)).team is None


def test_thai_keyword_does_not_cut_a_letter_from_its_vowel_mark(tmp_path: Path) -> None:
    rs = rules(tmp_path, "- name: ka\n  when: {text: [ค]}\n  then: {team: billing}\n")
    assert route(rs, msg("คืน")).team is None          # ค + ื : the vowel belongs to it
    assert route(rs, msg("ค ข")).team == "billing"


def test_contains_regex_and_case_sensitivity(tmp_path: Path) -> None:
    rs = rules(tmp_path, """
- name: order number
  when: {subject: {regex: '\\border\\s+#?\\d+'}}
  then: {add_tags: [order]}
- name: shouting
  when: {subject: {contains: URGENT, case_sensitive: true}}
  then: {priority: high}
- name: partial
  when: {body: {contains: "fund"}}
  then: {add_tags: [fund]}
""")
    d = route(rs, msg("ORDER #1234 is URGENT", "refunded"))
    assert (d.add_tags, d.priority) == (("order", "fund"), "high")
    assert route(rs, msg("order 12 is urgent")).priority is None


def test_body_is_the_new_text_without_the_quoted_history(tmp_path: Path) -> None:
    rs = rules(tmp_path, "- name: b\n  when: {body: [invoice]}\n  then: {team: billing}\n")
    reply = "Thanks, all good.\n\nOn Tue, 24 Nov 2026, Shop <s@shop.example> wrote:\n> invoice"
    assert route(rs, msg(body=reply)).team is None
    assert route(rs, msg(body="Where is my invoice?\n> old text")).team == "billing"
    assert trim_quotes("> only a quote") == "> only a quote"  # a bare forward keeps its text


def test_sender_recipients_channel_language_attachments(tmp_path: Path) -> None:
    rs = rules(tmp_path, """
- name: partner
  when: {sender_domain: partner.example, channel: email}
  then: {add_tags: [partner]}
- name: sales inbox
  when: {recipient: sales@shop.example}
  then: {add_tags: [sales]}
- name: portuguese
  when: {language: pt}
  then: {add_tags: [pt]}
- name: thai
  when: {language: th}
  then: {add_tags: [th]}
- name: pdf
  when: {attachment_type: [pdf, "image/*"]}
  then: {add_tags: [file]}
- name: named
  when: {sender_name: {regex: '^dr\\.? '}}
  then: {add_tags: [doctor]}
""")
    pdf = InboundAttachment("Scan.PDF", "application/pdf", b"")
    m = msg("x", sender="joe@eu.partner.example", name="Dr. Joe", language="pt-BR",
            recipients=(Address("Sales@Shop.example"),), attachments=(pdf,))
    assert route(rs, m).add_tags == ("partner", "sales", "pt", "file", "doctor")
    inline = InboundAttachment("logo.png", "image/png", b"", inline=True)
    assert route(rs, msg("สวัสดี", channel="telegram", attachments=(inline,))).add_tags \
        == ("th",)  # language guessed from the script; inline images are no attachments


def test_contact_facts_and_nesting(tmp_path: Path) -> None:
    rs = rules(tmp_path, """
- name: important
  when:
    all:
      - any: [{vip: true}, {contact_tag: [gold, partner]}]
      - not: {first_message: false}
      - open_conversations: {at_least: 1, at_most: 3}
  then: {priority: urgent}
""")
    assert route(rs, msg(), RouteFacts(True, ("Gold",), False, 2)).priority == "urgent"
    assert route(rs, msg(), RouteFacts(True, (), True, 4)).priority is None
    assert route(rs, msg(), RouteFacts(False, (), True, 1)).priority is None
    counted: list[int] = []
    lazy = RouteFacts(True, (), True, count_open=lambda: counted.append(1) or 2)
    assert route(rs, msg(), lazy).priority == "urgent" and counted


def test_time_conditions_use_the_business_time_zone(tmp_path: Path) -> None:
    rs = rules(tmp_path, """
- name: after hours
  when: {business_hours: false}
  then: {add_tags: [after-hours]}
- name: night
  when: {time: "22:00-06:00"}
  then: {add_tags: [night]}
- name: weekend
  when: {weekday: [saturday, sun]}
  then: {add_tags: [weekend]}
""")
    def tags(at: datetime) -> tuple[str, ...]:
        return route(rs, msg(at=at)).add_tags
    assert tags(datetime(2026, 11, 25, 8, 30, tzinfo=UTC)) == ()  # 09:30 in Warsaw
    assert tags(datetime(2026, 11, 25, 7, 30, tzinfo=UTC)) == ("after-hours",)
    assert tags(datetime(2026, 11, 28, 22, 0, tzinfo=UTC)) == ("after-hours", "night",
                                                               "weekend")
    assert tags(datetime(2026, 12, 25, 10, 0, tzinfo=UTC)) == ("after-hours",)  # holiday


def test_rules_apply_in_order_later_values_win_and_stop_ends(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "20-later.yaml").write_text(
        "- name: later\n  when: always\n  then: {priority: low, remove_tags: [x]}\n")
    rs = rules(tmp_path, """
- name: first
  when: always
  then: {priority: high, add_tags: [x, y], team: tech}
- name: spam
  when: {subject: [casino]}
  then: {spam: true}
  stop: true
""")
    d = route(rs, msg("hello"))
    assert (d.priority, d.add_tags, d.remove_tags) == ("low", ("y",), ("x",))
    assert [h.rule for h in d.hits] == ["first", "later"]
    spam = route(rs, msg("casino"))
    assert spam.close_as_spam and spam.skip_ack == "spam" and spam.priority == "high"
    assert [h.source for h in spam.hits] == ["rules/10-test.yaml:2", "rules/10-test.yaml:5"]


def test_assignment_ack_sla_and_notify_actions(tmp_path: Path) -> None:
    rs = rules(tmp_path, """
- name: billing
  when: always
  then:
    assign: {round_robin: billing}
    sla: vip
    ack: ack-vip
    notify: [{to: ana, template: notify}, {to: tom, template: notify}]
- name: nightly
  when: {subject: [quiet]}
  then: {ack: false, assign: ben}
""")
    d = route(rs, msg("hello"))
    assert (d.assign_mode, d.assign_team, d.assign_pool) == ("round-robin", "billing",
                                                             ("ana", "ben"))
    assert (d.sla_policy, d.ack_template, d.skip_ack) == ("vip", "ack-vip", None)
    assert [(n.channel, n.recipient, n.account) for n in d.notify] == [
        ("email", "ana@shop.example", "support"), ("telegram", "42", "bot")]
    quiet = route(rs, msg("quiet please"))
    assert (quiet.assignee, quiet.assign_mode, quiet.skip_ack) == ("ben", None, "nightly")


def test_explain_says_which_condition_decided(tmp_path: Path) -> None:
    rs = rules(tmp_path, """
- name: billing
  when:
    all:
      - channel: email
      - subject: [invoice, refund]
  then: {team: billing}
  stop: true
- name: never reached
  when: always
  then: {team: tech}
""")
    no = rs.explain(msg("hello"), FIRST)
    assert no.reports[0].matched is False
    assert no.reports[0].why == "subject has none of the words 'invoice', 'refund'"
    assert no.decision.team == "tech"
    yes = rs.explain(msg("Invoice 7"), FIRST)
    assert yes.reports[0].why == "channel is 'email'; subject has the word 'invoice'"
    assert yes.reports[1].matched is None and "stops" in yes.reports[1].why
    assert yes.set_by == {"team": "billing"}
    tg = rs.explain(msg("invoice", channel="telegram"), FIRST)
    assert tg.reports[0].why == "channel is 'telegram', not 'email'"


@pytest.mark.parametrize(("text", "expected"), [
    ("- name: a\n  when: {subjet: [x]}\n  then: {team: billing}\n",
     "rules/10-test.yaml:2: condition: unknown key 'subjet' (did you mean 'subject'?)"),
    ("- name: a\n  when: {subject: [x]}\n  then: {team: biling}\n",
     "rules/10-test.yaml:3: team: unknown 'biling' (did you mean 'billing'?)"),
    ("- name: a\n  when: {subject: [x]}\n  then: {priorty: high}\n",
     "rules/10-test.yaml:3: then: unknown key 'priorty' (did you mean 'priority'?)"),
    ("- name: a\n  when:\n    subject: {regex: 'a(b'}\n  then: {team: billing}\n",
     "rules/10-test.yaml:3: subject: bad regex 'a(b': missing ) at position 3"),
    ("- name: a\n  when: always\n  then: {assign: anna}\n",
     "rules/10-test.yaml:3: assign: unknown 'anna' (did you mean 'ana'?)"),
    ("- name: a\n  when: always\n  then: {ack: ack-vp}\n",
     "rules/10-test.yaml:3: ack (a template folder in templates/): unknown 'ack-vp' "
     "(did you mean 'ack-vip'?)"),
    ("- name: a\n  when: always\n  then: {assign: {round_robin: support}}\n",
     "rules/10-test.yaml:3: round_robin: team 'support' has no agents (list them in "
     "[teams.support] agents = [...] in inbox.toml)"),
    ("- name: a\n  when: {channel: emial}\n  then: {team: billing}\n",
     "rules/10-test.yaml:2: channel: unknown 'emial' (did you mean 'email'?)"),
    ("- name: a\n  when: {weekday: [sunday, funday]}\n  then: {team: billing}\n",
     "rules/10-test.yaml:2: weekday: unknown day 'funday' (did you mean 'sun'?)"),
    ("- name: a\n  when: always\n  then: {spam: false}\n",
     "rules/10-test.yaml:3: spam: write `spam: true` (anything else means nothing)"),
    ("- name: a\n  when: always\n  then: {notify: {to: ana}}\n",
     "rules/10-test.yaml:3: notify: 'template' is missing"),
    ("- name: a\n  when: always\n  then: {notify: {to: ben, template: notify}}\n",
     "rules/10-test.yaml:3: notify to: agent 'ben' has no email or telegram in [agents.ben] "
     "of inbox.toml"),
    ("- name: a\n  when: always\n  then: {team: billing}\n- name: a\n  when: always\n"
     "  then: {team: tech}\n",
     "rules/10-test.yaml:4: rule name 'a' is used already at rules/10-test.yaml:1"),
    ("- name: a\n  when: {subject: [x]\n  then: {team: billing}\n",
     "rules/10-test.yaml:3: not valid YAML: did not find expected ',' or '}'"),
    ("- name: a\n  then: {team: billing}\n",
     "rules/10-test.yaml:1: rule: 'when' is missing (write `when: always` to match "
     "everything)"),
])
def test_mistakes_are_reported_with_file_line_and_a_suggestion(tmp_path: Path, text: str,
                                                               expected: str) -> None:
    assert problems(tmp_path, text) == [expected]


def test_every_mistake_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(tmp_path, """
- name: one
  when: {subjekt: [x]}
  then: {team: billing}
- name: two
  when: {subject: [x]}
  then: {team: sales, priority: highest}
""")
    assert [p.split(": ", 1)[0] for p in found] == ["rules/10-test.yaml:3",
                                                    "rules/10-test.yaml:7",
                                                    "rules/10-test.yaml:7"]


def test_toml_rule_files_are_refused_with_a_pointer(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "old.toml").write_text("[rule]\n")
    assert problems(tmp_path, "[]") == [
        "rules/old.toml:1: rules are written in YAML (*.yaml); see docs/rules.md"]


def test_required_literals_only_ever_weaken() -> None:
    assert required_literals(r"\border\s+#?\d+") == {"order"}
    assert required_literals(r"\b(viagra|casino)\b") == {"viagra", "casino"}
    assert required_literals("colou?r") == {"colo"}
    for unsure in ("a.b", r"\p{Latin}abc", "(?i)abc", "ab|c", r"[^]abc]"):
        assert required_literals(unsure) is None


def test_the_index_never_changes_an_outcome(tmp_path: Path) -> None:
    """Generated multilingual rules and traffic: indexed routing == testing every rule."""
    folder = tmp_path / "generated"
    folder.mkdir()
    generate_rules(120, 3, folder)
    rs = load_rules(folder, bench_known())
    for inbound, facts in generate_messages(400, 3):
        assert rs.route(inbound, facts) == rs.explain(inbound, facts).decision


def test_daemon_reloads_rules_and_keeps_the_last_good_ones(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    path = folder / "10-a.yaml"
    path.write_text("- name: a\n  when: always\n  then: {team: billing}\n")
    now = [0.0]
    live = LiveRules(folder, KNOWN, interval=5, clock=lambda: now[0])
    assert live.route(msg(), FIRST).team == "billing"

    path.write_text("- name: a\n  when: always\n  then: {team: tech}\n")
    assert live.route(msg(), FIRST).team == "billing"  # not yet time to look again
    now[0] = 5
    assert live.route(msg(), FIRST).team == "tech"

    path.write_text("- name: a\n  when: always\n  then: {team: tehc}\n")
    now[0] = 10
    with caplog.at_level(logging.ERROR, logger="inbox.rules.live"):
        assert live.route(msg(), FIRST).team == "tech"  # the broken edit is refused
    assert "rules/10-a.yaml:3: team: unknown 'tehc' (did you mean 'tech'?)" in caplog.text
    assert [str(p) for p in live.problems] == [
        "rules/10-a.yaml:3: team: unknown 'tehc' (did you mean 'tech'?)"]

    path.write_text("- name: a\n  when: always\n  then: {team: support}\n")
    now[0] = 15
    assert live.route(msg(), FIRST).team == "support" and not live.problems


def test_broken_rules_at_start_are_an_error_not_silence(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.yaml").write_text("- name: a\n  when: {nope: 1}\n  then: {team: tech}\n")
    with pytest.raises(RulesError, match=r"rules/a.yaml:2: condition: unknown key 'nope'"):
        LiveRules(folder, KNOWN)
