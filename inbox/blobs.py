"""Content-addressed storage for raw messages and attachments.

Blobs are named by their SHA-256, so the same attachment sent twice is stored once and a
replayed ingest rewrites nothing. A blob is written (temp file + rename) before the
transaction that refers to it commits: a crash leaves at most an unreferenced file, never
a reference to a missing one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from channels.base import Inbound


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        return digest

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()


def offload(inbound: Inbound, blobs: BlobStore, max_attachment_bytes: int) -> Inbound:
    """Put the message's raw bytes and attachments in the store; return it without them.

    Bulk imports call this in their parser processes, so hashing and writing happen in
    parallel and only a small value travels back to the process that writes the database.
    Attachments over the size limit keep their size but are not stored on their own.
    """
    attachments = tuple(
        dataclasses.replace(a, data=b"", size=len(a.data),
                            sha256=blobs.put(a.data) if len(a.data) <= max_attachment_bytes
                            else None)
        for a in inbound.attachments)
    raw_sha = blobs.put(inbound.raw) if inbound.raw is not None else inbound.raw_sha256
    return dataclasses.replace(inbound, raw=None, raw_sha256=raw_sha, attachments=attachments)
