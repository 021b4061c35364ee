"""Rendering admin-edited templates: customer values never steer our mail, and no
template, however broken or hostile, costs a message, its routing or the daemon's memory.

The pure tests render the shipped templates (the top-level templates/ folder) and
templates written into a temporary folder; the pipeline tests run on both databases.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from channels.base import Address, Inbound
from inbox.cli.templates import samples
from inbox.core import tokens
from inbox.ingest.pipeline import ingest_batch
from inbox.lang.render import Renderer, TemplateError
from inbox.runtime.app import App
from inbox.store.models import Conversation, Event, Message, Outbox

SHIPPED = Path(__file__).resolve().parents[2] / "templates"
SHIPPED_RENDERER = Renderer(SHIPPED)
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def ack_context(**values: object) -> dict[str, object]:
    context: dict[str, object] = {
        "customer_name": "Anna Nowak", "subject": "Order 1234", "reference": "[#1-abcde]",
        "team_name": "Acme Support", "account_name": "Acme Support",
        "due_at": "Friday 27 November 2026, 09:00 UTC", "channel": "email", "language": "en"}
    return context | values


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- customer values cannot make a header or a line above our text -------------------

def test_a_subject_with_blank_lines_neither_blanks_the_subject_nor_tops_the_body() -> None:
    hostile = "Hi\r\n\r\nINJECTED: pay to IBAN XX00 now\r\n\r\n"
    rendered = Renderer(SHIPPED).render("ack", "email", None, ack_context(subject=hostile))
    assert rendered.subject == ("[#1-abcde] We have your message: "
                                "Hi INJECTED: pay to IBAN XX00 now")
    assert rendered.body.splitlines()[0] == "Hello Anna Nowak,"


def test_a_name_with_line_breaks_stays_on_the_greeting_line() -> None:
    rendered = Renderer(SHIPPED).render(
        "ack", "telegram", None, ack_context(customer_name="\n\nWe owe you $500\u2028\n"))
    assert len(rendered.body.splitlines()) == 1 and rendered.body.startswith("Hi ")


hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from(f"{LINE_BREAKS}\x00\t\u200f\u202eאבג ก์ :<>@"),
                       st.characters(codec="utf-8")),
    max_size=300)


@pytest.mark.parametrize("language", [None, "pl"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=hostile_text, name=hostile_text)
def test_email_acks_keep_their_shape_whatever_the_customer_sends(
        language: str | None, subject: str, name: str) -> None:
    plain = SHIPPED_RENDERER.render("ack", "email", language,
                                    ack_context(customer_name="Anna"))
    got = SHIPPED_RENDERER.render("ack", "email", language,
                          ack_context(subject=subject, customer_name=name))
    assert got.subject is not None and got.subject.startswith("[#1-abcde] ")
    assert got.subject == " ".join(got.subject.split())  # one line, no control characters
    assert not any(c in got.subject for c in f"{LINE_BREAKS}\x00")
    assert len(got.body.splitlines()) == len(plain.body.splitlines())
    greeting = plain.body.split()[0].rstrip(",")  # "Hello" or "Dzień"
    assert got.body.startswith(greeting)


@pytest.mark.parametrize("kind", ["ack-after-hours", "notify", "sla"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=hostile_text, name=hostile_text)
def test_notices_keep_a_one_line_subject_and_their_own_first_line(
        kind: str, subject: str, name: str) -> None:
    usual = samples(kind, "email", "en")["usual"]
    plain = SHIPPED_RENDERER.render(kind, "email", None, usual)
    got = SHIPPED_RENDERER.render(kind, "email", None, usual | {
        "subject": subject, "customer_name": name, "customer_address": name})
    assert got.subject is not None and got.subject == " ".join(got.subject.split())
    assert got.subject.split()[0] == (plain.subject or "").split()[0]
    assert got.body.split()[0].rstrip(",") == plain.body.split()[0].rstrip(",")


def test_a_template_can_only_set_the_subject(tmp_path: Path) -> None:
    write(tmp_path, "ack/default.txt", "Subject: hi\nBcc: boss@example.com\n\nbody\n")
    with pytest.raises(TemplateError, match=r"ack/default.txt:2: .*Bcc"):
        Renderer(tmp_path).render("ack", "email", None, ack_context())


def test_the_body_of_a_headerless_template_may_mention_a_subject(tmp_path: Path) -> None:
    write(tmp_path, "ack/default.txt", "Thanks.\nSubject: {{ subject }}\n")
    rendered = Renderer(tmp_path).render("ack", "email", None, ack_context())
    assert rendered.subject is None
    assert rendered.body == "Thanks.\nSubject: Order 1234\n"


def test_a_subject_after_a_byte_order_mark_is_still_the_subject(tmp_path: Path) -> None:
    write(tmp_path, "ack/email.txt", "\ufeffSubject: {{ reference }} Thanks\n\nHello\n")
    rendered = Renderer(tmp_path).render("ack", "email", None, ack_context())
    assert (rendered.subject, rendered.body) == ("[#1-abcde] Thanks", "Hello\n")


# --- every failure is a TemplateError naming file:line --------------------------------

@pytest.mark.parametrize(("line", "fragment"), [
    ("{{ 1/0 }}", "ZeroDivisionError"),
    ("{{ 1 + 'a' }}", "TypeError"),
    ("{{ 'x' * 1e9 }}", "TypeError"),
    ("{{ range(10**7)|list }}", "range"),
    ("{{ ''.__class__.__mro__ }}", "unsafe"),
    ("{{ no_such_thing }}", "no_such_thing"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "Recursion"),
])
def test_runtime_errors_name_the_file_and_line(tmp_path: Path, line: str,
                                               fragment: str) -> None:
    write(tmp_path, "ack/email.txt", f"Subject: fine\n\nHello,\n{line}\n")
    with pytest.raises(TemplateError, match=fr"ack/email.txt:4: .*{fragment}"):
        Renderer(tmp_path).render("ack", "email", None, ack_context())


def test_an_error_in_the_subject_names_its_line(tmp_path: Path) -> None:
    write(tmp_path, "ack/email.txt", "Subject: {{ 1/0 }}\n\nHello\n")
    with pytest.raises(TemplateError, match=r"ack/email.txt:1: "):
        Renderer(tmp_path).render("ack", "email", None, ack_context())


def test_a_syntax_error_in_the_body_names_its_line(tmp_path: Path) -> None:
    write(tmp_path, "ack/email.txt", "Subject: hi\n\nHello\n\n{% if %}\n")
    with pytest.raises(TemplateError, match=r"ack/email.txt:5: "):
        Renderer(tmp_path).render("ack", "email", None, ack_context())


# --- runaway templates are stopped fast and small -------------------------------------

RUNAWAYS = [
    "{{ 'x' * 1000000000 }}",
    "{{ 2 ** 1000000000 }}",
    "{{ 7 ** 99999 ** 9 }}",
    "{{ lipsum(100000) }}",
    "{{ ['x' * 90000] * 90000 }}",
    "{{ (['x' * 90000] * 9)|join }}",
    "{{ 'x'|center(1000000000) }}",
    "{{ 'x'.rjust(1000000000) }}",
    "{{ '%*s' % (1000000000, 'x') }}",
    "{{ ('a\\n' * 50000)|indent(99999) }}",
    "{{ ('\\t' * 99999).expandtabs(99999) }}",
    "{{ '{:>1000000000}'.format('x') }}",
    "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
    "{% set s = 'x' * 50000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "{% for i in range(99999) %}{{ 'x' * 1000 }}{% endfor %}",
]


@pytest.mark.parametrize("runaway", RUNAWAYS)
def test_a_runaway_template_fails_fast_and_small(tmp_path: Path, runaway: str) -> None:
    write(tmp_path, "ack/default.txt", f"Hello\n{runaway}\n")
    renderer = Renderer(tmp_path, time_limit=0.5)
    started = time.monotonic()
    # Refused before it is built, not by running out of memory (no line: output limit).
    with pytest.raises(TemplateError, match=r"ack/default.txt(:2)?: (?!MemoryError)"):
        renderer.render("ack", "email", None, ack_context())
    assert time.monotonic() - started < 10  # the limit is 0.5 s; generous for a busy box


def test_a_long_but_reasonable_text_is_allowed(tmp_path: Path) -> None:
    write(tmp_path, "ack/default.txt",
          "{% for i in range(500) %}{{ '%03d' % i }} {{ 'x' * 60 }}\n{% endfor %}"
          "{{ 2 ** 9000 > 0 }} {{ lipsum(3)|length > 0 }}\n")
    rendered = Renderer(tmp_path).render("ack", "email", None, ack_context())
    assert len(rendered.body.splitlines()) == 501


# --- the pipeline: a template failure costs neither the message nor its routing -------

def mail(external_id: str, subject: str = "Order 1234") -> Inbound:
    return Inbound(channel="email", account="support", external_id=external_id,
                   sender=Address("anna@example.com", "Anna Nowak"), received_at=NOW,
                   subject=subject, text="Where is my order?",
                   headers={"return-path": "<anna@example.com>"}, raw=b"raw")


def rows(app: App, model: type, **where: object) -> list:  # type: ignore[type-arg]
    with Session(app.engine) as s:
        return list(s.scalars(sa.select(model).filter_by(**where)).all())


@pytest.mark.parametrize("broken", ["{{ 1/0 }}", "{{ 'x' * 1000000000 }}",
                                    "{{ range(10**7)|list }}", "{% if %}"])
def test_a_failing_ack_template_still_stores_routes_and_acknowledges(
        app: App, deployment: Path, broken: str) -> None:
    (deployment / "templates" / "ack" / "email.txt").write_text(
        f"Subject: hi\n\nHello\n{broken}\n")
    with app.engine.begin() as conn:
        [r] = ingest_batch(conn, [mail("m1@x")], app.pipeline_context(), NOW)
    assert r.outcome == "stored" and r.acked
    [conv] = rows(app, Conversation)
    assert "needs-attention" not in (conv.tags or [])
    [e] = rows(app, Event, kind="ack.template-error")
    assert "ack/email.txt:4: " in e.detail["error"]
    [ack] = rows(app, Message, kind="auto-ack")
    reference = tokens.reference(app.secret, conv.id)
    assert ack.subject and ack.subject.startswith(reference)
    assert reference in ack.text and "Anna" not in ack.text
    assert len(rows(app, Outbox)) == 1


def test_a_failing_notification_template_still_tells_the_agent(
        app: App, deployment: Path) -> None:
    from inbox.core.routing import Notice, RouteDecision, RouteFacts

    class Notifying:
        def route(self, inbound: Inbound, facts: RouteFacts) -> RouteDecision:
            return RouteDecision(notify=(Notice(rule="vip", channel="email",
                                                account="support",
                                                recipient="kim@helpdesk.test",
                                                template="notify"),))

    (deployment / "templates" / "notify" / "email.txt").write_text("Subject: x\n\n{{ 1/0 }}")
    ctx = replace(app.pipeline_context(), router=Notifying())
    with app.engine.begin() as conn:
        [r] = ingest_batch(conn, [mail("m1@x")], ctx, NOW)
    assert r.outcome == "stored"
    [e] = rows(app, Event, kind="notify.template-error")
    assert "notify/email.txt:3: " in e.detail["error"]
    [note] = rows(app, Outbox, kind="notify")
    assert note.recipient == "kim@helpdesk.test"
