"""What the operator is told to do, in the terms of where the run came from.

A run started by a Prefect deployment is fixed in Prefect (a Secret block, the deployment's
``params``, Run > Custom run, ``prefect deployment run … -p …``), one started by the EPE wrapper
or ``hr-connector run`` in the scheduled task's extra arguments; the flow says which
(:func:`running_under`). A stop by a limit is approved in the Resume form of a waiting flow run
(:func:`awaiting_decision`), else by ``approved_changeset`` given the same way. The step that
stopped the run is kept for the summary artifact (:func:`note_stop`). Nothing here imports Prefect.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RunOrigin:
    """Where a run came from: a Prefect deployment (with its names) or the EPE wrapper."""

    deployment: str | None = None  # "<flow name>/<deployment name>"

    @property
    def is_deployment(self) -> bool:
        return self.deployment is not None


EPE = RunOrigin()
_origin: ContextVar[RunOrigin] = ContextVar("hr_connector_run_origin", default=EPE)
_stopped_step: ContextVar[str | None] = ContextVar("hr_connector_stopped_step", default=None)
_awaited_run: ContextVar[str | None] = ContextVar("hr_connector_awaited_run", default=None)


def current() -> RunOrigin:
    return _origin.get()


@contextlib.contextmanager
def running_under(origin: RunOrigin) -> Iterator[RunOrigin]:
    """Hints and the stop record of the errors raised in this block fit ``origin``."""
    token = _origin.set(origin)
    stop = _stopped_step.set(None)
    try:
        yield origin
    finally:
        _stopped_step.reset(stop)
        _origin.reset(token)


@contextlib.contextmanager
def awaiting_decision(flow_run: str | None) -> Iterator[None]:
    """In this block a stop by a limit waits for the admin's decision in Prefect: the deployment's
    flow run ``flow_run`` suspends, and the texts give that one route (None: it cannot wait)."""
    token = _awaited_run.set(flow_run)
    try:
        yield
    finally:
        _awaited_run.reset(token)


def awaited_run() -> str | None:
    """The flow run that waits for a decision on a stop by a limit, if this run can wait."""
    return _awaited_run.get() if current().is_deployment else None


def note_stop(step: str) -> None:
    """Record the step that stopped the run (the first one wins)."""
    if _stopped_step.get() is None:
        _stopped_step.set(step)


def stopped_step() -> str | None:
    return _stopped_step.get()


_SECRET_BLOCK = re.compile(r"Prefect Secret block '([^']+)'")


def _deployment_run(origin: RunOrigin, **overrides: str) -> str:
    args = " ".join(f"-p {shlex.quote(f'{k}={v}')}" for k, v in overrides.items())
    return f"prefect deployment run {shlex.quote(origin.deployment or '')} {args}".strip()


def in_origin_terms(hint: str) -> str:
    """A generic hint ("… and rerun the task") in the terms of where the run came from."""
    origin = current()
    if not origin.is_deployment:
        return hint
    return hint.replace("rerun the task", f"run the deployment {origin.deployment} again")


def parameters_hint(invalid: Mapping[str, str]) -> str:
    """How to fix unusable parameters (ParametersInvalid)."""
    origin = current()
    blocks = sorted({m.group(1) for text in invalid.values() for m in _SECRET_BLOCK.finditer(text)})
    if not origin.is_deployment:
        return "Add or correct these keys in the scheduled task's extra arguments and rerun it."
    parts = []
    if blocks:
        names = ", ".join(f"'{b}'" for b in blocks)
        parts.append(
            f"Create the Prefect Secret block(s) {names} (UI: Blocks > + > Secret, or "
            f"Secret(value=...).save('{blocks[0]}') in Python)"
        )
    other = [k for k, text in invalid.items() if not _SECRET_BLOCK.search(text)]
    if other or not blocks:
        parts.append(
            f"correct the keys in the 'params' of deployment {origin.deployment} "
            "(UI: the deployment's Edit page, or Run > Custom run for one run)"
        )
    return "; ".join(parts) + ", then rerun the deployment."


def approve_hint(changeset: str) -> str:
    """How to approve one run above a limit: the one route where the run came from."""
    origin = current()
    run = awaited_run()
    if run is not None:
        return (
            f"Review the changes, then open the flow run '{run}' in the Prefect UI and press "
            "Resume: choose approve (imports exactly these changes) or reject."
        )
    if not origin.is_deployment:
        return (
            'Review the changes. If they are right, add "approved_changeset": '
            f'"{changeset}" to the scheduled task\'s extra arguments for one run '
            "(or override_update_limit true)."
        )
    return (
        "Review the changes. If they are right, run the deployment once with "
        f"approved_changeset '{changeset}': UI Run > Custom run, field approved_changeset, "
        f"or: {_deployment_run(origin, approved_changeset=changeset)}"
    )


def full_load_hint() -> str:
    """How to create the first archive (ArchiveMissing)."""
    origin = current()
    if not origin.is_deployment:
        return "Run a full load once (run_type 'full') to create the archive, or restore it."
    return (
        "Run a full load once to create the archive (or restore it): run the deployment once "
        "with run_type full: UI Run > Custom run, field run_type, or: "
        f"{_deployment_run(origin, run_type='full')}"
    )
