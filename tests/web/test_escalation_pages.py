"""Escalating from the conversation's page, and the supervisors' side, in process on
both databases; the browser side is in test_desk_pages.py."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from inbox.core.vocab import Role
from inbox.desk import views
from inbox.runtime.app import App
from inbox.store.models import Escalation
from tests.web.desk_helpers import agent_client, ingest, mail


def escalations(app: App) -> list[tuple[str, str | None, str, str | None]]:
    with Session(app.engine) as s:
        return [(e.escalated_by, e.supervisor, e.reason, e.handled_by)
                for e in s.query(Escalation).order_by(Escalation.id)]  # type: ignore[arg-type]


def test_an_agent_escalates_from_the_page_and_a_supervisor_handles_it(app: App) -> None:
    ana = agent_client(app, "ana")
    boss = agent_client(app, "boss", Role.SUPERVISOR)
    ingest(app, mail(1, subject="Parcel lost"), mail(2, subject="Other", sender="b@x.org"))
    page = ana.get("/c/1").text
    assert 'action="/c/1/escalate"' in page and "Why escalate to a supervisor?" in page
    assert '<option value="boss" dir="auto">boss</option>' in page  # the supervisors
    assert "Escalations (" not in page  # an agent has no supervisors' list
    done = ana.post("/c/1/escalate", data={"reason": "مشتری <b>عصبانی</b> است", "to": ""})
    assert done.status_code == 200 and done.headers["HX-Trigger"] == "desk-done"
    assert 'class="escalation"' in done.text
    assert "مشتری &lt;b&gt;عصبانی&lt;/b&gt; است" in done.text  # escaped, its own direction
    assert 'id="escalation-handled"' not in done.text  # handling is not an agent's
    assert escalations(app) == [("ana", None, "مشتری <b>عصبانی</b> است", None)]

    queue = boss.get("/").text
    assert '<a class="escalations" href="/?escalated=1">Escalations (1)</a>' in queue
    listed = boss.get("/?escalated=1").text
    assert "Parcel lost" in listed and "Other" not in listed
    assert "مشتری &lt;b&gt;عصبانی&lt;/b&gt; است" in listed  # the row shows the reason
    assert 'name="escalated" value="1" checked' in listed
    assert "Other" in boss.get("/").text  # the default view is every conversation

    assert 'id="escalation-handled"' in boss.get("/c/1").text
    handled = boss.post("/c/1/escalation/handled")
    assert handled.status_code == 200 and 'class="escalation"' not in handled.text
    assert escalations(app)[0][3] == "boss"
    assert "Nothing waits here." in boss.get("/?escalated=1").text
    assert "Escalations (0)" in boss.get("/c/1").text


def test_an_agent_may_not_mark_it_handled_and_a_reason_is_required(app: App) -> None:
    ana = agent_client(app, "ana")
    ingest(app, mail(1))
    empty = ana.post("/c/1/escalate", data={"reason": "  "})
    assert empty.status_code == 422 and "say why you escalate" in empty.text
    assert empty.headers["HX-Retarget"] == "#problem"
    ana.post("/c/1/escalate", data={"reason": "Legal threat."})
    refused = ana.post("/c/1/escalation/handled")
    assert refused.status_code == 403 and "only a supervisor" in refused.text
    with Session(app.engine) as s:
        conv = views.conversation(s, 1, datetime.now(UTC), app.secret)
    assert conv is not None and conv["escalation"]["handled_at"] is None
    nobody = ana.post("/c/1/escalate", data={"reason": "x", "to": "ana"})
    assert nobody.status_code == 404 and "unknown supervisor 'ana'" in nobody.text


def test_escalating_needs_the_pages_csrf_token(app: App) -> None:
    ana = agent_client(app, "ana")
    ingest(app, mail(1))
    ana.headers.pop("X-CSRF-Token")
    forged = ana.post("/c/1/escalate", data={"reason": "Legal threat.", "csrf": "0" * 64})
    bare = ana.post("/c/1/escalate", data={"reason": "Legal threat."})
    assert [forged.status_code, bare.status_code] == [403, 403]
    assert escalations(app) == []
