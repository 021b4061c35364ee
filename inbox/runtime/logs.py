"""The daemon's log: set up in one place, readable text or one JSON object per line.

`setup()` is called once by `inbox run`. Lines that concern one message carry their facts
as record attributes (`extra=`: `event`, `channel`, `account`, `conversation`,
`external_id`, ...): the text format says them in the sentence, the JSON format gives
them as fields, so a log shipper can filter on them (docs/logging.md).

`ingested()` writes the per-message lines from the pipeline's results; the daemon calls
it after the batch committed, so a batch that was rolled back never logs "received".
Nothing a customer wrote (subject, text) is logged at INFO or above.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inbox.ingest.work import Result

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName"}

log = logging.getLogger("inbox.ingest")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, the
    record's `extra=` fields, and a traceback as one string when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name,
            "message": record.getMessage()}
        data.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # already scrubbed of secrets when the record was made
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup(level: str, fmt: str) -> None:
    """Log to stderr at `level` in `fmt` ("text" or "json"); journald or a terminal reads it."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: choose one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    # basicConfig leaves a program that embeds us (or pytest) with its own handlers.
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("alembic").setLevel(logging.WARNING)


def ingested(results: Iterable[Result], reference: Callable[[int], str]) -> None:
    """One line per message received and one per acknowledgement queued or suppressed
    (with the pipeline's reason); a duplicate only at DEBUG. `reference` makes a
    conversation's public reference, as `inbox show` prints it."""
    if not log.isEnabledFor(logging.WARNING):
        return
    for r in results:
        conv = reference(r.conversation_id) if r.conversation_id is not None else None
        facts = {"channel": r.channel, "account": r.account, "external_id": r.external_id,
                 "conversation": conv, "conversation_id": r.conversation_id}
        where = f"{r.channel}/{r.account} <{r.external_id}>"
        if r.outcome == "duplicate":
            log.debug("duplicate skipped: %s, already in %s", where, conv,
                      extra={"event": "duplicate", **facts})
            continue
        _received(r, where, facts)
        if r.acked:
            log.info("ack queued: %s in %s", where, conv, extra={"event": "ack.queued", **facts})
        elif r.ack_suppressed:
            log.info("ack suppressed: %s in %s: %s", where, conv, r.ack_suppressed,
                     extra={"event": "ack.suppressed", **facts, "reason": r.ack_suppressed})


def _received(r: Result, where: str, facts: dict[str, Any]) -> None:
    """The "received" line: INFO, or WARNING with the problems when it was flagged."""
    extra = {"event": "received", **facts, "outcome": r.outcome,
             "new_conversation": r.new_conversation, "team": r.team, "assignee": r.assignee}
    routed = "".join(f", {k} {v}" for k, v in (("team", r.team), ("assignee", r.assignee))
                     if v)
    what = {"edited": "an edit of a stored message, ",
            "deleted": "its author deleted a stored message, "}.get(r.outcome, "")
    said = (f"received {where}: {what}{'new' if r.new_conversation else 'in'} conversation "
            f"{facts['conversation']}{routed}")
    if r.outcome == "quarantined" or r.problems:
        flag = "quarantined" if r.outcome == "quarantined" else "flagged"
        log.warning("%s, %s: %s", said, flag, "; ".join(r.problems),
                    extra={**extra, "problems": list(r.problems)})
    else:
        log.info("%s", said, extra=extra)
