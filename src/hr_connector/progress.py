"""Progress of a run, around its step calls: which step, how many rows, how fast.

On a terminal (``hr-connector run`` by hand) a live line on stderr (rich): the step, the rows read
and the rate, the time so far. Anywhere else (the EPE worker, a Prefect worker, a pipe) a log
line every :data:`LOG_EVERY` seconds while a step runs, so a long run is never silent: it reaches
``<taskid>_log.txt`` and, in a flow, the run's Logs tab. The steps themselves know nothing of it:
:func:`watching` wraps each step call of a :class:`~hr_connector.steps.Steps`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from hr_connector.steps import Steps

log = logging.getLogger("hr_connector.progress")

#: Seconds between two progress lines in the log while a step runs.
LOG_EVERY = 5.0
#: The steps as the Prefect UI names them (the task names), by their field in :class:`Steps`.
STEP_NAMES = {
    "fetch": "fetch-hr-file",
    "check_file": "check-file-quality",
    "parse": "parse-hr-file",
    "validate": "validate-rows",
    "check_rows": "check-data-quality",
    "compare": "compare-with-archive",
    "guard": "guard-import",
    "changes": "list-changes",
    "publish": "publish-files",
    "keep_report": "keep-admin-task",
    "file_report": "file-admin-task",
    "archive_remote": "archive-remote-file",
}


@dataclasses.dataclass
class RunProgress:
    """What the run is doing now; read by the display thread."""

    started: float = dataclasses.field(default_factory=time.monotonic)
    step: str = "starting"
    step_started: float = dataclasses.field(default_factory=time.monotonic)
    rows: int | None = None

    def line(self) -> str:
        now = time.monotonic()
        text = f"{self.step} ({now - self.step_started:.0f} s)"
        if self.rows is not None:
            rate = self.rows / max(now - self.started, 1e-6)
            text += f", {self.rows:,} rows read ({rate:,.0f} rows/s)"
        return text + f", {now - self.started:.0f} s in all"

    def wrap(self, field: str, step: Callable[..., Any]) -> Callable[..., Any]:
        name = STEP_NAMES[field]

        def call(*args: Any, **kwargs: Any) -> Any:
            self.step, self.step_started = name, time.monotonic()
            value = step(*args, **kwargs)
            if field == "parse":
                with contextlib.suppress(TypeError):
                    self.rows = len(value)
            return value

        return call


def _watched(steps: Steps, progress: RunProgress) -> Steps:
    wrapped = {
        f.name: progress.wrap(f.name, getattr(steps, f.name))
        for f in dataclasses.fields(steps)
        if f.name in STEP_NAMES
    }
    return dataclasses.replace(steps, **wrapped)


def _log_while_running(progress: RunProgress, done: threading.Event) -> None:
    while not done.wait(LOG_EVERY):
        log.info("Still running: %s", progress.line())


def _live_on(stream: IO[str], progress: RunProgress, done: threading.Event) -> None:
    """A live line on the terminal ``stream`` (rich is a dependency, bundled too)."""
    from rich.console import Console  # only on a terminal: a worker's run never loads it
    from rich.live import Live
    from rich.text import Text

    def show() -> None:
        console = Console(file=stream, stderr=stream is sys.stderr)
        with Live(Text(progress.line()), console=console, transient=True) as live:
            while not done.wait(0.25):
                live.update(Text(f"hr-connector: {progress.line()}"))

    threading.Thread(target=show, name="hr-connector-progress", daemon=True).start()


@contextlib.contextmanager
def watching(steps: Steps, stream: IO[str] | None = None) -> Iterator[Steps]:
    """The steps, reporting progress while the block runs (on ``stream`` when it is a terminal,
    else in the log)."""
    stream = sys.stderr if stream is None else stream
    progress, done = RunProgress(), threading.Event()
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    if terminal:
        _live_on(stream, progress, done)
    else:
        threading.Thread(
            target=_log_while_running,
            args=(progress, done),
            name="hr-connector-progress",
            daemon=True,
        ).start()
    try:
        yield _watched(steps, progress)
    finally:
        done.set()
