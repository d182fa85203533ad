"""Approving (or rejecting) a stopped run from the Prefect UI in one step (issue 12).

When a limit stops a partial run of a **deployment**, the flow files the stopped admin task as
always and then *suspends* itself with :func:`prefect.flow_runs.suspend_flow_run`, waiting for a
:class:`ChangesetDecision`. The run shows as **Suspended** in the UI with a **Resume** button whose
form is already filled in: ``decision`` approve, ``changeset`` the stopped run's digest; the admin
types their name and submits. The description above the form is the admin task (changes listed,
national IDs masked).

Why suspend and not pause: a suspended run leaves its process. It gives back the deployment's
concurrency slot (Prefect releases it when a run leaves Running), the worker's slot and the
connector's run lock, so the next scheduled run of the deployment starts on time. A *paused* run
(``pause_flow_run``) keeps its process (and worker slot) alive until it is resumed or times out,
and is lost when the worker restarts.

What resuming does (Prefect's documented behaviour): the worker starts the flow run again from the
top. :func:`decision_of_this_run` finds the decision stored under the suspension's key and the run
imports with ``approved_changeset`` = the approved digest: every step runs again on the file as
it is *now*, so a file that changed meanwhile gives another digest and is stopped again (the
approval is bound to the changes the admin saw). A rejection files an admin task that says who
rejected the changes, and ends the run Failed; nothing is imported.

Traps handled here: a run suspends at most once (the fixed key ``hr-approval``; Prefect refuses a
second suspension with a fired key, and the input is then read back instead); only deployment
runs can suspend (an in-process or EPE run keeps the "rerun with approved_changeset" route); a
dry run never waits; the suspension expires after ``approval_timeout_hours`` (then the run is
Failed, and the next scheduled run decides afresh).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from prefect.input import RunInput
from pydantic import Field, ValidationError

from hr_connector.outcome import Decision, ImportResult, Interruption
from hr_connector.params import ConnectorParams
from hr_connector.report import APPROVABLE_CASES
from hr_connector.runlog import run_log_file
from hr_connector.runner import file_interruption_task
from hr_connector.sinks import make_sink
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.approval")

#: The suspension's pause key; the decision is stored under ``suspended-hr-approval-response``.
PAUSE_KEY = "hr-approval"
RESPONSE_KEY = f"suspended-{PAUSE_KEY}-response"


class ChangesetDecision(RunInput):
    """The admin's decision on a stopped run: the form of the Prefect UI's Resume button."""

    decision: Literal["approve", "reject"] = Field(
        default="approve", description="approve: import exactly these changes; reject: do not"
    )
    changeset: str = Field(description="The changeset digest of the stopped run")
    decided_by: str = Field(min_length=1, description="Your name: the admin task records it")
    comment: str = Field(default="", description="Optional: why")


def deployment_run() -> Any | None:
    """The current flow run when it belongs to a deployment (only those can suspend)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.deployment_id is None:
        return None
    return context.flow_run


def decision_of_this_run() -> ChangesetDecision | None:
    """The decision a resumed run was given, or ``None`` (first attempt, or no deployment)."""
    if deployment_run() is None:
        return None
    from prefect.input.actions import read_flow_run_input

    value = read_flow_run_input(RESPONSE_KEY)
    if not value:
        return None
    try:
        return ChangesetDecision.model_validate(value)
    except ValidationError as exc:
        log.error("The decision given on resume is not usable: %s", exc)
        return None


def can_wait(result: ImportResult, dry_run: bool) -> bool:
    """Whether this stop should wait for a decision in Prefect."""
    return (
        not dry_run
        and result.interruption is not None
        and result.interruption.case in APPROVABLE_CASES
        and bool(result.changeset)
        and deployment_run() is not None
    )


def wait_for_decision(result: ImportResult, description: str, timeout_hours: float) -> None:
    """Suspend this flow run until the admin decides. Raises Prefect's ``Pause`` (the process
    exits, the worker reschedules the run when it is resumed); returns only when Prefect refuses
    to suspend (this run was already suspended once)."""
    from prefect.flow_runs import suspend_flow_run

    assert result.changeset is not None
    form = ChangesetDecision.with_initial_data(
        description=description, decision="approve", changeset=result.changeset
    )
    log.warning(
        "Waiting for the admin's decision on changeset %s: open this flow run in the Prefect UI "
        "and press Resume (approve or reject). The run is suspended; it holds no worker or "
        "concurrency slot, and expires in %g hours.",
        result.changeset,
        timeout_hours,
    )
    try:
        suspend_flow_run(wait_for_input=form, timeout=int(timeout_hours * 3600), key=PAUSE_KEY)
    except RuntimeError as exc:  # e.g. the API refused: the stop stands as it is
        log.error("Could not wait for a decision in Prefect: %s", exc)
    except ValidationError:  # resumed once without a decision: the stop stands as it is
        log.error("This run was resumed without a decision; the stop stands.")


def form_description(result: ImportResult, admin_task_markdown: str) -> str:
    """What the Resume form shows above its fields: how to decide, then the admin task."""
    return (
        f"**Approve or reject the changes of this stopped run** (changeset `{result.changeset}`)."
        " Approving imports exactly these changes now; if the file has changed since, the run "
        "stops again. Type your name in *decided_by*.\n\n---\n\n" + admin_task_markdown
    )


def report_rejection(
    params: ConnectorParams, workdir: Path, task_id: str, decision: ChangesetDecision
) -> ImportResult:
    """The admin rejected the changes: nothing is imported; the admin task and the log say who."""
    wd = WorkDir(workdir, task_id, params.data_type)
    who = decision.decided_by.strip()
    comment = f" ({decision.comment.strip()})" if decision.comment.strip() else ""
    interruption = Interruption(
        case="changes_rejected",
        message=f"The changes (changeset {decision.changeset}) were rejected by {who}{comment}; "
        "nothing was imported.",
        hint="The next run compares its file with the same archive again.",
        figures={"who": who, "changeset": decision.changeset, "comment": comment},
    )
    result = ImportResult(
        task_id=task_id,
        data_type=params.data_type,
        run_type=params.run_type,
        decision=Decision.INTERRUPTED,
        interruption=interruption,
        changeset=decision.changeset,
        log_path=str(wd.log),
    )
    with run_log_file(wd.log, debug=params.debug):
        log.warning("Decision in Prefect: %s", interruption.message)
        file_interruption_task(
            result,
            wd,
            params.webapi.language,
            params.file_path,
            make_sink(params, Translations.load(wd.translation_override)),
        )
    return result
