"""What `inbox queue`, `inbox show` and `inbox outbox` print for people (not `--json`).

The read models (inbox.desk.views) stay the exact data; here they become words an agent reads
at a glance: a table that fits the terminal (inbox.cli.screen), messages with their delivery
said plainly, and the event trail as sentences ("ack sent to anna@example.com after 2
tries"). An event kind this module does not know still prints, as its kind and details.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from inbox.cli.screen import Column, clean, isolate, table
from inbox.sla.clock import duration

JSON = dict[str, Any]

QUEUE_COLUMNS = (
    Column("ID", right=True), Column("CHANNEL"),
    Column("SLA", right=True),  # time left, "overdue 2h 05m" or "answered"
    Column("STATUS"), Column("AGENT", isolate=True, most=12, least=5),
    Column("CONTACT", isolate=True, most=24, least=14),
    # On 80 cells the subject keeps about 24 by narrowing the contact and the agent.
    Column("SUBJECT", isolate=True, rest=True, least=24),
)


def queue_lines(rows: list[JSON], width: int | None) -> list[str]:
    """The queue as a table under a header, each line at most `width` cells."""
    return table(QUEUE_COLUMNS, [_queue_row(r) for r in rows], width)


def _queue_row(r: JSON) -> list[str]:
    left = r["sla"]["seconds_left"]
    due = "answered" if left is None else duration(timedelta(seconds=left))
    who = r["contact"]["name"] or r["contact"]["address"] or "?"
    return [str(r["id"]), r["channel"], due, r["status"], r["assignee"] or "-", who,
            r["subject"] or "(no subject)"]


def outbox_line(r: JSON) -> str:
    """One send. The error is shown while it matters: a send that went out after failed
    tries is `sent`, not `sent` beside the error of a try before."""
    err = f"  {r['last_error']}" if r["last_error"] and r["state"] != "sent" else ""
    err += f"  blocked: {r['blocked']}" if r["blocked"] else ""
    return (f"{r['id']:>6}  #{r['conversation_id']:<6} {r['kind']:<6} {r['state']:<8} "
            f"{r['channel']}/{r['account']} -> {r['recipient']} tries {r['attempts']}{err}")


# ------------------------------------------------------------------- one conversation

def conversation_lines(conv: JSON, zone: zoneinfo.ZoneInfo) -> list[str]:
    """`inbox show`: the conversation, its messages, and why things happened, in words."""
    contact, sla = conv["contact"], conv["sla"]
    lines = [f"#{conv['id']} {conv['reference']} {_free(conv['subject'] or '(no subject)')}",
             f"  {conv['channel']}/{conv['account']}  status {conv['status']}  "
             f"priority {conv['priority']}  team {conv['team'] or '-'}  "
             f"assignee {_free(conv['assignee'] or '-')}  tags {','.join(conv['tags']) or '-'}",
             f"  contact {_free(contact['name'] or '-')} <{_free(contact['address'] or '-')}>"
             f"  SLA {sla['state'] or '-'}"
             + (f", due {when(sla['due_at'], zone)}" if sla["due_at"] else "")]
    if conv["attributes"]:
        lines.append("  " + "  ".join(f"{k}={_free(str(v))}"
                                      for k, v in conv["attributes"].items()))
    for m in conv["messages"]:
        lines += ["", "--- " + message_heading(m, zone), _block(m["text"].rstrip())]
        lines += [f"  [attachment] {_free(a['filename'])} {a['content_type']} {a['size']} bytes"
                  for a in m["attachments"]]
    lines += ["", "events:"]
    lines += [f"  {when(e['at'], zone)}  {event_words(e, zone)}"
              for e in _with_ack_recipients(conv)]
    return lines


def _with_ack_recipients(conv: JSON) -> list[JSON]:
    """`ack.queued` names the template, not the address; the acknowledgement it queued
    is the one made at the same moment, so the trail can say whom it went to."""
    to = {m["created_at"]: m["recipients"] for m in conv["messages"]
          if m["kind"] == "auto-ack"}
    return [{**e, "detail": {**(e["detail"] or {}), "to": to[e["at"]]}}
            if e["kind"] == "ack.queued" and to.get(e["at"]) else e
            for e in conv["events"]]


def message_heading(m: JSON, zone: zoneinfo.ZoneInfo) -> str:
    """When, what, who, and where it stands: "received", "sent ...", "dead: ..."."""
    flag = f"  [flagged: {'; '.join(m['problems'])}]" if m["problems"] else ""
    return f"{when(m['created_at'], zone)}  {_what(m)} · {delivery_words(m, zone)}{flag}"


_WHAT = {"customer": "message", "agent": "reply", "auto-ack": "acknowledgement",
         "note": "internal note", "system": "system message"}


def _what(m: JSON) -> str:
    what = _WHAT.get(m["kind"], m["kind"])
    if m["direction"] == "in":
        sender = m["sender"]
        name = f"{_free(sender['name'])} " if sender["name"] else ""
        return f"{what} from {name}<{_free(sender['address'] or '?')}>"
    by = f" by {_free(m['author'])}" if m["author"] else ""
    to = f" to {', '.join(_free(r) for r in m['recipients'])}" if m["recipients"] else ""
    return f"{what}{by}{to}"


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
                f": {_free(send['error'] or '?')}")
    if state == "dead":
        return f"dead after {_times(tries)}: {_free(send['error'] or '?')}"
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


def _free(text: str) -> str:
    """A value someone typed, set among our words: one clean line, its own direction."""
    return isolate(clean(text))


def _block(text: str) -> str:
    """A message body as lines: line breaks kept, escape sequences made harmless."""
    return "\n".join(clean(line) for line in text.split("\n"))


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
    return "-" if v is None else _free(str(v))


def _sent(what: str, d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    tries = d.get("attempts") or 1
    after = f" after {tries} tries" if tries > 1 else ""
    journal = f" ({d['recorded']})" if d.get("recorded") else ""
    return f"{_NAMES.get(what, what)} sent to {_free(str(d.get('recipient')))}{after}{journal}"


def _dead(what: str, d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    return (f"{_NAMES.get(what, what)} to {_free(str(d.get('recipient')))} given up: "
            f"{_free(str(d.get('error')))}")


def _template_error(what: str, d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    return (f"{_NAMES.get(what, what)} template failed, the built-in text was used: "
            f"{_free(str(d.get('error')))}")


_NAMES = {"ack": "ack", "reply": "reply", "notify": "notification", "sla": "SLA notice"}
_FAMILIES: dict[str, Callable[[str, JSON, zoneinfo.ZoneInfo], str]] = {
    ".sent": _sent, ".dead": _dead, ".template-error": _template_error}


def _routed(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    rules = ", ".join(_free(r) for r in d.get("rules") or []) or "?"
    did = [f"team {d['team']}" if d.get("team") else "",
           f"assign {d['assign']}" if d.get("assign") else "",
           f"priority {d['priority']}" if d.get("priority") else "",
           " ".join([*(f"+{t}" for t in d.get("add_tags") or []),
                     *(f"-{t}" for t in d.get("remove_tags") or [])]),
           f"SLA policy {d['sla_policy']}" if d.get("sla_policy") else "",
           "no ack" if d.get("ack") == "skip" else "",
           "spam" if d.get("spam") else "",
           f"notify {', '.join(d['notify'])}" if d.get("notify") else ""]
    return f"routed by rule {rules}: {', '.join(_free(x) for x in did if x) or 'no change'}"


def _status(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    if "from" not in d:  # the rules closed it
        return f"status {d.get('status')} by {d.get('by')}: {d.get('reason')}"
    until = f" until {when(d['until'], zone)}" if d.get("until") else ""
    sla = f"; SLA clock {d['sla']}" if d.get("sla") else ""
    if d.get("sla_left_seconds") is not None:
        sla += f" with {duration(timedelta(seconds=d['sla_left_seconds']))} left"
    return f"status {d['from']} -> {d['to']}{until} by {_free(str(d.get('by')))}{sla}"


def _assigned(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    to = _free(d["assignee"]) if d.get("assignee") else "nobody"
    team = f", team {_free(d['team'])}" if d.get("team") else ""
    how = f" ({d['how']})" if d.get("how") else ""
    before = d.get("before") or {}
    was = (f" (was {_free(before.get('assignee') or '-')}, "
           f"team {_free(before.get('team') or '-')})" if before else "")
    reason = f": {d['reason']}" if d.get("reason") else ""
    return f"assigned to {to}{team} by {_free(str(d.get('by')))}{how}{was}{reason}"


def _sla(state: str) -> Callable[[JSON, zoneinfo.ZoneInfo], str]:
    def say(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
        words = f"SLA {state}"
        if "waited_seconds" in d:  # a person answered: met or late
            words += (f": {d.get('target')} response by {_free(str(d.get('by')))} after "
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
    return f"reply by {_free(str(d.get('author')))} queued to {_free(str(d.get('to')))}{sla}"


def _edited(d: JSON, zone: zoneinfo.ZoneInfo) -> str:
    before = clean(str(d.get("previous") or ""))
    short = before if len(before) <= 60 else before[:59] + "…"
    return f"the customer edited the message; it said: {isolate(short)}"


def _to(d: JSON) -> str:
    return f" to {', '.join(_free(a) for a in d['to'])}" if d.get("to") else ""


Say = Callable[[JSON, zoneinfo.ZoneInfo], str]
_EVENTS: dict[str, Say] = {
    "ack.queued": lambda d, z: (f"ack queued{_to(d)} (template {d.get('template')})"),
    "ack.suppressed": lambda d, z: f"ack suppressed: {d.get('reason')}",
    "notify.queued": lambda d, z: (f"notification queued to {_free(str(d.get('to')))} "
                                   f"by rule {_free(str(d.get('rule')))}"),
    "reply.queued": _reply_queued,
    "rule": lambda d, z: (f"rule {_free(str(d.get('rule')))} matched "
                          f"({d.get('source')}): {_free(str(d.get('why')))}"),
    "rules.over-budget": lambda d, z: (f"rules ran out of time at {_free(str(d.get('rule')))}"
                                       f" ({d.get('source')}): {_free(str(d.get('why')))}"),
    "routed": _routed, "status": _status, "assigned": _assigned,
    "sla.ok": _sla("ok"), "sla.at-risk": _sla("at risk"), "sla.breached": _sla("breached"),
    "sla.met": _sla("met"),
    "flagged": lambda d, z: (f"flagged for a person to read: "
                             f"{'; '.join(d.get('problems') or []) or '?'}"),
    "quarantined": lambda d, z: f"quarantined, stored raw for a person: {d.get('error')}",
    "reachable": lambda d, z: f"{_free(str(d.get('address')))} is reachable again: {d.get('why')}",
    "reopened": lambda d, z: f"reopened by a new message (was {d.get('previous')})",
    "automated": lambda d, z: f"sent by a robot ({d.get('reason')}): {d.get('effect')}",
    "automated.cleared": lambda d, z: (f"no longer robots only: {_free(str(d.get('by')))} "
                                       "wrote"),
    "also-received": lambda d, z: f"the same mail also came to account {d.get('account')}",
    "repeat": lambda d, z: f"a re-send of message {_free(str(d.get('of')))}",
    "linked": lambda d, z: f"linked with conversation #{d.get('conversation')}: {d.get('why')}",
    "edited": _edited,
    "edit.unseen": lambda d, z: f"an edit of a message we never stored: {d.get('why')}",
    "bounce": lambda d, z: (f"mail to {_free(str(d.get('recipient')))} bounced: "
                            f"{_free(str(d.get('reason')))}"),
    "staff-reply": lambda d, z: (f"{_free(str(d.get('author') or d.get('sender')))} answered "
                                 "our notification (kept as an internal note)"),
}
