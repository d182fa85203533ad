"""What ``<taskid>_changes.csv`` and the admin task list after a partial run, line by line: every
reason of a blocked row, and a column the file no longer has as a change of each row that had a
value in it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hr_connector.outcome import Decision

from conftest import SAMPLES, place
from run_helpers import place_bytes, run_plain

SAMPLE = SAMPLES / "workperiod" / "workperiod.csv"


def changes_csv(workdir: Path, task_id: str = "3") -> list[dict[str, str]]:
    text = (workdir / f"{task_id}_changes.csv").read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def sample_rows() -> tuple[list[str], list[list[str]]]:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    return lines[0].split(";"), [line.split(";") for line in lines[1:]]


def written(header: list[str], rows: list[list[str]]) -> bytes:
    return "".join(";".join(values) + "\n" for values in [header, *rows]).encode()


def full_load(workdir: Path) -> None:
    place(workdir, SAMPLE)
    assert run_plain(workdir, data_type="workperiod").decision is Decision.COMPLETED


def test_the_changes_file_lists_every_reason_of_a_blocked_row(workdir: Path) -> None:
    full_load(workdir)
    header, rows = sample_rows()
    second = rows[1]  # WP-0002, valid in the sample: now two problems at once
    second[header.index("last_name")] = ""
    second[header.index("employment_start_date")] = "31.02.2025"
    place_bytes(workdir, "workperiod.csv", written(header, rows))
    done = run_plain(workdir, data_type="workperiod", run_type="partial")
    assert done.decision is Decision.COMPLETED
    lines = [line for line in changes_csv(workdir) if line["row_id"] == "WP-0002"]
    assert [(line["change"], line["column"]) for line in lines] == [
        ("blocked", "last_name"),
        ("blocked", "employment_start_date"),
    ]
    assert "the mandatory value last_name is missing" in lines[0]["reason"]
    assert "employment_start_date is not a valid date" in lines[1]["reason"]
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    (row,) = [r for r in task["blocked_rows"] if r["row_id"] == "WP-0002"]
    assert [r["code"] for r in row["reasons"]] == ["missing_value", "invalid_date"]


def test_a_column_gone_from_the_file_is_listed_as_a_change(workdir: Path) -> None:
    full_load(workdir)
    header, rows = sample_rows()
    gone = header.index("second_name")
    kept = [[v for i, v in enumerate(values) if i != gone] for values in [header, *rows]]
    place_bytes(workdir, "workperiod.csv", written(kept[0], kept[1:]))
    stopped = run_plain(workdir, data_type="workperiod", run_type="partial", update_limit=0)
    assert stopped.decision is Decision.INTERRUPTED
    assert stopped.counts.changed == 18  # every valid row that had a second name
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    assert "- row ID WP-0001 (line 2): second_name: Tapani → –" in task["description"]
    changed = [line for line in changes_csv(workdir) if line["change"] == "changed"]
    assert len(changed) == 18 and {line["column"] for line in changed} == {"second_name"}
    assert ("WP-0001", "Tapani", "") in {
        (line["row_id"], line["old_value"], line["new_value"]) for line in changed
    }
