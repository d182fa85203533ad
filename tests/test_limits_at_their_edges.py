"""Limits, approvals and dates at their edges, on the plain steps: what the run decides, what the
admin task says and which files it leaves.

- ``minimum_row_count`` equal to the rows read lets the run through (fewer stops it);
- a work period that ends the day it starts is valid;
- an approval covers the removed rows too: approving "remove C" does not let "remove B" through;
- ``report_max_rows`` cuts the removed rows the admin task lists, as it cuts the new and changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hr_connector.outcome import Decision

from conftest import SAMPLES, place
from run_helpers import Snapshot, place_bytes, run_plain, seed_full_run


def admin_task(workdir: Path, task_id: str = "3") -> dict[str, Any]:
    return json.loads((workdir / f"{task_id}_admin_task.json").read_text(encoding="utf-8"))


def output_ids(workdir: Path, key: str, task_id: str = "3") -> list[str]:
    rows = json.loads((workdir / f"{task_id}_output.json").read_text(encoding="utf-8"))
    return [row[key] for row in rows]


def title_file_without(*row_ids: str) -> bytes:
    lines = (SAMPLES / "title" / "title.csv").read_text(encoding="utf-8").splitlines(True)
    return "".join(line for line in lines if line.split(";")[0] not in row_ids).encode()


def test_minimum_row_count_equal_to_the_rows_read_lets_the_run_through(workdir: Path) -> None:
    place(workdir, SAMPLES / "title" / "title.csv")  # 14 data rows
    done = run_plain(workdir, data_type="title", minimum_row_count=14)
    assert done.decision is Decision.COMPLETED
    assert admin_task(workdir)["decision"] == "completed"
    assert len(output_ids(workdir, "title_id")) == 13  # the sample blocks one row
    stopped = run_plain(workdir, "4", data_type="title", minimum_row_count=15)
    assert stopped.interruption is not None and stopped.interruption.case == "minimum_row_count"
    assert not (workdir / "4_output.json").exists()


def test_a_work_period_ending_the_day_it_starts_is_imported(workdir: Path) -> None:
    lines = (SAMPLES / "workperiod" / "workperiod.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(";")
    start, end = header.index("employment_start_date"), header.index("employment_end_date")
    values = lines[1].split(";")  # WP-0001, a valid row
    values[start] = values[end] = "2026-03-02"
    place_bytes(workdir, "workperiod.csv", "\n".join([lines[0], ";".join(values)]).encode() + b"\n")
    done = run_plain(workdir, data_type="workperiod")
    assert done.decision is Decision.COMPLETED
    task = admin_task(workdir)
    assert task["blocked_rows"] == []
    rows = json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))
    assert [(r["row_id"], r["employment_start_date"], r["employment_end_date"]) for r in rows] == [
        ("WP-0001", "2026-03-02", "2026-03-02")
    ]


def test_an_approval_of_removing_one_row_does_not_remove_another(workdir: Path) -> None:
    seed_full_run(workdir, "title")
    place_bytes(workdir, "title.csv", title_file_without("T120"))
    stopped = run_plain(workdir, data_type="title", run_type="partial", removed_limit=0)
    assert stopped.interruption is not None
    assert stopped.interruption.case == "removed_limit_exceeded" and stopped.changeset
    before = Snapshot.of(workdir, "title")
    place_bytes(workdir, "title.csv", title_file_without("T130"))  # one other row removed
    other = run_plain(
        workdir,
        data_type="title",
        run_type="partial",
        removed_limit=0,
        approved_changeset=stopped.changeset,
    )
    assert other.decision is Decision.INTERRUPTED and other.changeset != stopped.changeset
    assert Snapshot.of(workdir, "title").archives == before.archives
    task = admin_task(workdir)
    assert task["decision"] == "interrupted"
    assert f"The approval of changeset {stopped.changeset} does not apply" in task["description"]
    assert "row ID T130" in task["description"] and "row ID T120" not in task["description"]


def test_report_max_rows_cuts_the_listed_removed_rows(workdir: Path) -> None:
    seed_full_run(workdir, "title")
    place_bytes(workdir, "title.csv", title_file_without("T120", "T130", "T140"))
    stopped = run_plain(
        workdir, data_type="title", run_type="partial", removed_limit=0, report_max_rows=1
    )
    assert stopped.decision is Decision.INTERRUPTED
    text = admin_task(workdir)["description"]
    assert "row ID T120" in text
    assert "row ID T130" not in text and "row ID T140" not in text
    assert "… and 2 more rows, listed in the attached 3_changes.csv." in text
    listed = (workdir / "3_changes.csv").read_text(encoding="utf-8-sig")
    assert all(f"T1{n}0" in listed for n in (2, 3, 4))
