"""Text on an agent's terminal: measured in cells, cut whole, isolated by direction.

Agents read Thai, Persian, Vietnamese, Polish, Tagalog and English side by side, so a
column is as wide as its text *looks*, not as many code points as it holds: a Thai
vowel or tone mark and a Vietnamese stacked diacritic take no cell, a CJK character two
(`wcwidth`, the measure terminals themselves follow). Text is cut between grapheme
clusters, never between a letter and its marks, and a cut ends in an ellipsis. Every cell
that holds what a customer (or an agent) typed is a bidi isolate (U+2068 FIRST STRONG
ISOLATE ... U+2069 POP DIRECTIONAL ISOLATE): a Persian name next to a Persian subject
cannot merge into one right-to-left run that swaps the columns. Padding stays outside
the isolate, so it lines up under the header whatever the text's direction.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from wcwidth import iter_graphemes, wcswidth

from inbox.desk.words import clean, isolate  # shared with the web desk

ELLIPSIS = "…"
GAP = "  "


def cells(text: str) -> int:
    """How many terminal cells `text` (already `clean`) takes."""
    return max(wcswidth(text), 0)


def fit(text: str, width: int) -> str:
    """`text` cut to at most `width` cells between grapheme clusters, ending in "…"."""
    if cells(text) <= width:
        return text
    if width <= 0:
        return ""
    kept, used = [], 0
    for cluster in iter_graphemes(text):
        size = cells(cluster)
        if used + size > width - cells(ELLIPSIS):
            break
        kept.append(cluster)
        used += size
    return "".join(kept) + ELLIPSIS


def terminal_width(asked: int | None = None, stream: TextIO | None = None,
                   env: Mapping[str, str] = os.environ) -> int | None:
    """The cells a line may take: `asked` (0: no limit), else $COLUMNS, else the terminal's
    width when `stream` is one; piped output (no $COLUMNS) is not cut, so grep sees all."""
    if asked is not None:
        return asked or None
    stream = stream or sys.stdout
    if env.get("COLUMNS", "").strip().isdigit() or stream.isatty():
        return shutil.get_terminal_size().columns  # $COLUMNS first, then the tty's size
    return None


@dataclass(frozen=True)
class Column:
    title: str
    right: bool = False  # numbers and durations line up on the right
    isolate: bool = False  # free text someone typed: a bidi isolate of its own
    most: int | None = None  # cells at most, terminal or not
    least: int = 1  # what it keeps when the terminal is narrow
    rest: bool = False  # takes the room the other columns leave


def table(columns: Sequence[Column], rows: Sequence[Sequence[str]],
          width: int | None) -> list[str]:
    """A header and one line per row; no line wider than `width` cells (None: no limit)."""
    texts = [[clean(value) for value in row] for row in rows]
    widths = _widths(columns, texts, width)
    header = _line(columns, [c.title for c in columns], widths, width, isolated=False)
    return [header] + [_line(columns, row, widths, width) for row in texts]


def _widths(columns: Sequence[Column], texts: list[list[str]], width: int | None) -> list[int]:
    natural = [max([cells(c.title), *(cells(row[i]) for row in texts)])
               for i, c in enumerate(columns)]
    widths = [min(n, c.most) if c.most else n for n, c in zip(natural, columns, strict=True)]
    if width is None:
        return widths
    # The `rest` column takes what is left; when that is less than it needs, the columns
    # with a `most` give up cells down to their `least`, the rightmost first.
    flexible = [i for i, c in enumerate(columns) if c.rest]
    fixed = sum(w for i, w in enumerate(widths) if i not in flexible)
    room = width - fixed - len(GAP) * (len(columns) - 1)
    for i in flexible:
        for j in reversed(range(len(columns))):
            short = columns[i].least - room
            if short > 0 and columns[j].most and not columns[j].rest:
                give = max(min(short, widths[j] - columns[j].least), 0)
                widths[j] -= give
                room += give
        widths[i] = max(min(natural[i], room), 0)
    return widths


def _line(columns: Sequence[Column], values: Sequence[str], widths: list[int],
          width: int | None, *, isolated: bool = True) -> str:
    out, used = [], 0
    last = len(columns) - 1
    for i, (column, value) in enumerate(zip(columns, values, strict=True)):
        room = widths[i] if width is None else min(widths[i], width - used)
        if room <= 0:
            break  # a terminal narrower than the fixed columns: the right ones go
        text = fit(value, room)
        pad = " " * (room - cells(text))
        shown = isolate(text) if isolated and column.isolate else text
        cell = pad + shown if column.right else shown + ("" if i == last else pad)
        out.append(cell)
        used += room + len(GAP)
    return GAP.join(out).rstrip(" ")
