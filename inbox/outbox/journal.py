"""Sends the channel accepted, written down before the database hears of them (SQLite).

On SQLite, recording a send waits for the database's one write lock, which an ingest
may hold for a whole batch; a daemon killed in that wait used to send the ack again.
So the dispatcher first appends one line to this journal, beside the database, with
no await between the channel's answer and the write (a write(2) of ~100 bytes: a
killed process loses nothing the kernel already has), then commits; once the commit
is done, the journal is emptied. A daemon starting on the database (the only one: it
holds the lock file, inbox.store.liveness) records what the journal still holds before it
takes over any send. The window left is the channel's own: between the server
accepting a send and its answer reaching us.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    outbox_id: int
    external_id: str | None
    at: datetime


def journal_path(database: Path) -> Path:
    return database.with_name(database.name + ".sent")


class SentJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, outbox_id: int, external_id: str | None, at: datetime) -> None:
        line = json.dumps({"id": outbox_id, "external_id": external_id,
                           "at": at.isoformat()}) + "\n"
        os.write(self.fd, line.encode())

    def clear(self) -> None:
        """Everything written is committed: forget it."""
        os.ftruncate(self.fd, 0)

    def accepted(self) -> list[Accepted]:
        """What the journal holds; a line torn by a crash is skipped (its send was not
        answered before the crash, so it is not known to be accepted)."""
        found = []
        for line in self.path.read_bytes().splitlines():
            try:
                item = json.loads(line)
                found.append(Accepted(int(item["id"]), item["external_id"],
                                      datetime.fromisoformat(item["at"])))
            except (ValueError, KeyError, TypeError):
                log.warning("send journal %s: unreadable line skipped: %r", self.path, line)
        return found

    def close(self) -> None:
        os.close(self.fd)
