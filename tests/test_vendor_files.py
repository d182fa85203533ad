"""The files a migrating customer's HR system writes, read as a person reads them.

Each test drives ``deployments/epe/IGAConnector.py`` as the engine does, with the vendor's example
parameters verbatim from its page (its ``//`` comments and no-break spaces), the vendor's folder
layout (``./data/``, ``data/archive/``) and the task id as ``__taskid__`` in the mappings: dates in
the forms HR systems write, the stop of a run that would import next to nothing, a trailing
delimiter and Excel's ``sep=`` line, any one-character delimiter, the archive shapes the vendor's
script wrote, and its error archive.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hr_connector.door import Door
from hr_connector.previous_run import read_previous

from conftest import SAMPLES, WEBAPI_PASSWORD
from vendor_helpers import (
    MAPPINGS,
    engine,
    filed_task,
    local_params,
    sample_rows,
    vendor_workdir,
)

ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def one_line(proc: Any) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert WEBAPI_PASSWORD not in proc.stdout + proc.stderr


def dated_file(workdir: Path, form: Callable[[str, str, str], str]) -> list[str]:
    """The sample work periods in ./data/ with every date written by ``form(y, m, d)``; returns
    the start dates as written."""
    (workdir / "data").mkdir(exist_ok=True)
    text = (SAMPLES / "workperiod" / "workperiod.csv").read_text(encoding="utf-8")
    text = ISO.sub(lambda m: form(m[1], m[2], m[3]), text)
    (workdir / "data" / "workperiod.csv").write_text(text, encoding="utf-8")
    return [line.split(";")[7] for line in text.splitlines()[1:]]


def full_run(workdir: Path, esm: Any, **more: Any) -> Any:
    params = local_params(esm, "workperiod", run_type="full", minimum_row_count=1, **more)
    proc = engine(workdir, params + MAPPINGS)
    one_line(proc)
    return proc


def output_of(workdir: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        (workdir / "1042_output.json").read_text(encoding="utf-8")
    )
    return rows


# --- dates ------------------------------------------------------------------------------------


def _baseline(tmp_path: Path, esm: Any) -> int:
    """How many sample rows are blocked with ISO dates (an impossible date, an end before the
    start): every other form must block exactly these."""
    workdir = tmp_path / "iso"
    workdir.mkdir()
    dated_file(workdir, lambda y, m, d: f"{y}-{m}-{d}")
    proc = full_run(workdir, esm)
    assert proc.returncode == 0, proc.stderr
    blocked: int = filed_task(proc, esm, workdir)["counts"]["blocked"]
    assert 0 < blocked < 10
    return blocked


FORMS: dict[str, Callable[[str, str, str], str]] = {
    "dd.mm.yyyy": lambda y, m, d: f"{d}.{m}.{y}",
    "d.m.yyyy": lambda y, m, d: f"{int(d)}.{int(m)}.{y}",
    "yyyymmdd": lambda y, m, d: f"{y}{m}{d}",
    "yyyy-m-d": lambda y, m, d: f"{y}-{int(m)}-{int(d)}",
    "dd/mm/yyyy": lambda y, m, d: f"{d}/{m}/{y}",  # a day above 12 in the column decides
    "mm/dd/yyyy": lambda y, m, d: f"{m}/{d}/{y}",  # a day above 12 in the column decides
}


def test_common_date_forms_are_dates_and_kept_as_written(tmp_path: Path, esm: Any) -> None:
    blocked = _baseline(tmp_path, esm)
    for name, form in FORMS.items():
        workdir = tmp_path / name.replace("/", "_")
        workdir.mkdir()
        written = dated_file(workdir, form)
        proc = full_run(workdir, esm)
        assert proc.returncode == 0, (name, proc.stderr)
        task = filed_task(proc, esm, workdir)
        assert task["counts"]["blocked"] == blocked, (name, task["description"])
        output = output_of(workdir)
        assert {r["employment_start_date"] for r in output} <= set(written), name
        assert output[0]["employment_start_date"] == written[0], name  # as the file wrote it


def test_undecided_day_month_order_stops_naming_date_formats_and_both_readings(
    workdir: Path, esm: Any
) -> None:
    dated_file(workdir, lambda y, m, d: f"{min(int(d), 12):02}/{m}/{y}")  # no day above 12
    proc = full_run(workdir, esm)
    assert proc.returncode == 1, proc.stderr
    task = filed_task(proc, esm, workdir)
    assert task["case"] == "date_order_ambiguous"
    for text in (proc.stderr, task["description"]):
        assert "date_formats" in text and '["%d/%m/%Y"]' in text and '["%m/%d/%Y"]' in text
        assert "employment_start_date" in text
    found = re.search(r"'(\d\d)/(\d\d)/(\d{4})' is (\S+) \(dd/mm/yyyy\) or (\S+) \(mm", proc.stderr)
    assert found, proc.stderr
    day, month, year = found.group(1, 2, 3)
    assert found[4] == f"{year}-{month}-{day}" and found[5] == f"{year}-{day}-{month}"
    assert not (workdir / "1042_output.json").exists()


def test_date_formats_decide_the_order_the_column_leaves_open(workdir: Path, esm: Any) -> None:
    written = dated_file(workdir, lambda y, m, d: f"{m}/{min(int(d), 12):02}/{y}")
    proc = full_run(workdir, esm, date_formats=["%m/%d/%Y"])
    assert proc.returncode == 0, proc.stderr
    assert output_of(workdir)[0]["employment_start_date"] == written[0]


# --- the stop of a run that would import next to nothing ---------------------------------------


@pytest.mark.parametrize("language", ["en", "fi"])
def test_a_file_mostly_blocked_stops_with_the_reasons_and_the_fix(
    workdir: Path, esm: Any, language: str
) -> None:
    dated_file(workdir, lambda y, m, d: f"{d}-{m}-{y[2:]}")  # dd-mm-yy: no form reads it
    proc = full_run(workdir, esm, language=language)
    assert proc.returncode == 1, proc.stderr
    assert "max_blocked_share 0.5" in proc.stderr
    assert "invalid_date (employment_start_date): 40;" in proc.stderr
    assert not (workdir / "1042_output.json").exists()
    task = filed_task(proc, esm, workdir)
    assert task["case"] == "too_many_blocked"
    assert "invalid_date (employment_start_date): 40;" in task["description"]
    assert "date_formats" in task["description"]
    if language == "fi":
        assert "estetty" in task["description"]
    log = (workdir / "1042_log.txt").read_text(encoding="utf-8")
    assert "max_blocked_share" in log and "date_formats" in log


def test_max_blocked_share_lets_a_mostly_blocked_file_complete(workdir: Path, esm: Any) -> None:
    dated_file(workdir, lambda y, m, d: f"{d}-{m}-{y[2:]}")
    proc = full_run(workdir, esm, max_blocked_share=1)
    assert proc.returncode == 0, proc.stderr
    assert filed_task(proc, esm, workdir)["counts"]["blocked"] == 40


# --- how spreadsheets and other HR systems write CSV ------------------------------------------


def sample_file(workdir: Path, edit: Callable[[list[str]], list[str]], *, name: str) -> None:
    (workdir / "data").mkdir(exist_ok=True)
    lines = (SAMPLES / "workperiod" / "workperiod.csv").read_text(encoding="utf-8").splitlines()
    (workdir / "data" / name).write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")


def delimited(lines: list[str], delimiter: str) -> list[str]:
    """The sample's lines written with another delimiter (quoted where a value needs it)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(
        csv.reader(lines, delimiter=";")
    )
    return out.getvalue().splitlines()


def expected_output(tmp_path: Path, esm: Any) -> list[dict[str, Any]]:
    workdir = tmp_path / "plain"
    workdir.mkdir()
    sample_file(workdir, lambda lines: lines, name="workperiod.csv")
    assert full_run(workdir, esm).returncode == 0
    return output_of(workdir)


@pytest.mark.parametrize(
    ("how", "edit", "note"),
    [
        ("trailing ;", lambda lines: [f"{line};" for line in lines], "ends with the delimiter"),
        ("sep=;", lambda lines: ["sep=;", *lines], "names its delimiter (sep="),
        ("sep=, and ,", lambda lines: ["sep=,", *delimited(lines, ",")], "sep="),
        ("Excel", lambda lines: ["\ufeffsep=;\r", *(f"{x};\r" for x in lines)], "sep="),
    ],
)
def test_trailing_delimiter_and_excel_sep_line_are_read_with_a_note(
    tmp_path: Path, esm: Any, how: str, edit: Callable[[list[str]], list[str]], note: str
) -> None:
    expected = expected_output(tmp_path, esm)
    workdir = tmp_path / "excel"
    workdir.mkdir()
    sample_file(workdir, edit, name="workperiod.csv")
    proc = full_run(workdir, esm)
    assert proc.returncode == 0, proc.stderr
    assert output_of(workdir) == expected
    task = filed_task(proc, esm, workdir)
    assert note in task["description"]
    logged = "ends with the delimiter" if "trailing" in how else "names the delimiter"
    assert logged in (workdir / "1042_log.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("delimiter", ["\t", "|", ",", "¦"])
def test_any_single_character_delimiter(tmp_path: Path, esm: Any, delimiter: str) -> None:
    expected = expected_output(tmp_path, esm)
    workdir = tmp_path / "delimited"
    workdir.mkdir()
    sample_file(workdir, lambda lines: delimited(lines, delimiter), name="workperiod.csv")
    proc = full_run(workdir, esm, csv_delimiter=delimiter)
    assert proc.returncode == 0, proc.stderr
    assert output_of(workdir) == expected


# --- the vendor's archives -------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["list", "data", "by row ID", "by row ID without the ID"])
def test_dict_shaped_vendor_archive_is_the_previous_run(
    workdir: Path, esm: Any, shape: str
) -> None:
    expected = vendor_workdir(workdir, "workperiod")
    archive = workdir / "data" / "archive" / "workperiod_archive.json"
    rows = json.loads(archive.read_text(encoding="utf-8"))
    if shape == "data":
        archive.write_text(json.dumps({"data": rows}, ensure_ascii=False), encoding="utf-8")
    elif shape.startswith("by row ID"):
        cut = shape.endswith("without the ID")
        by_id = {
            r["row_id"]: {k: v for k, v in r.items() if k != "row_id" or not cut} for r in rows
        }
        archive.write_text(json.dumps(by_id, ensure_ascii=False, indent=4), encoding="utf-8")
    proc = engine(workdir, local_params(esm, "workperiod") + MAPPINGS)
    one_line(proc)
    assert proc.returncode == 0, proc.stderr
    task = filed_task(proc, esm, workdir)
    assert (task["counts"]["new"], task["counts"]["changed"], task["counts"]["removed"]) == (
        1,
        1,
        1,
    )
    assert sorted(r["row_id"] for r in output_of(workdir)) == sorted(
        [expected["changed"], expected["new"]]
    )


def test_error_archive_holds_the_rows_and_the_reasons_lie_beside_it(
    workdir: Path, esm: Any
) -> None:
    vendor_workdir(workdir, "workperiod")
    folder = workdir / "data" / "archive"
    params = local_params(esm, "workperiod") + MAPPINGS
    proc = engine(workdir, params)
    assert proc.returncode == 0, proc.stderr
    blocked = filed_task(proc, esm, workdir)["counts"]["blocked"]
    header, rows = sample_rows("workperiod")
    errors = json.loads((folder / "error_workperiod_archive.json").read_text(encoding="utf-8"))
    reasons = json.loads((folder / "error_workperiod_reasons.json").read_text(encoding="utf-8"))
    assert len(errors) == len(reasons) == blocked > 0
    for row, entry in zip(errors, reasons, strict=True):
        assert list(row) == header and row in rows  # the row as the file wrote it
        assert entry["row_id"] == row["row_id"] and entry["position"].startswith("line ")
        assert entry["reasons"] and all(r["message"] for r in entry["reasons"])
    # read back (through the sidecar, then from the JSON archives alone): the next run with the
    # same file finds no change, and the blocked rows are not "removed"
    for sidecar in (True, False):
        if not sidecar:
            (folder / ".workperiod_archive.parquet").unlink()
            previous = read_previous(Door(folder), folder, "workperiod", "row_id")
            assert previous is not None
            imported = set(previous.rows["row_id"])
            assert imported and not imported & {row["row_id"] for row in errors}
        proc = engine(workdir, params)
        assert proc.returncode == 0, proc.stderr
        counts = filed_task(proc, esm, workdir)["counts"]
        assert (counts["new"], counts["changed"], counts["removed"]) == (0, 0, 0)
        assert counts["blocked"] == blocked


# --- what a person reads names no host path ---------------------------------------------------


def test_the_data_quality_note_names_a_folder_relative_to_the_working_directory(
    tmp_path: Path, esm: Any
) -> None:
    workdir = tmp_path / "work"
    shared = tmp_path / "shared" / "data" / "archive"
    shared.mkdir(parents=True)
    workdir.mkdir()
    sample_file(workdir, lambda lines: lines, name="workperiod.csv")
    proc = full_run(workdir, esm, reference_archives_dir=str(shared))
    assert proc.returncode == 0, proc.stderr
    task = filed_task(proc, esm, workdir)
    markdown = (workdir / "1042_admin_task.md").read_text(encoding="utf-8")
    for text in (task["description"], markdown, proc.stderr):
        assert str(tmp_path) not in text
    assert "../shared/data/archive" in task["description"]
