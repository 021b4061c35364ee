"""What `inbox queue`, `inbox show` and `inbox outbox` print for people (not `--json`).

The read models (inbox.desk.views) stay the exact data; here they become words an agent reads
at a glance: a table that fits the terminal (inbox.cli.screen), messages with their delivery
said plainly, and the event trail as sentences (inbox.desk.words, which the web desk
shows too).
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from typing import Any

from inbox.cli.screen import Column, table
from inbox.desk.words import clean, delivery_words, event_words, free, trail, when
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
    subject = r["subject"] or "(no subject)"
    if r.get("escalation"):  # what the supervisor is asked, before the subject
        subject = f"[escalated: {clean(r['escalation']['reason'])}] {subject}"
    return [str(r["id"]), r["channel"], due, r["status"], r["assignee"] or "-", who, subject]


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
    lines = [f"#{conv['id']} {conv['reference']} {free(conv['subject'] or '(no subject)')}",
             f"  {conv['channel']}/{conv['account']}  status {conv['status']}  "
             f"priority {conv['priority']}  team {conv['team'] or '-'}  "
             f"assignee {free(conv['assignee'] or '-')}  tags {','.join(conv['tags']) or '-'}",
             f"  contact {free(contact['name'] or '-')} <{free(contact['address'] or '-')}>"
             f"  SLA {sla['state'] or '-'}"
             + (f", due {when(sla['due_at'], zone)}" if sla["due_at"] else "")
             + f"  language {conv['language'] or '-'}"
             + (f" ({conv['language_source']})" if conv.get("language_source") else "")]
    if conv["attributes"]:
        lines.append("  " + "  ".join(f"{k}={free(str(v))}"
                                      for k, v in conv["attributes"].items()))
    if (e := conv.get("escalation")) is not None:
        to = free(e["to"]) if e["to"] else "the supervisors"
        lines.append(f"  ESCALATED to {to} by {free(e['by'])}"
                     f" {when(e['created_at'], zone)}: {free(e['reason'])}")
    for m in conv["messages"]:
        lines += ["", "--- " + message_heading(m, zone), _block(m["text"].rstrip())]
        lines += [f"  [attachment] {free(a['filename'])} {a['content_type']} {a['size']} bytes"
                  for a in m["attachments"]]
    lines += ["", "events:"]
    lines += [f"  {when(e['at'], zone)}  {event_words(e, zone)}"
              for e in trail(conv)]
    return lines


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
        name = f"{free(sender['name'])} " if sender["name"] else ""
        return f"{what} from {name}<{free(sender['address'] or '?')}>"
    by = f" by {free(m['author'])}" if m["author"] else ""
    to = f" to {', '.join(free(r) for r in m['recipients'])}" if m["recipients"] else ""
    return f"{what}{by}{to}"


def _block(text: str) -> str:
    """A message body as lines: line breaks kept, escape sequences made harmless."""
    return "\n".join(clean(line) for line in text.split("\n"))


# ------------------------------------------------------------------- one contact

def contact_lines(contact: JSON, zone: zoneinfo.ZoneInfo) -> list[str]:
    """`inbox contact show`: who the person is, every address, every conversation."""
    language = contact["language"] or "-"
    if contact["language_source"]:
        language += f" ({contact['language_source']})"
    lines = [f"contact {contact['id']}: {free(contact['name'] or '(no name)')}"
             f"  language {language}"]
    for i in contact["identities"]:
        gone = f"  [unreachable: {free(i['unreachable'])}]" if i["unreachable"] else ""
        lines.append(f"  {i['channel']:<9} {free(i['address'])}{gone}")
    lines += ["", "conversations:" if contact["conversations"] else "no conversations"]
    lines += [f"  #{c['id']:<6} {when(c['created_at'], zone)}  {c['channel']:<9} "
              f"{c['status']:<9} {free(c['subject'] or '(no subject)')}"
              for c in contact["conversations"]]
    return lines
