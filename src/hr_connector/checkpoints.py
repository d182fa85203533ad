"""Named moments of a run where a fault-injection test can freeze the real process.

``HR_CONNECTOR_STOP_AT=<name>`` makes the process stop itself (``SIGSTOP``) when it reaches
that moment, so a test can ``SIGKILL`` it exactly there: before and after the commit, the
undelivered mark, the admin task, the output path printed, the exit
(``tests/test_kill_sweep.py``). Without the variable :func:`reached` does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "HR_CONNECTOR_STOP_AT"

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


def reached(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGSTOP)
