"""The API's OpenAPI 3.1 document, served at /api/v1/openapi.json (docs/api.md).

Written out here rather than inferred: the shapes are the read models' (inbox.desk.views,
docs/cli-json.md) and the error families' (inbox.web.api `_ERRORS`), and
tests/web/test_api_schema.py has schemathesis call every operation with what this
document allows and check each answer against it, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from inbox.core.vocab import ID_MAX, Role, Status

JSON = dict[str, Any]


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: JSON, description: str) -> JSON:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, JSON]:
    words = {401: "no token, or one that does not work", 403: "the agent's role may not",
             405: "the path does not take this method (Allow says which)",
             404: "no such thing, or one the agent may not see", 409: "a conflict",
             422: "the request cannot be done as asked", 503: "the database is away"}
    # 422 on every path: a query parameter the path does not take is refused
    return {str(c): _json(_ref("Error"), words[c])
            for c in sorted({401, *codes, 405, 422, 503})}


def _body(schema: JSON) -> JSON:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _id(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 0, "maximum": ID_MAX}}


def _name(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}


def _query(name: str, schema: JSON) -> JSON:
    return {"name": name, "in": "query", "required": False, "schema": schema}


_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
_NAMES = {"type": "array", "items": {"type": "string"}}
_OPEN: JSON = {"type": "object", "additionalProperties": True}
_IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "maxLength": 255, "pattern": "^[!-~]+$"}}
_FLAG = {"type": "string", "enum": ["0", "1", "true", "false"]}
_EVENTS = {"type": "array", "minItems": 1, "items": {"enum": [
    "conversation.created", "message.created", "conversation.updated", "sla.at_risk",
    "sla.breached", "csat.answered"]}}


def _schemas() -> JSON:
    conversation = {**_OPEN, "required": ["id", "status", "channel", "contact"],
                    "properties": {"id": {"type": "integer"},
                                   "status": {"enum": [s.value for s in Status]},
                                   "channel": {"type": "string"},
                                   "contact": {**_OPEN, "required": ["id"]}}}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "meanwhile": {"type": "array", "items": _OPEN}}}}},
        "Conversation": conversation,
        "QueuePage": {"type": "object", "required": ["conversations", "next_cursor"],
                      "properties": {"conversations": {"type": "array", "items": conversation},
                                     "next_cursor": {"type": ["string", "null"]}}},
        "ConversationChange": {"type": "object", "additionalProperties": False,
                               "properties": {
                                   "status": {"enum": [s.value for s in Status]},
                                   "snoozed_until": {"type": ["string", "null"],
                                                     "format": "date-time"},
                                   "assignee": {"type": ["string", "null"]},
                                   "team": {"type": ["string", "null"]},
                                   "language": {"type": "string"}}},
        "Reply": {"type": "object", "required": ["text"], "properties": {
            "text": _TEXT, "cc": {"type": "array", "items": {"type": "string"}},
            "seen_up_to": {"type": "integer", "minimum": 0, "maximum": ID_MAX}}},
        "Note": {"type": "object", "required": ["text"], "properties": {"text": _TEXT}},
        "Queued": {**_OPEN, "required": ["conversation_id", "message_id"]},
        "Contact": {**_OPEN, "required": ["id", "identities", "conversations"]},
        "Agent": {**_OPEN, "required": ["name", "role", "enabled", "teams"]},
        "NewAgent": {"type": "object", "required": ["email", "name"], "properties": {
            "email": {"type": "string"}, "name": {"type": "string"},
            "role": {"enum": [r.value for r in Role]}, "teams": _NAMES}},
        "AgentChange": {"type": "object", "additionalProperties": False, "properties": {
            "enabled": {"type": "boolean"}, "language": {"type": ["string", "null"]}}},
        "Team": {**_OPEN, "required": ["name", "agents"]},
        "NewTeam": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "agents": _NAMES}},
        "TeamChange": {"type": "object", "properties": {"add": _NAMES, "remove": _NAMES}},
        "CannedAnswer": {**_OPEN, "required": ["id", "name", "body"]},
        "NewCannedAnswer": {"type": "object", "required": ["name", "body"], "properties": {
            "name": {"type": "string"}, "team": {"type": ["string", "null"]},
            "language": {"type": ["string", "null"]}, "body": {"type": "string"}}},
        "CannedChange": {"type": "object", "properties": {
            "name": {"type": "string"}, "team": {"type": ["string", "null"]},
            "language": {"type": ["string", "null"]}, "body": {"type": "string"}}},
        "Send": {**_OPEN, "required": ["id", "state", "attempts"]},
        "Inbound": {"type": "object", "required": ["source", "id", "from", "text"],
                    "properties": {
                        "source": {"type": "string"},
                        "id": {"type": "string", "minLength": 1, "maxLength": 255},
                        "from": {"type": "object", "required": ["email"], "properties": {
                            "email": {"type": "string", "format": "email"},
                            "name": {"type": "string"}}},
                        "text": _TEXT, "subject": {"type": "string", "minLength": 1},
                        "thread": {"type": "string", "minLength": 1, "maxLength": 255},
                        "language": {"type": "string", "minLength": 1, "maxLength": 16},
                        "attributes": {"type": "object",
                                       "additionalProperties": {"type": "string"}},
                        "acknowledge": {"type": "boolean"}}},
        "Accepted": {**_OPEN, "required": ["outcome", "conversation_id", "message_id"]},
        "Webhook": {**_OPEN, "required": ["id", "name", "url", "events", "enabled"]},
        "NewWebhook": {"type": "object", "required": ["name", "url", "events"],
                       "properties": {"name": {"type": "string"},
                                      "url": {"type": "string", "format": "uri"},
                                      "events": _EVENTS}},
        "WebhookChange": {"type": "object", "additionalProperties": False, "properties": {
            "url": {"type": "string", "format": "uri"}, "events": _EVENTS,
            "enabled": {"type": "boolean"}, "rotate_secret": {"type": "boolean"}}},
        "Delivery": {**_OPEN, "required": ["id", "state", "attempts", "event", "event_id"]},
    }


def _list(key: str, item: str) -> JSON:
    return {"type": "object", "required": [key],
            "properties": {key: {"type": "array", "items": _ref(item)}}}


def _paths() -> JSON:
    cid, ok = _id("cid"), "200"
    queue_params = [
        _query("status", {"type": "array", "items": {
            "enum": [*(s.value for s in Status), "all"]}}),
        *(_query(k, {"type": "string"}) for k in ("team", "assignee", "channel", "tag",
                                                   "language")),
        *(_query(k, _FLAG) for k in ("mine", "unassigned", "automated", "escalated")),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
        _query("cursor", {"type": "string"})]
    return {
        "/conversations": {"get": {
            "summary": "The queue, most urgent first, a page at a time",
            "parameters": queue_params,
            "responses": {ok: _json(_ref("QueuePage"), "a page"), **_errors(422)}}},
        "/conversations/{cid}": {
            "parameters": [cid],
            "get": {"summary": "A conversation with its messages and events",
                    "responses": {ok: _json(_ref("Conversation"), "it"), **_errors(404)}},
            "patch": {"summary": "Status, assignee, team, language",
                      "requestBody": _body(_ref("ConversationChange")),
                      "responses": {ok: _json(_ref("Conversation"), "as after"),
                                    **_errors(403, 404, 409, 422)}}},
        "/conversations/{cid}/replies": {"parameters": [cid], "post": {
            "summary": "Queue a reply on the customer's channel",
            "parameters": [_IDEMPOTENCY], "requestBody": _body(_ref("Reply")),
            "responses": {"201": _json(_ref("Queued"), "queued"),
                          **_errors(403, 404, 409, 422)}}},
        "/conversations/{cid}/notes": {"parameters": [cid], "post": {
            "summary": "An internal note", "parameters": [_IDEMPOTENCY],
            "requestBody": _body(_ref("Note")),
            "responses": {"201": _json(_ref("Queued"), "written"),
                          **_errors(403, 404, 409, 422)}}},
        "/events": {"get": {
            "summary": "Server-sent events of new messages and events (Last-Event-ID)",
            "parameters": [_query("after", {"type": "string"})],
            "responses": {ok: {"description": "the stream", "content": {
                "text/event-stream": {"schema": {"type": "string"}}}}, **_errors(422)}}},
        "/contacts/{contact}/merge": {"parameters": [_id("contact")], "post": {
            "summary": "Merge another contact into this one (supervisors)",
            "requestBody": _body({"type": "object", "required": ["from"], "properties": {
                "from": {"type": "integer", "minimum": 0, "maximum": ID_MAX}}}),
            "responses": {ok: _json(_ref("Contact"), "as after, with `merged`"),
                          **_errors(403, 404, 422)}}},
        "/inbound": {"post": {
            "summary": "A customer's message from another system ([channels.api.<source>])",
            "requestBody": _body(_ref("Inbound")),
            "responses": {"201": _json(_ref("Accepted"), "taken in"),
                          ok: _json(_ref("Accepted"), "this id came before: nothing done"),
                          **_errors(422)}}},
        "/contacts/{contact}": {"parameters": [_id("contact")], "get": {
            "summary": "A contact, its identities and visible conversations",
            "responses": {ok: _json(_ref("Contact"), "them"), **_errors(404)}}},
        "/agents": {
            "get": {"summary": "Agents", "responses": {
                ok: _json(_list("agents", "Agent"), "all"), **_errors()}},
            "post": {"summary": "Add an agent (admins)", "requestBody": _body(_ref("NewAgent")),
                     "responses": {"201": _json(_ref("Agent"), "added"),
                                   **_errors(403, 404, 409, 422)}}},
        "/agents/{who}": {
            "parameters": [_name("who")],
            "patch": {"summary": "Enable, disable, language (admins)",
                      "requestBody": _body(_ref("AgentChange")),
                      "responses": {ok: _json(_ref("Agent"), "as after"),
                                    **_errors(403, 404, 422)}},
            "delete": {"summary": "Disable (admins)", "responses": {
                "204": {"description": "disabled"}, **_errors(403, 404)}}},
        "/teams": {
            "get": {"summary": "Teams", "responses": {
                ok: _json(_list("teams", "Team"), "all"), **_errors()}},
            "post": {"summary": "Add a team (admins)", "requestBody": _body(_ref("NewTeam")),
                     "responses": {"201": _json(_ref("Team"), "added"),
                                   **_errors(403, 404, 409, 422)}}},
        "/teams/{team}": {"parameters": [_name("team")], "patch": {
            "summary": "Add or remove members (admins)", "requestBody": _body(_ref("TeamChange")),
            "responses": {ok: _json(_ref("Team"), "as after"), **_errors(403, 404, 422)}}},
        "/canned-answers": {
            "get": {"summary": "Canned answers", "parameters": [
                _query("team", {"type": "string"})],
                "responses": {ok: _json(_list("canned_answers", "CannedAnswer"), "all"),
                              **_errors()}},
            "post": {"summary": "Add one (admins)",
                     "requestBody": _body(_ref("NewCannedAnswer")),
                     "responses": {"201": _json(_ref("CannedAnswer"), "added"),
                                   **_errors(403, 404, 409, 422)}}},
        "/canned-answers/{aid}": {
            "parameters": [_id("aid")],
            "get": {"summary": "One", "responses": {
                ok: _json(_ref("CannedAnswer"), "it"), **_errors(404)}},
            "patch": {"summary": "Change one (admins)",
                      "requestBody": _body(_ref("CannedChange")),
                      "responses": {ok: _json(_ref("CannedAnswer"), "as after"),
                                    **_errors(403, 404, 409, 422)}},
            "delete": {"summary": "Remove one (admins)", "responses": {
                "204": {"description": "removed"}, **_errors(403, 404)}}},
        "/outbox": {"get": {
            "summary": "Sends by state (admins)", "parameters": [
                _query("state", {"type": "array", "items": {"enum": [
                    "pending", "failed", "sending", "sent", "dead", "all"]}}),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})],
            "responses": {ok: _json(_list("sends", "Send"), "them"), **_errors(403, 422)}}},
        "/outbox/{oid}/retry": {"parameters": [_id("oid")], "post": {
            "summary": "Send a dead send again (admins)",
            "responses": {ok: _json(_ref("Send"), "pending again"),
                          **_errors(403, 404, 409)}}},
        "/webhooks": {
            "get": {"summary": "Webhooks (admins)", "responses": {
                ok: _json(_list("webhooks", "Webhook"), "all"), **_errors(403)}},
            "post": {"summary": "Register one (admins); its secret is in this answer only",
                     "requestBody": _body(_ref("NewWebhook")),
                     "responses": {"201": _json(_ref("Webhook"), "registered"),
                                   **_errors(403, 409, 422)}}},
        "/webhooks/{hid}": {
            "parameters": [_id("hid")],
            "get": {"summary": "One (admins)", "responses": {
                ok: _json(_ref("Webhook"), "it"), **_errors(403, 404)}},
            "patch": {"summary": "URL, events, enabled, a new secret (admins)",
                      "requestBody": _body(_ref("WebhookChange")),
                      "responses": {ok: _json(_ref("Webhook"), "as after"),
                                    **_errors(403, 404, 422)}},
            "delete": {"summary": "Remove one; its waiting deliveries are dropped (admins)",
                       "responses": {"204": {"description": "removed"},
                                     **_errors(403, 404)}}},
        "/webhooks/{hid}/deliveries": {"parameters": [_id("hid")], "get": {
            "summary": "Its latest deliveries and the receiver's answers (admins)",
            "parameters": [_query("limit", {"type": "integer", "minimum": 1,
                                            "maximum": 1000})],
            "responses": {ok: _json(_list("deliveries", "Delivery"), "them"),
                          **_errors(403, 404, 422)}}},
        **{f"/export/{kind}": {"get": _export(kind)} for kind in ("conversations", "messages")},
    }


def _export(kind: str) -> JSON:
    """A period's rows as a download (docs/export.md): CSV or JSON lines."""
    moment = {"type": "string", "format": "date-time"}
    text = {"type": "string"}
    return {
        "summary": f"A period's {kind} as CSV or JSON lines, streamed (supervisors)",
        "parameters": [
            {"name": "since", "in": "query", "required": True, "schema": moment},
            _query("until", moment), _query("team", text), _query("channel", text),
            _query("format", {"enum": ["csv", "jsonl"]})],
        "responses": {"200": {"description": "the rows, one per line after CSV's header",
                              "content": {"text/csv": {"schema": text},
                                          "application/x-ndjson": {"schema": text}}},
                      **_errors(403, 422)}}


def document(server: str = "/api/v1") -> JSON:
    return {"openapi": "3.1.0",
            "info": {"title": "inbox API", "version": "1",
                     "description": "What an agent does in the desk, over HTTP (docs/api.md)."},
            "servers": [{"url": server}],
            "security": [{"bearer": []}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                           "schemas": _schemas()},
            "paths": _paths()}
