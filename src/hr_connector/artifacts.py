"""Prefect artifacts of a run: a table of the figures and a Markdown summary of the admin task.

They let the Prefect UI tell the run's story without opening log files. National IDs are masked
(artifacts live in Prefect's database) and no imported row is ever put into an artifact.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys

from hr_connector import advice
from hr_connector.changes import describe
from hr_connector.door import FileRefused
from hr_connector.inert import FIGURE_MAX, shown
from hr_connector.masking import mask_national_ids
from hr_connector.outcome import Decision, ImportResult
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.artifacts")


def handed_over(result: ImportResult, had_output: bool = False) -> str:
    """Where this run's rows went and whether they were handed over to the platform."""
    deployment = advice.current().deployment
    if result.dry_run:
        return "nothing: a dry run writes no output"
    if result.decision is Decision.COMPLETED and result.output_path:
        if deployment is None:
            return (
                f"yes: {result.output_path} ({result.counts.output} rows), which the platform "
                "imports once this run exits"
            )
        return (
            f"written for the platform: {result.output_path} ({result.counts.output} rows). A "
            f"Prefect deployment ({deployment}) imports nothing itself: the platform's import "
            "that reads this working directory takes the file; the next run of the deployment "
            "replaces it (completed) or removes it (stopped)"
        )
    text = "nothing: the run stopped, no output was written"
    if had_output:
        text += (
            "; the previous run's output was removed so that the platform never imports it "
            "twice (its rows were handed over when that run completed)"
        )
    return text


def summary_table(result: ImportResult, had_output: bool = False) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {"figure": "decision", "value": result.decision.value},
        {"figure": "run type", "value": result.run_type + (" (dry run)" if result.dry_run else "")},
    ]
    partial_only = {"new", "changed", "unchanged", "removed"}
    rows += [
        {"figure": k.replace("_", " "), "value": v}
        for k, v in result.counts.model_dump().items()
        if result.run_type != "full" or k not in partial_only
    ]
    rows += [
        {"figure": f"data quality {check.replace('_', ' ')}", "value": n}
        for check, n in result.data_quality.items()
    ]
    if result.interruption:
        rows.append({"figure": "stopped at", "value": stopping_step(result)})
        rows.append({"figure": "reason", "value": result.interruption.message})
        figures = result.interruption.figures
        for name, figure in LIMIT_FIGURES.items():
            if name in figures:
                rows.append({"figure": figure, "value": figures[name]})
        if result.interruption.hint:
            rows.append({"figure": "how to approve or fix", "value": result.interruption.hint})
    if result.changeset:
        rows.append({"figure": "changeset", "value": result.changeset})
    rows.append({"figure": "rows handed over", "value": handed_over(result, had_output)})
    rows += change_rows(result)
    return rows


def change_rows(result: ImportResult) -> list[dict[str, object]]:
    """The admin task's listed changes, one table row each (national IDs are already masked)."""
    if result.changes is None:
        return []
    rows: list[dict[str, object]] = []
    for kind in ("new", "changed", "removed"):
        listed = getattr(result.changes, kind)
        for row in listed:
            rows.append(
                {"figure": f"{kind} {shown(row.row_id)}", "value": shown(describe(row), FIGURE_MAX)}
            )
        rest = getattr(result.changes, f"{kind}_total") - len(listed)
        if rest > 0:
            rows.append({"figure": f"{kind}: more rows", "value": f"{rest} (see the attachment)"})
    return rows


#: Interruption figures that are a limit the run was held to.
LIMIT_FIGURES = {"limit": "update limit", "minimum": "minimum row count", "updates": "updates"}
#: The step of the interruptions no step task raises (the flow refuses before the steps).
_STOP_OF_CASE = {"parameters_invalid": "parameters", "run_locked": "run lock"}


def stopping_step(result: ImportResult) -> str:
    step = advice.stopped_step()
    if step:
        return step
    case = result.interruption.case if result.interruption else ""
    return _STOP_OF_CASE.get(case, "-")


def artifact_key(result: ImportResult) -> str:
    """``hr-<deployment>`` for a deployment's runs (one customer's latest never hides another's),
    else ``hr-<data_type>``."""
    from prefect.runtime import deployment

    name = deployment.name if deployment.id else None
    if name:
        return "hr-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or result.data_type)
    return f"hr-{result.data_type}"


def admin_task_markdown(result: ImportResult, wd: WorkDir) -> str:
    text = f"# {result.data_type}: {result.decision.value}\n"
    if not result.dry_run:
        with contextlib.suppress(FileNotFoundError, FileRefused):
            text = wd.door.read_text(wd.admin_task_markdown)
    return mask_national_ids(text)


def publish_run_artifacts(result: ImportResult, wd: WorkDir, had_output: bool = False) -> None:
    """Create the artifacts when running inside a Prefect flow run; otherwise do nothing."""
    if "prefect" not in sys.modules:  # a plain run: no flow, and no reason to import Prefect
        return
    from prefect.artifacts import create_markdown_artifact, create_table_artifact
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return
    key = artifact_key(result)
    try:
        create_table_artifact(
            summary_table(result, had_output),
            key=f"{key}-summary",
            description=f"{result.data_type} task {result.task_id}",
        )
        create_markdown_artifact(
            admin_task_markdown(result, wd),
            key=f"{key}-admin-task",
            description="The IGA admin task of this run",
        )
    except Exception as exc:  # artifacts are a view; a failure must not change the run
        log.warning("Could not create the run's artifacts: %s", exc)
    log.debug("Artifacts: %s", json.dumps(summary_table(result), default=str))
