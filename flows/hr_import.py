"""The Prefect flows that run the import, one per data type, so the Prefect UI shows which one ran.

A flow's body is the sequence, :func:`hr_connector.pipeline.hr_import` (read it there), with the
Prefect task wrappers (:func:`hr_connector.tasks.prefect_steps`): every step is a task run in the
UI. Around it, :func:`opened_flow_run` takes the per-run overrides, refuses a deployment's
unusable working directory, resolves secret references and applies the admin's decision on a
stopped run (:mod:`hr_connector.approval`); :func:`hr_connector.runner.opened_run` adds what every
run needs (log file ``<taskid>_log.txt``, secrets redacted; lock; artifacts). An interrupted run
(missing file, update limit, …) ends **Failed** with a message that says what to fix. A
*deployment* run stopped by a limit first suspends, waiting for the admin's decision in the UI.
The typed :class:`ImportResult` is the Completed state's result, and rides on the Failed state's
exception (:class:`RunNotCompleted`) otherwise; :func:`run_flow` returns it in both cases.

The deployments' entrypoints are ``hr_connector.flows.hr_import:hr_import_<data type>``. The plain
mode (the EPE script without a Prefect server) runs the same sequence
(:func:`hr_connector.runner.run_plain`) and never imports this module, nor Prefect.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from prefect import Flow, flow
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from hr_connector import advice, approval, artifacts, pipeline, secret_refs
from hr_connector.errors import ParametersInvalid
from hr_connector.flows.run_view import (
    ExpectedStop,
    deployment_workdir,
    logs_in_prefect,
    origin,
    quiet_expected_stops,
    run_name,
)
from hr_connector.outcome import Decision, ImportResult, Interruption
from hr_connector.params import parse_params
from hr_connector.pipeline import ImportRun
from hr_connector.runlog import register_secrets
from hr_connector.runner import (
    opened_run,
    report_unusable_parameters,
    secret_strings,
    state_message,
)
from hr_connector.schemas import SCHEMAS, DataType
from hr_connector.tasks import prefect_steps
from hr_connector.workdir import WorkDir

quiet_expected_stops()

#: One-off override of the deployment's ``params.run_type`` ("full" for a first load).
RunType = Literal["partial", "full"]


class RunNotCompleted(ExpectedStop):
    """The Failed state's exception: carries the run's result for in-process callers."""

    def __init__(self, message: str, result: ImportResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class FlowRun:
    """The flow run's sequence run, or None with the result when it ended before its first step."""

    run: ImportRun | None = None
    result: ImportResult | None = None

    def final_state(self) -> State[Any]:
        result = self.run.result if self.run is not None else self.result
        assert result is not None
        message = state_message(result)
        if result.decision is Decision.INTERRUPTED or result.report_error:
            return Failed(message=message, data=RunNotCompleted(message, result))
        return Completed(message=message, data=result)


@contextlib.contextmanager
def opened_flow_run(
    data_type: DataType,
    params: dict[str, Any],
    workdir: str,
    task_id: str,
    overrides: Mapping[str, Any],
) -> Iterator[FlowRun]:
    """The Prefect side of a run, around the sequence: the per-run ``overrides`` (None: not
    given), the deployment's working directory, the secret references, the admin's decision on
    a stopped run; after it, the wait for that decision (:mod:`hr_connector.approval`)."""
    raw = {"data_type": data_type, **params}
    raw.update({key: value for key, value in overrides.items() if value is not None})
    if raw["data_type"] != data_type:
        raise ValueError(f"this flow imports {data_type}, the parameters say {raw['data_type']}")
    held = FlowRun()
    with advice.running_under(origin()) as run_origin, logs_in_prefect():
        workdir, refused = deployment_workdir(workdir, run_origin)
        if refused:  # nothing is written anywhere: the path was never chosen
            logging.getLogger("hr_connector.run").error("Run refused: %s", refused)
            held.result = ImportResult(
                task_id=task_id,
                data_type=data_type,
                run_type=str(raw.get("run_type") or "partial"),
                decision=Decision.INTERRUPTED,
                interruption=Interruption(case="parameters_invalid", message=refused),
            )
            yield held
            return
        decided, round_ = approval.decision_of_this_run()  # a stopped run the admin resumed
        if decided is not None and decided.decision == "approve":
            raw["approved_changeset"] = decided.changeset
            raw["approved_by"] = decided.who
        try:
            resolved = secret_refs.resolve(raw)
            register_secrets(secret_strings(resolved))
            parsed = parse_params(resolved)
        except ParametersInvalid as error:
            held.result = report_unusable_parameters(raw, error, Path(workdir), task_id)
            yield held
            return
        if decided is not None and decided.decision == "reject":
            held.result = approval.report_rejection(parsed, Path(workdir), task_id, decided)
            yield held
            return
        can_suspend = (
            parsed.wait_for_approval
            and not parsed.dry_run
            and approval.deployment_run() is not None
        )
        steps = prefect_steps(parsed.retry_delays)
        with (
            advice.awaiting_decision(flow_run.name if can_suspend else None),
            opened_run(parsed, Path(workdir), task_id, steps, run_key=flow_run.id) as run,
        ):
            held.run = run
            yield held
        result = run.result
        undecided = decided is None or approval.voided(decided, result)
        if can_suspend and undecided and approval.can_wait(result, parsed.dry_run):
            wd = WorkDir(Path(workdir), task_id, parsed.data_type)
            approval.wait_for_decision(
                result,
                approval.form_description(
                    result, artifacts.admin_task_markdown(result, wd), decided
                ),
                parsed.approval_timeout_hours,
                round_ + 1,
                approval.waiting_message(result, parsed.approval_timeout_hours, decided),
            )


def _make(data_type: DataType) -> Flow[..., State[Any]]:
    def hr_import(
        params: dict[str, Any],
        workdir: str,
        task_id: str,
        approved_changeset: str = "",
        override_update_limit: bool | None = None,
        dry_run: bool | None = None,
        run_type: RunType | None = None,
    ) -> State[Any]:
        overrides = {
            "approved_changeset": approved_changeset.strip() or None,
            "override_update_limit": override_update_limit,
            "dry_run": dry_run,
            "run_type": run_type,
        }
        with opened_flow_run(data_type, params, workdir, task_id, overrides) as opened:
            if opened.run is not None:  # None: refused before its first step
                pipeline.hr_import(opened.run)  # the sequence: each step a task run
        return opened.final_state()

    hr_import.__doc__ = (
        f"Import {data_type} rows from the HR file into the IGA solution.\n\n"
        "params: the connector's extra arguments; secret keys hold references "
        "(env:NAME, prefect-secret:NAME), never values. workdir: the task's working directory "
        "(a relative one lives under the worker's HR_CONNECTOR_HOME). task_id: names the task's "
        "files. run_type: 'full' for a one-off full load (the first run of a partial "
        "deployment). dry_run: run every step, write and send nothing. A run stopped by a limit "
        "waits, Suspended: press Resume on it to approve or reject. approved_changeset (blank: "
        "none) and override_update_limit are for deployments with wait_for_approval false."
    )
    hr_import.__name__ = f"hr_import_{data_type}"
    return flow(
        name=SCHEMAS[data_type].flow_name,
        flow_run_name=functools.partial(run_name, data_type),
        persist_result=False,
        log_prints=False,
    )(hr_import)


#: One flow per data type, so the Prefect UI shows which one ran.
FLOWS: dict[str, Flow[..., State[Any]]] = {name: _make(name) for name in SCHEMAS}
# the deployments' entrypoints (prefect.yaml): ``hr_connector.flows.hr_import:hr_import_<type>``
hr_import_costcenter = FLOWS["costcenter"]
hr_import_organization = FLOWS["organization"]
hr_import_title = FLOWS["title"]
hr_import_workperiod = FLOWS["workperiod"]


def run_flow(raw: Mapping[str, Any], workdir: Path, task_id: str) -> ImportResult:
    """Run the data type's flow in this process and return its result, Completed or Failed.

    Secret values are swapped for in-memory references first, so the parameters Prefect stores
    hold none.
    """
    data_type = str(raw.get("data_type"))
    state = FLOWS[data_type](
        params=secret_refs.stash(raw), workdir=str(workdir), task_id=task_id, return_state=True
    )
    outcome = state.result(raise_on_failure=False)
    if isinstance(outcome, ImportResult):
        return outcome
    if isinstance(outcome, RunNotCompleted):
        return outcome.result
    # The flow crashed before it had a result (a bug, or Prefect itself failed): re-raise it.
    if isinstance(outcome, BaseException):
        raise outcome
    raise RuntimeError(f"The flow ended {state.type.value} without a result: {state.message}")
