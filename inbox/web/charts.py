"""Charts for the report pages, drawn on the server as inline SVG (issue #18).

Managers would rather look than read, and every figure must lead to the conversations
behind it: each bar segment and each point is an `<a href>` around its shape, with a
`<title>` (the browser's tooltip) that says the figure in words. No chart library runs in
the browser: the CSP allows scripts from the desk only, and a chart drawn here is one
more piece of markup a test can read.

Colours, lines and fonts come from classes (`s0`..`s7` for the series) styled in
static/charts.css, never from `style=`: the CSP (`style-src 'self'`) refuses inline
styles. Geometry is in viewBox units, WIDTH wide; the stylesheet sets the element's
width, so a chart fills its column and scales with it.

The server cannot measure text. Widths are estimated per character, generously (the
advances of DejaVu Sans, a wide fallback of the desk's fonts; a Thai or Vietnamese mark
takes none, a CJK letter two cells), and text that would not fit is cut between
grapheme clusters, never between a letter and its marks, ending in "…"; the tooltip
keeps the whole text. The viewBox clips what an estimate still gets wrong. SVG text has
no `dir="auto"`, so each text element says its direction, taken from its first strong
character as `dir="auto"` would, and its `text-anchor` is chosen so that it lines up on
the intended side either way.

Output is deterministic: the same figures give the same bytes.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from wcwidth import iter_graphemes, wcwidth

from inbox.desk.words import clean, free

Format = Callable[[float], str]
Ticks = Callable[[float], Sequence[float]]
Align = Literal["left", "right", "middle"]

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH = 600  # the viewBox's width; the page decides how wide that is on screen
# Advances at the labels' 12px, measured in chromium with DejaVu Sans and rounded up:
# lowercase Latin, Vietnamese, Persian 5.8-6.5; capitals and digits 7.7; Thai 7.3.
NARROW, BROAD, THAI, WIDE = 6.8, 7.8, 7.5, 12.0
TITLE = 1.3  # the title's 14px bold against 12px
PAD = 8
ROW = 26  # one horizontal bar's row
COLOURS = 8  # s0..s7 in charts.css; a ninth series reuses s0's colour
ELLIPSIS = "…"
NO_DATA = "—"
LINKABLE = frozenset({"", "http", "https"})


@dataclass(frozen=True)
class Series:
    """One named series over the chart's categories: `values[i]` belongs to `labels[i]`,
    None where there is no data; `hrefs[i]` opens the conversations behind it."""

    name: str
    values: Sequence[float | None]
    hrefs: Sequence[str | None]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.hrefs):
            raise ValueError(f"series {self.name!r}: {len(self.values)} values, "
                             f"{len(self.hrefs)} hrefs")


@dataclass(frozen=True)
class Bar:
    """One row of a horizontal bar chart; `note` is said after the value (e.g. "12
    conversations", what a median was taken over)."""

    label: str
    value: float | None
    href: str | None
    note: str = ""


@dataclass(frozen=True)
class Cell:
    value: float | None
    href: str | None
    text: str  # the value as the chart says it, NO_DATA for None


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[Cell, ...]  # one per series, in the series' order


@dataclass(frozen=True)
class Table:
    """A chart's figures as a table, for the page to show under it: one row per label,
    one column per series (`names`)."""

    names: tuple[str, ...]
    rows: tuple[Row, ...]


def number(value: float) -> str:
    """The default formatter: 12, 12.5, 0.25 (at most two decimals, none trailing)."""
    return _coord(value)


def nice_ticks(max_value: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Ticks from 0 up to the first round number at or above `max_value`, in at most
    `count` equal steps of 1, 2 or 5 times a power of ten (0, 20, 40 ... 100 for 87);
    `whole` keeps steps at 1 or more, for counts. [0, 1] when there is nothing to show."""
    if not math.isfinite(max_value) or max_value <= 0:
        return [0.0, 1.0]
    count = max(count, 1)
    magnitude = 10.0 ** math.floor(math.log10(max_value / count))
    step = next((m * magnitude for m in (1, 2, 5) if m * magnitude * count >= max_value),
                10 * magnitude)
    if whole:
        step = max(step, 1.0)
    steps = math.ceil(max_value / step - 1e-9)  # 100 / 20 must be 5 steps, not 6
    digits = max(0, -math.floor(math.log10(step)))  # 0.1 * 3 shows as 0.3
    return [round(i * step, digits) for i in range(steps + 1)]


def text_direction(text: str) -> Literal["ltr", "rtl"]:
    """What `dir="auto"` would choose: the direction of the first strong character."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


def columns(series: Sequence[Series], labels: Sequence[str], *, title: str,
            unit: str = "", stacked: bool = True, height: int = 220,
            format: Format = number, ticks: Ticks | None = None) -> Markup:
    """Vertical bars over the categories `labels`; several series stacked (or side by side
    when not `stacked`). `height` is the plot's, in viewBox units; the title, legend and
    labels add their own. A None value or a zero draws nothing to click."""
    _check(series, labels)
    say = _sayer(format, unit)
    values = [[_finite(v) for v in s.values] for s in series]
    top = max((_sum(col) if stacked else max((v for v in col if v is not None), default=0.0)
               for col in _by_label(values, len(labels))), default=0.0)
    head, below = _header(title, [s.name for s in series])
    plot = _plot(below, height, len(labels), _ticks(ticks, top, values), format)
    shape = _stacks if stacked else _groups
    body = [_y_axis(plot, format), _x_labels(plot, labels),
            *shape(plot, series, values, labels, say), _baseline(plot)]
    if stacked and len(series) > 1:
        body.append(_totals(plot, [_sum(col) for col in _by_label(values, len(labels))],
                            format))
    desc = _describe(series, values, labels, say, total=stacked)
    return _svg(title, desc, plot.bottom + 24, [head, *body])


def lines(series: Sequence[Series], labels: Sequence[str], *, title: str, unit: str = "",
          y_max: float | None = None, percent: bool = False, height: int = 220,
          format: Format = number, ticks: Ticks | None = None) -> Markup:
    """A line per series over the categories (weeks, days); each point a dot that links to
    its conversations. None breaks the line. `percent`: values are 0-100, the scale runs
    to 100 and figures end in "%". `y_max`: the scale reaches at least this far."""
    _check(series, labels)
    if percent:
        unit = unit or "%"
        y_max = 100.0 if y_max is None else y_max
    say = _sayer(format, unit)
    values = [[_finite(v) for v in s.values] for s in series]
    top = max([y_max or 0.0, *(v for col in values for v in col if v is not None)])
    tick_words = _sayer(format, "%") if percent else format
    head, below = _header(title, [s.name for s in series])
    plot = _plot(below, height, len(labels), _ticks(ticks, top, values), tick_words)
    body = [_y_axis(plot, tick_words), _x_labels(plot, labels),
            _baseline(plot), *(_path(plot, k, col) for k, col in enumerate(values)),
            *_dots(plot, series, values, labels, say)]
    desc = _describe(series, values, labels, say, total=False)
    return _svg(title, desc, plot.bottom + 24, [head, *body])


def bars(rows: Sequence[Bar], *, title: str, unit: str = "",
         format: Format = number) -> Markup:
    """Horizontal bars for a breakdown (median first response by agent): the label at the
    start, the value (and note) at the bar's end; a whole row is the link."""
    say = _sayer(format, unit)
    head, below = _header(title, [])
    values = [_finite(r.value) for r in rows]
    words = [_value_words(say, v, r.note) for r, v in zip(rows, values, strict=True)]
    label_room = min(max((_width(clean(r.label)) for r in rows), default=0.0), WIDTH * 0.32)
    word_room = min(max((_width(w) for w in words), default=0.0), WIDTH * 0.3)
    start = label_room + 2 * PAD
    room = WIDTH - start - word_room - PAD
    scale = room / max((v for v in values if v is not None and v > 0), default=1.0)
    at = _Columns(start, scale, label_room)
    body = [_bar_row(below + PAD + i * ROW, row, value, say, at)
            for i, (row, value) in enumerate(zip(rows, values, strict=True))]
    desc = _describe_bars(rows, values, say)
    return _svg(title, desc, below + PAD + len(rows) * ROW + PAD, [head, *body])


def table_of(series: Sequence[Series], labels: Sequence[str], *, unit: str = "",
             format: Format = number) -> Table:
    """The figures of `columns` or `lines` as a table, for the page to show under the
    chart (a screen reader's way in, and anyone's who wants the exact numbers)."""
    _check(series, labels)
    say = _sayer(format, unit)
    rows = []
    for i, label in enumerate(labels):
        cells = []
        for s in series:
            value = _finite(s.values[i])
            cells.append(Cell(value, _href(s.hrefs[i]),
                              NO_DATA if value is None else say(value)))
        rows.append(Row(label, tuple(cells)))
    return Table(tuple(s.name for s in series), tuple(rows))


# -- the plot area of columns and lines --------------------------------------------------

@dataclass(frozen=True)
class _Plot:
    left: float
    top: float
    height: float
    ticks: Sequence[float]
    count: int  # categories

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def slot(self) -> float:
        return (WIDTH - self.left) / max(self.count, 1)

    def x(self, i: int) -> float:
        """The middle of category i."""
        return self.left + self.slot * (i + 0.5)

    def h(self, value: float) -> float:
        """How tall `value` stands; negative values (a clock's skew) stand at zero, and
        the tooltip still says them."""
        return min(max(value, 0.0) / self.ticks[-1], 1.0) * self.height

    def y(self, value: float) -> float:
        return self.bottom - self.h(value)


def _plot(top: float, height: int, count: int, ticks: Sequence[float],
          format: Format) -> _Plot:
    """Room on the left for the widest tick label."""
    widest = max(_width(format(t)) for t in ticks)
    return _Plot(left=widest + 1.5 * PAD, top=top + PAD, height=float(height),
                 ticks=ticks, count=count)


def _ticks(ticks: Ticks | None, top: float, values: list[list[float | None]]) -> list[float]:
    """The caller's ticks, or round ones; steps of at least 1 when every value is whole
    (half a conversation is not a thing)."""
    if ticks is not None:
        chosen = [float(t) for t in ticks(top)]
        return chosen if len(chosen) > 1 and chosen[-1] > 0 else [0.0, 1.0]
    whole = all(v.is_integer() for col in values for v in col if v is not None)
    return nice_ticks(top, whole=whole)


def _y_axis(plot: _Plot, format: Format) -> Markup:
    """Tick labels and grid lines; the zero line is drawn last (`_baseline`), over the
    bars' paper-coloured edges."""
    parts = []
    for t in plot.ticks:
        y = plot.y(t)
        if t != 0:
            parts.append(_tag("line", {"class": "grid", "x1": plot.left, "x2": WIDTH,
                                       "y1": y, "y2": y}))
        parts.append(_text(plot.left - PAD, y + 4, format(t), cls="tick", align="right"))
    return _tag("g", {"class": "y-axis"}, *parts)


def _baseline(plot: _Plot) -> Markup:
    return _tag("line", {"class": "axis", "x1": plot.left, "x2": WIDTH, "y1": plot.bottom,
                         "y2": plot.bottom})


def _x_labels(plot: _Plot, labels: Sequence[str]) -> Markup:
    """Every label when they fit, else every n-th (a month of days), each cut to fit."""
    widest = max((_width(clean(label)) for label in labels), default=0.0)
    room = min(widest, max(10 * NARROW, plot.slot - PAD))
    step = max(1, math.ceil((room + PAD) / plot.slot))
    shown = [_text(plot.x(i), plot.bottom + 16, label, cls="label", align="middle",
                   room=room)
             for i, label in enumerate(labels) if i % step == 0]
    return _tag("g", {"class": "x-axis"}, *shown)


def _stacks(plot: _Plot, series: Sequence[Series], values: list[list[float | None]],
            labels: Sequence[str], say: Format) -> list[Markup]:
    width = min(plot.slot * 0.72, 48.0)
    out = []
    for i, label in enumerate(labels):
        base = 0.0
        for k, s in enumerate(series):
            value = values[k][i]
            if value is None or value <= 0:  # nothing to see or click; negatives can't stack
                continue
            rect = _rect(plot.x(i) - width / 2, plot.y(base + value), width,
                         plot.h(base + value) - plot.h(base), f"segment s{k % COLOURS}")
            out.append(_linked(s.hrefs[i], _tip(label, s.name, say(value)), rect))
            base += value
    return out


def _groups(plot: _Plot, series: Sequence[Series], values: list[list[float | None]],
            labels: Sequence[str], say: Format) -> list[Markup]:
    each = min(plot.slot * 0.8, 28.0 * len(series)) / max(len(series), 1)
    out = []
    for i, label in enumerate(labels):
        left = plot.x(i) - each * len(series) / 2
        for k, s in enumerate(series):
            value = values[k][i]
            if value is None or plot.h(value) == 0:
                continue
            rect = _rect(left + k * each, plot.y(value), each, plot.h(value),
                         f"segment s{k % COLOURS}")
            out.append(_linked(s.hrefs[i], _tip(label, s.name, say(value)), rect))
    return out


def _totals(plot: _Plot, totals: list[float], format: Format) -> Markup:
    """Each stack's total above it, when every total fits its column (else none: a
    few totals scattered would read as the only ones)."""
    words = [format(t) for t in totals]
    if any(_width(w) > plot.slot for w in words):
        return Markup("")
    return _tag("g", {"class": "totals"}, *(
        _text(plot.x(i), plot.y(t) - 4, w, cls="total", align="middle")
        for i, (t, w) in enumerate(zip(totals, words, strict=True)) if t > 0))


def _path(plot: _Plot, k: int, col: list[float | None]) -> Markup:
    """One series' line; a None lifts the pen, so a gap shows as a gap."""
    steps, pen = [], "M"
    for i, value in enumerate(col):
        if value is None:
            pen = "M"
            continue
        steps.append(f"{pen}{_coord(plot.x(i))} {_coord(plot.y(value))}")
        pen = "L"
    return _tag("path", {"class": f"line s{k % COLOURS}", "d": " ".join(steps)})


def _dots(plot: _Plot, series: Sequence[Series], values: list[list[float | None]],
          labels: Sequence[str], say: Format) -> list[Markup]:
    """A dot per point, over every line; a larger transparent circle is what the pointer
    has to hit."""
    out = []
    for k, s in enumerate(series):
        for i, value in enumerate(values[k]):
            if value is None:
                continue
            centre = {"cx": plot.x(i), "cy": plot.y(value)}
            out.append(_linked(s.hrefs[i], _tip(labels[i], s.name, say(value)),
                               _tag("circle", {"class": "hit", **centre, "r": 9}),
                               _tag("circle", {"class": f"dot s{k % COLOURS}", **centre,
                                               "r": 3.5})))
    return out


# -- horizontal bars ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Columns:
    start: float  # where bars begin
    scale: float  # viewBox units per unit of value
    label_room: float  # the labels' column, in viewBox units


def _bar_row(y: float, row: Bar, value: float | None, say: Format, at: _Columns) -> Markup:
    middle = y + ROW / 2
    length = max(value or 0.0, 0.0) * at.scale
    shapes = [_tag("rect", {"class": "hit", "x": 0, "y": y + 1, "width": WIDTH,
                            "height": ROW - 2}),
              _text(at.start - PAD, middle + 4, row.label, cls="label", align="right",
                    room=at.label_room)]
    if value is not None:
        shapes.append(_rect(at.start, middle - 8, length, 16, "bar s0"))
    words = NO_DATA if value is None else say(value)
    x = at.start + length + 6  # a shorter bar leaves its note more room
    shapes.append(_value_text(x, middle + 4, words, note=row.note, room=WIDTH - x - 2,
                              cls="value" if value is not None else "value none"))
    tip = f"{free(row.label)} — {say(value) if value is not None else 'no data'}"
    tip += f" ({free(row.note)})" if row.note else ""
    return _linked(row.href if value is not None else None, tip, *shapes)


def _value_words(say: Format, value: float | None, note: str) -> str:
    words = NO_DATA if value is None else say(value)
    return f"{words} · {clean(note)}" if note else words


def _value_text(x: float, y: float, words: str, *, note: str, room: float,
                cls: str) -> Markup:
    """The figure, whole, then its note (muted, cut to what room is left, its own
    direction: a bidi isolate)."""
    parts: list[Markup | str] = [words]
    left = room - _width(words + " · ")
    if note and left > NARROW * 3:
        parts.append(_tag("tspan", {"class": "note"}, " · " + free(_fit(clean(note), left))))
    return _tag("text", {"class": cls, "x": x,
                         "y": y, "text-anchor": "start"}, *parts)


def _describe_bars(rows: Sequence[Bar], values: list[float | None], say: Format) -> str:
    known = [(v, r.label) for r, v in zip(rows, values, strict=True) if v is not None]
    if not known:
        return f"{len(rows)} rows, no data."
    high, low = max(known, key=lambda p: p[0]), min(known, key=lambda p: p[0])
    return (f"{len(rows)} rows. Highest: {free(high[1])}, {say(high[0])}. "
            f"Lowest: {free(low[1])}, {say(low[0])}.")


# -- pieces every chart shares -----------------------------------------------------------

def _svg(title: str, desc: str, height: float, body: Sequence[Markup]) -> Markup:
    """`role="img"` with a <title> (its name) and a <desc> (the summary) as the first
    children; no ids, so two charts on a page never clash. `direction="ltr"` keeps the
    geometry when the page around it is right-to-left (text would inherit rtl)."""
    return _tag("svg", {"xmlns": SVG_NS, "class": "chart", "role": "img",
                        "viewBox": f"0 0 {WIDTH} {_coord(height)}", "direction": "ltr"},
                _tag("title", {}, clean(title)), _tag("desc", {}, desc), *body)


def _header(title: str, names: Sequence[str]) -> tuple[Markup, float]:
    """The title, then a legend when there is more than one series to tell apart; and
    where the plot may begin."""
    parts = [_text(0, 16, title, cls="chart-title", room=WIDTH / TITLE)]
    below = 24.0
    if len(names) > 1:
        legend, below = _legend(names, below + 4)
        parts.append(legend)
    return Markup("").join(parts), below


def _legend(names: Sequence[str], top: float) -> tuple[Markup, float]:
    """Swatch and name, flowed left to right, wrapping at the chart's width."""
    x, y, items = 0.0, top, []
    for k, name in enumerate(names):
        text = _fit(clean(name), 24 * NARROW)
        need = 14 + _width(text) + 16
        if x > 0 and x + need > WIDTH:
            x, y = 0.0, y + 18
        items.append(_tag("g", {"class": "entry"},
                          _rect(x, y, 10, 10, f"swatch s{k % COLOURS}"),
                          _text(x + 14, y + 9.5, text, cls="legend")))
        x += need
    return _tag("g", {"class": "legend"}, *items), y + 18


def _linked(href: str | None, tip: str, *shapes: Markup) -> Markup:
    """Shapes with their tooltip, as a link to the conversations behind them if any."""
    href = _href(href)
    if href is None:
        return _tag("g", {"class": "point"}, _tag("title", {}, tip), *shapes)
    return _tag("a", {"href": href}, _tag("title", {}, tip), *shapes)


def _href(href: str | None) -> str | None:
    """Our own pages' links, or http(s): a `javascript:` link is a bug, said loudly (the
    CSP would refuse to run it anyway)."""
    if href is not None and urlsplit(href).scheme.lower() not in LINKABLE:
        raise ValueError(f"a chart links only to pages, not {href[:40]!r}")
    return href


def _tip(label: str, name: str, value: str) -> str:
    """'label — series: value'. Each name is a bidi isolate: a Persian label first must
    not turn the whole tooltip right-to-left."""
    return f"{free(label)} — {free(name)}: {value}"


def _text(x: float, y: float, text: str, *, cls: str, align: Align = "left",
          room: float | None = None) -> Markup:
    """One line of text whose left, right or middle is at x, whatever its direction.
    In right-to-left text `start` is the right edge, hence the swap."""
    line = clean(text)
    if room is not None:
        line = _fit(line, room)
    rtl = text_direction(line) == "rtl"
    anchor = {"left": "end" if rtl else "start", "right": "start" if rtl else "end",
              "middle": "middle"}[align]
    return _tag("text", {"class": cls, "x": x, "y": y, "text-anchor": anchor,
                         "direction": "rtl" if rtl else None}, line)


def _rect(x: float, y: float, width: float, height: float, cls: str) -> Markup:
    return _tag("rect", {"class": cls, "x": x, "y": y, "width": width, "height": height})


def _tag(name: str, attrs: dict[str, str | float | None], *children: Markup | str) -> Markup:
    """An element; every attribute value and text child escaped (a label is what a
    customer or an agent typed), Markup children kept as they are."""
    head = Markup("").join(Markup(' {}="{}"').format(Markup(key), _attr(value))
                           for key, value in attrs.items() if value is not None)
    if not children:
        return Markup("<{}{}/>").format(Markup(name), head)
    body = Markup("").join(escape(child) for child in children)
    return Markup("<{0}{1}>{2}</{0}>").format(Markup(name), head, body)


def _attr(value: str | float) -> str:
    return value if isinstance(value, str) else _coord(value)


def _coord(value: float) -> str:
    """Two decimals at most, none trailing: short, and the same bytes every time."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _fit(text: str, room: float) -> str:
    """`text` in at most `room` units, cut between grapheme clusters, ending in "…"."""
    if _width(text) <= room:
        return text
    kept, used, most = [], 0.0, room - _width(ELLIPSIS)
    for cluster in iter_graphemes(text):
        size = _width(cluster)
        if used + size > most:
            break
        kept.append(cluster)
        used += size
    return "".join(kept) + ELLIPSIS


def _width(text: str) -> float:
    """How wide `text` (already `clean`) is likely to be at 12px, erring wide."""
    return sum(_advance(ch) for ch in text)


def _advance(ch: str) -> float:
    cells = wcwidth(ch)
    if cells <= 0:  # a combining mark rides on its letter; a control shows nothing
        return 0.0
    if cells == 2:
        return WIDE
    if "\u0e00" <= ch <= "\u0e7f":
        return THAI
    return BROAD if ch.isupper() or ch.isdigit() or ch in "MWmw@%" else NARROW


def _sayer(format: Format, unit: str) -> Format:
    """A value with its unit: "12 conversations", "87.5%"."""
    if not unit:
        return format
    gap = "" if unit.startswith("%") else " "
    return lambda value: f"{format(value)}{gap}{unit}"


def _finite(value: float | None) -> float | None:
    """None for no data; NaN and infinities are no data too, not a bar to the sky."""
    return float(value) if value is not None and math.isfinite(value) else None


def _sum(values: Sequence[float | None]) -> float:
    return sum(v for v in values if v is not None and v > 0)


def _by_label(values: list[list[float | None]], count: int) -> list[list[float | None]]:
    """The values per category (the transpose): what one stack is made of."""
    return [[col[i] for col in values] for i in range(count)]


def _check(series: Sequence[Series], labels: Sequence[str]) -> None:
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values "
                             f"for {len(labels)} labels")


def _describe(series: Sequence[Series], values: list[list[float | None]],
              labels: Sequence[str], say: Format, *, total: bool) -> str:
    """The summary a screen reader gives: the span, and per series its extremes and its
    total (stacked, so additive) or latest figure."""
    if not labels or not series:
        return "No data."
    parts = [f"{len(labels)} points, {free(labels[0])} to {free(labels[-1])}."]
    for s, col in zip(series, values, strict=True):
        known = [(v, labels[i]) for i, v in enumerate(col) if v is not None]
        if not known:
            parts.append(f"{free(s.name)}: no data.")
            continue
        high, low = max(known, key=lambda p: p[0]), min(known, key=lambda p: p[0])
        words = [f"highest {say(high[0])} ({free(high[1])})",
                 f"lowest {say(low[0])} ({free(low[1])})"]
        last = (f"total {say(sum(v for v, _ in known))}" if total
                else f"latest {say(known[-1][0])} ({free(known[-1][1])})")
        parts.append(f"{free(s.name)}: {', '.join([*words, last])}.")
    return " ".join(parts)
