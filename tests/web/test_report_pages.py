"""The report pages in the desk, in process on both databases, over the history of
tests/desk/test_reports.py: a supervisor sees the figures worked out by hand there,
drawn as charts whose points lead to the conversations behind them; an agent may not
look."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from inbox.desk.accounts import Role
from inbox.runtime.app import App
from tests.desk.test_reports import app, made  # noqa: F401  (the fixture, and the history)
from tests.web.desk_helpers import agent_client

PERIOD = "since=2026-10-19&until=2026-11-02"
SVG = "{http://www.w3.org/2000/svg}"


def tip(a: ET.Element) -> str:
    """A point's tooltip, without the bidi isolates around its parts."""
    return (a.findtext(f"{SVG}title") or "").replace("\u2068", "").replace("\u2069", "")


def charts(page: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", page, re.S)]


def test_a_supervisor_sees_the_figures_and_follows_a_point_to_its_conversations(
        app: App) -> None:  # noqa: F811
    ids = made(app)
    lead = agent_client(app, "Lead", Role.SUPERVISOR)
    page = lead.get(f"/reports?{PERIOD}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "6 new conversations" in text and "1 from robots" in text
    assert "Kept 3" in text and "75.0% kept" in text
    assert "Szybko, dziękuję" in text and "average 4.0 of 5" in text
    volume = charts(page.text)[0]
    points = {tip(a): a.get("href") for a in volume.iter(f"{SVG}a")}
    # The email bar of 21 October: conversation C, and only it.
    [(said, href)] = [(t, h) for t, h in points.items() if t.startswith("21 Oct")]
    assert said == "21 Oct — email: 1"
    behind = lead.get(html.unescape(href or ""))
    assert behind.status_code == 200
    assert re.findall(r'href="/c/(\d+)"', behind.text) == [str(ids["C"])]
    # The agents' medians link to their first responses: bo answered B and H.
    agents = charts(page.text)[2]
    bo = next(a.get("href") for a in agents.iter(f"{SVG}a")
              if tip(a).startswith("bo "))
    found = re.findall(r'href="/c/(\d+)"', lead.get(html.unescape(bo or "")).text)
    assert sorted(found) == sorted([str(ids["B"]), str(ids["H"])])


def test_an_agent_may_not_see_the_reports_and_a_bad_period_is_refused(
        app: App) -> None:  # noqa: F811
    assert agent_client(app, "Kim").get(f"/reports?{PERIOD}").status_code == 403
    lead = agent_client(app, "Lead", Role.SUPERVISOR)
    assert lead.get("/reports?since=2026-11-02&until=2026-10-19").status_code == 400
    assert lead.get("/reports?since=yesterday").status_code == 400
    assert lead.get(f"/reports/conversations?metric=nothing&{PERIOD}").status_code == 400
    assert "Reports" in lead.get("/").text  # the place is in the bar
