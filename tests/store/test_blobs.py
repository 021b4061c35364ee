"""The blob store keeps what it was given: files of its own, checked when read.

A blob is named by its SHA-256; a file changed on disk behind our back (a bad disk, a
hand edit, a file we once shared with someone else's mailbox) is refused by name, never
served as if it were the message we stored.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from inbox.store.blobs import BlobStore, attachment_data

RAW = b"From: anna@example.com\r\nSubject: Order 1234\r\n\r\nWhere is my order?\r\n"


def test_a_blob_changed_on_disk_is_refused_with_its_name(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    digest = blobs.put(RAW)
    assert blobs.get(digest) == RAW
    blobs.path(digest).write_bytes(RAW[:20])  # truncated behind our back
    with pytest.raises(OSError, match=f"blob {digest} .* changed on disk"):
        blobs.get(digest)


def test_a_changed_attachment_is_refused_not_served(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    photo = b"\xff\xd8 a photo"
    digest = blobs.put(photo)
    blobs.path(digest).write_bytes(b"\xff\xd8 another photo")
    with pytest.raises(OSError, match=digest):
        attachment_data(blobs, digest, True, None)


def test_a_blob_sharing_its_file_with_a_mailbox_becomes_our_own(tmp_path: Path) -> None:
    """Older versions hard-linked Maildir files into the store; storing the message
    again (a re-import) gives the store its own copy, so the mailbox can change."""
    blobs = BlobStore(tmp_path / "blobs")
    source = tmp_path / "Maildir-message"
    source.write_bytes(RAW)
    digest = hashlib.sha256(RAW).hexdigest()
    blobs.path(digest).parent.mkdir(parents=True)
    os.link(source, blobs.path(digest))
    assert blobs.put(RAW) == digest
    source.write_bytes(b"rewritten by a mail client")
    assert blobs.get(digest) == RAW


def test_storing_a_blob_again_leaves_the_stored_file_alone(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    digest = blobs.put(RAW)
    before = blobs.path(digest).stat()
    assert blobs.put(RAW) == digest
    after = blobs.path(digest).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
