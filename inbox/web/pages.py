"""The queue and a conversation in the browser, and what agents do there.

Every page renders a read model of inbox.desk.views (the shapes `inbox queue --json` and
`inbox show --json` print) and every change calls the inbox.desk.actions function the
CLI calls, as the signed-in agent, in one transaction; the answer is the re-rendered
fragment (htmx swaps it in), or a redirect for a browser without script. Other screens
hear of the change through the live feed (events.py) once it has committed.

Who may do what is asked of `accounts.can` here, on every action: any agent works the
queue, may take a conversation and escalate it; giving one to someone else, or to a
team, is a supervisor's (Action.REASSIGN), and so is marking an escalation handled
(Action.RECEIVE_ESCALATIONS). Any agent may choose the language a conversation is
answered in, for it alone or as its contact's preference.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from babel import Locale, UnknownLocaleError
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from inbox.core.directory import Agent as DirectoryAgent
from inbox.core.directory import Directory, ListedDirectory, merged, staff_addresses
from inbox.core.errors import Conflict, InboxError, Invalid, NotFound
from inbox.core.vocab import ID_MAX, Status
from inbox.desk import actions, drafts, escalation, mentions, search, views
from inbox.desk.access import Scope, scope_of
from inbox.desk.accounts import Action, can
from inbox.desk.words import delivery_words, event_words, trail, when
from inbox.lang.choose import AGENT
from inbox.lang.quoting import fold
from inbox.sla.clock import duration
from inbox.store.blobs import attachment_data
from inbox.store.db import reader
from inbox.store.models import Agent, Attachment, Conversation, Event, Message
from inbox.store.rawdb import reading
from inbox.web.events import ChangeFeed, PollingFeed, stream
from inbox.web.mailview import FRAME_SANDBOX, Endpoint
from inbox.web.presence import collision

if TYPE_CHECKING:
    from inbox.web.context import Pages, WebContext

T = TypeVar("T")
JSON = dict[str, Any]
QUEUE_FILTERS = ("team", "channel", "tag", "language", "q")
QUEUE_FLAGS = ("mine", "unassigned", "automated", "escalated")
# What the status buttons may ask for; closing is for rules and the CLI.
DESK_STATUSES = (Status.OPEN, Status.PENDING, Status.SNOOZED, Status.RESOLVED)
MAX_TEXT = 100_000  # characters in one reply or note


class Refused(InboxError):
    """This agent may not do this (403)."""


def signed_agent(request: Request) -> Agent:
    """The agent the sign-in guard (inbox.web.auth) let through."""
    agent: Agent = request.state.signed.agent
    return agent


def queue_filter(params: QueryParams, me: str) -> views.QueueFilter:
    """The queue's filters from the page's query: ?mine, ?unassigned, ?team=, ?channel=,
    ?status= (or all), ?tag=, ?language=, ?automated, ?escalated."""
    wanted = params.get("status") or Status.OPEN
    statuses = (tuple(s.value for s in Status) if wanted == "all"
                else (wanted,) if wanted in {s.value for s in Status} else (Status.OPEN,))
    given = {k: params.get(k) or None for k in QUEUE_FILTERS}
    flags = {k: params.get(k) not in (None, "", "0") for k in QUEUE_FLAGS}
    return views.QueueFilter(statuses=statuses, team=given["team"],
                             assignee=me if flags["mine"] else None,
                             channel=given["channel"], tag=given["tag"],
                             language=given["language"], automated=flags["automated"],
                             unassigned=flags["unassigned"] and not flags["mine"],
                             escalated=flags["escalated"])


def _query(params: QueryParams) -> str:
    kept = [(k, v) for k, v in params.multi_items() if k in (*QUEUE_FILTERS, *QUEUE_FLAGS,
                                                            "status") and v]
    return urlencode(kept)


REMOTE_IMAGES = "x-remote-images"


def remote_images(request: Request) -> frozenset[int]:
    """The messages whose remote images the agent asked for on the open page (desk.js
    says which with every refresh of the conversation), so a refresh keeps them shown.
    A page loaded anew starts with none: a tracker learns of no later look unasked."""
    given = request.headers.get(REMOTE_IMAGES, "")[:2000]
    return frozenset(int(n) for n in given.split(",") if n.strip().isdigit())


def waiting(rows: list[JSON]) -> int:
    """What the tab title counts: open conversations whose customer waits for us."""
    return sum(1 for r in rows if r["status"] == Status.OPEN and r["sla"]["awaiting_since"])


# How each kind of message is named on the page (inbox.core.vocab.Kind).
KINDS = {"customer": "Message", "agent": "Reply", "auto-ack": "Acknowledgement",
         "note": "Internal note", "system": "System message"}


def left(seconds: float) -> str:
    return duration(timedelta(seconds=seconds))


@lru_cache(maxsize=256)
def language_name(code: str) -> str:
    """A language's name in its own words, as its readers find it in a list ("Polski",
    "فارسی", "Tagalog"); the code itself when Babel does not know it."""
    try:
        locale = Locale.parse(code, sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        return code
    # The language's own entry first: Babel parses "tl" as Filipino (Philippines).
    name = locale.languages.get(code.replace("-", "_")) or locale.get_display_name() or code
    return name[:1].upper() + name[1:]


# Where a conversation's language came from (inbox.lang.choose), in the page's words.
LANGUAGE_SOURCES = {"contact": "contact's preference", "detected": "detected",
                    "history": "from earlier messages", "channel": "from the channel",
                    "default": "default"}


def language_source(source: str | None, by: str | None) -> str:
    """`by`: the agent who chose it, when the source is an agent's choice."""
    if source == AGENT:
        return f"set by {by}" if by else "set by an agent"
    if source is None:  # handed back to detection ("auto")
        return "chosen again at the customer's next message"
    return LANGUAGE_SOURCES.get(source, source)


def language_setter(s: Session, cid: int) -> str | None:
    """Who chose the conversation's language: the newest `language` event names them."""
    detail = s.scalar(sa.select(col(Event.detail)).where(
        col(Event.conversation_id) == cid, col(Event.kind) == "language")
        .order_by(col(Event.id).desc()).limit(1))
    by = detail.get("by") if isinstance(detail, dict) else None
    return by if isinstance(by, str) else None


@dataclass
class Desk:
    ctx: WebContext
    pages: Pages

    def __post_init__(self) -> None:
        url = self.ctx.engine.url.render_as_string(hide_password=False)
        self.feed: ChangeFeed = self.ctx.feed or PollingFeed(partial(reading, url),
                                                              clock=self.ctx.clock)
        self.pages.templates.env.globals.update(left=left, when=when, kinds=KINDS, fold=fold,
                                                frame_sandbox=FRAME_SANDBOX,
                                                language_name=language_name)

    def routes(self) -> list[BaseRoute]:
        post = ["POST"]
        seen = self.seen  # every page of a conversation: only for those who may see it
        return [Route("/", self.queue), Route("/queue/rows", self.queue_rows),
                Route("/events", self.events),
                Route("/c/{cid:int}", seen(self.conversation)),
                Route("/c/{cid:int}/live", seen(self.conversation_live)),
                Route("/c/{cid:int}/thread", seen(self.thread)),
                Route("/c/{cid:int}/trail", seen(self.trail_page)),
                Route("/c/{cid:int}/a/{aid:int}", seen(self.attachment)),
                Route("/c/{cid:int}/reply", seen(self.reply), methods=post),
                Route("/c/{cid:int}/note", seen(self.note), methods=post),
                Route("/c/{cid:int}/assign", seen(self.assign), methods=post),
                Route("/c/{cid:int}/status", seen(self.status), methods=post),
                Route("/c/{cid:int}/escalate", seen(self.escalate), methods=post),
                Route("/c/{cid:int}/language", seen(self.language), methods=post),
                Route("/c/{cid:int}/escalation/handled", seen(self.handled), methods=post)]

    async def scope(self, request: Request) -> Scope:
        agent = signed_agent(request)
        return await self._db(lambda s: scope_of(s, agent))

    def seen(self, endpoint: Endpoint) -> Endpoint:
        """`endpoint`, answering 404 (as for a conversation that does not exist: nothing
        tells an agent what another team has) when the agent may not see it."""
        async def guarded(request: Request) -> Response:
            cid: int = request.path_params["cid"]

            def where(s: Session) -> tuple[str | None, str | None] | None:
                found = s.execute(sa.select(col(Conversation.team), col(Conversation.assignee))
                                  .where(col(Conversation.id) == cid)).first()
                return (found[0], found[1]) if found else None

            fits = all(v <= ID_MAX for v in request.path_params.values()
                       if isinstance(v, int))
            found = await self._db(where) if fits else None
            if found is None or not (await self.scope(request)).sees(*found):
                if request.method == "GET" and "hx-request" not in request.headers:
                    return self.pages.render(request, "missing.html", status=404)
                return _refused(request, NotFound(f"no conversation {cid}"))
            return await endpoint(request)
        return guarded

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.ctx.zone)

    async def _db(self, work: Callable[[Session], T], write: bool = False) -> T:
        def run() -> T:
            if not write:  # a page: read beside the daemon's writes, never behind them
                with Session(reader(self.ctx.engine), expire_on_commit=False) as s:
                    return work(s)
            with Session(self.ctx.engine, expire_on_commit=False) as s, s.begin():
                return work(s)
        return await run_in_threadpool(run)

    # ------------------------------------------------------------------- the queue

    async def _queue_values(self, request: Request) -> JSON:
        me = signed_agent(request).name
        f = replace(queue_filter(request.query_params, me), scope=await self.scope(request))
        now = self.ctx.clock()
        q, problem = (request.query_params.get("q") or "").strip(), None
        if q:  # ?q=: the queue narrowed to conversations holding every term
            try:
                f = replace(f, phrases=search.phrases(q))
            except search.QueryTooShort as exc:
                problem = str(exc)

        def read(s: Session) -> JSON:
            rows = views.queue(s, f, now, self.ctx.secret)
            lines = views.first_lines(s, [r["id"] for r in rows])
            return {"rows": rows, "lines": lines, **self._escalations_open(s, request)}

        found = await self._db(read)
        return {**found, "waiting": waiting(found["rows"]), "filter": f, "q": q,
                "problem": problem,
                "query": _query(request.query_params), "params": request.query_params,
                "teams": [t.name for t in self.ctx.directory.teams()],
                "channels": self.ctx.channels, "statuses": [s.value for s in Status],
                "now": now, "zone": self.zone}

    def _escalations_open(self, s: Session, request: Request) -> JSON:
        """For a supervisor, how many escalations wait (the header's link says so)."""
        if not can(signed_agent(request), Action.RECEIVE_ESCALATIONS):
            return {}
        return {"escalations_open": views.open_escalation_count(s)}

    async def queue(self, request: Request) -> Response:
        return self.pages.render(request, "queue.html", **await self._queue_values(request))

    async def queue_rows(self, request: Request) -> Response:
        return self.pages.render(request, "_queue_rows.html",
                                 **await self._queue_values(request))

    async def events(self, request: Request) -> Response:
        cid = request.query_params.get("conversation")
        return stream(self.feed, request, int(cid) if cid and cid.isdigit() else None)

    # ---------------------------------------------------------------- a conversation

    async def _conversation_values(self, request: Request, cid: int,
                                   events: bool = False) -> JSON | None:
        """What a conversation's templates show; its trail of events only with `events`
        (GET /c/ID/trail: "Why did this happen?" reads it when opened)."""
        now = self.ctx.clock()

        def read(s: Session) -> tuple[JSON | None, str, list[str], str | None]:
            conv = views.conversation(s, cid, now, self.ctx.secret, events=events)
            if conv is None:
                return None, "", [], None
            by = language_setter(s, cid) if conv["language_source"] == AGENT else None
            return conv, actions.reply_subject(actions.get_conversation(s, cid),
                                               self.ctx.secret), \
                actions.suggested_cc(s, cid, self._ours()), by

        conv, subject, cc, chosen_by = await self._db(read)
        if conv is None:
            return None
        zone = self.zone
        shown = [{**e, "words": event_words(e, zone), "when": when(e["at"], zone)}
                 for e in trail(conv)] if events else []
        messages = [{**m, "when": when(m["created_at"], zone),
                     "delivery_words": delivery_words(m, zone)} for m in conv["messages"]]
        me = signed_agent(request)
        return {"conv": conv, "messages": messages, "events": shown, "zone": zone,
                "may_handle": can(me, Action.RECEIVE_ESCALATIONS),
                "max_reason": escalation.MAX_REASON,
                "agents": [a.name for a in self.ctx.directory.agents() if a.enabled],
                "teams": [t.name for t in self.ctx.directory.teams()],
                "may_reassign": can(me, Action.REASSIGN), "me": me.name,
                "statuses": DESK_STATUSES, "reply_subject": subject,
                "newest": max((m["id"] for m in messages), default=0),
                # the reply box (replybox.js): "reply all", and the channel's limit
                "cc": ", ".join(cc), "cc_channel": conv["channel"] in actions.CC_CHANNELS,
                "limit": self.ctx.text_limits.get((conv["channel"], conv["account"])),
                "remote_images": remote_images(request),
                "languages": self.ctx.languages,
                "language_source": language_source(conv["language_source"], chosen_by)}

    def _ours(self) -> frozenset[str]:
        """Addresses never offered as Cc: our accounts' and every agent's."""
        staff = {a for (channel, a) in staff_addresses(self.ctx.directory) if channel == "email"}
        return self.ctx.our_addresses | staff

    async def conversation(self, request: Request) -> Response:
        values = await self._conversation_values(request, request.path_params["cid"])
        if values is None:
            return self.pages.render(request, "missing.html", status=404)
        me, cid = signed_agent(request).id or 0, request.path_params["cid"]

        agent, contact = signed_agent(request), values["conv"]["contact"]["id"]

        def read(s: Session) -> JSON:
            return {"drafts": drafts.drafts(s, me, cid),
                    "history": views.history(s, contact, cid, scope_of(s, agent)),
                    # read now, not from the directory's copy: the one just made counts
                    "supervisors": [a.name for a in escalation.supervisors(s)],
                    **self._escalations_open(s, request)}

        values |= await self._db(read)
        return self.pages.render(request, "conversation.html", **values)

    async def trail_page(self, request: Request) -> Response:
        """The conversation's events in words: "Why did this happen?", when opened."""
        values = await self._conversation_values(request, request.path_params["cid"],
                                                 events=True)
        if values is None:
            return PlainTextResponse("no such conversation", 404)
        return self.pages.render(request, "_trail.html", **values)

    async def thread(self, request: Request) -> Response:
        """An earlier conversation's messages, opened in place in the contact's history."""
        values = await self._conversation_values(request, request.path_params["cid"])
        if values is None:
            return PlainTextResponse("no such conversation", 404)
        return self.pages.render(request, "_thread.html", **values)

    async def conversation_live(self, request: Request) -> Response:
        values = await self._conversation_values(request, request.path_params["cid"])
        if values is None:
            return PlainTextResponse("no such conversation", 404)
        return self.pages.render(request, "_conversation_live.html", **values)

    async def attachment(self, request: Request) -> Response:
        """The file, to save: never shown by the browser as a page of ours."""
        cid, aid = request.path_params["cid"], request.path_params["aid"]

        def read(s: Session) -> tuple[Attachment, bytes | None] | None:
            found = s.execute(sa.select(Attachment, Message).join(
                Message, Message.id == Attachment.message_id).where(  # type: ignore[arg-type]
                Attachment.id == aid, Message.conversation_id == cid)).first()
            if found is None or self.ctx.blobs is None:
                return None
            a, m = found
            data = attachment_data(self.ctx.blobs, a.sha256, a.stored, m.raw_sha256,
                                   self.ctx.parsers.get(m.channel))
            return a, data

        found = await self._db(read)
        if found is None or found[1] is None:
            return PlainTextResponse("no such attachment", 404)
        a, data = found
        return Response(data, media_type="application/octet-stream", headers={
            "Content-Disposition": content_disposition(a.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox"})

    # ------------------------------------------------------------------- actions

    async def _act(self, request: Request, work: Callable[[Session, Agent, FormData, datetime],
                                                          object]) -> Response:
        """Run one action as the signed-in agent; answer with the conversation's fresh
        fragment, or the reason it was refused (shown beside the forms)."""
        cid: int = request.path_params["cid"]
        agent = signed_agent(request)
        form = await request.form(max_files=0, max_fields=20)
        try:
            if not can(agent, Action.WORK_QUEUE):
                raise Refused("your account may not work the queue")
            await self._db(lambda s: work(s, agent, form, self.ctx.clock()), write=True)
        except actions.ReplyCollision as exc:  # the page asks before sending again
            return collision(self.pages, request, exc)
        except InboxError as exc:
            return _refused(request, exc)
        if "hx-request" not in request.headers:  # a plain form post: back to the page
            return RedirectResponse(f"/c/{cid}", status_code=303)
        response = await self.conversation_live(request)
        response.headers["HX-Trigger"] = "desk-done"  # desk.js empties the form
        return response

    async def reply(self, request: Request) -> Response:
        cid = request.path_params["cid"]

        def work(s: Session, agent: Agent, form: FormData, now: datetime) -> object:
            seen = _field(form, "seen_up_to")  # the newest message on the agent's screen
            sent = actions.reply(s, cid, _text(form), author=agent.name, now=now,
                                 secret=self.ctx.secret, domain=self.ctx.domain,
                                 seen_up_to=int(seen) if seen and seen.isdigit()
                                 and _field(form, "confirm") != "1" else None,
                                 cc=[_field(form, "cc") or ""],
                                 limits=self.ctx.text_limits)
            drafts.discard(s, agent.id or 0, cid, "reply")
            return sent
        return await self._act(request, work)

    async def note(self, request: Request) -> Response:
        cid = request.path_params["cid"]

        def work(s: Session, agent: Agent, form: FormData, now: datetime) -> object:
            written = mentions.note(s, cid, _text(form), author=agent.name, now=now,
                                    tell=self.ctx.mentions)
            drafts.discard(s, agent.id or 0, cid, "note")
            return written
        return await self._act(request, work)

    async def assign(self, request: Request) -> Response:
        cid = request.path_params["cid"]

        def work(s: Session, agent: Agent, form: FormData, now: datetime) -> object:
            conv = actions.get_conversation(s, cid)
            assignee = _field(form, "assignee")
            assignee = agent.name if assignee == "me" else assignee
            team = _field(form, "team")
            _may_assign(agent, conv.assignee, conv.team, assignee, team)
            return actions.assign(s, cid, assignee=assignee, team=team, now=now,
                                  by=agent.name, directory=self._knowing(agent))
        return await self._act(request, work)

    async def status(self, request: Request) -> Response:
        cid = request.path_params["cid"]

        def work(s: Session, agent: Agent, form: FormData, now: datetime) -> object:
            wanted = _field(form, "status")
            if wanted not in {x.value for x in DESK_STATUSES}:
                raise Invalid(f"unknown status {wanted!r}")
            until = (self._until(_field(form, "until") or "", _field(form, "tz"))
                     if wanted == Status.SNOOZED else None)
            return actions.set_status(s, cid, Status(wanted), now=now, by=agent.name,
                                      policies=self.ctx.policies, until=until,
                                      csat=self.ctx.csat)
        return await self._act(request, work)

    async def escalate(self, request: Request) -> Response:
        cid = request.path_params["cid"]

        def work(s: Session, agent: Agent, form: FormData, now: datetime) -> object:
            return escalation.escalate(s, cid, _field(form, "reason") or "", by=agent.name,
                                       now=now, to=_field(form, "to") or None,
                                       tell=self.ctx.escalations)
        return await self._act(request, work)

    async def handled(self, request: Request) -> Response:
        cid = request.path_params["cid"]

        def work(s: Session, agent: Agent, form: FormData, now: datetime) -> object:
            if not can(agent, Action.RECEIVE_ESCALATIONS):
                raise Refused("only a supervisor marks an escalation handled")
            return escalation.handle_escalation(s, cid, by=agent.name, now=now)
        return await self._act(request, work)

    async def language(self, request: Request) -> Response:
        """The language the conversation is answered in; `contact`: also the contact's
        next conversations'. `auto` hands the choice back to detection."""
        cid = request.path_params["cid"]

        def work(s: Session, agent: Agent, form: FormData, now: datetime) -> object:
            return actions.set_language(s, cid, _field(form, "language") or "",
                                        served=self.ctx.languages,
                                        for_contact=_field(form, "contact") == "1",
                                        now=now, by=agent.name)
        return await self._act(request, work)

    def _knowing(self, agent: Agent) -> Directory:
        """The directory, which may be read a few seconds late, and the signed-in agent,
        whose record this request has just read: a new agent can take work at once."""
        me = ListedDirectory([DirectoryAgent(agent.name, agent.email, agent.telegram,
                                             agent.away, agent.role, agent.enabled,
                                             agent.language)], [])
        return merged(me, self.ctx.directory)

    def _until(self, value: str, tz: str | None) -> datetime:
        """A datetime-local value, in the agent's browser's zone (desk.js sends it) or
        else the team's; as UTC."""
        if not value:
            raise Invalid("say until when to snooze")
        try:
            local = datetime.fromisoformat(value)
        except ValueError:
            raise Invalid(f"{value!r} is not a date and time") from None
        try:
            zone = zoneinfo.ZoneInfo(tz) if tz else self.zone
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = self.zone
        return (local if local.tzinfo else local.replace(tzinfo=zone)).astimezone(UTC)


def _may_assign(agent: Agent, current: str | None, team_now: str | None,
                assignee: str | None, team: str | None) -> None:
    """An agent may take a conversation, or give back one that is theirs; giving it to
    anyone else, or moving it to another team, is a supervisor's."""
    if can(agent, Action.REASSIGN):
        return
    mine = assignee == agent.name or (assignee == "" and current == agent.name)
    if assignee is not None and not mine:
        raise Refused("only a supervisor gives a conversation to someone else")
    if team is not None and team != (team_now or ""):
        raise Refused("only a supervisor moves a conversation to another team")


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _text(form: FormData) -> str:
    text = (_field(form, "text") or "").replace("\r\n", "\n")
    if not text.strip():
        raise Invalid("write something first")
    if len(text) > MAX_TEXT:
        raise Invalid(f"that is longer than {MAX_TEXT} characters")
    return text


_STATUS = {NotFound: 404, Refused: 403, Conflict: 409, Invalid: 422}


def _refused(request: Request, exc: InboxError) -> Response:
    """The reason, shown where the page keeps problems (#problem), status by kind."""
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 503)
    response = PlainTextResponse(str(exc), status)
    if "hx-request" in request.headers:
        response.headers.update({"HX-Retarget": "#problem", "HX-Reswap": "textContent"})
    return response


def content_disposition(filename: str) -> str:
    """`attachment` with the name as typed (RFC 6266/5987) and a plain fallback."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                    for c in filename) or "attachment"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
