"""How the EPE wrapper's process ends: SIGTERM as a decision, and the exit that hands over.

**SIGTERM** (the engine or an operator stops the task). During the data steps the first one
raises :class:`Terminated` where the run is, a :class:`~hr_connector.errors.ConnectorError`
like any other interruption: nothing imported, archives unchanged, the admin task kept. Once the
commit has begun it raises nothing (a half-staged commit is not worth a torn story): the run
finishes its files, keeps its admin task, and an ESM call in flight is cut at once
(:mod:`hr_connector.clients.deadline`); the output is *not* handed over: the process exits 1
and the output stays marked undelivered, so the next run outputs those changes again. Either
way one line on stderr says so; no traceback. Later SIGTERMs are ignored (SIGKILL still ends
the process).

**The exit** (:func:`finish`): stdout, stderr, the exit handlers and the log are flushed while
the output is still marked undelivered; then the mark is cleared and the process exits at once
with ``os._exit``, skipping the interpreter's teardown (it took 100–140 ms, a window in which a
kill lost the run's changes). How the mark is cleared: :mod:`hr_connector.delivery`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TextIO

from hr_connector import delivery
from hr_connector.errors import RunInterrupted

log = logging.getLogger("hr_connector.ending")

_terminated = False
#: False once the commit has begun: SIGTERM is then recorded, not raised.
_interruptible = True


class Terminated(RunInterrupted):
    """The process received SIGTERM."""

    case = "run_failed"

    def __init__(self) -> None:
        message = "The run was stopped by SIGTERM (the engine or an operator ended it)"
        super().__init__(
            message,
            hint="Nothing was handed over for import; run the task again.",
            figures={"message": message},
        )


def terminated() -> bool:
    return _terminated


def commit_begins() -> None:
    global _interruptible
    _interruptible = False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _terminated
    first = not _terminated
    _terminated = True
    if first and _interruptible:
        raise Terminated()


@contextlib.contextmanager
def handling_sigterm(*, enabled: bool) -> Iterator[None]:
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except Terminated:  # outside the run's own handlers (parsing the input, printing)
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def finish(code: int, *, exit_process: bool, stderr: TextIO) -> int:
    """Clear the deferred marks when the run hands its output over, and end the process."""
    if _terminated:
        code = 1
        delivery.discard_deferred()  # the output stays undelivered: the next run repeats it
        print(
            "hr-connector: stopped by SIGTERM; nothing was handed over for import (a committed "
            "output stays marked undelivered and the next run outputs it again; the admin task "
            "is kept beside the log)",
            file=stderr,
        )
    if code != 0:
        delivery.discard_deferred()
    for stream in (sys.stdout, sys.stderr, stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if not exit_process:
        if code == 0:
            delivery.clear_deferred()
        return code
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()  # Prefect drains its API log worker there: before the mark goes
    logging.shutdown()  # the log is complete before the mark goes
    if code == 0:
        delivery.clear_deferred(release_locks=False)  # the exit releases them
    os._exit(code)
