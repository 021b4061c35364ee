"""/sends: an admin sees what the outbox gave up on and sends it again; nobody else may."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from inbox.core.vocab import Role
from inbox.runtime.app import App
from inbox.store.models import Event, Outbox
from tests.web.desk_helpers import agent_client, ingest, mail


def bury(app: App) -> int:
    """The ack to anna, refused for good by her server."""
    with Session(app.engine) as s, s.begin():
        s.execute(sa.update(Outbox).values(state="dead", attempts=1,
                                           last_error="550 <script>x</script> no such user"))
        found = s.scalar(sa.select(Outbox.id))  # type: ignore[call-overload]
        assert isinstance(found, int)
        return found


def test_an_admin_sends_a_dead_send_again_from_the_page(app: App) -> None:
    ingest(app, mail(1))
    oid = bury(app)
    admin = agent_client(app, "root", Role.ADMIN)
    page = admin.get("/sends")
    assert page.status_code == 200
    assert "550 &lt;script&gt;x&lt;/script&gt; no such user" in page.text  # shown inert
    assert f'action="/sends/{oid}/retry"' in page.text
    assert '<a href="/sends">Sends</a>' in admin.get("/").text  # the header leads there
    done = admin.post(f"/sends/{oid}/retry")
    assert (done.status_code, done.headers["location"]) == (303, f"/sends?done={oid}")
    with Session(app.engine) as s:
        row = s.get(Outbox, oid)
        assert row is not None and (row.state, row.attempts) == ("pending", 0)
        [event] = s.scalars(sa.select(Event).where(col(Event.kind) == "ack.retried")).all()
        assert event.detail["by"] == "root"
    assert admin.post(f"/sends/{oid}/retry").status_code == 409  # once is enough
    assert admin.post("/sends/999/retry").status_code == 404


def test_only_an_admin_sees_or_retries_sends(app: App) -> None:
    ingest(app, mail(1))
    oid = bury(app)
    for name, role in (("ana", Role.AGENT), ("sue", Role.SUPERVISOR)):
        someone = agent_client(app, name, role)
        assert someone.get("/sends").status_code == 403
        assert someone.post(f"/sends/{oid}/retry").status_code == 403
        assert 'href="/sends"' not in someone.get("/").text
    admin = agent_client(app, "root", Role.ADMIN)
    del admin.headers["X-CSRF-Token"]
    assert admin.post(f"/sends/{oid}/retry").status_code == 403  # no CSRF token: refused
    with Session(app.engine) as s:
        assert s.get(Outbox, oid).state == "dead"  # type: ignore[union-attr]
