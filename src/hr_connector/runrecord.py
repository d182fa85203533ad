"""The record of the last completed run of a data type: what lets a retry skip finished work.

When a run has published its files but could not file the admin task (the ESM was down), a
retry of *that same run* (same run key, e.g. Prefect's flow-run id) must not repeat the data
steps: the archive has already moved, so a second comparison would find no changes and overwrite
the output the platform has not imported yet. The retry re-files the kept admin task instead.
A new run (another key) always runs every step.
"""

from __future__ import annotations

import contextlib

from pydantic import BaseModel, ValidationError

from hr_connector.outcome import ImportResult
from hr_connector.workdir import WorkDir


class RunRecord(BaseModel):
    run_key: str
    result: ImportResult
    report_filed: bool = False


def save(workdir: WorkDir, record: RunRecord) -> None:
    workdir.door.write_text(workdir.last_run, record.model_dump_json(indent=2) + "\n")


def load(workdir: WorkDir) -> RunRecord | None:
    """The record, or None when there is none (or it is unreadable: the run runs every step);
    a record that is not a regular file of ours is refused (FileRefused)."""
    with contextlib.suppress(FileNotFoundError, ValidationError, ValueError):
        return RunRecord.model_validate_json(workdir.door.read_bytes(workdir.last_run))
    return None


def pending_report(workdir: WorkDir, run_key: str | None) -> RunRecord | None:
    """The record to finish when this is a retry of a run whose admin task was not filed."""
    if not run_key:
        return None
    record = load(workdir)
    if (
        record is None
        or record.run_key != run_key
        or record.report_filed
        or not workdir.door.exists(workdir.admin_task_json)
    ):
        return None
    return record
