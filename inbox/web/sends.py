"""/sends: the sends the outbox waits on or gave up, and an admin's "send again".

The list is `inbox outbox`'s read model (inbox.desk.views.outbox); "send again" is
`inbox outbox retry` (inbox.desk.sends.retry). Both are an admin's
(Action.RETRY_DEAD_SENDS): the page answers 403 to anyone else.
"""

from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from inbox.core.errors import InboxError, NotFound
from inbox.desk import sends, views
from inbox.desk.accounts import Action, can
from inbox.store.db import reader

if TYPE_CHECKING:
    from inbox.web.context import Pages, WebContext

SHOWN = ("dead", "failed", "pending", "sending")  # what an admin may act on or wait for
_STATUS = {NotFound: 404}


class Sends:
    def __init__(self, ctx: WebContext, pages: Pages) -> None:
        self.ctx, self.pages = ctx, pages

    def routes(self) -> list[BaseRoute]:
        return [Route("/sends", self.page),
                Route("/sends/{oid:int}/retry", self.retry, methods=["POST"])]

    async def page(self, request: Request) -> Response:
        if not can(request.state.signed.agent, Action.RETRY_DEAD_SENDS):
            return PlainTextResponse("only an admin sees the sends", 403)

        def read() -> list[views.JSON]:
            with Session(reader(self.ctx.engine)) as s:
                return views.outbox(s, SHOWN)

        rows = await run_in_threadpool(read)
        dead = sum(1 for r in rows if r["state"] == "dead")
        return self.pages.render(request, "sends.html", rows=rows, dead=dead,
                                 done=request.query_params.get("done"),
                                 zone=zoneinfo.ZoneInfo(self.ctx.zone))

    async def retry(self, request: Request) -> Response:
        agent = request.state.signed.agent
        if not can(agent, Action.RETRY_DEAD_SENDS):
            return PlainTextResponse("only an admin sends a dead send again", 403)
        oid: int = request.path_params["oid"]

        def work() -> None:
            with Session(self.ctx.engine) as s, s.begin():
                sends.retry(s, oid, by=agent.name, now=self.ctx.clock())

        try:
            await run_in_threadpool(work)
        except InboxError as exc:
            status = next((c for k, c in _STATUS.items() if isinstance(exc, k)), 409)
            return PlainTextResponse(str(exc), status)
        return RedirectResponse(f"/sends?done={oid}", status_code=303)
