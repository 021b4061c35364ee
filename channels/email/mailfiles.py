"""Raw messages from files on disk: .eml files, mbox files, Maildir folders, directories.

`inbox ingest` and the benchmark read mail that is not on an IMAP server through
`iter_mail_sources`, which yields `MailSource` values in a stable order; the label says
where a message came from ("a/b.eml", "box.mbox#17", "Maildir/cur/1234.host:2,S") so
that a human can find a flagged message again. A source from its own file holds only
the path, so the process that parses it also reads it (no bytes cross a pipe); mbox
messages carry their bytes. `iter_mail_files` gives `(label, raw bytes)` pairs.
Parsing is not done here.

What a path is:
* a directory with `cur/`, `new/` and `tmp/` is a Maildir: its messages in `new/` then
  `cur/`, each sorted by name, then its Maildir++ sub-folders (".Sent", ...);
* any other directory is walked recursively in sorted order (hidden entries skipped);
* a file that starts with "From " is an mbox (read with `mailbox.mbox`);
* any other file is one message.
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MailFileError", "MailSource", "count_mail_files", "iter_mail_files",
           "iter_mail_sources"]

_MAILDIR_SUBDIRS = ("cur", "new", "tmp")
_CHUNK = 1 << 20


class MailFileError(ValueError):
    """A path that should hold mail cannot be read."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple[type[MailFileError], tuple[Path, str]]:
        # Raised in parser processes too: it must survive the trip back by pickle.
        return MailFileError, (self.path, self.reason)


@dataclass(frozen=True, slots=True)
class MailSource:
    """One message: its own file (`path`), or bytes already read from an mbox (`data`)."""

    label: str
    path: Path | None = None
    data: bytes | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return _read(self.path)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in _MAILDIR_SUBDIRS)


def _is_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"From "
    except OSError as exc:
        raise MailFileError(path, _reason(exc)) from exc


def _visible(directory: Path) -> list[Path]:
    """Entries of a directory in name order, without hidden ones (.DS_Store, .git)."""
    try:
        return sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise MailFileError(directory, _reason(exc)) from exc


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MailFileError(path, _reason(exc)) from exc


_DELIVERY = re.compile(r"^(\d+)\.(?:M(\d+))?(?:P\d+)?(?:Q(\d+))?")


def _delivery_order(path: Path) -> tuple[int, int, int, str]:
    """Maildir names start with the delivery time: `1700000000.M123456P42Q7.host`.

    Sorted as text, `M99` would come after `M123456` within the same second."""
    m = _DELIVERY.match(path.name)
    if m is None:
        return (0, 0, 0, path.name)
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), path.name)


def _maildir_files(path: Path) -> Iterator[Path]:
    """Message files of a Maildir and its Maildir++ sub-folders.

    Listed directly rather than through `mailbox.Maildir`, whose keys hide the file
    names a label needs and whose order is the file system's. Messages come in delivery
    order, `cur/` and `new/` together, so that a reply is read after what it answers.
    """
    files = [p for sub in ("cur", "new") for p in _visible(path / sub) if p.is_file()]
    yield from sorted(files, key=_delivery_order)
    for folder in sorted(path.iterdir()):
        if folder.name.startswith(".") and folder.is_dir() and _is_maildir(folder):
            yield from _maildir_files(folder)


def _mbox_messages(path: Path) -> Iterator[MailSource]:
    """Messages of an mbox, numbered from 1, without their "From " envelope lines."""
    try:
        box = mailbox.mbox(path, factory=None, create=False)
        try:
            for number, key in enumerate(sorted(box.keys()), start=1):
                yield MailSource(f"{path}#{number}", data=box.get_bytes(key))
        finally:
            box.close()
    except OSError as exc:  # only the mailbox's own reads: a consumer's errors stay out
        raise MailFileError(path, _reason(exc)) from exc


def _one_path(path: Path) -> Iterator[MailSource]:
    if path.is_dir():
        if _is_maildir(path):
            yield from (MailSource(str(p), path=p)
                        for p in _maildir_files(path))
        else:
            for child in _visible(path):
                yield from _one_path(child)
    elif not path.exists():
        raise MailFileError(path, "no such file or directory")
    elif _is_mbox(path):
        yield from _mbox_messages(path)
    else:
        yield MailSource(str(path), path=path)


def iter_mail_sources(paths: Sequence[Path]) -> Iterator[MailSource]:
    """Every message under `paths`, in a stable order, not yet read (but mbox ones).

    Raises `MailFileError` for a path that does not exist or cannot be listed; a file
    that cannot be read raises it from `MailSource.read()`.
    """
    for path in paths:
        yield from _one_path(Path(path))


def iter_mail_files(paths: Sequence[Path]) -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) of every message under `paths`, in a stable order.

    Raises `MailFileError` for a path that does not exist or cannot be read.
    """
    for source in iter_mail_sources(paths):
        yield source.label, source.read()


def _count_mbox(path: Path) -> int:
    """Lines starting with "From ", as `mailbox.mbox` splits them, without parsing."""
    count, tail = 0, b"\n"  # the file's start counts as a line start
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                count += (tail + chunk).count(b"\nFrom ")
                tail = (tail + chunk)[-5:]
    except OSError as exc:
        raise MailFileError(path, _reason(exc)) from exc
    return count


def _count_path(path: Path) -> int:
    if path.is_dir():
        if _is_maildir(path):
            return sum(1 for _ in _maildir_files(path))
        return sum(_count_path(child) for child in _visible(path))
    if not path.exists():
        raise MailFileError(path, "no such file or directory")
    return _count_mbox(path) if _is_mbox(path) else 1


def count_mail_files(paths: Sequence[Path]) -> int:
    """How many messages `iter_mail_files(paths)` will yield (cheap: for a progress bar)."""
    return sum(_count_path(Path(path)) for path in paths)
