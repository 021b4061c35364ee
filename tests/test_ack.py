"""can_acknowledge(): the one place that decides whether a robot might be answered."""

from __future__ import annotations

import pytest

from inbox.ack import AckFacts, can_acknowledge


def facts(sender: str = "anna@example.com", **kw: object) -> AckFacts:
    base: dict[str, object] = {
        "sender": sender, "headers": {"return-path": f"<{sender}>"},
        "external_id": "abc@mail.example.com", "unanswered": True,
        "conversation_acked": False, "acks_to_sender_today": 0, "daily_cap": 3,
        "our_addresses": frozenset({"help@shop.example"}), "our_domain": "shop.example",
    }
    base.update(kw)
    return AckFacts(**base)  # type: ignore[arg-type]


def test_a_person_writing_for_the_first_time_is_acknowledged() -> None:
    assert can_acknowledge(facts()).ok


@pytest.mark.parametrize(("headers", "why"), [
    ({"auto-submitted": "auto-replied"}, "Auto-Submitted"),
    ({"auto-submitted": "auto-generated"}, "Auto-Submitted"),
    ({"x-autoreply": "yes"}, "x-autoreply"),
    ({"x-autorespond": "1"}, "x-autorespond"),
    ({"x-auto-response-suppress": "All"}, "x-auto-response-suppress"),
    ({"precedence": "Bulk"}, "Precedence: bulk"),
    ({"precedence": "junk"}, "Precedence: junk"),
    ({"precedence": "list"}, "Precedence: list"),
    ({"list-id": "<x.lists.example>"}, "list-id"),
    ({"list-unsubscribe": "<mailto:u@x>"}, "list-unsubscribe"),
    ({"return-path": "<>"}, "Return-Path"),
    ({"content-type": "multipart/report; report-type=disposition-notification"}, "report"),
    ({"x-inbox-ref": "[#1-abcde]"}, "inbox installation"),
])
def test_robot_headers_suppress(headers: dict[str, str], why: str) -> None:
    decision = can_acknowledge(facts(headers={"return-path": "<a@b>", **headers}))
    assert not decision.ok and why in decision.reason


def test_auto_submitted_no_is_a_person() -> None:
    assert can_acknowledge(facts(headers={"auto-submitted": "no", "return-path": "<a@b>"})).ok


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.com", "postmaster@example.com",
                                    "no-reply@example.com", "noreply@example.com",
                                    "do-not-reply@example.com", "bounces+123@example.com"])
def test_robot_senders_suppress(sender: str) -> None:
    assert "robot" in can_acknowledge(facts(sender)).reason


def test_our_own_address_and_message_ids_suppress() -> None:
    assert "own addresses" in can_acknowledge(facts("HELP@shop.example")).reason
    own_id = facts(external_id="0f3a9c1e5b7d4f2a8c6e0b1d3f5a7c9e@shop.example")
    assert "own Message-IDs" in can_acknowledge(own_id).reason
    # Only the form we give our ids: a synthetic id in our domain is a customer's mail.
    synthetic = facts(external_id="sha256-0f3a@shop.example")
    assert can_acknowledge(synthetic).ok


def test_once_per_conversation_and_capped_per_sender() -> None:
    assert "already acknowledged" in can_acknowledge(facts(conversation_acked=True)).reason
    assert "already has an answer" in can_acknowledge(facts(unanswered=False)).reason
    capped = can_acknowledge(facts(acks_to_sender_today=3))
    assert not capped.ok and "cap 3" in capped.reason


def test_configuration_and_rules_can_switch_it_off() -> None:
    assert "disabled" in can_acknowledge(facts(enabled=False)).reason
    assert "'vip'" in can_acknowledge(facts(skipped_by_rule="vip")).reason
