"""Plain text as mail clients expect it: RFC 3676 format=flowed, lines of 78 at most.

A template or an agent writes a paragraph as one long line; sent as it is, clients that
do not wrap show one endless line, and RFC 5322 asks for 78 characters. `flowed()`
breaks long lines after a space and leaves that space at the line's end (a soft break,
DelSp=no), so a client that knows format=flowed joins them back into the paragraph and
reflows it to its window, and one that does not still shows short lines. Lines the
writer ended stay ended: a short line is never joined to the next.

Breaks fall only at spaces, never inside a word or a URL: a word longer than the line
keeps a line of its own, longer than 78. Thai, Lao, Khmer and Burmese write words
without spaces between them; finding word breaks there needs a dictionary (ICU), which
we do not have, so such a run stays whole and its line may be long (the transfer
encoding still keeps every line of the mail within limits). Quoted lines (`>`) keep
their quote marks on every piece; the signature separator `-- ` is kept as it is;
lines that begin with a space, `>` or `From ` are space-stuffed (RFC 3676 4.4).

A line that begins with a direction mark (the RIGHT-TO-LEFT MARK a Persian text puts
before a line that starts with Latin letters or digits) gives the mark to each of its
pieces: a client that does not join them would otherwise lay a piece that starts with
"[#AB12]" out left to right.
"""

from __future__ import annotations

import re
from collections.abc import Callable

WIDTH = 78
# The parts a line may break between: a run of non-spaces with the spaces after it.
_PIECE = re.compile(r"[^ ]+ *| +")
_QUOTES = re.compile(r">+")
_LINE_END = re.compile(r"\r\n|\r|\n")  # as the MIME layer splits (not U+2028 and kin)
SIGNATURE = "-- "
_DIRECTION_MARKS = ("\u200f", "\u200e")  # RLM, LRM
CONTENT_PARAMS = {"format": "flowed", "delsp": "no"}


def flowed(text: str, width: int = WIDTH) -> str:
    """`text` as format=flowed lines (joined by "\\n"; the MIME layer writes CRLF)."""
    return "\n".join(out for line in _LINE_END.split(text) for out in _line(line, width))


def _line(line: str, width: int) -> list[str]:
    quotes = _QUOTES.match(line)
    marks = quotes.group() if quotes else ""
    # The one space after quote marks is stuffing, not text (RFC 3676 4.5): every piece
    # of a quoted line gets its own, so a reader's unstuffing gives back the words.
    body = line[len(marks):].removeprefix(" ") if marks else line
    if body == SIGNATURE:
        return [f"{marks} {body}" if marks else body]
    body = body.rstrip(" ")  # a space at the end would make this hard break a soft one
    if not marks:
        mark = body[0] if body.startswith(_DIRECTION_MARKS) else ""
        pieces = _pieces(body, lambda p: len(_stuffed(p)) + len(mark) <= width)
        return [_stuffed(p if n == 0 else mark + p) for n, p in enumerate(pieces)]
    room = width - len(marks) - 1
    return [f"{marks} {p}" if p else marks for p in _pieces(body, lambda p: len(p) <= room)]


def _pieces(line: str, fits: Callable[[str], bool]) -> list[str]:
    """Greedy: as many words as fit; each line but the last ends with its spaces (the
    soft break). A piece that fits on no line gets one of its own. A line is never cut
    after a bare "-- ": readers take that for the signature separator, which never
    flows."""
    lines: list[str] = []
    current = ""
    for piece in _PIECE.findall(line):
        if current and current != SIGNATURE and not fits(current + piece):
            lines.append(current)
            current = piece
        else:
            current += piece
    return [*lines, current]


def _stuffed(line: str) -> str:
    return " " + line if line.startswith((" ", ">", "From ")) else line
