"""Approving (or rejecting) a stopped run from the Prefect UI in one step.

When a limit stops a partial run of a deployment, the flow files the stopped admin task as always
and then *suspends* itself, waiting for a :class:`ChangesetDecision`: the run's **Resume** button
opens a form with the changeset filled in, the admin task above it (national IDs masked); the admin
chooses approve or reject (no default: a decision is made on purpose) and types their name. That is
the one route a Prefect operator is given (:func:`hr_connector.advice.approve_hint`).

Why suspend and not pause: a suspended run leaves its process, so it gives back the deployment's
concurrency slot, the worker's slot and the connector's run lock, and the next scheduled run starts
on time; a paused run keeps its process until it is resumed and is lost when the worker restarts.

Resuming starts the flow run again from the top (Prefect's documented behaviour): every step runs
again on the file as it is *now*, with ``approved_changeset`` = the approved digest. A file that
changed meanwhile gives another digest: the approval is voided and the run suspends again under a
new pause key (Prefect fires a key once). Only deployment runs suspend; a dry run never waits; a
suspension expires after ``approval_timeout_hours``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import Abort, Pause
from prefect.input import RunInput, keyset_from_paused_state
from prefect.input.actions import read_flow_run_input
from prefect.states import State, Suspended
from prefect.utilities.engine import propose_state_sync
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

#: The first suspension's pause key; round n > 1 uses ``hr-approval-<n>``. The decision of a
#: round is stored under ``suspended-<key>-response``.
PAUSE_KEY = "hr-approval"
#: Rounds of approval one flow run may go through (a file that keeps changing while it waits).
MAX_ROUNDS = 20


def pause_key(round_: int) -> str:
    return PAUSE_KEY if round_ <= 1 else f"{PAUSE_KEY}-{round_}"


class ChangesetDecision(RunInput):
    """The admin's decision on a stopped run: the form of the Prefect UI's Resume button."""

    decision: Literal["approve", "reject"] = Field(
        description="approve: import exactly these changes now; reject: import nothing"
    )
    changeset: str = Field(description="The changeset digest of the stopped run (filled in)")
    decided_by: str = Field(min_length=1, description="Your name: the admin task records it")
    comment: str = Field(default="", description="Optional: why; the admin task records it")

    @property
    def who(self) -> str:
        """``Anna Admin`` or ``Anna Admin (expected: the reorganisation)``."""
        why = self.comment.strip()
        return self.decided_by.strip() + (f" ({why})" if why else "")


def deployment_run() -> Any | None:
    """The current flow run when it belongs to a deployment (only those can suspend)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.deployment_id is None:
        return None
    return context.flow_run


def decision_of_this_run() -> tuple[ChangesetDecision | None, int]:
    """The last decision this run was given and its round (``None, 0``: never suspended, or not
    a deployment run)."""
    if deployment_run() is None:
        return None, 0
    found: tuple[ChangesetDecision | None, int] = (None, 0)
    for round_ in range(1, MAX_ROUNDS + 1):
        value = read_flow_run_input(f"suspended-{pause_key(round_)}-response")
        if not value:
            break
        try:
            found = ChangesetDecision.model_validate(value), round_
        except ValidationError as exc:
            log.error("The decision given on resume is not usable: %s", exc)
            found = None, round_
    return found


def can_wait(result: ImportResult, dry_run: bool) -> bool:
    """Whether this stop should wait for a decision in Prefect."""
    return (
        not dry_run
        and result.interruption is not None
        and result.interruption.case in APPROVABLE_CASES
        and bool(result.changeset)
        and deployment_run() is not None
    )


def voided(decided: ChangesetDecision | None, result: ImportResult) -> bool:
    """An approval given for other changes than the ones this run found (the file changed)."""
    return (
        decided is not None
        and decided.decision == "approve"
        and result.changeset is not None
        and result.changeset != decided.changeset
    )


def waiting_message(
    result: ImportResult, timeout_hours: float, earlier: ChangesetDecision | None = None
) -> str:
    """The Suspended state's message: what the operator does now."""
    head = ""
    if earlier is not None:
        head = (
            f"The approval of changeset {earlier.changeset} by {earlier.decided_by.strip()} was "
            "voided: the file changed while the run waited. "
        )
    return (
        f"{head}Waiting for a decision on changeset {result.changeset} ({result.interruption}): "
        "review the changes in the form's description, then press Resume and choose approve "
        f"(imports exactly these changes) or reject. Expires in {timeout_hours:g} hours."
    )


def wait_for_decision(
    result: ImportResult, description: str, timeout_hours: float, round_: int, message: str
) -> None:
    """Suspend this flow run until the admin decides (round ``round_``, with ``message`` as the
    Suspended state's message). Raises Prefect's ``Pause``: the process exits and the worker
    starts the run again once it is resumed. Returns only when Prefect refuses the suspension."""
    assert result.changeset is not None
    form = ChangesetDecision.with_initial_data(description=description, changeset=result.changeset)
    log.warning("%s", message)
    try:
        _suspend(form, timeout=int(timeout_hours * 3600), key=pause_key(round_), message=message)
    except RuntimeError as exc:  # e.g. the API refused: the stop stands as it is
        log.error("Could not wait for a decision in Prefect: %s", exc)


def _suspend(form: type[ChangesetDecision], *, timeout: int, key: str, message: str) -> None:
    """Prefect's ``suspend_flow_run(wait_for_input=form, key=key, timeout=timeout)``, with a state
    message: Prefect's own leaves the Suspended state's message empty, so the UI says nothing."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("only a flow run can be suspended")
    proposed: State[None] = Suspended(timeout_seconds=timeout, pause_key=key, message=message)
    keyset = keyset_from_paused_state(proposed)
    proposed.state_details.run_input_keyset = dict(keyset.items())
    with get_client(sync_client=True) as client:
        try:
            state = propose_state_sync(
                client=client, state=proposed, flow_run_id=context.flow_run.id
            )
        except Abort as exc:
            raise RuntimeError(f"the flow run cannot be suspended: {exc}") from None
        if state.is_running():  # this key fired before: the run was resumed already
            return
        if not state.is_paused():
            raise RuntimeError(f"the flow run cannot be suspended: the API answered {state}")
        form.save(keyset)
    raise Pause(state=state)


def form_description(
    result: ImportResult, admin_task_markdown: str, earlier: ChangesetDecision | None = None
) -> str:
    """What the Resume form shows above its fields: how to decide, then the admin task."""
    head = ""
    if earlier is not None:
        head = (
            f"**The approval of changeset `{earlier.changeset}` by {earlier.decided_by.strip()} "
            "was voided**: the file changed while the run waited, and these are other changes.\n\n"
        )
    return (
        f"{head}**Approve or reject the changes of this stopped run** (changeset "
        f"`{result.changeset}`). Choose *approve* to import exactly these changes now (if the file "
        "has changed since, the run stops again), or *reject* to import nothing. Type your name "
        "in *decided_by*; a *comment* goes into the admin task.\n\n---\n\n" + admin_task_markdown
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
