"""The import end to end on local files (plain steps): files written, decisions, admin task."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import parse_params
from hr_connector.sinks import LocalOnlySink
from hr_connector.workdir import WorkDir, run_lock

from conftest import base_raw, place
from run_helpers import run_import

FORMATS = ["csv", "json", "xml"]
TYPES = {"costcenter": (9, 1), "organization": (12, 1), "title": (14, 1), "workperiod": (40, 6)}


def run(workdir: Path, task_id: str = "3", **raw: Any) -> ImportResult:
    params = parse_params(base_raw(**raw))
    return run_import(params, WorkDir(workdir, task_id, params.data_type), LocalOnlySink())


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def archive(workdir: Path, data_type: str = "workperiod") -> Path:
    return workdir / "data" / "archive" / f"{data_type}_archive.json"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("data_type", list(TYPES))
def test_full_run_each_type_and_format(
    workdir: Path, samples: Path, data_type: str, fmt: str
) -> None:
    place(workdir, samples / data_type / f"{data_type}.{fmt}")
    result = run(workdir, data_type=data_type, fmt=fmt)
    rows, bad = TYPES[data_type]
    assert result.decision is Decision.COMPLETED
    assert (result.counts.rows_read, result.counts.blocked, result.counts.output) == (
        rows,
        bad,
        rows - bad,
    )
    output = load(workdir / "3_output.json")
    assert len(output) == rows - bad
    assert all(row["objectGUID"] for row in output)
    assert len(load(archive(workdir, data_type))) == rows
    errors = load(workdir / "data" / "archive" / f"error_{data_type}_archive.json")
    reasons = load(workdir / "data" / "archive" / f"error_{data_type}_reasons.json")
    assert len(errors) == len(reasons) == bad and all(e["reasons"] for e in reasons)
    assert (workdir / "3_output.json").stat().st_mode & 0o777 == 0o600
    task = load(workdir / "3_admin_task.json")
    assert task["decision"] == "completed" and len(task["blocked_rows"]) == bad


def test_same_data_in_three_formats_gives_identical_output(workdir: Path, samples: Path) -> None:
    outputs = []
    for fmt in FORMATS:
        place(workdir, samples / "workperiod" / f"workperiod.{fmt}")
        run(workdir, fmt=fmt)
        outputs.append((workdir / "3_output.json").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_blocked_rows_reasons_beside_the_error_archive_and_in_the_admin_task(
    workdir: Path, samples: Path
) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    run(workdir)
    errors = {
        (e["row_id"], e["reasons"][0]["code"])
        for e in load(workdir / "data/archive/error_workperiod_reasons.json")
    }
    assert errors == {
        ("WP-0006", "end_before_start"),
        ("WP-0015", "missing_value"),
        ("WP-0026", "invalid_date"),
        ("WP-0035", "missing_unique_id"),
        ("WP-0039", "duplicate_row_id"),
    }
    text = (workdir / "3_admin_task.md").read_text(encoding="utf-8")
    assert "WP-0039" in text and "line 27" in text and "6 rows blocked" in text
    output_ids = {r["row_id"] for r in load(workdir / "3_output.json")}
    assert not output_ids & {"WP-0006", "WP-0015", "WP-0026", "WP-0035", "WP-0039"}


def test_partial_run_finds_the_next_day_changes(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    run(workdir)
    place(workdir, samples / "workperiod" / "next_day" / "workperiod.csv")
    result = run(workdir, run_type="partial", update_limit=4)
    c = result.counts
    assert (c.new, c.changed, c.unchanged, c.removed, c.output) == (2, 2, 31, 1, 4)
    assert {r["row_id"] for r in load(workdir / "3_output.json")} == {
        "WP-0013",
        "WP-0014",
        "WP-0040",
        "WP-0041",
    }
    assert "WP-0038" in (workdir / "3_admin_task.md").read_text(encoding="utf-8")
    again = run(workdir, run_type="partial", update_limit=0)
    assert again.decision is Decision.COMPLETED and again.counts.output == 0
    assert load(workdir / "3_output.json") == []


def test_update_limit_interrupts_keeps_archive_removes_stale_output(
    workdir: Path, samples: Path
) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    run(workdir)
    before = archive(workdir).read_bytes()
    place(workdir, samples / "workperiod" / "next_day" / "workperiod.csv")
    result = run(workdir, run_type="partial", update_limit=3)
    assert result.decision is Decision.INTERRUPTED
    assert result.interruption and result.interruption.case == "update_limit_exceeded"
    assert result.interruption.figures["updates"] == 4
    assert not (workdir / "3_output.json").exists()
    assert archive(workdir).read_bytes() == before
    assert "approved_changeset" in (workdir / "3_admin_task.md").read_text(encoding="utf-8")
    # the archive did not move: the same changes are found again, and the approval works once
    approved = run(workdir, run_type="partial", update_limit=3, approved_changeset=result.changeset)
    assert approved.decision is Decision.COMPLETED and approved.counts.output == 4


def test_file_not_received(workdir: Path) -> None:
    result = run(workdir)
    assert result.interruption and result.interruption.case == "file_not_received"
    assert load(workdir / "3_admin_task.json")["case"] == "file_not_received"


@pytest.mark.parametrize("content", [b"", b"row_id;last_name\n", b"[]", b"<r/>"])
def test_empty_file(workdir: Path, content: bytes) -> None:
    fmt = {b"[]": "json", b"<r/>": "xml"}.get(content, "csv")
    (workdir / "in").mkdir()
    (workdir / "in" / f"hr.{fmt}").write_bytes(content)
    result = run(workdir, fmt=fmt)
    assert result.interruption and result.interruption.case == "file_empty"


def test_multiple_files(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    shutil.copy(samples / "workperiod" / "workperiod.csv", workdir / "in" / "second.csv")
    result = run(workdir)
    assert result.interruption and result.interruption.case == "multiple_files"
    assert result.interruption.figures["count"] == 2


def test_archive_missing_for_partial_run(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    result = run(workdir, run_type="partial")
    assert result.interruption and result.interruption.case == "archive_missing"
    assert not archive(workdir).exists()


def test_minimum_row_count(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "title" / "title.csv")
    result = run(workdir, data_type="title", minimum_row_count=15)
    assert result.interruption and result.interruption.case == "minimum_row_count"
    assert result.interruption.figures == {"rows": 14, "minimum": 15}


def test_minimum_row_count_stop_keeps_the_archives_and_outputs_nothing(
    workdir: Path, samples: Path
) -> None:
    place(workdir, samples / "title" / "title.csv")
    assert run(workdir, data_type="title").decision is Decision.COMPLETED
    kept = {p: p.read_bytes() for p in (workdir / "data" / "archive").glob("*title_archive.json")}
    assert len(kept) == 2  # the archive and the error archive
    result = run(workdir, data_type="title", run_type="partial", minimum_row_count=15)
    assert result.interruption and result.interruption.case == "minimum_row_count"
    assert {p: p.read_bytes() for p in kept} == kept  # byte for byte
    assert not (workdir / "3_output.json").exists()


def test_csv_header_missing_a_mapped_column(workdir: Path) -> None:
    (workdir / "in").mkdir()
    (workdir / "in" / "t.csv").write_text("title_id;name\nT1;Chef\n", encoding="utf-8")
    result = run(workdir, data_type="title")
    assert result.interruption and result.interruption.case == "missing_columns"
    assert "title_name" in result.interruption.message


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("hr.csv", "title_id;title_name\nT1;Ekonomichef Åsa\n".encode("latin-1")),
        ("hr.json", b'[{"title_id": "T1", "title_name": "x"'),
        ("hr.xml", b"<r><e><title_id>T1</title_id></r>"),
    ],
)
def test_unreadable_file_interrupts(workdir: Path, name: str, content: bytes) -> None:
    (workdir / "in").mkdir()
    (workdir / "in" / name).write_bytes(content)
    result = run(workdir, data_type="title", fmt=name.rsplit(".", 1)[1])
    assert result.interruption and result.interruption.case == "file_unreadable"
    assert name in result.interruption.message


def test_interrupted_run_removes_stale_output_but_keeps_archives(
    workdir: Path, samples: Path
) -> None:
    place(workdir, samples / "title" / "title.csv")
    run(workdir, data_type="title")
    assert (workdir / "3_output.json").exists()
    archived = archive(workdir, "title").read_bytes()
    (workdir / "in" / "title.csv").unlink()
    result = run(workdir, data_type="title")
    assert result.interruption and result.interruption.case == "file_not_received"
    assert not (workdir / "3_output.json").exists()
    assert archive(workdir, "title").read_bytes() == archived


def test_path_escaping_the_working_directory_is_refused(workdir: Path) -> None:
    result = run(workdir, file_path="../*.csv")
    assert result.interruption and result.interruption.case == "unsafe_path"


def test_second_run_of_the_same_data_type_is_refused(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "title" / "title.csv")
    run(workdir, data_type="title")
    output = (workdir / "3_output.json").read_bytes()
    kept = (workdir / "3_admin_task.json").read_bytes()
    with run_lock(WorkDir(workdir, "3", "title")):
        result = run(workdir, data_type="title")
    assert result.interruption and result.interruption.case == "run_locked"
    assert (workdir / "3_output.json").read_bytes() == output  # untouched
    assert (workdir / "3_admin_task.json").read_bytes() == kept  # the active run's task stays
    assert run(workdir, data_type="title").decision is Decision.COMPLETED


def test_crash_between_renames_is_finished_by_the_next_run(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "title" / "title.csv")
    run(workdir, data_type="title")
    wd = WorkDir(workdir, "3", "title")
    # simulate a crash after the journal was written and the first rename was done
    staged = wd.archive.with_name(f".{wd.archive.name}.tmp-999")
    staged.write_text('[{"title_id": "T999", "title_name": "new"}]', encoding="utf-8")
    wd.journal.write_text(json.dumps([[str(staged), str(wd.archive)]]), encoding="utf-8")
    place(workdir, samples / "title" / "title.csv")
    result = run(workdir, data_type="title", run_type="partial")
    assert result.decision is Decision.COMPLETED
    assert not wd.journal.exists() and not staged.exists()
    # the recovered archive (one row, T999) was the comparison base
    assert result.counts.removed == 1 and result.counts.new == 13


@pytest.mark.parametrize("language", ["fi", "sv", "de", "pl", "fr"])
def test_admin_task_in_each_language(workdir: Path, samples: Path, language: str) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    run(workdir, language=language)
    task = load(workdir / "3_admin_task.json")
    assert task["language"] == language
    english = "Rows read"
    assert english not in task["description"] and "WP-0039" in task["description"]


def test_missing_language_stops_the_run_and_names_it(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "title" / "title.csv")
    result = run(workdir, data_type="title", language="xx")
    assert result.decision is Decision.INTERRUPTED
    assert result.interruption and "'xx'" in result.interruption.message
    assert not archive(workdir, "title").exists()


def test_workdir_translation_override_is_used(workdir: Path, samples: Path) -> None:
    shipped = json.loads(
        (Path(__file__).parents[1] / "translations" / "translation.json").read_text(
            encoding="utf-8"
        )
    )
    shipped["title_completed"]["text"]["en"] = "Custom title for {data_type}"
    (workdir / "misc-files").mkdir()
    (workdir / "misc-files" / "translation.json").write_text(json.dumps(shipped), "utf-8")
    place(workdir, samples / "title" / "title.csv")
    place(workdir, samples / "title" / "title.csv")
    (workdir / "in" / "title.csv").write_text("title_id;title_name\nT1;A\n", encoding="utf-8")
    run(workdir, data_type="title")
    assert load(workdir / "3_admin_task.json")["title"] == "Custom title for job titles"


def test_dry_run_writes_nothing(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    result = run(workdir, dry_run=True)
    assert result.decision is Decision.COMPLETED and result.counts.output == 34
    assert not (workdir / "3_output.json").exists()
    assert not archive(workdir).exists()
    assert not (workdir / "3_admin_task.json").exists()
