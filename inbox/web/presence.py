"""Working together in the desk: who else is here, drafts, and the reply that asks first.

The conversation page (static/collab.js) says every ~10 s, on focus and while the agent
types, that it is open (POST /c/ID/presence); the live feed tells the other screens of
that conversation when someone came, went, or began or stopped typing, and they fetch
GET /c/ID/presence (templates/_collab.html). What is typed is saved as a draft
(POST /c/ID/draft) a second after the last keystroke and when the page goes away (by
navigator.sendBeacon, which cannot set a header: the CSRF token comes as a form field,
which inbox.web.auth accepts). A reply sent after someone else's answers 409 with what
they sent (`collision`), and the page asks before sending again with confirm=1.
Everything here goes through inbox.desk (drafts, actions), as the signed-in agent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from inbox.core.errors import InboxError
from inbox.desk import actions, drafts
from inbox.desk.accounts import Action, can
from inbox.store.models import Agent
from inbox.web.mailview import Endpoint

if TYPE_CHECKING:
    from inbox.web.context import Pages, WebContext

T = TypeVar("T")
QUOTED = 300  # characters of a colleague's reply shown in the question


class Collab:
    """The routes behind collab.js."""

    def __init__(self, ctx: WebContext, pages: Pages) -> None:
        self.ctx, self.pages = ctx, pages

    def routes(self, seen: Callable[[Endpoint], Endpoint] = lambda e: e) -> list[BaseRoute]:
        """`seen` guards a conversation's pages (inbox.web.pages.Desk.seen)."""
        return [Route("/c/{cid:int}/presence", seen(self.presence), methods=["GET", "POST"]),
                Route("/c/{cid:int}/draft", seen(self.draft), methods=["POST"])]

    async def _db(self, work: Callable[[Session, datetime], T]) -> T:
        def run() -> T:
            with Session(self.ctx.engine, expire_on_commit=False) as s, s.begin():
                return work(s, self.ctx.clock())
        return await run_in_threadpool(run)

    async def _change(self, request: Request,
                      work: Callable[[Session, Agent, FormData, datetime], None]) -> Response:
        agent: Agent = request.state.signed.agent
        cid: int = request.path_params["cid"]
        form = await request.form(max_files=0, max_fields=10)
        if not can(agent, Action.WORK_QUEUE):
            return Response("your account may not work the queue", 403)

        def run(s: Session, now: datetime) -> None:
            actions.get_conversation(s, cid)  # 404 for a conversation that is not there
            work(s, agent, form, now)
        try:
            await self._db(run)
        except InboxError as exc:
            return Response(str(exc), 404 if isinstance(exc, actions.NoConversation)
                            else 422)
        return Response(status_code=204)

    async def presence(self, request: Request) -> Response:
        """POST: this agent has the page open (`typing`: the box typed in, if any;
        `left=1`: not any more). GET: who else is here, as a fragment."""
        cid: int = request.path_params["cid"]
        if request.method == "POST":
            def say(s: Session, agent: Agent, form: FormData, now: datetime) -> None:
                assert agent.id is not None
                if form.get("left") == "1":
                    drafts.leave(s, agent.id, cid)
                else:
                    drafts.announce(s, agent.id, cid, str(form.get("typing") or ""), now)
            return await self._change(request, say)
        me: Agent = request.state.signed.agent
        here = await self._db(lambda s, now: drafts.present(s, cid, now, besides=me.id))
        return self.pages.render(request, "_collab.html", present=here)

    async def draft(self, request: Request) -> Response:
        cid: int = request.path_params["cid"]

        def keep(s: Session, agent: Agent, form: FormData, now: datetime) -> None:
            assert agent.id is not None
            text = str(form.get("text") or "").replace("\r\n", "\n")
            drafts.save_draft(s, agent.id, cid, str(form.get("box") or ""), text, now=now)
        return await self._change(request, keep)


def collision(pages: Pages, request: Request, exc: actions.ReplyCollision) -> Response:
    """409, with what was sent meanwhile and the question, for the page's #collision."""
    meanwhile = [{**m, "text": str(m["text"] or "")[:QUOTED]} for m in exc.meanwhile]
    response = pages.render(request, "_collision.html", status=409, names=exc.names,
                            meanwhile=meanwhile)
    if "hx-request" in request.headers:
        response.headers.update({"HX-Retarget": "#collision", "HX-Reswap": "innerHTML"})
    return response
