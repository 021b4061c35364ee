"""The words every face uses for what happened: the event trail as sentences, each
message's delivery said plainly, times in the team's zone, and customer text made safe
to set among our words.

`inbox show` prints these lines and the web desk shows them: "ack sent to
anna@example.com after 2 tries", "status open -> snoozed until ... by ana". An event kind
this module does not know still reads, as its kind and details. A value someone typed is
one clean line inside a bidi isolate (U+2068 ... U+2069), so a Persian name inside an
English sentence cannot turn the sentence around.
"""

from __future__ import annotations

import unicodedata
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from inbox.sla.clock import duration

JSON = dict[str, Any]

FSI, PDI = "\u2068", "\u2069"
# Explicit bidi controls in a customer's text would end our isolate early (PDI) or
# leak an embedding out of it; the marks LRM, RLM and ALM are harmless and stay.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\n\r\t\v\f\x85\u2028\u2029")


def clean(text: str) -> str:
    """One line of text a terminal shows as text: line breaks become spaces, other control
    characters (an escape sequence could repaint the screen) U+FFFD, bidi controls go."""
    out = []
    for ch in text:
        if ch in _LINE_BREAKS:
            out.append(" ")
        elif ch in _BIDI_CONTROLS:
            continue
        elif unicodedata.category(ch) == "Cc":
            out.append("\ufffd")
        else:
            out.append(ch)
    line = "".join(out)
    if line and unicodedata.category(line[0]).startswith("M"):
        line = "\u25cc" + line  # a mark alone would sit on the cell before the column
    return line


def isolate(text: str) -> str:
    return f"{FSI}{text}{PDI}" if text else text


def free(text: str) -> str:
    """A value someone typed, set among our words: one clean line, its own direction."""
    return isolate(clean(text))


def trail(conv: JSON) -> list[JSON]:
    """`ack.queued` names the template, not the address; the acknowledgement it queued
    is the one made at the same moment, so the trail can say whom it went to."""
    to = {m["created_at"]: m["recipients"] for m in conv["messages"]
          if m["kind"] == "auto-ack"}
    return [{**e, "detail": {**(e["detail"] or {}), "to": to[e["at"]]}}
            if e["kind"] == "ack.queued" and to.get(e["at"]) else e
            for e in conv["events"]]



def delivery_words(m: JSON, zone: zoneinfo.ZoneInfo) -> str:
    if m["direction"] == "in":
        return "received"
    send = m.get("send")
    if send is None:  # a note, or an outgoing message stored without a send
        return "not sent (internal)" if m["kind"] == "note" else m["delivery"]
    return _send_words(send, zone)


def _send_words(send: JSON, zone: zoneinfo.ZoneInfo) -> str:
    state, tries = send["state"], send["attempts"]
    if state == "sent":
        after = f" after {tries} tries" if tries > 1 else ""
        return f"sent {when(send['sent_at'], zone)}{after}"
    if state == "failed":
        return (f"failed {_times(tries)} - will retry {when(send['next_attempt_at'], zone)}"
                f": {free(send['error'] or '?')}")
    if state == "dead":
        return f"dead after {_times(tries)}: {free(send['error'] or '?')}"
    if state == "sending":
        return "sending"
    return f"queued, to go {when(send['next_attempt_at'], zone)}"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def when(value: str | None, zone: zoneinfo.ZoneInfo) -> str:
    """An ISO time from a read model in the team's time zone, as `inbox sla` says times."""
    if not value:
        return "-"
    return f"{datetime.fromisoformat(value).astimezone(zone):%Y-%m-%d %H:%M %Z}"


# ---------------------------------------------------------------------- the trail

def event_words(e: JSON, zone: zoneinfo.ZoneInfo) -> str:
    d: JSON = e["detail"] or {}
    say = _EVENTS.get(e["kind"])
    if say is None:
        for suffix, family in _FAMILIES.items():
            if e["kind"].endswith(suffix):
                return family(e["kind"].removesuffix(suffix), d, zone)
        return _plain(e["kind"], d)
    return say(d, zone)


def _plain(kind: str, d: JSON) -> str:
    """An event this version has no words for: its kind and details, still readable."""
    pairs = " ".join(f"{k}={_value(v)}" for k, v in d.items())
    return f"{kind} {pairs}".rstrip()


def _value(v: object) -> str:
    if isinstance(v, list):
        return ",".join(_value(x) for x in v) or "-"
    if isinstance(v, dict):
        return ",".join(f"{k}:{_value(x)}" for k, x in v.items()) or "-"
    return "-" if v is None else free(str(v))


def _sent(what: str, d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    tries = d.get("attempts") or 1
    after = f" after {tries} tries" if tries > 1 else ""
    journal = f" ({d['recorded']})" if d.get("recorded") else ""
    return f"{_NAMES.get(what, what)} sent to {free(str(d.get('recipient')))}{after}{journal}"


def _dead(what: str, d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    return (f"{_NAMES.get(what, what)} to {free(str(d.get('recipient')))} given up: "
            f"{free(str(d.get('error')))}")


def _retried(what: str, d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    return (f"{_NAMES.get(what, what)} to {free(str(d.get('recipient')))} sent again by "
            f"{free(str(d.get('by')))} (it had failed: {free(str(d.get('error')))})")


def _template_error(what: str, d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    return (f"{_NAMES.get(what, what)} template failed, the built-in text was used: "
            f"{free(str(d.get('error')))}")


_NAMES = {"ack": "ack", "reply": "reply", "notify": "notification", "sla": "SLA notice",
          "escalation": "escalation notice", "mention": "mention notice"}
_FAMILIES: dict[str, Callable[[str, JSON, zoneinfo.ZoneInfo], str]] = {
    ".sent": _sent, ".dead": _dead, ".retried": _retried,
    ".template-error": _template_error}


def _routed(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    rules = ", ".join(free(r) for r in d.get("rules") or []) or "?"
    did = [f"team {d['team']}" if d.get("team") else "",
           f"assign {d['assign']}" if d.get("assign") else "",
           f"priority {d['priority']}" if d.get("priority") else "",
           " ".join([*(f"+{t}" for t in d.get("add_tags") or []),
                     *(f"-{t}" for t in d.get("remove_tags") or [])]),
           f"SLA policy {d['sla_policy']}" if d.get("sla_policy") else "",
           "no ack" if d.get("ack") == "skip" else "",
           "spam" if d.get("spam") else "",
           f"notify {', '.join(d['notify'])}" if d.get("notify") else ""]
    return f"routed by rule {rules}: {', '.join(free(x) for x in did if x) or 'no change'}"


def _status(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    if "from" not in d:  # the rules closed it
        return f"status {d.get('status')} by {d.get('by')}: {d.get('reason')}"
    until = f" until {when(d['until'], zone)}" if d.get("until") else ""
    sla = f"; SLA clock {d['sla']}" if d.get("sla") else ""
    if d.get("sla_left_seconds") is not None:
        sla += f" with {duration(timedelta(seconds=d['sla_left_seconds']))} left"
    return f"status {d['from']} -> {d['to']}{until} by {free(str(d.get('by')))}{sla}"


def _language(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    """The pipeline's choice (with the raw detection) or an agent's."""
    if d.get("by"):
        also = " and as the contact's preference" if d.get("contact") else ""
        was = (d.get("before") or {}).get("language") or "-"
        if d.get("source") == "auto":
            return (f"language handed back to detection by {free(str(d['by']))}{also} "
                    f"(was {was})")
        return f"language set to {d.get('language')} by {free(str(d['by']))}{also} (was {was})"
    seen = ""
    if d.get("detected"):
        seen = f"; detected {d['detected']} at {d.get('confidence')}"
    elif d.get("why"):
        seen = f"; detection: {free(str(d['why']))}"
    return f"language {d.get('language')} ({d.get('source')}){seen}"


def _assigned(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    to = free(d["assignee"]) if d.get("assignee") else "nobody"
    team = f", team {free(d['team'])}" if d.get("team") else ""
    how = f" ({d['how']})" if d.get("how") else ""
    before = d.get("before") or {}
    was = (f" (was {free(before.get('assignee') or '-')}, "
           f"team {free(before.get('team') or '-')})" if before else "")
    reason = f": {d['reason']}" if d.get("reason") else ""
    return f"assigned to {to}{team} by {free(str(d.get('by')))}{how}{was}{reason}"


def _sla(state: str) -> Callable[[JSON, zoneinfo.ZoneInfo], str]:
    def say(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
        words = f"SLA {state}"
        if "waited_seconds" in d:  # a person answered: met or late
            words += (f": {d.get('target')} response by {free(str(d.get('by')))} after "
                      f"{duration(timedelta(seconds=d['waited_seconds']))}")
        elif d.get("due_at"):
            words += f" (due {when(d['due_at'], zone)}, policy {d.get('policy')})"
        if d.get("notified"):
            words += f"; told {', '.join(d['notified'])}"
        return words
    return say


def _reply_queued(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    sla = f"; SLA {d['sla']}" if d.get("sla") else ""
    if d.get("sla_waited_seconds") is not None:
        sla += f" after {duration(timedelta(seconds=d['sla_waited_seconds']))}"
    return f"reply by {free(str(d.get('author')))} queued to {free(str(d.get('to')))}{sla}"


def _edited(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    before = clean(str(d.get("previous") or ""))
    short = before if len(before) <= 60 else before[:59] + "…"
    return f"the customer edited the message; it said: {isolate(short)}"


def _deleted(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    at = f" at {when(d['deleted_at'], zone)}" if d.get("deleted_at") else ""
    return f"{free(str(d.get('by')))} deleted the message{at} (its text is kept here)"


def _escalated(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    by, why = free(str(d.get("by"))), free(str(d.get("reason") or ""))
    if d.get("added"):
        return f"{by} added to the escalation: {why}"
    to = free(d["to"]) if d.get("to") else "the supervisors"
    told = f"; told {', '.join(free(t) for t in d['notified'])}" if d.get("notified") else ""
    return f"escalated to {to} by {by}: {why}{told}"


def _mentioned(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    names = ", ".join(free(str(n)) for n in d.get("mentioned") or [])
    words = f"{free(str(d.get('by')))} mentioned {names} in a note"
    if d.get("notified"):
        words += f"; told {', '.join(free(str(t)) for t in d['notified'])}"
    if d.get("not_told"):
        words += "; not told: " + ", ".join(f"{free(str(n))} ({why})"
                                            for n, why in d["not_told"].items())
    return words


def _escalation_handled(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    waited = d.get("waited_seconds")
    after = f" after {duration(timedelta(seconds=waited))}" if waited is not None else ""
    return (f"escalation by {free(str(d.get('escalated_by')))} handled by "
            f"{free(str(d.get('by')))}{after}")


def _to(d: JSON) -> str:
    return f" to {', '.join(free(a) for a in d['to'])}" if d.get("to") else ""


Say = Callable[[JSON, zoneinfo.ZoneInfo], str]
_EVENTS: dict[str, Say] = {
    "ack.queued": lambda d, z: (f"ack queued{_to(d)} (template {d.get('template')})"),
    "ack.suppressed": lambda d, z: f"ack suppressed: {d.get('reason')}",
    "notify.queued": lambda d, z: (f"notification queued to {free(str(d.get('to')))} "
                                   f"by rule {free(str(d.get('rule')))}"),
    "reply.queued": _reply_queued,
    "rule": lambda d, z: (f"rule {free(str(d.get('rule')))} matched "
                          f"({d.get('source')}): {free(str(d.get('why')))}"),
    "rules.over-budget": lambda d, z: (f"rules ran out of time at {free(str(d.get('rule')))}"
                                       f" ({d.get('source')}): {free(str(d.get('why')))}"),
    "routed": _routed, "status": _status, "assigned": _assigned, "language": _language,
    "escalated": _escalated, "escalation.handled": _escalation_handled,
    "note.mentioned": _mentioned,
    "sla.ok": _sla("ok"), "sla.at-risk": _sla("at risk"), "sla.breached": _sla("breached"),
    "sla.met": _sla("met"),
    "flagged": lambda d, z: (f"flagged for a person to read: "
                             f"{'; '.join(d.get('problems') or []) or '?'}"),
    "quarantined": lambda d, z: f"quarantined, stored raw for a person: {d.get('error')}",
    "reachable": lambda d, z: f"{free(str(d.get('address')))} is reachable again: {d.get('why')}",
    "reopened": lambda d, z: f"reopened by a new message (was {d.get('previous')})",
    "automated": lambda d, z: f"sent by a robot ({d.get('reason')}): {d.get('effect')}",
    "automated.cleared": lambda d, z: (f"no longer robots only: {free(str(d.get('by')))} "
                                       "wrote"),
    "also-received": lambda d, z: f"the same mail also came to account {d.get('account')}",
    "repeat": lambda d, z: f"a re-send of message {free(str(d.get('of')))}",
    "linked": lambda d, z: f"linked with conversation #{d.get('conversation')}: {d.get('why')}",
    "edited": _edited,
    "deleted": _deleted,
    "edit.unseen": lambda d, z: f"an edit of a message we never stored: {d.get('why')}",
    "bounce": lambda d, z: (f"mail to {free(str(d.get('recipient')))} bounced: "
                            f"{free(str(d.get('reason')))}"),
    "contact.merged": lambda d, z: (f"contact #{d.get('from')} merged into "
                                    f"#{d.get('into')} by {free(str(d.get('by')))}"),
    "staff-reply": lambda d, z: (f"{free(str(d.get('author') or d.get('sender')))} answered "
                                 "our notification (kept as an internal note)"),
}
