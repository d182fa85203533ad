"""Shared helpers of the data-quality tests (test_quality, test_quality_properties): work-period
rows with valid Finnish IDs, a CSV writer, a plain run, and the reference data types' imports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import parse_params
from hr_connector.sinks import LocalOnlySink
from hr_connector.workdir import WorkDir

from conftest import base_raw
from run_helpers import run_import

WP_COLUMNS = [
    "row_id",
    "employee_number",
    "national_id",
    "first_name",
    "last_name",
    "employment_start_date",
    "employment_end_date",
    "title_id",
    "org_unit_id",
    "cost_center",
    "manager_id",
]
#: valid Finnish temporary IDs (individual numbers 900-999), correct check characters
NID = {
    "E1": "130468-912K",
    "E2": "021075-927L",
    "E3": "210790-935K",
    "E4": "140201A956R",
}
BAD_NID = "130468-912L"  # E1's ID with a wrong check character


def wp_row(row_id: str, person: str, manager: str = "E1", **values: str) -> dict[str, str]:
    row = {
        "row_id": row_id,
        "employee_number": person,
        "national_id": NID.get(person, ""),
        "first_name": "First",
        "last_name": f"Last{person}",
        "employment_start_date": "2025-01-01",
        "employment_end_date": "",
        "title_id": "T1",
        "org_unit_id": "OU1",
        "cost_center": "CC1",
        "manager_id": manager,
    }
    row.update(values)
    return row


def good_workperiods() -> list[dict[str, str]]:
    return [
        wp_row("WP1", "E1", manager="E1"),  # the top boss is their own manager (a cycle)
        wp_row("WP2", "E2"),
        wp_row("WP3", "E3", manager="E2"),
        wp_row("WP4", "E4", manager="E2", org_unit_id="OU2"),
    ]


def write_csv(workdir: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    folder = workdir / "in"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    path = folder / "hr.csv"
    lines = [";".join(columns)] + [";".join(r.get(c, "") for c in columns) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(
    workdir: Path, data_type: str = "workperiod", task_id: str = "3", **raw: Any
) -> ImportResult:
    params = parse_params(base_raw(data_type=data_type, **raw))
    return run_import(params, WorkDir(workdir, task_id, data_type), LocalOnlySink())


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def admin_task(workdir: Path, task_id: str = "3") -> dict[str, Any]:
    return load(workdir / f"{task_id}_admin_task.json")


def errors(workdir: Path, data_type: str = "workperiod") -> dict[str, list[str]]:
    entries = load(workdir / "data" / "archive" / f"error_{data_type}_reasons.json")
    return {e["row_id"]: [r["code"] for r in e["reasons"]] for e in entries}


def written(workdir: Path) -> list[bytes]:
    """The output, the archive and the error archive, to compare two paths byte for byte."""
    names = ("3_output.json", "workperiod_archive.json", "error_workperiod_archive.json")
    folders = (workdir, workdir / "data" / "archive", workdir / "data" / "archive")
    return [(folder / name).read_bytes() for folder, name in zip(folders, names, strict=True)]


def quality(task: dict[str, Any], check: str) -> dict[str, Any]:
    found = [c for c in (task["data_quality"] or {}).get("checks", []) if c["check"] == check]
    assert found, f"no {check} in {task['data_quality']}"
    return found[0]


def import_references(workdir: Path, *, org_units: tuple[str, ...] = ("OU1", "OU2")) -> None:
    """Import organization, title and costcenter files into ``workdir`` (their archives)."""
    orgs = [
        {
            "org_unit_id": ou,
            "org_unit_name": f"Unit {ou}",
            "parent_org_unit_id": "" if k == 0 else org_units[0],
            "manager_id": "",
            "cost_center": "CC1",
        }
        for k, ou in enumerate(org_units)
    ]
    write_csv(workdir, orgs)
    assert run(workdir, "organization", task_id="o").decision is Decision.COMPLETED
    write_csv(workdir, [{"title_id": "T1", "title_name": "Engineer"}])
    assert run(workdir, "title", task_id="t").decision is Decision.COMPLETED
    write_csv(workdir, [{"cost_center_id": "CC1", "cost_center_name": "Ops", "owner_id": ""}])
    assert run(workdir, "costcenter", task_id="c").decision is Decision.COMPLETED
