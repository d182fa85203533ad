"""The ``hr-connector`` command: its subcommands and their ``--help`` texts."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from hr_connector import bundle, epe
from hr_connector.door import FileRefused
from hr_connector.params import webapi_settings_from_raw

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

    bundled = sub.add_parser(
        "bundle",
        help="write IGAConnector.py with the connector and its dependencies to DIR",
        formatter_class=_Help,
    )
    bundle.add_arguments(bundled)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["esm-sandbox"]:  # its options belong to the development package
        return run_esm_sandbox(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "run":
        return epe.main(argv[1:], exit_process=False)  # the same options, checked above
    if args.command == "demo":  # drives the local ESM: it lives in the development package
        try:
            from esm_sandbox.demo import run_demo
        except ImportError:
            raise SystemExit(SANDBOX_MISSING) from None
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
    from hr_connector.clients import esm  # requests and lxml only for this command

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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
