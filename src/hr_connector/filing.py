"""Whether the admin task reached the ESM: said once, in the same words, and never forgotten.

A run's decision stands whatever the ESM does, so the filing has an outcome of its own, stated
by :func:`outcome_line` (the last line on stderr, the Prefect state message, the log). A task
that could not be filed is remembered (:func:`remember`) and repeated by the next run's task
(:func:`with_unfiled`), so the admin learns of it in the ESM, where they look.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from hr_connector.errors import ConnectorError
from hr_connector.outcome import AdminTask, ImportResult
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.run")

#: Earlier unfiled tasks a task repeats (the oldest are dropped beyond this).
MAX_REMEMBERED = 3
#: Characters of an earlier task's description repeated (its kept copy had all of it).
MAX_REPEATED_TEXT = 2000


class UnfiledTask(BaseModel):
    """An admin task the ESM never got, as a later task repeats it."""

    created_at: str
    title: str
    error: str
    description: str


_UNFILED = TypeAdapter(list[UnfiledTask])


def memory_path(workdir: WorkDir) -> Path:
    return workdir.archive_dir / f".{workdir.data_type}_{workdir.task_id}_unfiled.json"


def remembered(workdir: WorkDir) -> list[UnfiledTask]:
    """The earlier tasks of this task and data type that were not filed (oldest first)."""
    path = memory_path(workdir)
    try:
        return _UNFILED.validate_json(workdir.door.read_bytes(path))
    except FileNotFoundError:
        return []
    except (OSError, ValidationError, ConnectorError) as exc:
        log.warning("Ignored %s: %s", workdir.door.relative(path), str(exc).splitlines()[0])
        return []


def remember(workdir: WorkDir, task: AdminTask, error: str) -> None:
    """Keep ``task`` (the run's own, without repeats) for the next run's task to repeat."""
    entry = UnfiledTask(
        created_at=task.created_at,
        title=task.title,
        error=error,
        description=task.description[:MAX_REPEATED_TEXT],
    )
    same = (task.created_at, task.title)
    earlier = [e for e in remembered(workdir) if (e.created_at, e.title) != same]
    kept = [*earlier, entry][-MAX_REMEMBERED:]
    try:
        workdir.door.make_folder(workdir.archive_dir)
        workdir.door.write_bytes(memory_path(workdir), _UNFILED.dump_json(kept, indent=2))
    except (OSError, ConnectorError) as exc:  # the stderr line still says it was not filed
        log.error("Could not remember the unfiled admin task for the next run: %s", exc)


def forget(workdir: WorkDir) -> None:
    """A task of this run was filed, repeating the earlier ones: nothing left to repeat."""
    try:
        workdir.door.remove(memory_path(workdir))
    except (OSError, ConnectorError) as exc:
        log.warning("Could not clear %s: %s", workdir.door.relative(memory_path(workdir)), exc)


def with_unfiled(task: AdminTask, workdir: WorkDir, translations: Translations) -> AdminTask:
    """``task`` saying first which earlier tasks were not filed, and repeating their text last."""
    earlier = remembered(workdir)
    if not earlier:
        return task
    t, language = translations.text, task.language
    first = [
        t("earlier_task_not_filed", language, created_at=e.created_at, title=e.title, error=e.error)
        for e in earlier
    ]
    last: list[str] = []
    for e in earlier:
        last += ["", t("earlier_task_text", language, created_at=e.created_at), e.title]
        last.append(e.description)
    description = "\n".join([*first, "", task.description, *last])
    return task.model_copy(update={"description": description})


def outcome_line(result: ImportResult) -> str | None:
    """The one sentence that says what became of the run's admin task (None: a dry run, which
    files nothing by design)."""
    if result.dry_run:
        return None
    return described(
        result.admin_task_id,
        result.admin_task_path,
        result.report_error,
        result.attachments_refused,
    )


def described(
    card_id: str | None, kept: str | None, error: str | None, refused: Sequence[str] = ()
) -> str:
    """The filing's outcome in one sentence; the kept copy named as it lies in the working
    directory."""
    kept = Path(kept).name if kept else None
    if card_id is not None:
        line = f"Admin task filed in the ESM (datacard {card_id})"
        if refused:
            line += (
                f", but the ESM refused the attachment(s) {', '.join(refused)}: the task lists them"
            )
        return f"{line}; a copy is kept in {kept}." if kept else f"{line}."
    if kept is None:
        return f"No admin task was filed: {error or 'the Web API parameters are not usable'}."
    why = f" ({error})" if error else ""
    return (
        f"The admin task could NOT be filed in the ESM{why}; it is kept in {kept}: re-send it "
        f"with 'hr-connector resend-report {kept} --params FILE'; the next run's admin task "
        "repeats it."
    )
