"""Canned answers in the desk (docs/canned.md): what the reply box offers after "/", and
the admins' page that keeps the library.

GET /c/ID/canned?q= answers the reply box (static/canned.js) with the answers of the
conversation's team and of every team whose name or text holds `q`, each already filled
for this customer and agent, as JSON; it is guarded like every conversation route, so
an agent learns nothing of a conversation they may not see. /admin/canned lists, adds,
changes and removes versions, for admins only (Action.MANAGE_CANNED_ANSWERS): anyone
else gets 403. Every change goes through inbox.desk.canned, which refuses a body that
cannot be filled, with its line, before anything is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from inbox.core.errors import Conflict, InboxError, NotFound
from inbox.desk import actions, canned
from inbox.desk.accounts import Action, can
from inbox.lang.render import TemplateError
from inbox.store.models import Agent, CannedAnswer
from inbox.web.mailview import Endpoint

if TYPE_CHECKING:
    from inbox.web.context import Pages, WebContext

T = TypeVar("T")
MAX_QUERY = 100  # characters after "/": a name or a few words


class Canned:
    """The routes behind canned.js and the admin page."""

    def __init__(self, ctx: WebContext, pages: Pages) -> None:
        self.ctx, self.pages = ctx, pages

    def routes(self, seen: Callable[[Endpoint], Endpoint] = lambda e: e) -> list[BaseRoute]:
        """`seen` guards a conversation's pages (inbox.web.pages.Desk.seen)."""
        admin = self.admin
        return [Route("/c/{cid:int}/canned", seen(self.offer)),
                Route("/admin/canned", admin(self.library), methods=["GET", "POST"]),
                Route("/admin/canned/{aid:int}", admin(self.edit), methods=["GET", "POST"]),
                Route("/admin/canned/{aid:int}/delete", admin(self.delete),
                      methods=["POST"])]

    async def _db(self, work: Callable[[Session], T], write: bool = False) -> T:
        def run() -> T:
            with Session(self.ctx.engine, expire_on_commit=False) as s:
                if not write:
                    return work(s)
                with s.begin():
                    return work(s)
        return await run_in_threadpool(run)

    # ------------------------------------------------------------------ the reply box

    async def offer(self, request: Request) -> Response:
        """The answers for "/q" in this conversation, filled: [{id, name, team,
        language, text}], or `problem` instead of `text` for one that failed."""
        cid: int = request.path_params["cid"]
        query = (request.query_params.get("q") or "")[:MAX_QUERY]
        agent: Agent = request.state.signed.agent

        def read(s: Session) -> list[dict[str, Any]]:
            conv = actions.get_conversation(s, cid)
            found = []
            for a in canned.search(s, query, conv.team, conv.language):
                item = {k: v for k, v in canned.as_json(a).items()
                        if k in ("id", "name", "team", "language")}
                try:
                    item["text"] = canned.fill(s, a, conv, agent.name, secret=self.ctx.secret)
                except TemplateError as exc:  # a value only this customer has
                    item["problem"] = str(exc)
                found.append(item)
            return found

        return JSONResponse(await self._db(read), headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------------ the admin page

    def admin(self, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if not can(request.state.signed.agent, Action.MANAGE_CANNED_ANSWERS):
                return self.pages.render(request, "refused.html", status=403,
                                         why="Only an admin manages canned answers.")
            return await endpoint(request)
        return guarded

    async def _page(self, request: Request, status: int = 200, *,
                    editing: CannedAnswer | None = None, form: FormData | None = None,
                    problem: str = "", editing_id: int | None = None) -> Response:
        answers = await self._db(canned.listing)
        editing_id = editing.id if editing is not None else editing_id
        given = dict(form or {})
        if editing is not None and form is None:
            given = {"name": editing.name, "team": editing.team,
                     "language": editing.language, "body": editing.body}
        return self.pages.render(
            request, "admin_canned.html", status=status, answers=answers, editing=editing_id,
            given=given, problem=problem, variables=sorted(canned.VARIABLES),
            teams=[t.name for t in self.ctx.directory.teams()])

    async def library(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._page(request)
        return await self._save(request, None)

    async def edit(self, request: Request) -> Response:
        aid: int = request.path_params["aid"]
        if request.method == "POST":
            return await self._save(request, aid)
        try:
            answer = await self._db(lambda s: canned.get(s, aid))
        except NotFound:
            return self.pages.render(request, "missing.html", status=404)
        return await self._page(request, editing=answer)

    async def _save(self, request: Request, aid: int | None) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        me: Agent = request.state.signed.agent
        now = self.ctx.clock()

        def save(s: Session) -> None:
            v = canned.version(_field(form, "name"), _field(form, "team"),
                               _field(form, "language"))
            body = _field(form, "body")
            if aid is None:
                canned.add(s, v, body, by=me.name, now=now, directory=self.ctx.directory)
            else:
                canned.update(s, aid, v, body, by=me.name, now=now,
                              directory=self.ctx.directory)
        try:
            await self._db(save, write=True)
        except InboxError as exc:
            return await self._page(request, 409 if isinstance(exc, Conflict) else 422,
                                    editing_id=aid, form=form, problem=str(exc))
        return RedirectResponse("/admin/canned", status_code=303)

    async def delete(self, request: Request) -> Response:
        aid: int = request.path_params["aid"]
        try:
            await self._db(lambda s: canned.remove(s, canned.get(s, aid)), write=True)
        except NotFound:
            return self.pages.render(request, "missing.html", status=404)
        return RedirectResponse("/admin/canned", status_code=303)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""
