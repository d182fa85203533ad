"""The flow's body is the one sequence: the plain mode calls the same steps, in the same order,
and never imports Prefect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import parse_params
from hr_connector.sinks import LocalOnlySink
from hr_connector.steps import PLAIN_STEPS, Steps
from hr_connector.workdir import WorkDir

from conftest import base_raw, place
from run_helpers import run_import

#: the order the flow's body calls its steps (the Prefect task names in the README's table)
FLOW_ORDER = [
    "fetch",
    "check_file",
    "parse",
    "validate",
    "check_rows",
    "compare",
    "guard",
    "changes",
    "publish",
    "keep_report",
    "file_report",
    "archive_remote",
]


def recording(calls: list[str]) -> Steps:
    """The plain steps, each noting its name when called."""

    def noting(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            calls.append(name)
            return step(*args)

        return call

    wrapped = {
        f.name: noting(f.name, getattr(PLAIN_STEPS, f.name))
        for f in fields(Steps)
        if f.name != "quote"
    }
    return replace(PLAIN_STEPS, **wrapped)


def run(workdir: Path, steps: Steps, **raw: Any) -> ImportResult:
    params = parse_params(base_raw(data_type="title", **raw))
    return run_import(params, WorkDir(workdir, "3", "title"), LocalOnlySink(), steps)


def test_a_partial_run_calls_every_step_in_the_flows_order(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "title" / "title.csv")
    assert run(workdir, PLAIN_STEPS).decision is Decision.COMPLETED  # the archive to compare with
    calls: list[str] = []
    result = run(workdir, recording(calls), run_type="partial")
    assert result.decision is Decision.COMPLETED
    assert calls == FLOW_ORDER


def test_a_full_run_lists_no_changes(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "title" / "title.csv")
    calls: list[str] = []
    assert run(workdir, recording(calls)).decision is Decision.COMPLETED
    assert calls == [name for name in FLOW_ORDER if name != "changes"]


def test_a_stop_skips_to_publishing_and_the_admin_task(workdir: Path) -> None:
    calls: list[str] = []
    result = run(workdir, recording(calls))  # no file delivered
    assert result.interruption is not None and result.interruption.case == "file_not_received"
    assert calls == ["fetch", "publish", "keep_report", "file_report"]


def test_a_dry_run_files_nothing_and_moves_nothing(workdir: Path, samples: Path) -> None:
    place(workdir, samples / "title" / "title.csv")
    calls: list[str] = []
    assert run(workdir, recording(calls), dry_run=True).decision is Decision.COMPLETED
    # a full run lists no changes; a dry run keeps, files and moves nothing
    assert calls == [*FLOW_ORDER[: FLOW_ORDER.index("changes")], "publish"]


_PLAIN_RUN = """
import io, json, sys
from hr_connector import epe
stdout, stderr = io.StringIO(), io.StringIO()
code = epe.main(
    ["--dry-run", "--workdir", sys.argv[1], "--task-id", "1"],
    stdin=io.StringIO(sys.argv[2]), stdout=stdout, stderr=stderr, exit_process=False,
)
prefect = sorted(m for m in sys.modules if m.startswith("prefect"))
print(json.dumps({"code": code, "prefect": prefect, "stdout": stdout.getvalue()}))
"""


def test_the_epe_plain_mode_runs_the_sequence_without_importing_prefect(
    workdir: Path, samples: Path
) -> None:
    place(workdir, samples / "title" / "title.csv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "EPE_"))}
    env["HR_CONNECTOR_ORCHESTRATION"] = "plain"
    raw = json.dumps(base_raw(data_type="title"))
    proc = subprocess.run(
        [sys.executable, "-c", _PLAIN_RUN, str(workdir), raw],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    seen = json.loads(proc.stdout.splitlines()[-1])
    assert seen["code"] == 0, seen
    assert "rows 14, valid 13, blocked 1" in seen["stdout"]
    assert seen["prefect"] == []


def test_the_flows_are_made_on_first_use_from_the_sequences_module() -> None:
    from hr_connector.flows import hr_import

    flows = hr_import.FLOWS
    assert sorted(flows) == ["costcenter", "organization", "title", "workperiod"]
    assert hr_import.hr_import_title is flows["title"]
    assert flows["title"].name == "hr-import-title"
