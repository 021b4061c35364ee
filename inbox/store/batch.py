"""SQL for the ingest hot path, in SQLAlchemy Core.

The pipeline touches a dozen rows per message; through the ORM's unit of work that cost
~7 ms a message. Here every statement is built once at import with bind parameters, so
each execution skips statement construction and cache-key work and goes straight to the
driver (docs/benchmarks.md). Reads and agent actions, which are not hot, use the ORM
models directly. Everything here runs on the caller's `Connection`, inside the caller's
transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from channels.base import UNITS, InboundAttachment, TextLimit
from inbox.core.routing import LEAST_LOADED
from inbox.core.vocab import Direction, Kind, Status
from inbox.store import models

_T = SQLModel.metadata.tables
assert models.Conversation.__tablename__ in _T  # the tables are declared by inbox.store.models
contact, identity, conversation = _T["contact"], _T["identity"], _T["conversation"]
message, attachment, outbox, event, cursor, agent = (
    _T["message"], _T["attachment"], _T["outbox"], _T["event"], _T["cursor"], _T["agent"])
message_ref = _T["message_ref"]


@dataclass
class ConvState:
    """The pipeline's working copy of a conversation row; written back once per message."""

    channel: str
    account: str
    contact_id: int
    created_at: datetime
    updated_at: datetime
    id: int | None = None
    subject: str = ""
    status: str = Status.OPEN
    priority: str = "normal"
    team: str | None = None
    assignee: str | None = None
    tags: list[str] | None = None
    attributes: dict[str, str] | None = None
    language: str | None = None
    language_source: str | None = None
    thread_key: str | None = None
    sla_policy: str = "default"
    awaiting_since: datetime | None = None
    sla_due_at: datetime | None = None
    sla_warn_at: datetime | None = None
    sla_state: str | None = None
    sla_next_at: datetime | None = None
    first_response_at: datetime | None = None
    acked: bool = False
    sla_paused_at: datetime | None = None
    sla_left_seconds: float | None = None
    snoozed_until: datetime | None = None


_CONV_COLUMNS = [f.name for f in fields(ConvState)]


@dataclass(frozen=True)
class ContactRef:
    id: int
    name: str
    tags: tuple[str, ...]
    vip: bool
    # The contact's language facts (inbox.lang.choose.ContactLanguage, as stored).
    language: str | None = None
    language_source: str | None = None
    last_language: str | None = None
    last_language_count: int = 0


_CONTACT_LANGUAGE = ("language", "language_source", "last_language", "last_language_count")


def _contact_ref(row: Any) -> ContactRef:
    return ContactRef(row.id, row.name, tuple(row.tags or ()), row.vip,
                      *(getattr(row, n) for n in _CONTACT_LANGUAGE))


def _p(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name)


_INSERT = {t.name: t.insert().returning(t.c.id) for t in (contact, identity, conversation,
                                                           message)}
_MESSAGE_EXISTS = sa.select(message.c.id).where(
    message.c.channel == _p("channel"), message.c.account == _p("account"),
    message.c.external_id == _p("external_id"))
_FIND_CONTACT = (
    sa.select(contact.c.id, contact.c.name, contact.c.tags, contact.c.vip,
              *(contact.c[n] for n in _CONTACT_LANGUAGE))
    .join(identity, identity.c.contact_id == contact.c.id)
    .where(identity.c.channel == _p("channel"), identity.c.address == _p("address")))
_NAME_CONTACT = sa.update(contact).where(contact.c.id == _p("cid")).values(name=_p("name"))
_CONTACT_LANGUAGE_UPDATE = sa.update(contact).where(contact.c.id == _p("cid"))
_LOAD_CONVERSATION = sa.select(*[conversation.c[n] for n in _CONV_COLUMNS]).where(
    conversation.c.id == _p("cid"))
_UPDATE_CONVERSATION = sa.update(conversation).where(conversation.c.id == _p("cid"))
_BY_REFERENCES = sa.select(message.c.external_id, message.c.conversation_id).where(
    message.c.channel == _p("channel"),
    message.c.external_id.in_(sa.bindparam("refs", expanding=True)),
    message.c.conversation_id.is_not(None))
# Our notifications among a message's references: the only system messages we send.
_NOTIFICATIONS = sa.select(message.c.channel, message.c.external_id,
                           message.c.conversation_id).where(
    message.c.external_id.in_(sa.bindparam("refs", expanding=True)),
    message.c.direction == Direction.OUT, message.c.kind == Kind.SYSTEM,
    message.c.conversation_id.is_not(None))
# Conversations of stored customer messages that reply to any of `ids` (read backwards).
_REPLIED_TO = (
    sa.select(message_ref.c.channel, message_ref.c.ref, message.c.conversation_id)
    .join(message, message.c.id == message_ref.c.message_id)
    .where(message_ref.c.ref.in_(sa.bindparam("ids", expanding=True)),
           message.c.conversation_id.is_not(None))
    .order_by(message_ref.c.message_id))

_BY_THREAD_KEY = (
    sa.select(conversation.c.id)
    .where(conversation.c.channel == _p("channel"), conversation.c.account == _p("account"),
           conversation.c.thread_key == _p("key"),
           conversation.c.status.in_(sa.bindparam("statuses", expanding=True)))
    # An open conversation wins over a resolved one that a reopen window might revive.
    .order_by(sa.case((conversation.c.status == Status.RESOLVED, 1), else_=0),
              conversation.c.id.desc()).limit(1))
_STATUS_SINCE = sa.select(sa.func.max(event.c.created_at)).where(
    event.c.conversation_id == _p("cid"), event.c.kind == "status")
_FIND_MESSAGE = sa.select(message.c.id, message.c.conversation_id, message.c.text,
                          message.c.sender, message.c.problems).where(
    message.c.channel == _p("channel"), message.c.account == _p("account"),
    message.c.external_id == _p("external_id"))
_EDIT_MESSAGE = sa.update(message).where(message.c.id == _p("mid")).values(text=_p("text"))
_FLAG_MESSAGE = sa.update(message).where(message.c.id == _p("mid")).values(
    problems=_p("problems"))
_REACHABLE = sa.update(identity).where(  # (an UPDATE reserves its columns' names)
    identity.c.channel == _p("b_channel"), identity.c.address == _p("b_address"),
    identity.c.unreachable.is_not(None)).values(unreachable=None)
_ACKS_SINCE = sa.select(sa.func.count()).select_from(outbox).where(
    outbox.c.recipient == _p("recipient"), outbox.c.kind == "ack",
    outbox.c.created_at > _p("since"))
_OPEN = [Status.OPEN, Status.PENDING, Status.SNOOZED]
_OPEN_OF_CONTACTS = sa.select(conversation.c.contact_id, conversation.c.id).where(
    conversation.c.contact_id.in_(sa.bindparam("ids", expanding=True)),
    conversation.c.status.in_(_OPEN))
_OPEN_OF_CONTACT = sa.select(sa.func.count()).select_from(conversation).where(
    conversation.c.contact_id == _p("contact_id"), conversation.c.id != _p("conv_id"),
    conversation.c.status.in_(_OPEN))
_NAMES: sa.BindParameter[Any] = sa.bindparam("names", expanding=True)
_AWAY_AGENTS = sa.select(agent.c.name).where(
    agent.c.name.in_(_NAMES), sa.or_(agent.c.away.is_(True), agent.c.enabled.is_(False)))
_DISABLED = sa.select(agent.c.name).where(agent.c.name == _p("name"),
                                          agent.c.enabled.is_(False))
_AGENT_LOADS = (sa.select(conversation.c.assignee, sa.func.count())
                .where(conversation.c.status.in_(_OPEN), conversation.c.assignee.in_(_NAMES))
                .group_by(conversation.c.assignee))
_ROUND_ROBIN = ("rules", "round-robin")  # (channel, account) of its rows in `cursor`
_LAST_PICKED = sa.select(cursor.c.value).where(
    cursor.c.channel == _ROUND_ROBIN[0], cursor.c.account == _ROUND_ROBIN[1],
    cursor.c.key == _p("team"))
_INSERT_EVENT = event.insert()
_INSERT_ATTACHMENT = attachment.insert()
_INSERT_REFS = message_ref.insert()
_INSERT_OUTBOX = outbox.insert()
_INSERT_IDENTITY = identity.insert()
_INSERT_MESSAGES = message.insert().returning(message.c.id, sort_by_parameter_order=True)


def insert(conn: Connection, table: sa.Table, **values: Any) -> int:
    return int(conn.execute(_INSERT[table.name], values).scalar_one())


def attachment_rows(message_id: int, attachments: Iterable[InboundAttachment]
                    ) -> list[dict[str, Any]]:
    """Attachment rows of a stored message (the bytes are in the blob store already)."""
    return [{"message_id": message_id, "filename": a.filename[:255],
             "content_type": a.content_type, "size": a.size, "sha256": a.sha256,
             "stored": a.stored, "content_id": a.content_id, "inline": a.inline}
            for a in attachments]


def add_attachments(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(_INSERT_ATTACHMENT, rows)


def message_exists(conn: Connection, channel: str, account: str, external_id: str) -> bool:
    params = {"channel": channel, "account": account, "external_id": external_id}
    return conn.execute(_MESSAGE_EXISTS, params).first() is not None


def find_contact(conn: Connection, channel: str, address: str) -> ContactRef | None:
    row = conn.execute(_FIND_CONTACT, {"channel": channel, "address": address}).first()
    return _contact_ref(row) if row else None


def create_contact(conn: Connection, channel: str, address: str, name: str,
                   now: datetime) -> ContactRef:
    contact_id = insert(conn, contact, name=name, tags=[], vip=False, created_at=now)
    insert(conn, identity, contact_id=contact_id, channel=channel, address=address, name=name)
    return ContactRef(contact_id, name, (), False)


def name_contact(conn: Connection, contact_id: int, name: str) -> None:
    conn.execute(_NAME_CONTACT, {"cid": contact_id, "name": name})


def set_contact_language(conn: Connection, ref: ContactRef) -> None:
    """Write `ref`'s language facts to its contact row."""
    conn.execute(_CONTACT_LANGUAGE_UPDATE,
                 {"cid": ref.id, **{n: getattr(ref, n) for n in _CONTACT_LANGUAGE}})


def load_conversation(conn: Connection, conv_id: int) -> ConvState | None:
    row = conn.execute(_LOAD_CONVERSATION, {"cid": conv_id}).first()
    return ConvState(**row._mapping) if row else None


def _conversation_values(conv: ConvState) -> dict[str, Any]:
    values = {n: getattr(conv, n) for n in _CONV_COLUMNS if n != "id"}
    values["tags"] = values["tags"] or []
    values["attributes"] = values["attributes"] or {}
    return values


def save_conversation(conn: Connection, conv: ConvState) -> None:
    if conv.id is None:
        conv.id = insert(conn, conversation, **_conversation_values(conv))
    else:
        conn.execute(_UPDATE_CONVERSATION, {"cid": conv.id, **_conversation_values(conv)})


def conversation_by_references(conn: Connection, channel: str,
                               references: tuple[str, ...]) -> int | None:
    """The conversation of the nearest referenced message we know (the last one wins)."""
    rows = conn.execute(_BY_REFERENCES, {"channel": channel, "refs": list(references)}).all()
    by_id = {r.external_id: r.conversation_id for r in rows}
    return next((by_id[r] for r in reversed(references) if r in by_id), None)


def replied_to(conn: Connection, external_ids: Iterable[str]) -> dict[tuple[str, str], int]:
    """(channel, id) -> the conversation of the first stored message replying to it."""
    found: dict[tuple[str, str], int] = {}
    for r in conn.execute(_REPLIED_TO, {"ids": sorted(set(external_ids))}):
        found.setdefault((r.channel, r.ref), r.conversation_id)
    return found


def notifications(conn: Connection, refs: Iterable[str]) -> dict[tuple[str, str], int]:
    """(channel, id) -> conversation, for those of `refs` that are our notifications."""
    wanted = sorted(set(refs))
    if not wanted:
        return {}
    return {(r.channel, r.external_id): r.conversation_id
            for r in conn.execute(_NOTIFICATIONS, {"refs": wanted})}


def reference_rows(message_id: int, channel: str, references: Iterable[str]
                   ) -> list[dict[str, Any]]:
    """What a customer's message replies to, for reading backwards (the nearest 50)."""
    refs = dict.fromkeys(r for r in list(references)[-MAX_REFERENCES:] if r)
    return [{"message_id": message_id, "ref": r, "channel": channel} for r in refs]


def conversation_by_thread_key(conn: Connection, channel: str, account: str,
                               key: str, resolved_too: bool = False) -> int | None:
    """The newest open (or, if asked, resolved) conversation with this thread key."""
    statuses = [*_OPEN, Status.RESOLVED] if resolved_too else _OPEN
    params = {"channel": channel, "account": account, "key": key, "statuses": statuses}
    found: int | None = conn.execute(_BY_THREAD_KEY, params).scalar()
    return found


def status_since(conn: Connection, conv_id: int) -> datetime | None:
    """When the conversation's status last changed (its latest `status` event)."""
    found: datetime | None = conn.execute(_STATUS_SINCE, {"cid": conv_id}).scalar()
    return found


class StoredText(NamedTuple):
    id: int
    conversation_id: int | None
    text: str
    sender: str
    problems: list[str]


def find_message(conn: Connection, channel: str, account: str,
                 external_id: str) -> StoredText | None:
    params = {"channel": channel, "account": account, "external_id": external_id}
    row = conn.execute(_FIND_MESSAGE, params).first()
    if row is None:
        return None
    return StoredText(row.id, row.conversation_id, row.text, row.sender,
                      list(row.problems or ()))


def edit_message(conn: Connection, message_id: int, text: str) -> None:
    conn.execute(_EDIT_MESSAGE, {"mid": message_id, "text": text})


def flag_message(conn: Connection, message_id: int, problems: list[str]) -> None:
    """Replace a stored message's problems (what the desk shows flagged on it)."""
    conn.execute(_FLAG_MESSAGE, {"mid": message_id, "problems": problems})


def clear_unreachable(conn: Connection, channel: str, address: str) -> bool:
    """Forget that `address` could not be reached; True if it was so marked."""
    return conn.execute(_REACHABLE, {"b_channel": channel, "b_address": address}).rowcount > 0


def acks_since(conn: Connection, recipient: str, since: datetime) -> int:
    return int(conn.execute(_ACKS_SINCE, {"recipient": recipient, "since": since}).scalar_one())


def add_event(conn: Connection, kind: str, now: datetime, *, conversation_id: int | None,
              message_id: int | None = None, **detail: Any) -> None:
    conn.execute(_INSERT_EVENT, {"conversation_id": conversation_id, "message_id": message_id,
                                 "kind": kind, "detail": detail, "created_at": now})


def open_conversations(conn: Connection, contact_id: int, except_id: int | None) -> int:
    """The contact's open or pending conversations other than `except_id`."""
    params = {"contact_id": contact_id, "conv_id": except_id or 0}
    return int(conn.execute(_OPEN_OF_CONTACT, params).scalar_one())


def is_disabled(conn: Connection, name: str) -> bool:
    """Whether the agent table says `name` may take no new work."""
    return conn.execute(_DISABLED, {"name": name}).first() is not None


def pick_agent(conn: Connection, mode: str, team: str, pool: tuple[str, ...],
               now: datetime) -> str | None:
    """The next agent of `team` by round-robin, or the one with the fewest open
    conversations (ties: the first in the team's list). Agents away or disabled in the
    agent table are skipped. The round-robin position is a row of the `cursor` table,
    saved in the caller's transaction, so it survives restarts and is shared by daemons.
    """
    away = set(conn.execute(_AWAY_AGENTS, {"names": list(pool)}).scalars())
    available = [a for a in pool if a not in away]
    if not available:
        return None
    if mode == LEAST_LOADED:
        loads = {name: n for name, n in conn.execute(_AGENT_LOADS, {"names": available})}
        return min(available, key=lambda a: loads.get(a, 0))
    last = conn.execute(_LAST_PICKED, {"team": team}).scalar()
    start = pool.index(last) + 1 if last in pool else 0
    chosen = next(a for i in range(len(pool))
                  if (a := pool[(start + i) % len(pool)]) in available)
    save_cursor(conn, *_ROUND_ROBIN, chosen, now=now, key=team)
    return chosen


# The `cursor` key under which the daemon keeps what one message of an account may hold
# (its connector's TextLimit): `inbox reply`, which runs no connector, counts with it.
TEXT_LIMIT = "text-limit"


def save_text_limit(conn: Connection, channel: str, account: str, limit: TextLimit, *,
                    now: datetime) -> None:
    value = json.dumps({"max": limit.max, "unit": limit.unit, "splits": limit.splits})
    save_cursor(conn, channel, account, value, now=now, key=TEXT_LIMIT)


def text_limits(conn: Connection) -> dict[tuple[str, str], TextLimit]:
    """The limits the daemon last recorded, by (channel, account)."""
    found: dict[tuple[str, str], TextLimit] = {}
    rows = conn.execute(sa.select(cursor.c.channel, cursor.c.account, cursor.c.value)
                        .where(cursor.c.key == TEXT_LIMIT))
    for row in rows:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            d = json.loads(row.value)
            if d["unit"] in UNITS:
                found[(row.channel, row.account)] = TextLimit(int(d["max"]), d["unit"],
                                                              bool(d["splits"]))
    return found


def save_cursor(conn: Connection, channel: str, account: str, value: str, *,
                now: datetime, key: str = "") -> None:
    """Insert or move a connector's cursor (an upsert on both databases)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(cursor).values(channel=channel, account=account, key=key,
                                         value=value, updated_at=now)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["channel", "account", "key"],
        set_={"value": value, "updated_at": now}))


# The same message (a global id) stored under another account of the channel.
_COPY_ELSEWHERE = (
    sa.select(message.c.id, message.c.conversation_id).where(
        message.c.channel == _p("channel"), message.c.external_id == _p("external_id"),
        message.c.account != _p("account"), message.c.conversation_id.is_not(None))
    .order_by(message.c.id).limit(1))
_ALSO_RECEIVED = sa.select(event.c.detail).where(event.c.message_id == _p("mid"),
                                                 event.c.kind == "also-received")
_PARTICIPANTS = sa.select(message.c.sender, message.c.recipients).where(
    message.c.conversation_id == _p("cid"))
_RECENT_FROM = (
    sa.select(message.c.conversation_id, message.c.external_id, message.c.subject,
              message.c.text, message.c.channel)
    # No `channel = ?` here: SQLite would then read the whole channel through
    # ix_message_channel_external instead of these conversations' messages (the caller
    # keeps the channel's rows).
    .where(message.c.conversation_id.in_(sa.bindparam("cids", expanding=True)),
           message.c.sender == _p("sender"),
           message.c.direction == Direction.IN, message.c.kind == Kind.CUSTOMER,
           message.c.created_at >= _p("since"), message.c.created_at <= _p("until"))
    .order_by(message.c.id.desc()))


_LOCK_IDS = sa.text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                    "AS t(k)")


def lock_ids(conn: Connection, ids: Iterable[tuple[str, str]]) -> None:
    """Hold (channel, external id) until the transaction ends, on PostgreSQL, so that two
    batches with one message (two accounts' copies) run one after the other and the later
    one finds the earlier's. SQLite needs none: it has one writer at a time. Locked in
    one order, so that two batches cannot wait for each other."""
    if conn.dialect.name != "postgresql":
        return
    keys = sorted({int.from_bytes(hashlib.sha256(f"{c}\0{e}".encode()).digest()[:8], "big",
                                  signed=True) for c, e in ids})
    if keys:
        conn.execute(_LOCK_IDS, {"keys": keys})


class StoredCopy(NamedTuple):
    message_id: int
    conversation_id: int
    accounts: frozenset[str]  # the other accounts it is already recorded for


def copy_elsewhere(conn: Connection, channel: str, account: str,
                   external_id: str) -> StoredCopy | None:
    """The message with this id stored under another account, and the accounts its
    `also-received` events name (for channels whose ids are global)."""
    params = {"channel": channel, "account": account, "external_id": external_id}
    row = conn.execute(_COPY_ELSEWHERE, params).first()
    if row is None:
        return None
    details = conn.execute(_ALSO_RECEIVED, {"mid": row.id}).scalars()
    return StoredCopy(row.id, row.conversation_id,
                      frozenset(str(d.get("account")) for d in details))


def participants(conn: Connection, conv_id: int) -> set[str]:
    """Every address that sent or was sent a message of the conversation, lower-cased."""
    found: set[str] = set()
    for sender, recipients in conn.execute(_PARTICIPANTS, {"cid": conv_id}):
        found.update(a.lower() for a in (sender, *(recipients or ())) if a)
    return found


class RecentText(NamedTuple):
    conversation_id: int
    external_id: str
    subject: str | None
    text: str


def recent_from(conn: Connection, conv_ids: Iterable[int], channel: str, sender: str, *,
                since: datetime, until: datetime) -> list[RecentText]:
    """The sender's customer messages in these conversations written in [since, until],
    newest first."""
    params = {"cids": sorted(conv_ids), "sender": sender,
              "since": since, "until": until}
    return [RecentText(*r[:4]) for r in conn.execute(_RECENT_FROM, params)
            if r.channel == channel]


_EXISTING_IDS = sa.select(message.c.channel, message.c.account, message.c.external_id).where(
    message.c.external_id.in_(sa.bindparam("ids", expanding=True)))
_CONTACTS_BY_ADDRESS = (
    sa.select(identity.c.channel, identity.c.address, contact.c.id, contact.c.name,
              contact.c.tags, contact.c.vip, *(contact.c[n] for n in _CONTACT_LANGUAGE))
    .join(contact, identity.c.contact_id == contact.c.id)
    .where(identity.c.address.in_(sa.bindparam("addresses", expanding=True))))
_ACK_COUNTS = (
    sa.select(outbox.c.recipient, sa.func.count())
    .where(outbox.c.recipient.in_(sa.bindparam("recipients", expanding=True)),
           outbox.c.kind == "ack", outbox.c.created_at > _p("since"))
    .group_by(outbox.c.recipient))

MessageKey = tuple[str, str, str]  # (channel, account, external_id)
MAX_REFERENCES = 50  # kept per message for reading backwards; mail may carry hundreds
ContactKey = tuple[str, str]  # (channel, address)


class Batch:
    """The store as one ingest batch sees it: lookups answered from memory, appends deferred.

    `prefetch` asks the database once for everything a batch of messages will look up
    (which are already stored, who the senders are, how many acks each got today, their
    open conversations); new identities, events, attachments and outgoing messages are
    written together by `flush`. That turns a dozen round trips per message into five,
    which is what PostgreSQL's throughput depends on. Without `prefetch` (the per-message
    retry path after a failure) every call goes straight to the database, so a
    rolled-back SAVEPOINT leaves nothing stale.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cached = False
        self.seen: set[MessageKey] = set()
        self.contacts: dict[ContactKey, ContactRef] = {}
        self.acks: dict[str, int] = {}
        self.events: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        self.outgoing: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.outgoing_convs: set[int] = set()
        self.convs: dict[int, ConvState] = {}  # working copies, by id
        self.dirty: dict[int, ConvState] = {}  # changed, not yet written
        self.identities: list[dict[str, Any]] = []
        self.contact_languages: dict[int, dict[str, Any]] = {}  # contact id -> facts
        self.open_convs: dict[int, set[int]] = {}  # contact id -> its open conversations
        self.refs: list[dict[str, Any]] = []
        # (channel, external id) -> conversation of a message replying to it: stored
        # ones for the batch's ids (prefetched), and the batch's own as they come
        self.replies: dict[tuple[str, str], int] = {}
        self.notices: dict[tuple[str, str], int] = {}  # (channel, id) -> conversation
        self.ids_seen: set[tuple[str, str]] = set()  # (channel, external id) of `seen`

    def prefetch(self, keys: list[MessageKey], senders: list[ContactKey],
                 recipients: list[str], references: list[str], since: datetime) -> None:
        ids = sorted({k[2] for k in keys})
        self.seen = {(r.channel, r.account, r.external_id)
                     for r in self.conn.execute(_EXISTING_IDS, {"ids": ids})}
        self.ids_seen = {(c, e) for c, _, e in self.seen}
        wanted = set(senders)
        rows = self.conn.execute(_CONTACTS_BY_ADDRESS,
                                 {"addresses": sorted({a for _, a in senders})})
        self.contacts = {(r.channel, r.address): _contact_ref(r)
                         for r in rows if (r.channel, r.address) in wanted}
        counts = self.conn.execute(_ACK_COUNTS, {"recipients": sorted(set(recipients)),
                                                 "since": since})
        self.acks = {r[0]: int(r[1]) for r in counts}
        self.replies = replied_to(self.conn, ids)
        self.notices = notifications(self.conn, references)
        contact_ids = sorted({ref.id for ref in self.contacts.values()})
        self.open_convs = {}
        for r in self.conn.execute(_OPEN_OF_CONTACTS, {"ids": contact_ids}):
            self.open_convs.setdefault(r.contact_id, set()).add(r.id)
        self.cached = True

    def load_conversation(self, conv_id: int) -> ConvState | None:
        """One working copy per conversation and batch: later messages see earlier ones'
        changes before they are written."""
        if conv_id in self.convs:
            return self.convs[conv_id]
        conv = load_conversation(self.conn, conv_id)
        if conv is not None and self.cached:
            self.convs[conv_id] = conv
        return conv

    def save_conversation(self, conv: ConvState) -> None:
        """Write a new conversation at once (its id is needed); in a prefetched batch, an
        existing one's changes wait for `flush`. Keeps the count of open ones right."""
        if conv.id is None or not self.cached:
            save_conversation(self.conn, conv)
        else:
            self.dirty[conv.id] = conv
        assert conv.id is not None
        if self.cached:
            self.convs[conv.id] = conv
        mine = self.open_convs.setdefault(conv.contact_id, set())
        if conv.status in _OPEN:
            mine.add(conv.id)
        else:
            mine.discard(conv.id)

    def open_conversations(self, contact_id: int, except_id: int | None) -> int:
        """The contact's open, pending or snoozed conversations other than `except_id`."""
        if not self.cached:
            return open_conversations(self.conn, contact_id, except_id)
        return len(self.open_convs.get(contact_id, set()) - {except_id})

    def message_exists(self, key: MessageKey) -> bool:
        return key in self.seen if self.cached else message_exists(self.conn, *key)

    def saw(self, key: MessageKey) -> None:
        self.seen.add(key)
        self.ids_seen.add((key[0], key[2]))

    def copy_elsewhere(self, key: MessageKey) -> StoredCopy | None:
        """The message stored under another account with this key's id (see
        `copy_elsewhere`); a prefetched batch asks the database only when it has one."""
        channel, account, external_id = key
        if self.cached and (channel, external_id) not in self.ids_seen:
            return None
        return copy_elsewhere(self.conn, channel, account, external_id)

    def open_conversation_ids(self, contact_id: int) -> set[int]:
        """The contact's open, pending or snoozed conversations."""
        if self.cached:
            return set(self.open_convs.get(contact_id, ()))
        rows = self.conn.execute(_OPEN_OF_CONTACTS, {"ids": [contact_id]})
        return {r.id for r in rows}

    def contact(self, channel: str, address: str) -> ContactRef | None:
        if self.cached:
            return self.contacts.get((channel, address))
        return find_contact(self.conn, channel, address)

    def new_contact(self, channel: str, address: str, name: str, now: datetime) -> ContactRef:
        """A new person. In a prefetched batch their Identity row waits for `flush`: the
        batch answers lookups of it from memory until then."""
        if not self.cached:
            return create_contact(self.conn, channel, address, name, now)
        contact_id = insert(self.conn, contact, name=name, tags=[], vip=False, created_at=now)
        self.identities.append({"contact_id": contact_id, "channel": channel,
                                "address": address, "name": name, "unreachable": None})
        ref = self.contacts[(channel, address)] = ContactRef(contact_id, name, (), False)
        return ref

    def name_contact(self, channel: str, address: str, ref: ContactRef,
                     name: str) -> ContactRef:
        name_contact(self.conn, ref.id, name)
        self.contacts[(channel, address)] = renamed = replace(ref, name=name)
        return renamed

    def set_contact_language(self, ref: ContactRef) -> None:
        """A contact's new language facts: written at `flush` in a prefetched batch (one
        statement for all), at once otherwise; every cached identity of the contact sees
        them (a later message of the batch may come from another of its addresses)."""
        if not self.cached:
            set_contact_language(self.conn, ref)
            return
        self.contact_languages[ref.id] = {n: getattr(ref, n) for n in _CONTACT_LANGUAGE}
        for key, cached in self.contacts.items():
            if cached.id == ref.id:
                self.contacts[key] = replace(cached, **{n: getattr(ref, n)
                                                         for n in _CONTACT_LANGUAGE})

    def acks_today(self, recipient: str, since: datetime) -> int:
        if self.cached:
            return self.acks.get(recipient, 0)
        return acks_since(self.conn, recipient, since)

    def acked(self, recipient: str) -> None:
        self.acks[recipient] = self.acks.get(recipient, 0) + 1

    def add_event(self, kind: str, now: datetime, *, conversation_id: int | None,
                  message_id: int | None = None, **detail: Any) -> None:
        row = {"conversation_id": conversation_id, "message_id": message_id, "kind": kind,
               "detail": detail, "created_at": now}
        if self.cached:
            self.events.append(row)
        else:
            self.conn.execute(_INSERT_EVENT, row)

    def add_attachments(self, rows: list[dict[str, Any]]) -> None:
        if self.cached:
            self.attachments += rows
        else:
            add_attachments(self.conn, rows)

    def add_references(self, message_id: int, conversation_id: int, channel: str,
                       references: Iterable[str]) -> None:
        rows = reference_rows(message_id, channel, references)
        if not self.cached:
            if rows:
                self.conn.execute(_INSERT_REFS, rows)
            return
        self.refs += rows
        for r in rows:
            self.replies.setdefault((channel, r["ref"]), conversation_id)

    def replied_to(self, channel: str, external_id: str) -> int | None:
        """The conversation of a stored message that replies to this one, if any."""
        if self.cached:
            return self.replies.get((channel, external_id))
        return replied_to(self.conn, [external_id]).get((channel, external_id))

    def notification(self, channel: str, refs: Sequence[str]) -> tuple[str, int] | None:
        """The nearest of `refs` that is one of our notifications, and its conversation.
        (A notification queued in this batch has not been sent: nobody can answer it.)"""
        found = self.notices if self.cached else notifications(self.conn, refs)
        return next(((r, found[(channel, r)]) for r in reversed(refs) if (channel, r) in found),
                    None)

    def add_outgoing(self, message_row: dict[str, Any],
                     outbox_row: dict[str, Any]) -> int | None:
        """An outgoing message and its Outbox row; the message's id, once it has one."""
        if self.cached:
            self.outgoing.append((message_row, outbox_row))
            self.outgoing_convs.add(message_row["conversation_id"])
            return None
        message_id = insert(self.conn, message, **message_row)
        self.conn.execute(_INSERT_OUTBOX, {**outbox_row, "message_id": message_id})
        return message_id

    def before_message_in(self, conversation_id: int | None) -> None:
        """Write this conversation's queued replies before a new message joins it, so
        that ids keep the order in which things happened in the conversation."""
        if conversation_id in self.outgoing_convs:
            self._flush_outgoing()

    def _flush_outgoing(self) -> None:
        if not self.outgoing:
            return
        # One multi-row INSERT ... RETURNING; the ids come back in the rows' order.
        ids = self.conn.execute(_INSERT_MESSAGES, [m for m, _ in self.outgoing]).scalars()
        self.conn.execute(_INSERT_OUTBOX, [{**o, "message_id": i} for (_, o), i
                                           in zip(self.outgoing, ids, strict=True)])
        self.outgoing, self.outgoing_convs = [], set()

    def write_conversations(self) -> None:
        """Write the batch's changed conversations; queries that count them come after."""
        if self.dirty:
            self.conn.execute(_UPDATE_CONVERSATION, [
                {"cid": cid, **_conversation_values(c)} for cid, c in self.dirty.items()])
            self.dirty = {}

    def flush(self) -> None:
        self.write_conversations()
        if self.contact_languages:
            self.conn.execute(_CONTACT_LANGUAGE_UPDATE, [
                {"cid": cid, **facts} for cid, facts in self.contact_languages.items()])
            self.contact_languages = {}
        for statement, rows in ((_INSERT_IDENTITY, self.identities),
                                (_INSERT_EVENT, self.events),
                                (_INSERT_ATTACHMENT, self.attachments),
                                (_INSERT_REFS, self.refs)):
            if rows:
                self.conn.execute(statement, rows)
        self.identities, self.events, self.attachments, self.refs = [], [], [], []
        self._flush_outgoing()
