"""The API against its own OpenAPI document, property-based (schemathesis): every
operation called with what the document allows, over real HTTP against a real `inbox
run` on each database, as an admin (who may call all of them). No answer is a server
error, and each has a status, a content type and a body the document says it may."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.schemas import BaseSchema

from tests.peers import WAIT
from tests.web.conftest import DeskProcess
from tests.web.test_api import token_for


@pytest.fixture
def api_schema(desk: DeskProcess) -> BaseSchema:
    document = httpx.get(f"{desk.url}/api/v1/openapi.json", timeout=WAIT).json()
    assert document["servers"] == [{"url": "/api/v1"}]
    del document["paths"]["/events"]  # never ends by itself: test_api.py reads it
    return schemathesis.openapi.from_dict(document)


@pytest.fixture(scope="module")
def admin(desk: DeskProcess) -> str:
    return token_for(desk, role="admin")[1]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_keeps_to_the_document(case: Any, desk: DeskProcess,
                                            admin: str) -> None:
    # Ids and cursors are opaque: a conversation id or a cursor the document allows may
    # name nothing, and 404 or 422 is then the right answer, not a refusal of valid data.
    case.call_and_validate(base_url=f"{desk.url}/api/v1",
                           headers={"Authorization": f"Bearer {admin}"},
                           excluded_checks=[positive_data_acceptance])


def test_the_docs_page_lists_every_operation(desk: DeskProcess) -> None:
    document = httpx.get(f"{desk.url}/api/v1/openapi.json", timeout=WAIT).json()
    page = httpx.get(f"{desk.url}/api/docs", timeout=WAIT)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for path, item in document["paths"].items():
        for method in set(item) - {"parameters"}:
            assert f"<code>{method.upper()}</code></td><td><code>/api/v1{path}" in page.text
