"""``hr-connector demo``: the whole story on the bundled samples, against this local ESM.

Full loads of the four sample data types, then a next-day work-period file stopped by the
update limit, approved, and the same file again; the admin tasks go to a local ESM.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from esm_sandbox import EsmSandbox
from hr_connector.changes import describe
from hr_connector.epe import run_connector

SAMPLE_FORMATS = {"costcenter": "csv", "organization": "xml", "title": "json", "workperiod": "csv"}
DEMO_USER, DEMO_PASSWORD = "iga.webapi", "demo-password-not-secret"
DEMO_FILES = """
  <taskid>_output.json      rows for the platform to import
  <taskid>_log.txt          each run's log
  <taskid>_admin_task.md    the IGA admin task, readable copy
  data/archive/             the archives the next partial run compares with
  esm/                      the local ESM's datacards and attachments"""


def _find_samples(explicit: Path | None) -> Path:
    candidates = [explicit] if explicit else []
    candidates += [Path.cwd() / "samples", Path(__file__).resolve().parents[1] / "samples"]
    for folder in candidates:
        if folder and (folder / "workperiod" / "workperiod.csv").is_file():
            return folder
    raise SystemExit("hr-connector demo: cannot find the samples folder; use --samples DIR")


def run_demo(workdir: Path, orchestration: str, samples: Path | None) -> int:
    """Full loads of all four data types, then a next-day partial run that trips the update
    limit, then the same run approved: what an IGA admin sees in the first two days."""
    samples = _find_samples(samples)
    workdir = workdir.resolve()
    marker = workdir / ".hr-connector-demo"
    if workdir.exists() and any(workdir.iterdir()) and not marker.exists():
        raise SystemExit(f"hr-connector demo: {workdir} exists and is not a demo folder")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    marker.write_text("made by hr-connector demo\n", encoding="utf-8")
    os.environ.setdefault("PREFECT_HOME", str(workdir / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # the temporary server creates its database first: on a busy 2-core machine that alone
    # outlasted Prefect's 20 s default, and the demo ended in a traceback
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

    for data_type, fmt in SAMPLE_FORMATS.items():
        (workdir / data_type).mkdir()
        shutil.copy(samples / data_type / f"{data_type}.{fmt}", workdir / data_type)

    sandbox = EsmSandbox(workdir / "esm", users={DEMO_USER: DEMO_PASSWORD})
    sandbox.start()
    base: dict[str, Any] = {
        "webapi_url": sandbox.url,
        "webapi_user": DEMO_USER,
        "webapi_password": DEMO_PASSWORD,
        "report_template_code": "IGAWorkflowTaskInformation",
        "report_folder_code": "iga_tasks",
        "update_limit": 3,
        "language": "en",
        # the data-quality checks warn about the samples' deliberate problems;
        # same_file warn keeps each file's SHA-256, so day 3's repeated file is recognised
        "national_id_country": "fi",
        "checks": {"same_file": "warn"},
    }
    partial = {
        **base,
        "data_type": "workperiod",
        "run_type": "partial",
        "file_path": "./workperiod/*.csv",
        "removed_limit": "10%",
    }
    rows: list[tuple[str, Any]] = []

    def run(label: str, params: dict[str, Any], task_id: str) -> Any:
        result = run_connector(params, workdir, task_id, prefect=orchestration == "prefect")
        rows.append((label, result))
        return result

    try:
        for n, (data_type, fmt) in enumerate(SAMPLE_FORMATS.items(), 1):
            full = {**base, "data_type": data_type, "run_type": "full"}
            run(
                f"day 1: full load of {data_type} ({fmt})",
                {**full, "file_path": f"./{data_type}/*.{fmt}"},
                str(n),
            )
        shutil.copy(samples / "workperiod" / "next_day" / "workperiod.csv", workdir / "workperiod")
        stopped = run("day 2: partial workperiod, update_limit 3", partial, "4")
        approved = {**partial, "approved_changeset": stopped.changeset}
        run("day 2: rerun with approved_changeset", approved, "4")
        again = {**partial, "checks": {"same_file": "block"}}
        run("day 3: the same file again (same_file block)", again, "4")
    finally:
        sandbox.stop()
    _print_demo(rows, workdir)
    return 0 if all(r.report_error is None for _, r in rows) else 1


def _print_demo(rows: list[tuple[str, Any]], workdir: Path) -> None:
    print("\nhr-connector demo: sample imports against the local ESM\n")
    print(
        f"{'run':44} {'decision':12} {'read':>5} {'blocked':>7} {'new':>4} {'chg':>4} "
        f"{'rem':>4} {'output':>6}  admin task"
    )
    for label, r in rows:
        c = r.counts
        print(
            f"{label:44} {r.decision.value:12} {c.rows_read:5} {c.blocked:7} {c.new:4} "
            f"{c.changed:4} {c.removed:4} {c.output:6}  {r.admin_task_id or r.report_error}"
        )
        if r.interruption:
            print(f"{'':44} -> {r.interruption.message}")
    for label, r in rows:
        if r.interruption and r.changes:
            _print_changes(label, r)
    print(f"\nFiles are in {workdir}:{DEMO_FILES}")
    where = _shown(workdir / "esm")
    print(f"\nSee the admin tasks in a browser: {_command()} esm-sandbox --dir {where}")


def _shown(path: Path) -> str:
    """``path`` as the reader types it: relative to the current directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _command() -> str:
    """How to call this ``hr-connector`` from the current shell: its name when the shell finds
    this very command on PATH, else its path (``.venv/bin/hr-connector``: no venv activated)."""
    mine = Path(sys.executable).parent / "hr-connector"
    found = shutil.which("hr-connector")
    if found and Path(found).resolve() == mine.resolve():
        return "hr-connector"
    return _shown(mine) if mine.exists() else f"{_shown(Path(sys.executable))} -m hr_connector.cli"


def _print_changes(label: str, result: Any) -> None:
    """What the admin reviews before approving a stop: the changes its admin task lists."""
    print(
        f"\nThe changes the admin reviews ({label}; admin task and {result.task_id}_changes.csv):"
    )
    for kind in ("new", "changed", "removed"):
        for row in getattr(result.changes, kind):
            where = f" ({row.position})" if row.position else ""
            print(f"  {kind:8} row ID {row.row_id}{where}: {describe(row)}")
