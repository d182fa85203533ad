"""The everyday run checked incrementally (issue 16): the same findings as a full re-check.

Random day-to-day work-period files (rows kept, changed, removed, added, reordered; reference
IDs that come and go) run through the real pipeline twice: once with the last run's kept
findings (``quality/incremental.py``), once with ``HR_CONNECTOR_QUALITY_INCREMENTAL=0``, which
checks every row. Every finding (rows, reason, subject) and every blocked reason must agree.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from hr_connector.outcome import Decision
from hr_connector.quality import checks, incremental

from quality_helpers import WP_COLUMNS, import_references, run, write_csv

PERSONS = ["E1", "E2", "E3", "E4", "E5", "E6"]
DATES = ["2024-01-01", "2024-06-01", "2025-01-01", "2025-06-01", ""]


def period(k: int, draw: Any) -> dict[str, str]:
    start = draw(st.sampled_from(DATES[:-1]))
    return {
        "row_id": f"WP{k}",
        "employee_number": draw(st.sampled_from(PERSONS)),
        "national_id": "",
        "first_name": "First",
        "last_name": draw(st.sampled_from(["A", "B"])),
        "employment_start_date": start,
        "employment_end_date": draw(st.sampled_from(DATES)),
        "title_id": draw(st.sampled_from(["T1", "T9"])),
        "org_unit_id": draw(st.sampled_from(["OU1", "OU2", "OU9"])),
        "cost_center": draw(st.sampled_from(["CC1", "CC9"])),
        "manager_id": draw(st.sampled_from([*PERSONS, "X9", ""])),
    }


@st.composite
def days(draw: Any) -> tuple[list[list[dict[str, str]]], list[tuple[str, ...]]]:
    """Three days of files (each derived from the day before) and each day's org units."""
    size = draw(st.integers(min_value=2, max_value=14))
    first = [period(k, draw) for k in range(size)]
    files = [first]
    next_id = size
    for _day in range(2):
        rows: list[dict[str, str]] = []
        for row in files[-1]:
            fate = draw(st.sampled_from(["keep", "keep", "keep", "change", "drop"]))
            if fate == "keep":
                rows.append(row)
            elif fate == "change":
                changed = period(int(row["row_id"][2:]), draw)
                rows.append(changed)
        for _new in range(draw(st.integers(min_value=0, max_value=3))):
            rows.append(period(next_id, draw))
            next_id += 1
        if rows and draw(st.booleans()):
            rows = draw(st.permutations(rows))
        files.append(rows or [period(next_id, draw)])
    units = [
        draw(st.sampled_from([("OU1", "OU2"), ("OU1",), ("OU1", "OU2", "OU9")])) for _ in files
    ]
    return files, units


Captured = list[Any]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    """Every row check's findings and blocked reasons, and whether it ran incrementally."""
    found: Captured = []
    check_rows, previous = checks.check_rows, checks._previous

    def recording(*args: Any, **kwargs: Any) -> checks.QualityOutcome:
        outcome = check_rows(*args, **kwargs)
        if args[1].data_type != "workperiod":
            return outcome
        found.append(
            (
                [
                    (r.check, [(f.rows, f.reason, f.subject) for f in r.findings])
                    for r in outcome.runs
                ],
                outcome.blocked,
            )
        )
        return outcome

    def noting(*args: Any, **kwargs: Any) -> incremental.Previous | None:
        prev = previous(*args, **kwargs)
        if args[1].data_type == "workperiod":
            found.append("incremental" if prev is not None else "full")
        return prev

    monkeypatch.setattr(checks, "check_rows", recording)
    monkeypatch.setattr(checks, "_previous", noting)
    yield found


CHECKS = {"references": "warn", "cycles": "warn", "overlaps": "warn"}


def run_days(
    root: Path, files: list[list[dict[str, str]]], units: list[tuple[str, ...]], **raw: Any
) -> None:
    for day, (rows, org_units) in enumerate(zip(files, units, strict=True)):
        import_references(root, org_units=org_units)
        write_csv(root, rows, WP_COLUMNS)
        result = run(
            root,
            run_type="full" if day == 0 else "partial",
            update_limit=100_000,
            checks=raw.get("checks", CHECKS),
        )
        assert result.decision is Decision.COMPLETED, result.interruption


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=days(), block=st.booleans())
def test_incremental_findings_equal_a_full_recheck(
    tmp_path: Path, captured: Captured, monkeypatch: pytest.MonkeyPatch, data: Any, block: bool
) -> None:
    files, units = data
    severity = "block" if block else "warn"
    chosen = {name: severity for name in CHECKS}
    for name in ("incremental", "full"):
        root = tmp_path / name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        if name == "full":
            monkeypatch.setenv(incremental.ENV, "0")
        run_days(root, files, units, checks=chosen)
        monkeypatch.delenv(incremental.ENV, raising=False)
    routes = [c for c in captured if isinstance(c, str)]
    event(f"incremental days: {routes[:3].count('incremental')}")
    outcomes = [c for c in captured if not isinstance(c, str)]
    half = len(outcomes) // 2
    assert outcomes[:half] == outcomes[half:]
    captured.clear()
    # what the last day kept for the next: the same, however it was worked out
    kept = [kept_by(tmp_path / name) for name in ("incremental", "full")]
    assert kept[0] == kept[1]


def kept_by(root: Path) -> tuple[bytes, Any, bytes]:
    folder = root / "data" / "archive"
    state = json.loads((folder / ".workperiod_quality.json").read_text(encoding="utf-8"))
    findings = {k: v for k, v in state["incremental"].items() if k != "archives"}
    persons = (folder / ".workperiod_persons.bin").read_bytes()
    return persons, findings, (folder / ".workperiod_quality.columns").read_bytes()


def test_the_next_day_is_checked_incrementally_and_finds_the_same(
    workdir: Path, captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deterministic day-to-day change: overlaps appear, a reference is fixed, a manager
    loop closes; the next-day run takes the incremental route and finds what a full check
    finds."""
    day1 = [
        {**period_row(1, "E1", "2024-01-01", "", manager_id="E1")},
        period_row(2, "E2", "2024-01-01", "2024-12-31", manager_id="E1"),
        period_row(3, "E2", "2025-01-01", "", manager_id="E1", org_unit_id="OU9"),
        period_row(4, "E3", "2024-01-01", "", manager_id="E2"),
        period_row(5, "E4", "2024-01-01", "", manager_id="E3", title_id="T9"),
    ]
    day2 = [
        day1[0],
        day1[1],
        period_row(3, "E2", "2024-06-01", "", manager_id="E1"),  # overlaps WP2; OU9 fixed
        period_row(4, "E3", "2024-01-01", "", manager_id="E4"),  # E3 → E4 → E3
        day1[4],
        period_row(6, "E5", "2024-01-01", "", manager_id="X9"),  # an unknown manager
    ]
    import_references(workdir)
    for day, rows in enumerate((day1, day2)):
        write_csv(workdir, rows, WP_COLUMNS)
        result = run(workdir, run_type="partial" if day else "full", update_limit=1000)
        assert result.decision is Decision.COMPLETED
    assert [c for c in captured if isinstance(c, str)] == ["full", "incremental"]
    incremental_day2 = captured[-1]
    assert result.data_quality == {"references": 2, "cycles": 2, "overlaps": 1}
    runs = dict(incremental_day2[0])
    assert [f[1].detail for f in runs["references"]] == ["T9", "X9"]  # T9 kept from day 1
    assert [f[2] for f in runs["cycles"]] == ["E1 → E1", "E3 → E4 → E3"]
    assert [f[0] for f in runs["overlaps"]] == [(1, 2)]
    # the same day 2 from scratch
    monkeypatch.setenv(incremental.ENV, "0")
    fresh = workdir.parent / "fresh"
    fresh.mkdir()
    import_references(fresh)
    for day, rows in enumerate((day1, day2)):
        write_csv(fresh, rows, WP_COLUMNS)
        run(fresh, run_type="partial" if day else "full", update_limit=1000)
    assert captured[-1] == incremental_day2
    assert captured[-2] == "full"


def period_row(k: int, person: str, start: str, end: str, **values: str) -> dict[str, str]:
    row = {
        "row_id": f"WP{k}",
        "employee_number": person,
        "national_id": "",
        "first_name": "First",
        "last_name": "Last",
        "employment_start_date": start,
        "employment_end_date": end,
        "title_id": "T1",
        "org_unit_id": "OU1",
        "cost_center": "CC1",
        "manager_id": "E1",
    }
    row.update(values)
    return row


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", "", " "]),
            st.one_of(st.none(), st.just(-1), st.integers(0, 30)),
            st.one_of(st.none(), st.just(-1), st.integers(0, 30)),
        ),
        max_size=16,
    ),
    st.booleans(),
    st.booleans(),
)
@example([("A", 10, 20), ("B", 1, 2), ("A", 0, 5), ("A", 4, 9)], True, False)
@example([("A", 10, 20), ("A", 0, 5), ("A", 4, 9), ("B", 3, 4), ("B", 1, 2)], True, True)
def test_overlaps_agree_with_every_pair_also_blank_and_unreadable(
    periods: list[tuple[str, int | None, int | None]], with_ends: bool, grouped: bool
) -> None:
    """The overlap sweep against comparing every pair: blank persons, blank or unreadable
    (-1: "31.02.2025") starts and ends, and a file without an end column; ``grouped``: each
    person's rows together (as most exports have them), which the sweep sorts differently."""
    from datetime import date, timedelta

    if grouped:
        periods = sorted(periods, key=lambda period: period[0])

    from hr_connector.quality import overlaps
    from hr_connector.validate import DateParser

    day0 = date(2025, 1, 1)

    def text(n: int | None) -> str:
        return "" if n is None else "2025-02-31" if n == -1 else str(day0 + timedelta(days=n))

    def span(s: int | None, e: int | None) -> tuple[int, int] | None:
        end = 99 if e is None or not with_ends else e
        if s is None or s == -1 or end == -1 or s > end:
            return None
        return s, end

    expected = []
    for i, (p, s, e) in enumerate(periods):
        for j in range(i + 1, len(periods)):
            q, s2, e2 = periods[j]
            a, b = span(s, e), span(s2, e2)
            if p == q and p.strip() and a and b and a[0] <= b[1] and b[0] <= a[1]:
                expected.append((i, j))
    persons = [p for p, _s, _e in periods]
    starts = [text(s) for _p, s, _e in periods]
    ends = [text(e) for _p, _s, e in periods] if with_ends else None
    assert overlaps.overlapping(persons, starts, ends, DateParser(("%Y-%m-%d",))) == expected


@pytest.mark.parametrize("tamper", ["foreign_archives", "columns_file", "no_state", "settings"])
def test_a_state_that_does_not_describe_the_archives_means_a_full_check(
    workdir: Path, captured: Captured, tamper: str
) -> None:
    """Kept findings are trusted only for the archives they were written with, with their own
    columns file, and for the same column settings; else every row is checked."""
    day1 = [
        period_row(1, "E1", "2024-01-01", "", manager_id="E1"),
        period_row(2, "E2", "2024-01-01", "", manager_id="E1"),
        period_row(3, "E2", "2024-06-01", "", manager_id="E1", org_unit_id="OU9"),
    ]
    day2 = [*day1, period_row(4, "E3", "2024-01-01", "", manager_id="E9")]
    import_references(workdir)
    write_csv(workdir, day1, WP_COLUMNS)
    assert run(workdir).decision is Decision.COMPLETED
    folder = workdir / "data" / "archive"
    state_file = folder / ".workperiod_quality.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if tamper == "foreign_archives":
        state["incremental"]["archives"][0][1] += 1  # another inode: another archive
    elif tamper == "settings":
        state["incremental"]["settings"]["date_formats"] = ["%d.%m.%Y"]
    elif tamper == "no_state":
        del state["incremental"]
    state_file.write_text(json.dumps(state), encoding="utf-8")
    if tamper == "columns_file":
        columns = folder / ".workperiod_quality.columns"
        columns.write_bytes(columns.read_bytes().replace(b'"E2"', b'"E7"'))
    write_csv(workdir, day2, WP_COLUMNS)
    result = run(workdir, run_type="partial", update_limit=100)
    assert result.decision is Decision.COMPLETED
    assert [c for c in captured if isinstance(c, str)] == ["full", "full"]
    assert result.data_quality == {"references": 2, "cycles": 1, "overlaps": 1}
    # and the run after that is incremental again
    write_csv(workdir, day1, WP_COLUMNS)
    assert run(workdir, run_type="partial", update_limit=100).data_quality == {
        "references": 1,
        "cycles": 1,
        "overlaps": 1,
    }
    assert [c for c in captured if isinstance(c, str)][-1] == "incremental"


def test_packed_columns_are_written_as_the_lists_were(tmp_path: Path) -> None:
    """The kept columns travel packed (``incremental.Packed``, so the publish step does not pay
    for a million live strings); the columns file has the bytes the lists gave, and a packed
    column unpacks to its values (none, non-ASCII, quotes and separators included)."""
    import orjson

    from hr_connector.records import Table

    person = ["E1", "Ä2", 'q"u;o\x1fte', "", None, "E1"]
    manager = [None, "E1", "E1", "Ö", "", "\\"]
    packed = incremental.pack({"person": person, "manager": manager})
    assert packed["person"].values() == person
    assert packed["manager"].values() == manager
    assert "E1" not in repr(packed["person"])  # never the values
    table = Table("f.csv", ["employee_number", "manager_id"], "line")
    table.rows = list(zip(person, manager, strict=True))
    kept = incremental.keep(tmp_path, table, packed, {"overlaps": []}, {}, [])
    data = incremental.columns_path(tmp_path).read_bytes()
    assert data == orjson.dumps({"person": person, "manager": manager})
    assert kept["columns_sha256"] == hashlib.sha256(data).hexdigest()
