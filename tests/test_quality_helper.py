"""The costliest checks of a large file in a helper process (issue 16, ``quality/helper.py``).

A large work-period file checked in full has its national IDs, overlapping periods and person
fingerprints worked out by a helper process that reads the same file beside parsing and
validation. These tests make every file "large" (``MIN_BYTES`` 0) and compare a run with the
helper against the same run without it (``HR_CONNECTOR_QUALITY_HELPER=0``): the same findings,
blocked reasons, admin task, output and kept person fingerprints. A helper that fails, answers
for another file or hangs leaves the checks to the run, with the same results; a run that stops
before its checks ends its helper; no national ID reaches the log.
"""

from __future__ import annotations

import gc
import logging
import shutil
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hr_connector.outcome import Decision
from hr_connector.quality import archives, checks, helper

from quality_helpers import NID, WP_COLUMNS, admin_task, import_references, run, write_csv

PERSONS = ["E1", "E2", "E3", "E4", "E5"]
DATES = ["2024-01-01", "2024-06-01", "2025-01-01", "2025-06-01", "", "2025-13-01"]
#: valid IDs, one with a wrong check character, one with an impossible birth date, blanks
NATIONAL_IDS = [*NID.values(), "130468-912L", "320168-912K", "", "  ", "garbage"]
CHECKS = {"references": "warn", "cycles": "warn", "overlaps": "warn", "national_ids": "warn"}


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every file counts as large; the helper jobs started are noted (weakly)."""
    monkeypatch.setattr(helper, "MIN_BYTES", 0)
    monkeypatch.setattr(helper, "usable_cores", lambda: 2)  # also where CI has one core
    started: list[Any] = []
    start = helper.start

    def noting(*args: Any, **kwargs: Any) -> helper.Job | None:
        job = start(*args, **kwargs)
        started.append(None if job is None else weakref.ref(job))
        return job

    monkeypatch.setattr(helper, "start", noting)
    return started


@pytest.fixture
def checked_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Noted each time the run validates national IDs itself (not the helper)."""
    checked: list[str] = []
    invalid_codes = checks.national_ids.invalid_codes

    def spying(module: Any, values: Any, today: Any) -> dict[str, str]:
        checked.append("national_ids")
        return invalid_codes(module, values, today)

    monkeypatch.setattr(checks.national_ids, "invalid_codes", spying)
    return checked


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every row check's findings and blocked reasons, as the run had them."""
    found: list[Any] = []
    check_rows = checks.check_rows

    def recording(*args: Any, **kwargs: Any) -> checks.QualityOutcome:
        outcome = check_rows(*args, **kwargs)
        runs = [
            (r.check, [(f.rows, f.reason, f.subject) for f in r.findings]) for r in outcome.runs
        ]
        found.append((runs, outcome.blocked))
        return outcome

    monkeypatch.setattr(checks, "check_rows", recording)
    return found


def one_run(root: Path, rows: list[dict[str, str]], columns: list[str], **raw: Any) -> Any:
    import_references(root)
    write_csv(root, rows, columns)
    result = run(root, national_id_country="fi", update_limit=100_000, **raw)
    assert result.decision is Decision.COMPLETED, result.interruption
    task = admin_task(root)
    kept = (root / "data" / "archive" / archives.persons_path(Path()).name).read_bytes()
    return task["data_quality"], (root / "3_output.json").read_bytes(), kept


@st.composite
def work_periods(draw: Any) -> list[dict[str, str]]:
    rows = []
    for k in range(draw(st.integers(min_value=1, max_value=12))):
        rows.append(
            {
                "row_id": f"WP{k}",
                "employee_number": draw(st.sampled_from(PERSONS)),
                "national_id": draw(st.sampled_from(NATIONAL_IDS)),
                "first_name": "First",
                "last_name": "Last",
                "employment_start_date": draw(st.sampled_from(DATES[:-2])),
                "employment_end_date": draw(st.sampled_from(DATES)),
                "title_id": "T1",
                "org_unit_id": draw(st.sampled_from(["OU1", "OU9"])),
                "cost_center": "CC1",
                "manager_id": draw(st.sampled_from([*PERSONS, "X9", ""])),
            }
        )
    return rows


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=work_periods(), block=st.booleans(), spelled=st.booleans())
def test_the_helper_finds_what_the_run_finds_itself(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    large: list[Any],
    recorded: list[Any],
    rows: list[dict[str, str]],
    block: bool,
    spelled: bool,
) -> None:
    columns = WP_COLUMNS
    if spelled:  # the header spells the mapped columns otherwise: matched as the run does
        spelling = {"national_id": "National ID", "employment_start_date": "Employment-Start-Date"}
        rows = [{spelling.get(k, k): v for k, v in row.items()} for row in rows]
        columns = [spelling.get(c, c) for c in WP_COLUMNS]
    chosen = {name: "block" if block else "warn" for name in CHECKS}
    outcomes = []
    for use_helper in (True, False):
        monkeypatch.setenv(helper.ENV, "1" if use_helper else "0")
        large.clear()
        recorded.clear()
        root = tmp_path_factory.mktemp("helper" if use_helper else "here")
        outcomes.append((one_run(root, rows, columns, checks=chosen), list(recorded)))
        assert (large[0] is not None) is use_helper
        shutil.rmtree(root)
    assert outcomes[0] == outcomes[1]


def test_the_run_takes_the_helpers_answer_and_does_not_validate_again(
    tmp_path: Path, large: list[Any], checked_here: list[str]
) -> None:
    """The run takes the helper's answer (it does not check those parts again itself)."""
    rows = [
        {**row, "national_id": nid}
        for row, nid in zip(_rows(), ["130468-912L", "", "021075-927L", "x"], strict=True)
    ]
    quality, _output, _kept = one_run(tmp_path, rows, WP_COLUMNS, checks=CHECKS)
    counts = {c["check"]: c["count"] for c in quality["checks"]}
    assert counts["national_ids"] == 2  # the wrong check character and "x"
    assert counts["overlaps"] == 1
    assert checked_here == []  # the helper validated them, in its own process


def _rows() -> list[dict[str, str]]:
    base = {
        "first_name": "First",
        "last_name": "Last",
        "employment_end_date": "",
        "title_id": "T1",
        "org_unit_id": "OU1",
        "cost_center": "CC1",
        "manager_id": "E2",
    }
    return [
        {**base, "row_id": "WP1", "employee_number": "E1", "employment_start_date": "2024-01-01"},
        {**base, "row_id": "WP2", "employee_number": "E1", "employment_start_date": "2025-01-01"},
        {**base, "row_id": "WP3", "employee_number": "E2", "employment_start_date": "2024-01-01"},
        {**base, "row_id": "WP4", "employee_number": "E3", "employment_start_date": "2024-01-01"},
    ]


HELPERS = {
    "fails": "import sys; sys.exit(3)",
    "answers_for_another_file": (
        "import sys; sys.stdin.read(); "
        'print(\'{"rows": 99, "header": ["x"], "names": {}, "codes": {}, "pairs": []}\')'
    ),
    "hangs": "import sys, time; sys.stdin.read(); time.sleep(60)",
}


@pytest.mark.parametrize("kind", list(HELPERS))
def test_a_helper_that_fails_leaves_the_checks_to_the_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    large: list[Any],
    kind: str,
) -> None:
    rows = [{**row, "national_id": "130468-912L"} for row in _rows()]
    monkeypatch.setattr(helper, "command", lambda: [sys.executable, "-c", HELPERS[kind]])
    monkeypatch.setattr(helper, "MIN_TIMEOUT", 1.0)
    monkeypatch.setattr(helper, "SECONDS_PER_10MB", 0)
    with caplog.at_level(logging.WARNING, logger="hr_connector.quality"):
        got = one_run(tmp_path / "a", rows, WP_COLUMNS, checks=CHECKS)
    monkeypatch.setenv(helper.ENV, "0")
    assert got == one_run(tmp_path / "b", rows, WP_COLUMNS, checks=CHECKS)
    assert large and large[0] is not None  # a helper was started, and its answer not used
    if kind != "answers_for_another_file":
        expected = "took too long" if kind == "hangs" else "failed (exit code 3)"
        assert f"the helper process {expected}; checking here instead" in caplog.text
    assert "130468-912L" not in caplog.text


def test_a_run_that_stops_before_its_checks_ends_its_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: list[Any]
) -> None:
    processes: list[subprocess.Popen[bytes]] = []
    popen = helper.subprocess.Popen

    def keeping(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = popen(*args, **kwargs)
        processes.append(process)
        return process

    monkeypatch.setattr(helper.subprocess, "Popen", keeping)
    monkeypatch.setattr(helper, "command", lambda: [sys.executable, "-c", HELPERS["hangs"]])
    import_references(tmp_path)
    rows = [{k: v for k, v in row.items() if k != "row_id"} for row in _rows()]
    write_csv(tmp_path, rows)  # no row ID column: the run stops as the file is parsed
    result = run(tmp_path, national_id_country="fi", checks=CHECKS)
    assert result.decision is Decision.INTERRUPTED
    assert len(processes) == 1
    gc.collect()
    assert processes[0].wait(timeout=10) != 0  # ended by the run, not after its 60 s


def test_an_answer_fits_only_the_table_and_columns_it_was_read_from() -> None:
    from hr_connector.records import Table

    table = Table("hr.csv", ["row_id", "Employee Number"], "row")
    table.rows = [("1", "E1"), ("2", "E2")]
    answer = helper.Answer(rows=2, header=["row_id", "Employee Number"], names={"a": "b"})
    assert answer.fits(table, {"a": "b"})
    assert not answer.fits(table, {"a": "c"})  # another column than the run's
    assert not helper.Answer(rows=3, header=answer.header, names={}).fits(table, {})
    assert not helper.Answer(rows=2, header=["row_id"], names={}).fits(table, {})


def test_a_file_without_national_ids_has_the_helper_answer_the_other_checks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, large: list[Any]
) -> None:
    columns = [c for c in WP_COLUMNS if c != "national_id"]
    with caplog.at_level(logging.WARNING, logger="hr_connector.quality"):
        quality, _output, kept = one_run(tmp_path, _rows(), columns, checks=CHECKS)
    counts = {c["check"]: c["count"] for c in quality["checks"]}
    assert counts["overlaps"] == 1
    assert "national_ids" not in counts
    assert "helper process" not in caplog.text
    assert len(kept) == 3 * archives.PERSON_DIGEST  # E1, E2, E3


@pytest.mark.integration
def test_under_prefect_the_helper_answers_the_check_data_quality_task(
    prefect_server: str,
    tmp_path: Path,
    esm: Any,
    large: list[Any],
    checked_here: list[str],
) -> None:
    """The flow starts the helper as it parses; the check-data-quality task takes its answer
    (a ``block`` national-ID finding blocks its row) and the run checks nothing itself."""
    from hr_connector.flows.hr_import import run_flow

    from prefect_helpers import raw

    import_references(tmp_path)
    rows = [{**row, "national_id": nid} for row, nid in zip(_rows(), NATIONAL_IDS, strict=False)]
    rows[2]["national_id"] = "130468-912L"  # E2's: a wrong check character
    write_csv(tmp_path, rows, WP_COLUMNS)
    params = raw(
        esm,
        file_path="in/*.csv",
        national_id_country="fi",
        checks={**CHECKS, "national_ids": "block"},
    )
    result = run_flow(params, tmp_path, "41")
    assert result.decision is Decision.COMPLETED, result.interruption
    assert result.data_quality["national_ids"] == 1 and result.counts.blocked == 1
    assert result.data_quality["overlaps"] == 1
    assert large and large[0] is not None and checked_here == []


def test_on_one_core_the_run_checks_everything_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: list[Any], checked_here: list[str]
) -> None:
    monkeypatch.setattr(helper, "usable_cores", lambda: 1)
    rows = [{**row, "national_id": "130468-912L"} for row in _rows()]
    quality, _output, _kept = one_run(tmp_path, rows, WP_COLUMNS, checks=CHECKS)
    assert large == [None]  # not started
    assert checked_here == ["national_ids"]
    assert {c["check"]: c["count"] for c in quality["checks"]}["national_ids"] == 4
