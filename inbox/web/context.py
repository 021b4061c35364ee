"""What every part of the desk is given: the context the runtime builds (WebContext)
and the page renderer (Pages). A module of its own, so that the parts import it and
the app that puts them together imports them, with no circle."""


from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from channels.base import Inbound, RawParser, TextLimit
from inbox.core.config import CsatSettings, WebSettings
from inbox.core.directory import Directory, ListedDirectory
from inbox.desk.accounts import Action, can
from inbox.desk.escalation import Teller
from inbox.desk.mentions import Mentioner
from inbox.sla.clock import Policies
from inbox.store.blobs import BlobStore
from inbox.web.assets import Assets
from inbox.web.events import ChangeFeed

TEMPLATES = Path(__file__).parent / "templates"


def _utcnow() -> datetime:
    return datetime.now(UTC)
# Languages written right to left: the page's `dir` follows its language.
RTL = frozenset({"ar", "fa", "he", "ur", "ps", "ckb", "sd", "ug", "yi", "dv"})


@dataclass(frozen=True)
class WebContext:
    """What the runtime gives the desk (inbox.runtime.app builds it)."""

    name: str  # the deployment's name, shown on every page
    engine: Engine
    secret: str  # the deployment's: CSRF tokens are keyed by it
    web: WebSettings = field(default_factory=WebSettings)
    clock: Callable[[], datetime] = _utcnow
    language: str = "en"  # of the desk's own words
    # The queue and conversations (inbox.web.pages, inbox.web.events):
    domain: str = "localhost"  # of our Message-IDs, for replies
    zone: str = "UTC"  # the team's time zone ([business_hours]): times on pages
    policies: Policies = field(default_factory=Policies)  # snoozing pauses the clock
    directory: Directory = field(default_factory=lambda: ListedDirectory([], []))
    blobs: BlobStore | None = None  # attachments (None: none can be downloaded)
    parsers: Mapping[str, RawParser] = field(default_factory=dict)  # by channel
    channels: tuple[str, ...] = ()  # configured, for the queue's filter
    feed: ChangeFeed | None = None  # None: one of the desk's own, on `engine`
    # The reply box: what one message may hold, by (channel, account), as each connector
    # declares it (channels.base.TextLimit); our own e-mail addresses, never offered as Cc.
    text_limits: Mapping[tuple[str, str], TextLimit] = field(default_factory=dict)
    our_addresses: frozenset[str] = frozenset()
    escalations: Teller | None = None  # tells supervisors; None: nobody is told
    mentions: Mentioner | None = None  # tells colleagues a note mentions; None: nobody
    languages: tuple[str, ...] = ()  # served ([languages] serve): what an agent may choose
    # A message another system posts (POST /api/v1/inbound), through the pipeline as a
    # connector's would be; the runtime's (the desk must not import the pipeline). It
    # answers what became of it: outcome, conversation_id, message_id, acknowledged...
    accept: Callable[[Inbound], Mapping[str, object]] | None = None
    api_systems: frozenset[str] = frozenset()  # [channels.api.<system>]: who may post
    csat: CsatSettings = field(default_factory=CsatSettings)  # surveys at a resolution
    report_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))  # its days


def text_direction(language: str) -> str:
    return "rtl" if language.split("-", maxsplit=1)[0].lower() in RTL else "ltr"


class Pages:
    """The desk's pages; each renders a template with the context every page shares."""

    def __init__(self, ctx: WebContext, assets: Assets) -> None:
        self.ctx = ctx
        self.templates = Jinja2Templates(directory=TEMPLATES)
        # The desk's own templates change only with the package: no stat of each file at
        # every include (a conversation includes one per message).
        self.templates.env.auto_reload = False
        self.templates.env.globals["static"] = assets.url

    def render(self, request: Request, name: str, status: int = 200,
               **values: object) -> Response:
        shared: dict[str, object] = {"name": self.ctx.name, "lang": self.ctx.language,
                                     "dir": text_direction(self.ctx.language)}
        if "signed" in request.scope.get("state", {}):  # set by inbox.web.auth.SignedIn
            who = request.state.signed
            # `may`: what this agent's role allows, for the links and forms a page shows
            # (each action is still checked where it is done).
            shared |= {"agent": who.agent, "csrf": who.csrf,
                       "may": frozenset(a.value for a in Action if can(who.agent, a))}
        return self.templates.TemplateResponse(request, name, {**shared, **values},
                                               status_code=status)
