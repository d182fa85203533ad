"""The ``hr-connector`` command: its subcommands and their ``--help`` texts.

``run``            one import, exactly as the EPE wrapper does it (parameters on stdin or --params)
``demo``           the whole story on the bundled samples, against a local ESM
``esm-sandbox``    the local ESM: see the admin tasks in a browser (development package)
``resend-report``  file a kept admin task again (after the ESM was unreachable)
``bundle``         IGAConnector.py with the connector and its dependencies, for a named Python
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SAMPLE_FORMATS = {"costcenter": "csv", "organization": "xml", "title": "json", "workperiod": "csv"}
DEMO_USER, DEMO_PASSWORD = "iga.webapi", "demo-password-not-secret"
DEMO_FILES = """
  <taskid>_output.json      rows for the platform to import
  <taskid>_log.txt          each run's log
  <taskid>_admin_task.md    the IGA admin task, readable copy
  data/archive/             the archives the next partial run compares with
  esm/                      the local ESM's datacards and attachments"""


DESCRIPTION = """\
HR import connector for Identity Governance: fetches the HR system's file (CSV, JSON or flat
XML; from SFTP or a local folder), validates every row, compares it with the last completed
import, refuses dangerous imports (too many changes, too few rows, missing or duplicate files),
writes the rows to import and files an IGA admin task in the ESM. Each subcommand has its own
--help."""

RUN_DESCRIPTION = """\
Run one import exactly as the platform (EPE) runs IGAConnector.py. The parameters (the scheduled
task's extra arguments) come as one JSON object on standard input, usually on one line; a second
JSON value after it, the task mappings, is optional. --params FILE reads the same from a file.
The task id is the parameters' taskid / task_id / __taskid__, else --task-id, else EPE_TASK_ID."""

RUN_EPILOG = """\
exit codes: 0 completed (the last line on stdout is the output file's path), 1 interrupted (the
admin task says why), 2 unusable invocation (one line on stderr).
example:
  echo '{"taskid": 3, "file_path": "./workperiod/*.csv", "data_type": "workperiod", ...}' \\
    | hr-connector run --workdir /tmp/custom-provisioning-scripts"""


class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the texts' line breaks and shows each option's default when it has a real one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "%(default)" in text:
            return text
        return (
            text
            if action.default in (None, False, argparse.SUPPRESS)
            else f"{text} (default: %(default)s)"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hr-connector", description=DESCRIPTION, formatter_class=_Help
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from hr_connector import epe

    run = sub.add_parser(
        "run",
        help="run one import; the parameters come as JSON on stdin (EPE contract)",
        description=RUN_DESCRIPTION,
        epilog=RUN_EPILOG,
        formatter_class=_Help,
    )
    epe.add_arguments(run)

    demo = sub.add_parser(
        "demo",
        help="import the bundled samples against a local ESM: an IGA admin's first days",
        description="Full loads of the four sample data types, then a next-day work-period file "
        "stopped by the update limit, approved, and the same file again; the admin tasks go to "
        "a local ESM (see them with 'hr-connector esm-sandbox').",
        formatter_class=_Help,
    )
    demo.add_argument(
        "--workdir", type=Path, default=Path("demo-run"), help="where the demo's files go"
    )
    demo.add_argument(
        "--orchestration",
        choices=("prefect", "plain"),
        default="prefect",
        help="prefect (default): real Prefect flows on a temporary local server",
    )
    demo.add_argument(
        "--samples", type=Path, default=None, help="the samples folder (default: ./samples)"
    )

    sub.add_parser(
        "esm-sandbox",
        help="serve the local ESM and its pages of admin tasks (a development tool; its own "
        "--help)",
        add_help=False,
    )

    resend = sub.add_parser(
        "resend-report",
        help="file a kept admin task again (after the ESM was unreachable)",
        description="File <taskid>_admin_task.json, kept by the run, in the ESM again, with the "
        "attachments that run wrote. Retries a few times on network errors.",
        formatter_class=_Help,
    )
    resend.add_argument("admin_task", type=Path, help="the <taskid>_admin_task.json to send")
    resend.add_argument(
        "--params",
        type=Path,
        required=True,
        help="the parameters JSON (for webapi_url, user, password, codes)",
    )

    from hr_connector import bundle

    bundled = sub.add_parser(
        "bundle",
        help="write IGAConnector.py with the connector and its dependencies to DIR",
        formatter_class=_Help,
    )
    bundle.add_arguments(bundled)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    from hr_connector import bundle, epe

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["esm-sandbox"]:  # its options belong to the development package
        return run_esm_sandbox(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "run":
        return epe.main(argv[1:], exit_process=False)  # the same options, checked above
    if args.command == "demo":
        return run_demo(args.workdir, args.orchestration, args.samples)
    if args.command == "bundle":
        return bundle.run(args)
    if args.command == "resend-report":
        return resend_report(args.admin_task, args.params)
    return 2  # pragma: no cover


SANDBOX_MISSING = (
    "hr-connector: the local ESM is a development tool, not part of the installed connector.\n"
    "Install it from a clone of the repository: pip install -e ./esm_sandbox (./dev setup does)."
)


def run_esm_sandbox(argv: list[str]) -> int:
    try:
        from esm_sandbox.cli import main as sandbox_main
    except ImportError:
        print(SANDBOX_MISSING, file=sys.stderr)
        return 2
    return sandbox_main(argv)


def resend_report(admin_task: Path, params_file: Path) -> int:
    from hr_connector.clients import esm
    from hr_connector.door import FileRefused
    from hr_connector.params import webapi_settings_from_raw

    raw = json.loads(params_file.read_text(encoding="utf-8"))
    settings = webapi_settings_from_raw(raw)
    if settings is None:
        print("hr-connector: the parameters lack usable webapi_* keys", file=sys.stderr)
        return 2
    try:
        card = esm.resend_admin_task(admin_task, settings, delays=[2, 10, 30])
    except (esm.EsmError, esm.EsmUnavailable, FileRefused) as exc:
        print(f"hr-connector: the admin task was not filed: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # missing, unreadable, not an admin task
        print(f"hr-connector: cannot read the admin task {admin_task}: {exc}", file=sys.stderr)
        return 2
    print(f"Filed the admin task as datacard {card}")
    return 0


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

    try:
        from esm_sandbox import EsmSandbox
    except ImportError:
        raise SystemExit(SANDBOX_MISSING) from None

    from hr_connector.epe import run_connector

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
    from hr_connector.changes import describe

    print(
        f"\nThe changes the admin reviews ({label}; admin task and {result.task_id}_changes.csv):"
    )
    for kind in ("new", "changed", "removed"):
        for row in getattr(result.changes, kind):
            where = f" ({row.position})" if row.position else ""
            print(f"  {kind:8} row ID {row.row_id}{where}: {describe(row)}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
