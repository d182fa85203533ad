"""Test-only plugin: freeze the connector's process at a named moment of its run.

On the ``PYTHONPATH`` of a process started by a test (:func:`freeze_points.frozen_at`), with
``HR_CONNECTOR_STOP_AT=<moment>``: Python imports this file at start-up, and it wraps the
connector's functions around that moment as their modules are imported, so that the process stops
itself (``SIGSTOP``) right there and the test can ``SIGKILL`` it exactly then. The product knows
nothing of it. The moments are :data:`freeze_points.POINTS`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.abc
import importlib.machinery
import os
import signal
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

POINT = os.environ.get("HR_CONNECTOR_STOP_AT")


def _freeze() -> None:
    os.kill(os.getpid(), signal.SIGSTOP)


def _after(
    point: str, fn: Callable[..., Any], when: Callable[..., bool] = lambda *a, **k: True
) -> Callable[..., Any]:
    """``fn``, then the freeze when ``when(value, *args, **kwargs)`` holds."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        value = fn(*args, **kwargs)
        if point == POINT and when(value, *args, **kwargs):
            _freeze()
        return value

    return wrapped


def _before(
    point: str, fn: Callable[..., Any], when: Callable[..., bool] = lambda *a, **k: True
) -> Callable[..., Any]:
    """The freeze when ``when(*args, **kwargs)`` holds, then ``fn``."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if point == POINT and when(*args, **kwargs):
            _freeze()
        return fn(*args, **kwargs)

    return wrapped


def _pipeline(module: ModuleType) -> None:
    run = module.ImportRun
    run.lock = _after("locked", run.lock)
    run.end = _after("run-ended", run.end, lambda _, self: not self.params.dry_run)


def _steps(module: ModuleType) -> None:
    steps = module.PLAIN_STEPS
    module.PLAIN_STEPS = dataclasses.replace(
        steps,
        compare=_after("compared", steps.compare),
        publish=_after("committed", steps.publish),
        keep_report=_after("admin-task-kept", steps.keep_report),
        file_report=_after("admin-task-filed", steps.file_report),
    )


def _ending(module: ModuleType) -> None:
    module.commit_begins = _before("before-commit", module.commit_begins)


def _delivery(module: ModuleType) -> None:
    module.before_commit = _after("marked", module.before_commit)
    # the exit that hands a completed run's output over clears the marks without the locks
    module.clear_deferred = _before(
        "before-exit", module.clear_deferred, lambda **k: k.get("release_locks") is False
    )


def _epe(module: ModuleType) -> None:
    def printed(code: int, result: Any, *args: Any) -> bool:
        return code == 0 and result.output_path is not None and result.decision.value == "completed"

    module._print_result = _after("output-printed", module._print_result, printed)


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "hr_connector.steps": _steps,
    "hr_connector.pipeline": _pipeline,
    "hr_connector.ending": _ending,
    "hr_connector.delivery": _delivery,
    "hr_connector.epe": _epe,
}


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds the modules to patch as the path finder would, and patches each once it has run."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader, patch = spec.loader, PATCHES[name]
        run_module = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if POINT:
    sys.meta_path.insert(0, _PatchOnImport())
