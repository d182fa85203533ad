"""Named moments of a run where a fault-injection test freezes the real process.

A process started with :func:`frozen_at` stops itself (``SIGSTOP``) when it reaches that moment,
so a test can ``SIGKILL`` it exactly there: before and after the commit, the undelivered mark, the
admin task, the output path printed, the exit (``tests/test_kill_sweep.py``). The freezing is done
by a test-only plugin on the process's ``PYTHONPATH`` (``freeze_plugin/sitecustomize.py``), which
wraps the connector's functions around each moment: the product has no hook for it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "HR_CONNECTOR_STOP_AT"
PLUGIN = Path(__file__).resolve().parent / "freeze_plugin"

#: In the order a completed run reaches them.
POINTS = (
    "locked",
    "compared",
    "before-commit",
    "marked",
    "committed",
    "admin-task-kept",
    "admin-task-filed",
    "run-ended",
    "output-printed",
    "before-exit",
)


def frozen_at(point: str) -> dict[str, str]:
    """The environment entries that make a started connector process freeze at ``point``."""
    assert point in POINTS, point
    path = os.pathsep.join(filter(None, [str(PLUGIN), os.environ.get("PYTHONPATH", "")]))
    return {ENV: point, "PYTHONPATH": path}
