"""Content-addressed storage for raw messages and attachments.

Blobs are named by their SHA-256, so the same attachment sent twice is stored once and a
replayed ingest rewrites nothing. A blob is written (temp file + rename) before the
transaction that refers to it commits: a crash leaves at most an unreferenced file, never
a reference to a missing one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


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
