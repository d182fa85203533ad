"""The last line of defence: an error nobody planned for still ends like an interruption.

Whatever escapes the run (a bug, a broken environment, an unreadable customer file we did not
foresee) ends with one line on stderr (the traceback goes to the run's log, and to stderr only
with ``debug: true``), no stale output left for the platform to import, the admin task kept and
filed when the Web API keys are usable, and exit 1 (PLATFORM.md §1, §5).
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from hr_connector import report
from hr_connector.filing import described
from hr_connector.outcome import Interruption, RunCounts
from hr_connector.params import webapi_settings_from_raw
from hr_connector.pipeline import unexpected
from hr_connector.runlog import redact, run_log_file
from hr_connector.steps import write_admin_task
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir, remove, run_lock

log = logging.getLogger("hr_connector.run")

EXIT_INTERRUPTED = 1


def flag(raw: Mapping[str, Any], key: str) -> bool:
    """Whether the raw (unparsed) parameters set ``key`` to true, as EPE may write it."""
    value = raw.get(key)
    return value is True or (
        isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on")
    )


def _data_type(raw: Mapping[str, Any]) -> str:
    value = str(raw.get("data_type") or "unknown").strip().lower()
    return value if value.isidentifier() and len(value) <= 40 else "unknown"


@contextlib.contextmanager
def logged(wd: WorkDir, debug: bool) -> Iterator[bool]:
    """The run's log file when it can be opened; else nothing is logged (never to stderr)."""
    try:
        context = run_log_file(wd.log, debug=debug)
        context.__enter__()
    except Exception:
        quiet = logging.NullHandler()  # keeps logging's last-resort handler off stderr
        logging.getLogger("hr_connector").addHandler(quiet)
        try:
            yield False
        finally:
            logging.getLogger("hr_connector").removeHandler(quiet)
        return
    try:
        yield True
    finally:
        with contextlib.suppress(Exception):
            context.__exit__(None, None, None)


def _remove_stale_output(wd: WorkDir, started: float) -> None:
    """Only under the run lock: another run of the data type may own the output right now.

    An output written since this process started is this run's committed output, not a stale
    one: it stays (its rows are in the archive already; see :mod:`hr_connector.delivery`).
    """
    try:
        with run_lock(wd):
            output = wd.door.stat(wd.output)
            if output is not None and output.st_mtime >= started:
                log.warning("Kept %s: this run committed it before the error", wd.output.name)
            elif remove(wd.output):
                log.info("Removed the stale output %s", wd.output.name)
    except Exception as exc:
        log.warning("The stale output was not removed: %s", redact(str(exc)))


def _file_admin_task(
    raw: Mapping[str, Any], wd: WorkDir, interruption: Interruption
) -> tuple[str | None, str | None, str | None]:
    """Keep and file the admin task; (kept path, datacard id, why it was not filed)."""
    try:
        translations = Translations.load(wd.translation_override)
    except Exception:
        translations = Translations.load(None)
    language = str(raw.get("language") or "en")
    if language not in translations.languages():
        language = "en"
    task = report.build_admin_task(
        translations=translations,
        language=language,
        task_id=wd.task_id,
        data_type=wd.data_type,
        run_type=str(raw.get("run_type") or "partial"),
        file=str(raw.get("file_path") or "-"),
        counts=RunCounts(),
        interruption=interruption,
    )
    kept: str | None = None
    try:
        kept = str(write_admin_task(task, wd))
    except Exception as exc:
        log.error("Could not keep the admin task: %s", exc)
    settings = webapi_settings_from_raw(raw)
    if settings is None:
        return kept, None, "the Web API parameters are not usable"
    try:
        from hr_connector.clients import esm

        card = esm.sink_for(settings).file(task)
        log.info("Filed the admin task %s", card)
        return kept, card, None
    except Exception as exc:
        log.error("Could not file the admin task: %s: %s", type(exc).__name__, exc)
        return kept, None, f"{type(exc).__name__}: {exc}"


def end_unexpected(
    raw: Mapping[str, Any],
    error: BaseException,
    workdir: Path,
    task_id: str,
    stderr: TextIO,
    *,
    started: float = 0.0,
) -> int:
    """Report ``error`` as the run's interruption; return the exit code (1)."""
    debug = flag(raw, "debug")
    found = unexpected(error, "The run failed unexpectedly")
    message = redact(found.message)
    interruption = found.model_copy(
        update={"message": message, "figures": {"message": redact(str(found.figures["message"]))}}
    )
    wd = WorkDir(workdir, task_id, _data_type(raw))
    kept = card = why = None
    with logged(wd, debug) as logging_to_file:
        if logging_to_file:
            log.error("Run interrupted by an unexpected error", exc_info=error)
        _remove_stale_output(wd, started)
        try:
            kept, card, why = _file_admin_task(raw, wd, interruption)
        except Exception as exc:  # the report itself failed: the one line below still stands
            why = f"{type(exc).__name__}: {exc}"
    print(f"hr-connector: interrupted, nothing imported: {message}", file=stderr)
    if debug:
        stderr.write(redact("".join(traceback.format_exception(error))))
    if kept or card or why:
        print(
            f"hr-connector: {described(card, kept, redact(str(why)) if why else None)}", file=stderr
        )
    stderr.flush()
    return EXIT_INTERRUPTED
