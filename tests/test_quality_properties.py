"""The data-quality checks' column operations equal a plain-Python statement of each check.

Random tables (hypothesis): persons with several periods, open ends, same-day boundaries and
unreadable dates; self-managed persons, long chains, several cycles and persons with two
managers; blank and garbage national IDs of several countries; references into imports that
lack some IDs or never ran. Each engine result is compared with the same check written the
obvious way, row by row and pair by pair.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hr_connector.masking import mask_value
from hr_connector.quality import checks, cycles, national_ids, overlaps, references
from hr_connector.quality.findings import CheckRun
from hr_connector.quality.settings import CheckContext, QualitySettings, national_id_module
from hr_connector.rules import date_parser
from hr_connector.schemas import SCHEMAS, RunSchema

NOWHERE = Path("/nonexistent/hr-connector-quality-test")
DAY0 = date(2025, 1, 1)


def texts(values: list[str | None]) -> pl.Series:
    return pl.Series(values, dtype=pl.String)


def blank(value: str | None) -> bool:
    return value is None or not value.strip()


def schema(data_type: str, formats: tuple[str, ...] = ("%Y-%m-%d",)) -> RunSchema:
    s = SCHEMAS[data_type]
    columns = {a: a for a in s.attributes}
    return RunSchema(data_type, columns, s.key, (), (), (), (), (), formats, None)  # type: ignore[arg-type]


def context(data_type: str, imported: dict[tuple[str, str], list[str] | None], **kw: Any) -> Any:
    settings_ = QualitySettings(severity={}, national_id_country=kw.pop("country", None))
    return CheckContext(
        settings=settings_,
        schema=schema(data_type, kw.pop("formats", ("%Y-%m-%d",))),
        unique_id=kw.pop("unique_id", "employee_number"),
        archive_dir=NOWHERE,
        reference_dir=NOWHERE,
        imported=lambda _f, dt, col: (
            None if imported.get((dt, col)) is None else texts(imported[dt, col])  # type: ignore[arg-type]
        ),
    )


# --- references -----------------------------------------------------------------------------

IDS = st.sampled_from(["A", "B", "C", "X9", " ", "", None])
IMPORT = st.one_of(st.none(), st.lists(st.sampled_from(["A", "B", "C"]), max_size=3))


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(IDS, IDS, IDS, IDS, IDS, IDS), max_size=12),
    org=IMPORT,
    title=IMPORT,
    cc=IMPORT,
    persons=IMPORT,
)
def test_work_period_references_are_every_unknown_value_of_each_row(
    rows: list[tuple[str | None, ...]],
    org: list[str] | None,
    title: list[str] | None,
    cc: list[str] | None,
    persons: list[str] | None,
) -> None:
    names = ["row_id", "employee_number", "org_unit_id", "title_id", "cost_center", "manager_id"]
    frame = pl.DataFrame({n: texts([r[k] for r in rows]) for k, n in enumerate(names)})
    imported = {
        ("organization", "org_unit_id"): org,
        ("title", "title_id"): title,
        ("costcenter", "cost_center_id"): cc,
        ("workperiod", "employee_number"): persons,
    }
    run = CheckRun("references", "warn")
    found = references.find(frame, context("workperiod", imported), run)
    known = {
        "org_unit_id": org,
        "title_id": title,
        "cost_center": cc,
        "manager_id": [r[1] for r in rows] + (persons or []),
    }
    expected = [
        (i, "unknown_person" if column == "manager_id" else "unknown_reference", column, value)
        for i, row in enumerate(rows)
        for column, value in zip(names[2:], row[2:], strict=True)
        if known[column] is not None and not blank(value) and value not in known[column]
    ]
    assert found.select("row", "code", "column", "detail").rows() == expected
    skipped = [
        t for t, ids in (("organization", org), ("title", title), ("costcenter", cc)) if ids is None
    ]
    assert run.skipped_figures.get("data_types", "").split(", ") == (skipped or [""])


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.tuples(IDS, IDS, IDS), max_size=12),
    persons=IMPORT,
)
def test_organization_parents_are_units_of_the_file_and_managers_known_persons(
    rows: list[tuple[str | None, ...]], persons: list[str] | None
) -> None:
    frame = pl.DataFrame(
        {
            n: texts([r[k] for r in rows])
            for k, n in enumerate(["org_unit_id", "parent_org_unit_id", "manager_id"])
        }
    )
    run = CheckRun("references", "warn")
    imported = {("workperiod", "employee_number"): persons}
    found = references.find(frame, context("organization", imported), run)
    units = [r[0] for r in rows]
    expected = []
    for i, (_unit, parent, manager) in enumerate(rows):
        if not blank(parent) and parent not in units:
            expected.append((i, "unknown_parent", "parent_org_unit_id", parent))
        if persons is not None and not blank(manager) and manager not in persons:
            expected.append((i, "unknown_person", "manager_id", manager))
    assert found.select("row", "code", "column", "detail").rows() == expected
    assert (run.skipped is not None) == (persons is None and any(not blank(r[2]) for r in rows))


# --- overlaps -------------------------------------------------------------------------------

PERSONS = st.sampled_from(["A", "B", "C", " ", "", None])
#: a day offset, blank, missing, an impossible date, or the second format (dd.mm.yyyy)
DAYS = st.one_of(
    st.integers(0, 40), st.sampled_from(["", None, "2025-02-31", "garbage"]), st.integers(-40, -1)
)


def day_text(value: int | str | None) -> str | None:
    if not isinstance(value, int):
        return value
    day = DAY0 + timedelta(days=abs(value))
    return day.isoformat() if value >= 0 else day.strftime("%d.%m.%Y")


@settings(max_examples=300, deadline=None)
@given(periods=st.lists(st.tuples(PERSONS, DAYS, DAYS), max_size=16), with_end=st.booleans())
@example([("A", 0, 5), ("A", 5, 9), ("A", 10, 20), ("A", 1, 2)], True)  # same-day boundary
@example([("A", 0, ""), ("A", 30, 31), ("B", 3, 4), ("A", 2, 1)], True)  # open end, end < start
def test_overlaps_are_every_pair_of_one_persons_intersecting_periods(
    periods: list[tuple[str | None, Any, Any]], with_end: bool
) -> None:
    parse = date_parser(("%Y-%m-%d", "%d.%m.%Y"))
    persons = [p for p, _s, _e in periods]
    starts = [day_text(s) for _p, s, _e in periods]
    ends = [day_text(e) for _p, _s, e in periods]

    def span(k: int) -> tuple[date, date] | None:
        first = None if blank(starts[k]) else parse(starts[k])  # type: ignore[arg-type]
        last = date.max if not with_end or blank(ends[k]) else parse(ends[k])  # type: ignore[arg-type]
        return (first, last) if first and last and first <= last else None

    expected = [
        (i, j)
        for i in range(len(periods))
        for j in range(i + 1, len(periods))
        if not blank(persons[i])
        and persons[i] == persons[j]
        and (a := span(i))
        and (b := span(j))
        and a[0] <= b[1]
        and b[0] <= a[1]
    ]
    found = overlaps.overlapping(
        texts(persons), texts(starts), texts(ends) if with_end else None, parse
    )
    assert found.rows() == expected


# --- cycles ---------------------------------------------------------------------------------

NODES = [f"N{k}" for k in range(8)]


@st.composite
def edges(draw: Any) -> list[tuple[str | None, str | None]]:
    """Rows (person, manager): one manager per person (the usual hierarchy) or, sometimes, a
    person whose periods name two managers; blanks and chains of any length."""
    functional = draw(st.booleans())
    nodes = NODES + [f"L{k}" for k in range(draw(st.integers(0, 40)))]
    manager = {n: draw(st.sampled_from([*nodes, "", None, "OUT"])) for n in nodes}
    if draw(st.booleans()):  # a long chain L0 -> L1 -> ... that may loop back
        for k in range(len(nodes) - 8):
            manager[f"L{k}"] = f"L{k + 1}" if k + 9 < len(nodes) else draw(st.sampled_from(nodes))
    rows: list[tuple[str | None, str | None]] = []
    for node in draw(st.permutations(nodes)):
        for _period in range(draw(st.integers(0, 2))):
            other = draw(st.sampled_from([*nodes, ""])) if not functional else manager[node]
            rows.append((node, other if not functional and draw(st.booleans()) else manager[node]))
    return rows


def strongly_connected(
    rows: list[tuple[str | None, str | None]],
) -> list[tuple[set[str], list[int]]]:
    """(members, rows) of every knot: nodes that reach each other, by plain reachability."""
    graph: dict[str, set[str]] = {}
    for s, d in rows:
        if not blank(s) and not blank(d):
            graph.setdefault(s, set()).add(d)  # type: ignore[arg-type]

    def reach(v: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph.get(v, ()))
        while todo:
            w = todo.pop()
            if w not in seen:
                seen.add(w)
                todo.extend(graph.get(w, ()))
        return seen

    reaches = {v: reach(v) for v in graph}
    knots: list[set[str]] = []
    for v in sorted(graph):
        if v in reaches[v] and not any(v in k for k in knots):
            knots.append({w for w in reaches[v] if v in reaches.get(w, ())})
    return [(k, [i for i, (s, d) in enumerate(rows) if s in k and d in k]) for k in knots]


def shortest_loop(start: str, rows: list[tuple[str | None, str | None]], members: set[str]) -> int:
    graph = {(s, d) for s, d in rows if s in members and d in members}
    frontier, length, seen = {start}, 0, set()
    while frontier:
        length += 1
        nxt = {d for s, d in graph if s in frontier}
        if start in nxt:
            return length
        frontier = nxt - seen
        seen |= nxt
    raise AssertionError("no loop")


@settings(max_examples=200, deadline=None)
@given(rows=edges())
@example([("A", "A"), ("B", "C"), ("C", "B"), ("D", "B"), ("E", "")])
@example([("A", "B"), ("A", "C"), ("B", "A"), ("C", "A"), ("C", "D")])
def test_cycles_are_the_strongly_connected_knots_with_a_shortest_loop_from_the_smallest(
    rows: list[tuple[str | None, str | None]],
) -> None:
    found = cycles.find_cycles(texts([s for s, _ in rows]), texts([d for _, d in rows]))
    expected = {min(members): (members, on) for members, on in strongly_connected(rows)}
    assert [path_start(text) for text, _on in found] == sorted(expected)
    for text, on in found:
        members, rows_on = expected[path_start(text)]
        path_text, _, extra = text.partition(" (+ ")
        path = path_text.split(cycles.ARROW)
        assert path[-1] == path[0] and set(path) <= members and on == rows_on
        assert all((a, b) in set(rows) for a, b in pairwise(path))
        assert len(path) - 1 == shortest_loop(path[0], rows, members)
        named = extra.rstrip(")").split(", ") if extra else []
        more = int(named.pop()[2:-5]) if named and named[-1].startswith("… ") else 0
        assert named == sorted(members - set(path))[: cycles.MAX_EXTRA]
        assert len(named) + more == len(members - set(path))


def path_start(text: str) -> str:
    return text.split(cycles.ARROW, 1)[0]


def test_a_knot_of_many_names_ten_beside_its_path_and_counts_the_rest() -> None:
    hub = [("H", f"M{k:02d}") for k in range(30)] + [(f"M{k:02d}", "H") for k in range(30)]
    ((text, rows),) = cycles.find_cycles(texts([s for s, _ in hub]), texts([d for _, d in hub]))
    assert text == "H → M00 → H (+ M01, M02, M03, M04, M05, M06, M07, M08, M09, M10, … 19 more)"
    assert rows == list(range(60))


# --- national IDs ---------------------------------------------------------------------------

#: per country: valid IDs and values the rules must refuse (wrong check, impossible or future
#: birth date, wrong format); Finnish temporary IDs (900-999) are valid
SAMPLES = {
    "fi": [
        "131052-308T",
        "130468-912K",
        "021075-927L",
        "131052-308U",
        "310268-912K",
        "010199A930J",
    ],
    "se": ["8112289874", "8112289875", "19811228-9874", "8113289874"],
    "no": ["15108695088", "15108695089"],
    "dk": ["2110625629", "3210625629"],
    "pl": ["44051401359", "44051401358"],
}
GARBAGE = st.sampled_from(["", " ", None, "12345", "x" * 12, "131052-308T "])


@settings(max_examples=150, deadline=None)
@given(
    country=st.sampled_from(sorted(SAMPLES)),
    picks=st.lists(st.tuples(st.integers(0, 5), GARBAGE, st.booleans()), max_size=14),
)
def test_national_ids_are_each_rows_stdnum_verdict(
    country: str, picks: list[tuple[int, str | None, bool]]
) -> None:
    samples = SAMPLES[country]
    values = [samples[k % len(samples)] if sample else junk for k, junk, sample in picks]
    module = national_id_module(country)
    today = date(2026, 1, 1)
    found = national_ids.invalid(texts(values), module, today)
    expected = []
    for i, value in enumerate(values):
        if blank(value):
            continue
        try:
            kwargs = {"allow_temporary": True} if country == "fi" else {}
            module.validate(value, **kwargs)
            born = getattr(module, "get_birth_date", None)
            code = "national_id_birth_date" if born and born(value) > today else None
        except Exception as error:  # the plain statement maps every refusal
            name = type(error).__name__
            code = {
                "InvalidChecksum": "national_id_checksum",
                "InvalidComponent": "national_id_birth_date",
            }.get(name, "national_id_birth_date" if name == "ValueError" else "national_id_format")
        if code:
            expected.append((i, code, mask_value(value)))  # type: ignore[arg-type]
    assert found.rows() == expected


# --- the run over all checks ----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(rows=edges(), blocked=st.sets(st.integers(0, 30)))
def test_findings_on_blocked_rows_only_are_dropped_and_blocks_give_every_row_its_reason(
    rows: list[tuple[str | None, str | None]], blocked: set[int]
) -> None:
    frame = pl.DataFrame(
        {
            "row_id": texts([f"WP{i}" for i in range(len(rows))]),
            "employee_number": texts([s for s, _ in rows]),
            "manager_id": texts([d for _, d in rows]),
        }
    )
    blocked_rows = pl.Series(sorted(b for b in blocked if b < len(rows)), dtype=pl.UInt32)
    found = cycles.find(frame, context("workperiod", {}), CheckRun("cycles", "block"))
    assert found is not None
    shaped = checks.shaped(found, frame["row_id"], blocked_rows)
    expected = [
        (k, i, f"WP{i}")
        for k, (_text, on) in enumerate(
            cycles.find_cycles(frame["employee_number"], frame["manager_id"])
        )
        if not set(on) <= set(blocked_rows.to_list())
        for i in on
    ]
    assert shaped.select("finding", "row", "row_id").rows() == expected
