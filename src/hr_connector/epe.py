"""The EPE drop-in: what ``IGAConnector.py`` does when the provisioning engine runs it.

The platform contract (PLATFORM.md §1): exit 0 when the import completed (the last stdout line is
then the output file's absolute path), 1 when it was interrupted, 2 when the invocation itself is
unusable; the options and inputs are the ones :func:`add_arguments` and :func:`read_input` take.

Orchestration (``HR_CONNECTOR_ORCHESTRATION``): ``auto`` (default) runs the Prefect flow when
``PREFECT_API_URL`` names a Prefect server, so operators see the run in the UI, and otherwise runs
the same steps in-process without Prefect (no server to manage, no ~10 s ephemeral server start);
``prefect`` always uses the flow (an ephemeral server when no URL is set); ``plain`` never does.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from hr_connector import delivery, ending, invocation
from hr_connector.errors import ParametersInvalid, UnusableInvocation
from hr_connector.failsafe import end_unexpected, flag
from hr_connector.filing import outcome_line
from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import TASK_ID_KEYS, parse_params
from hr_connector.report import APPROVABLE_CASES
from hr_connector.runlog import redact, register_secrets
from hr_connector.runner import (
    decision_message,
    report_unusable_parameters,
    run_plain,
    secret_strings,
)

log = logging.getLogger("hr_connector.epe")

EXIT_COMPLETED, EXIT_INTERRUPTED, EXIT_UNUSABLE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, help="read the parameters JSON from this file")
    parser.add_argument("--task-id", help="task id when the parameters carry none")
    parser.add_argument("--workdir", type=Path, help="working directory (default: current)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run every step but write no output, keep the archives, move nothing on SFTP, "
        "file no admin task",
    )
    parser.add_argument(
        "--orchestration",
        choices=("auto", "prefect", "plain"),
        default=os.environ.get("HR_CONNECTOR_ORCHESTRATION", "auto"),
        help="run as a Prefect flow (auto: when PREFECT_API_URL is set)",
    )


def read_input(args: argparse.Namespace, stdin: TextIO) -> invocation.StdinInput:
    """The parameters object, the (optional) task mappings object and any repeated keys."""
    if args.params is not None:
        try:
            text = args.params.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UnusableInvocation(f"Cannot read --params {args.params}: {reason}.") from None
    else:
        if stdin is None or stdin.isatty():
            raise UnusableInvocation(
                "No parameters: pass the JSON object on standard input or use --params FILE."
            )
        text = stdin.read()
        if not text.strip():
            raise UnusableInvocation("Standard input is empty: expected the parameters JSON.")
    return invocation.split_input(text)


def resolve_task_id(raw: Mapping[str, Any], mappings: Mapping[str, Any], cli: str | None) -> str:
    for source in (raw, mappings):
        for key in TASK_ID_KEYS:
            if source.get(key) not in (None, ""):
                return invocation.safe_task_id(str(source[key]))
    for value in (cli, os.environ.get("EPE_TASK_ID")):
        if value:
            return invocation.safe_task_id(value)
    raise UnusableInvocation(
        "No task id: give '__taskid__' or 'taskid' in the parameters or the task mappings, "
        "--task-id N, or EPE_TASK_ID."
    )


def resolve_workdir(cli: Path | None) -> Path:
    try:
        chosen = cli or Path(os.environ.get("HR_CONNECTOR_WORKDIR") or Path.cwd())
        invocation.check_one_line(chosen)
        if not chosen.is_dir():
            raise UnusableInvocation(f"The working directory {chosen} does not exist.")
        resolved = chosen.resolve()
        invocation.check_one_line(resolved)
        return resolved
    except OSError as exc:  # e.g. a folder above it that this user may not enter
        where = cli or os.environ.get("HR_CONNECTOR_WORKDIR") or "(the current directory)"
        raise UnusableInvocation(
            f"The working directory {where} cannot be used: {exc.strerror}."
        ) from None


def _use_prefect(choice: str) -> bool:
    if choice != "auto":
        return choice == "prefect"
    if not os.environ.get("PREFECT_API_URL"):
        return False
    if importlib.util.find_spec("prefect") is None:  # a bundle without Prefect
        log.warning("PREFECT_API_URL is set but Prefect is not installed: running without it")
        return False
    return True


def run_connector(
    raw: Mapping[str, Any], workdir: Path, task_id: str, *, prefect: bool
) -> ImportResult:
    """Run one import: as the data type's Prefect flow, or the same steps without Prefect."""
    if prefect:
        from hr_connector.flows.hr_import import run_flow

        return run_flow(raw, workdir, task_id)
    return run_plain(parse_params(raw), workdir, task_id)


def main(
    argv: Sequence[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    *,
    exit_process: bool | None = None,
) -> int:
    """One run as the engine starts it. As the process entry (``IGAConnector.py``: no
    arguments given, or ``exit_process``) it ends the process itself, see :mod:`ending`."""
    if exit_process is None:
        exit_process = argv is None and stdout is None
    code = EXIT_INTERRUPTED
    with ending.handling_sigterm(enabled=exit_process):
        code = _main(argv, stdin, stdout, stderr)
    return ending.finish(code, exit_process=exit_process, stderr=stderr or sys.stderr)


def _main(
    argv: Sequence[str] | None,
    stdin: TextIO | None,
    stdout: TextIO | None,
    stderr: TextIO | None,
) -> int:
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    parser = argparse.ArgumentParser(
        prog="IGAConnector.py",
        description="HR import connector (EPE Generic Python Script drop-in). Reads the "
        "connector parameters as JSON from stdin line 1 (line 2: task mappings, optional).",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        given = read_input(args, stdin)
        raw, mappings = given.params, given.mappings
        task_id = resolve_task_id(raw, mappings, args.task_id)
        workdir = resolve_workdir(args.workdir)
        if not args.dry_run:
            invocation.check_writable(workdir)
    except UnusableInvocation as exc:
        print(f"hr-connector: {exc}", file=stderr)
        return EXIT_UNUSABLE
    started = time.time()
    try:
        result = _run(given, task_id, workdir, args, stdout)
    except Exception as exc:  # never a bare traceback for the engine's task history
        if ending.terminated():  # SIGTERM outside the run's steps: ending says it in one line
            log.error("Stopped by SIGTERM")
            return EXIT_INTERRUPTED
        return end_unexpected(raw, exc, workdir, task_id, stderr, started=started)
    if isinstance(result, int):
        return result
    return _print_result(result, workdir, stdout, stderr)


def _run(
    given: invocation.StdinInput,
    task_id: str,
    workdir: Path,
    args: argparse.Namespace,
    stdout: TextIO,
) -> ImportResult | int:
    """The run's result, or the exit code of a dry run that has nothing to run."""
    raw = given.params
    register_secrets(secret_strings(raw))
    if args.dry_run:
        raw = {**raw, "dry_run": True}
    try:
        parse_params(raw, repeated=given.repeated)
    except ParametersInvalid as error:
        if flag(raw, "dry_run"):  # a dry run writes and sends nothing, not even this
            print(f"Dry run: the parameters are unusable: {redact(str(error))}", file=stdout)
            print(f"Would interrupt: {redact(str(error))}", file=stdout)
            return EXIT_INTERRUPTED
        return report_unusable_parameters(raw, error, workdir, task_id)
    delivery.defer_to_exit()  # the mark of a completed run is cleared just before the exit
    return run_connector(raw, workdir, task_id, prefect=_use_prefect(args.orchestration))


def _print_result(result: ImportResult, workdir: Path, stdout: TextIO, stderr: TextIO) -> int:
    """The run's lines on stderr (paths relative to the working directory; the last line says
    what became of the admin task) and, when it completed, the output's path on stdout."""
    c = result.counts
    if result.dry_run:
        print(
            f"Dry run of {result.data_type} ({result.run_type}): decision {result.decision.value}"
            f"; rows {c.rows_read}, valid {c.valid}, blocked {c.blocked}, new {c.new}, "
            f"changed {c.changed}, unchanged {c.unchanged}, removed {c.removed}, "
            f"would import {c.output}",
            file=stdout,
        )
        if result.interruption:
            print(f"Would interrupt: {result.interruption}", file=stdout)
        stdout.flush()
        return EXIT_COMPLETED if result.decision is Decision.COMPLETED else EXIT_INTERRUPTED
    lines = [decision_message(result)]
    stop = result.interruption
    if stop and result.changeset and stop.case in APPROVABLE_CASES:  # the exact line for the admin
        lines.append(
            "to import exactly these changes, add to the extra arguments for one run: "
            f'"approved_changeset": "{result.changeset}"'
        )
    if result.log_path:
        lines.append(f"log: {result.log_path}")
    if result.admin_task_id is not None and result.report_error:
        lines.append(result.report_error)  # a step after the filing (the SFTP archive move)
    lines.append(outcome_line(result) or "")
    inside = f"{workdir}{os.sep}"
    for line in filter(None, lines):
        print(f"hr-connector: {line.replace(inside, '')}", file=stderr)
    stderr.flush()
    if result.decision is Decision.COMPLETED and result.output_path:
        # A completed run's archives have advanced: the output must be imported even when the
        # admin task could not be filed, so the exit code follows the decision.
        if ending.terminated():  # stopped by SIGTERM after the commit: not handed over
            return EXIT_INTERRUPTED
        print(result.output_path, file=stdout)
        stdout.flush()
        return EXIT_COMPLETED
    return EXIT_COMPLETED if result.decision is Decision.COMPLETED else EXIT_INTERRUPTED
