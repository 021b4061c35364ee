"""The report pages' charts (inbox.web.charts), read as a user would meet them: the SVG
parsed as XML, then what a hover shows, what a click opens, how tall a bar stands, and
that any label, in any script, reads right and cannot inject anything. No browser: the
structure, not the pixels."""

from __future__ import annotations

import itertools
import math
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from inbox.web.charts import (
    Bar,
    Series,
    bars,
    columns,
    lines,
    nice_ticks,
    table_of,
    text_direction,
)

NS = "{http://www.w3.org/2000/svg}"
ISOLATES = str.maketrans("", "", "\u2068\u2069")
DAYS = ["Mon", "Tue", "Wed"]


def parse(svg: Markup) -> ET.Element:
    root = ET.fromstring(str(svg))
    assert root.tag == f"{NS}svg"
    return root


def links(root: ET.Element) -> list[ET.Element]:
    return list(root.iter(f"{NS}a"))


def tip(element: ET.Element) -> str:
    """The tooltip a hover shows, without the invisible bidi isolates."""
    title = element.find(f"{NS}title")
    assert title is not None and title.text is not None
    return title.text.translate(ISOLATES)


def texts(root: ET.Element) -> list[ET.Element]:
    return list(root.iter(f"{NS}text"))


def visible(element: ET.Element) -> str:
    return "".join(element.itertext()).translate(ISOLATES)


def number_of(element: ET.Element, name: str) -> float:
    return float(element.attrib[name])


def volume() -> list[Series]:
    return [Series("email", [3, None, 6], ["/?d=mon&ch=email", None, "/?d=wed&ch=email"]),
            Series("telegram", [1, 2, 0], ["/?d=mon&ch=tg", "/?d=tue&ch=tg", "/?d=wed&ch=tg"])]


def test_each_figure_is_a_link_to_its_conversations_with_a_tooltip_that_says_it() -> None:
    root = parse(columns(volume(), DAYS, title="Volume", unit="conversations"))
    # None draws nothing, and a zero stands no height: nothing there to click
    assert [a.attrib["href"] for a in links(root)] == [
        "/?d=mon&ch=email", "/?d=mon&ch=tg", "/?d=tue&ch=tg", "/?d=wed&ch=email"]
    assert [tip(a) for a in links(root)] == [
        "Mon — email: 3 conversations", "Mon — telegram: 1 conversations",
        "Tue — telegram: 2 conversations", "Wed — email: 6 conversations"]


def test_a_point_without_a_link_still_says_its_figure() -> None:
    root = parse(columns([Series("email", [4], [None])], ["Mon"], title="Volume"))
    assert not links(root)
    (point,) = [g for g in root.iter(f"{NS}g") if g.get("class") == "point"]
    assert tip(point) == "Mon — email: 4"


def test_the_tooltip_and_the_table_use_the_callers_format() -> None:
    def clock(minutes: float) -> str:
        return f"{int(minutes) // 60} h {int(minutes) % 60} min"

    series = [Series("median", [135, None], ["/?w=10", None])]
    root = parse(lines(series, ["W10", "W11"], title="First response", format=clock))
    assert [tip(a) for a in links(root)] == ["W10 — median: 2 h 15 min"]
    table = table_of(series, ["W10", "W11"], format=clock)
    assert table.names == ("median",)
    assert [(r.label, [(c.text, c.href) for c in r.cells]) for r in table.rows] == [
        ("W10", [("2 h 15 min", "/?w=10")]), ("W11", [("—", None)])]
    root = parse(bars([Bar("Ana", 135, "/?agent=ana", "41 conversations")],
                      title="By agent", format=clock))
    assert tip(links(root)[0]) == "Ana — 2 h 15 min (41 conversations)"
    assert "2 h 15 min" in [visible(t).split(" · ")[0] for t in texts(root)]


def test_stacked_segments_touch_and_stand_in_proportion_to_their_values() -> None:
    series = [Series("a", [3, 10, 5], ["/a0", "/a1", "/a2"]),
              Series("b", [1, 6, 5], ["/b0", "/b1", "/b2"])]
    root = parse(columns(series, DAYS, title="Stacked"))
    rects = {a.attrib["href"]: a.find(f"{NS}rect") for a in links(root)}
    per_unit = []
    for i, total in enumerate([4, 16, 10]):
        low, high = rects[f"/a{i}"], rects[f"/b{i}"]
        assert low is not None and high is not None
        # a on the ground, b standing on it, one column
        assert number_of(high, "y") + number_of(high, "height") == pytest.approx(
            number_of(low, "y"), abs=0.02)
        assert number_of(high, "x") == number_of(low, "x")
        stack = number_of(low, "height") + number_of(high, "height")
        per_unit.append(stack / total)
        assert number_of(low, "height") / stack == pytest.approx(
            series[0].values[i] / total, abs=0.01)  # type: ignore[operator]
    assert max(per_unit) == pytest.approx(min(per_unit), rel=0.01)  # one scale for all


def test_side_by_side_columns_share_the_ground() -> None:
    series = [Series("opened", [30], ["/o"]), Series("closed", [15], ["/c"])]
    root = parse(columns(series, ["W1"], title="Flow", stacked=False))
    opened, closed = (a.find(f"{NS}rect") for a in links(root))
    assert opened is not None and closed is not None
    assert number_of(opened, "height") == pytest.approx(2 * number_of(closed, "height"),
                                                        abs=0.02)
    bottom = number_of(opened, "y") + number_of(opened, "height")
    assert number_of(closed, "y") + number_of(closed, "height") == pytest.approx(bottom)
    assert number_of(closed, "x") > number_of(opened, "x")


def test_the_axis_shows_round_ticks_covering_the_highest_stack() -> None:
    root = parse(columns([Series("all", [87, 12], ["/1", "/2"])], ["a", "b"], title="T"))
    ticks = [visible(t) for t in texts(root) if t.get("class") == "tick"]
    assert ticks == ["0", "20", "40", "60", "80", "100"]


def test_a_percent_line_runs_to_100_and_says_percent() -> None:
    series = [Series("kept", [92.5, None, 80], ["/w1", None, "/w3"])]
    root = parse(lines(series, ["W1", "W2", "W3"], title="Promise kept", percent=True))
    ticks = [visible(t) for t in texts(root) if t.get("class") == "tick"]
    assert ticks[0] == "0%" and ticks[-1] == "100%"
    assert [tip(a) for a in links(root)] == ["W1 — kept: 92.5%", "W3 — kept: 80%"]
    (path,) = root.iter(f"{NS}path")
    assert path.attrib["d"].count("M") == 2  # the week without data is a gap in the line


@pytest.mark.parametrize(("max_value", "expected"), [
    (87, [0, 20, 40, 60, 80, 100]), (100, [0, 20, 40, 60, 80, 100]), (5, [0, 1, 2, 3, 4, 5]),
    (7, [0, 2, 4, 6, 8]), (0.3, [0, 0.1, 0.2, 0.3]), (1234, [0, 500, 1000, 1500]),
    (0, [0, 1])])
def test_nice_ticks(max_value: float, expected: list[float]) -> None:
    assert nice_ticks(max_value) == expected


def test_counts_get_whole_ticks() -> None:
    assert nice_ticks(2, whole=True) == [0, 1, 2]
    root = parse(columns([Series("all", [1, 2], ["/1", "/2"])], ["a", "b"], title="T"))
    assert [visible(t) for t in texts(root) if t.get("class") == "tick"] == ["0", "1", "2"]


@given(st.floats(min_value=1e-6, max_value=1e12), st.integers(min_value=1, max_value=10))
def test_ticks_are_round_even_steps_from_zero_past_the_maximum(top: float, count: int) -> None:
    ticks = nice_ticks(top, count)
    assert ticks[0] == 0 and ticks[-1] >= top * (1 - 1e-9)
    assert 2 <= len(ticks) <= count + 1
    step = ticks[1]
    assert all(b - a == pytest.approx(step) for a, b in itertools.pairwise(ticks))
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6


def test_a_persian_label_reads_right_to_left_and_lines_up_on_its_side() -> None:
    assert text_direction("پشتیبانی VIP") == "rtl"
    assert text_direction("VIP پشتیبانی") == "ltr"
    assert text_direction("123 تلگرام") == "rtl"  # digits are weak; the letters decide
    root = parse(columns([Series("تلگرام", [2], ["/t"]), Series("email", [1], ["/e"])],
                         ["پشتیبانی"], title="Channels"))
    by_text = {visible(t): t for t in texts(root)}
    assert by_text["پشتیبانی"].attrib["direction"] == "rtl"
    legend = by_text["تلگرام"]  # left-aligned after its swatch: in rtl that is the end
    assert (legend.attrib["direction"], legend.attrib["text-anchor"]) == ("rtl", "end")
    assert "direction" not in by_text["email"].attrib
    assert root.attrib["direction"] == "ltr"  # an rtl page does not mirror the axes
    root = parse(bars([Bar("رضا محمدی", 3, "/r")], title="By agent"))
    (label,) = [t for t in texts(root) if t.get("class") == "label"]
    # right-aligned next to its bar: in rtl that is the start
    assert (label.attrib["direction"], label.attrib["text-anchor"]) == ("rtl", "start")


def test_a_long_thai_label_is_cut_between_letters_never_off_its_marks() -> None:
    name = "ที่นี่" * 40  # every letter carries a vowel and a tone mark
    root = parse(bars([Bar(name, 5, "/th")], title="By agent"))
    (label,) = [t for t in texts(root) if t.get("class") == "label"]
    shown = visible(label)
    assert shown.endswith("…") and len(shown) < len(name)
    kept = shown[:-1]
    assert name.startswith(kept)
    assert not unicodedata.category(name[len(kept)]).startswith("M")  # the cut: a letter
    assert tip(links(root)[0]).startswith(name)  # the tooltip keeps it whole


def test_vietnamese_and_polish_labels_keep_their_letters() -> None:
    labels = ["Nguyễn Thị Thu Hương", "Łódź, źdźbło", "Maraming salamat po"]
    root = parse(bars([Bar(label, 1, None) for label in labels], title="By agent"))
    assert [visible(t) for t in texts(root) if t.get("class") == "label"] == labels


def test_markup_in_any_label_is_shown_as_text_never_run() -> None:
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">"\'&'
    svg = columns([Series(evil, [1], [f"/?q={evil}"]), Series("b", [2], ["/b"])], [evil],
                  title=evil)
    root = parse(svg)  # well-formed: nothing broke out of its text or attribute
    assert {e.tag.removeprefix(NS) for e in root.iter()} <= {
        "svg", "title", "desc", "g", "a", "rect", "text", "line", "path", "circle", "tspan"}
    assert any(visible(t) == evil for t in texts(root))
    assert links(root)[0].attrib["href"] == f"/?q={evil}"
    assert "<script" not in str(svg) and "<img" not in str(svg)
    root = parse(bars([Bar(evil, 1, "/x", note=evil)], title=evil))
    assert evil in tip(links(root)[0])


def test_a_link_that_would_run_script_is_refused() -> None:
    with pytest.raises(ValueError, match="only to pages"):
        columns([Series("a", [1], ["javascript:alert(1)"])], ["x"], title="T")
    with pytest.raises(ValueError, match="only to pages"):
        bars([Bar("a", 1, " JavaScript:alert(1)")], title="T")


def test_no_inline_style_anywhere() -> None:
    svgs = [columns(volume(), DAYS, title="V"), columns(volume(), DAYS, title="V", stacked=False),
            lines(volume(), DAYS, title="L", percent=True),
            bars([Bar("Ana", 2, "/a", "note"), Bar("Bo", None, None)], title="B")]
    for svg in svgs:
        assert "style=" not in str(svg)
        assert all("style" not in e.attrib for e in parse(svg).iter())


def test_a_chart_names_and_sums_itself_for_screen_readers_and_fits_its_column() -> None:
    root = parse(columns(volume(), DAYS, title="Volume by channel"))
    assert root.attrib["role"] == "img"
    assert "width" not in root.attrib and "height" not in root.attrib
    assert root.attrib["viewBox"].startswith("0 0 600 ")
    title, desc = root[0], root[1]
    assert (title.tag, title.text) == (f"{NS}title", "Volume by channel")
    assert desc.tag == f"{NS}desc" and desc.text is not None
    assert desc.text.translate(ISOLATES) == (
        "3 points, Mon to Wed. email: highest 6 (Wed), lowest 3 (Mon), total 9. "
        "telegram: highest 2 (Tue), lowest 0 (Wed), total 3.")


def test_series_colours_come_from_classes_and_the_legend_names_them() -> None:
    many = [Series(f"s{k}", [1], [f"/{k}"]) for k in range(9)]
    root = parse(columns(many, ["x"], title="Many"))
    segments = [a.find(f"{NS}rect") for a in links(root)]
    assert [s.attrib["class"] for s in segments if s is not None] == [
        *(f"segment s{k}" for k in range(8)), "segment s0"]
    legend = [visible(t) for t in texts(root) if t.get("class") == "legend"]
    assert legend == [f"s{k}" for k in range(9)]
    one = parse(columns([Series("only", [1], ["/"])], ["x"], title="One"))
    assert not [t for t in texts(one) if t.get("class") == "legend"]  # the title says it


def test_the_same_figures_draw_the_same_bytes() -> None:
    assert columns(volume(), DAYS, title="V") == columns(volume(), DAYS, title="V")


def test_no_data_draws_an_empty_chart_not_an_error() -> None:
    for svg in (columns([], [], title="Empty"), lines([Series("a", [None], [None])], ["W1"],
                                                      title="Empty"),
                bars([], title="Empty"), bars([Bar("Ana", None, "/a")], title="Empty")):
        root = parse(svg)
        assert not links(root)
    nan = parse(columns([Series("a", [float("nan"), 2], ["/n", "/2"])], ["x", "y"], title="T"))
    assert [a.attrib["href"] for a in links(nan)] == ["/2"]


def test_mismatched_figures_are_a_bug_said_loudly() -> None:
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        columns([Series("a", [1, 2], ["/1", "/2"])], DAYS, title="T")
    with pytest.raises(ValueError, match="2 values, 1 hrefs"):
        Series("a", [1, 2], ["/1"])
