"""Content-addressed storage for raw messages and attachments.

Blobs are named by their SHA-256, so the same attachment sent twice is stored once and a
replayed ingest rewrites nothing. A blob is written (temp file + rename) before the
transaction that refers to it commits: a crash leaves at most an unreferenced file, never
a reference to a missing one.

Every blob is a file of our own: never a link to a file someone else may edit (a Maildir
message truncated or rewritten later would change our copy too). Reading a blob checks
its SHA-256 and refuses one that changed on disk (`BlobCorrupted`), so what we serve is
what we stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

from channels.base import Inbound, InboundAttachment, RawParser


class BlobCorrupted(OSError):
    """A stored blob whose bytes no longer match the SHA-256 it is named by."""

    def __init__(self, digest: str, path: Path) -> None:
        super().__init__(f"blob {digest} ({path}) changed on disk: its bytes no longer "
                         f"match its SHA-256; refusing to use it")
        self.digest = digest
        self.path = path

    def __reduce__(self) -> tuple[type[BlobCorrupted], tuple[str, Path]]:
        return BlobCorrupted, (self.digest, self.path)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def put(self, data: bytes) -> str:
        """Store `data` in a file of our own; returns its SHA-256.

        The bytes written are the bytes hashed, so a blob always matches its name. A blob
        that is already there is kept, unless it shares its inode with another file (an
        older version hard-linked Maildir messages): that one is replaced by our own copy.
        """
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        try:
            if target.stat().st_nlink == 1:
                return digest
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
        # Unique per writer: parser processes and connector threads may put one blob at once.
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        return digest

    def get(self, digest: str) -> bytes:
        """The blob's bytes; `BlobCorrupted` if they no longer match its SHA-256."""
        path = self.path(digest)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobCorrupted(digest, path)
        return data


def offload(inbound: Inbound, blobs: BlobStore, max_attachment_bytes: int) -> Inbound:
    """Store what must be kept of a message's bytes; return the message without them.

    The raw message goes to the store. Attachments are hashed; their bytes are stored on
    their own only when there is no raw message to hold them (chat channels) and they
    fit the size limit. E-mail attachments are served from the raw message instead:
    writing decoded copies doubled the bytes written for attachment-heavy mail, and
    writing is the dearest part of an import (docs/benchmarks.md). Idempotent: parser
    processes call it for bulk imports, the pipeline for everything else.
    """
    raw_sha = blobs.put(inbound.raw) if inbound.raw is not None else inbound.raw_sha256
    attachments = tuple(_offload_attachment(a, blobs, raw_sha is None, max_attachment_bytes)
                        for a in inbound.attachments)
    return dataclasses.replace(inbound, raw=None, raw_sha256=raw_sha, attachments=attachments)


def _offload_attachment(a: InboundAttachment, blobs: BlobStore, no_raw: bool,
                        limit: int) -> InboundAttachment:
    if a.sha256 is not None:
        return a
    if no_raw and len(a.data) <= limit:
        return dataclasses.replace(a, data=b"", size=len(a.data), sha256=blobs.put(a.data),
                                   stored=True)
    digest = hashlib.sha256(a.data).hexdigest()
    return dataclasses.replace(a, data=b"", size=len(a.data), sha256=digest)


def attachment_data(blobs: BlobStore, sha256: str, stored: bool, raw_sha256: str | None,
                    parse: RawParser | None = None) -> bytes | None:
    """The bytes of an attachment: from the store, or found again in its raw message by
    the channel's parser (only e-mail keeps attachments inside the raw message)."""
    if stored:
        return blobs.get(sha256)
    if raw_sha256 is None or parse is None:
        return None
    parsed = parse(blobs.get(raw_sha256), "", datetime.now(UTC))
    return next((a.data for a in parsed.attachments
                 if hashlib.sha256(a.data).hexdigest() == sha256), None)
