"""`GET /api/v1/export/conversations|messages` (inbox.web.exports) in process, on both
databases: a supervisor downloads a period's rows as CSV or JSON lines, named as a file
and never cached; an agent is refused; a query the export cannot follow is a 422 before
any byte of it. (tests/web/test_api.py downloads one over real HTTP from `inbox run`.)"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import httpx
import pytest
from sqlalchemy.orm import Session

from inbox.core.vocab import Role
from inbox.desk import accounts, apitokens
from inbox.runtime.app import App
from tests.desk.test_export import FORMULA, PERSIAN, THAI, open_shop
from tests.web.desk_helpers import FAST, Client


@pytest.fixture
def shop(app: App) -> dict[str, int]:
    return open_shop(app)


PERIOD = {"since": "2026-12-01", "until": "2026-12-08T07:00:00+07:00"}  # 00:00 UTC both


def api(app: App, role: Role) -> Client:
    """The API in process, with a token of a new agent of `role`."""
    with Session(app.engine, expire_on_commit=False) as s, s.begin():
        agent = accounts.add_agent(s, email=f"{role}@shop.example", name=f"the-{role}",
                                   role=role, password=None, now=datetime.now().astimezone(),
                                   hasher=FAST)
        _, token = apitokens.create(s, agent, "export", None, datetime.now().astimezone())
    return Client(httpx.AsyncClient(transport=httpx.ASGITransport(app=app.desk({})),
                                    base_url="http://desk/api/v1",
                                    headers={"Authorization": f"Bearer {token}"}))


def test_a_supervisor_downloads_the_periods_rows_as_csv_and_json_lines(
        app: App, shop: dict[str, int]) -> None:
    supervisor = api(app, Role.SUPERVISOR)
    got = supervisor.get("/export/conversations", params=PERIOD)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "text/csv; charset=utf-8"
    assert got.headers["content-disposition"] == \
        'attachment; filename="conversations-20261201-20261208.csv"'
    assert got.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8"), newline="")))
    assert [int(r["id"]) for r in rows] == [shop["thai"], shop["persian"], shop["formula"]]
    assert rows[2]["subject"] == "'" + FORMULA  # text, not a formula, in a spreadsheet

    got = supervisor.get("/export/messages", params={**PERIOD, "format": "jsonl"})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/x-ndjson"
    assert got.headers["content-disposition"].endswith('messages-20261201-20261208.jsonl"')
    lines = [json.loads(x) for x in got.content.decode("utf-8").splitlines()]
    assert [m["text"] for m in lines if m["kind"] == "customer"] == [
        THAI, PERSIAN, "-1 star, @everyone look"]

    only = supervisor.get("/export/messages", params={**PERIOD, "format": "jsonl",
                                                      "channel": "telegram"})
    assert {json.loads(x)["channel"] for x in only.text.splitlines()} == {"telegram"}
    team = supervisor.get("/export/conversations", params={**PERIOD, "team": "billing"})
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(team.text))] == [shop["thai"]]
    empty = supervisor.get("/export/messages", params={
        "since": "2027-01-01", "until": "2027-02-01", "format": "jsonl"})
    assert (empty.status_code, empty.content) == (200, b"")
    assert api(app, Role.ADMIN).get("/export/messages", params=PERIOD).status_code == 200


def test_an_agent_may_not_export_and_a_wrong_query_is_refused_before_any_row(
        app: App, shop: dict[str, int]) -> None:
    refused = api(app, Role.AGENT).get("/export/messages", params=PERIOD)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    supervisor = api(app, Role.SUPERVISOR)
    for query, says in (({}, "since"), ({"since": "yesterday"}, "since"),
                        ({"since": "2026-12-08", "until": "2026-12-01"}, "before until"),
                        ({**PERIOD, "format": "xlsx"}, "format"),
                        ({**PERIOD, "team": "a\x00b"}, "NUL"),
                        ({**PERIOD, "sort": "id"}, "takes no sort"),
                        ({"since": "0001-01-01T00:00:00+14:00"}, "since")):
        got = supervisor.get("/export/conversations", params=query)
        assert got.status_code == 422, (query, got.text)
        assert says in got.json()["error"]["message"], query
