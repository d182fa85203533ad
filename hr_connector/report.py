"""Report: the "IGA admin task" text in the run's language (PLATFORM.md §5, §7, §8).

:func:`build_admin_task` turns a run's decision and figures into an :class:`AdminTask`;
:func:`render_markdown` gives the readable copy kept beside it. Filing it in the ESM is the job of
a :class:`ReportSink` (``hr_connector.clients``); the local copy is always written first, so a task
that could not be filed can be re-sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from hr_connector.outcome import (
    AdminTask,
    Attachment,
    BlockedReason,
    BlockedRow,
    Decision,
    GuardVerdict,
    Interruption,
    RunCounts,
)
from hr_connector.quality.findings import QualityReport
from hr_connector.quality.report import section as quality_section
from hr_connector.records import Reason, Table
from hr_connector.texts import Translations

#: Blocked rows listed in the description; all of them are in the attached error rows.
MAX_LISTED_BLOCKED = 200
MAX_LISTED_REMOVED = 100

#: Every case a report may use: checked up front so a missing language stops the run early.
REPORT_CASES = (
    "title_completed",
    "title_completed_blocked",
    "title_interrupted",
    "summary_completed",
    "summary_interrupted",
    "summary_dry_run",
    "counts",
    "changeset",
    "update_limit_overridden",
    "removed_rows",
    "blocked_rows_heading",
    "blocked_row",
    "blocked_rows_more",
)


class ReportSink(Protocol):
    """Where an admin task is filed (the ESM's REST or XML API, or nowhere for a dry run)."""

    def file(self, task: AdminTask) -> str:
        """File the task; return the datacard's ID (or another reference)."""
        ...


def blocked_rows(
    table: Table | None,
    blocked: dict[int, list[Reason]],
    key_column: str,
    translations: Translations,
    language: str,
) -> list[BlockedRow]:
    if table is None:
        return []
    key = table.columns.index(key_column) if key_column in table.columns else None
    rows: list[BlockedRow] = []
    for i in sorted(blocked):
        row_id = (table.rows[i][key] if key is not None else None) or ""
        rows.append(
            BlockedRow(
                row_id=row_id,
                position=table.position(i),
                reasons=[
                    BlockedReason(
                        code=r.code,
                        column=r.column,
                        detail=r.detail,
                        message=translations.text(
                            f"reason_{r.code}", language, column=r.column, detail=r.detail
                        ),
                    )
                    for r in blocked[i]
                ],
            )
        )
    return rows


def build_admin_task(
    *,
    translations: Translations,
    language: str,
    task_id: str,
    data_type: str,
    run_type: str,
    file: str,
    counts: RunCounts,
    interruption: Interruption | None,
    verdict: GuardVerdict | None = None,
    changeset: str | None = None,
    removed: list[str] | None = None,
    blocked: list[BlockedRow] | None = None,
    attachments: list[Attachment] | None = None,
    dry_run: bool = False,
    data_quality: QualityReport | None = None,
) -> AdminTask:
    t = translations.text
    blocked = blocked or []
    figures = {
        "data_type": data_type,
        "run_type": run_type,
        "task_id": task_id,
        "file": file,
        **counts.model_dump(),
    }
    lines: list[str] = []
    if interruption is None:
        decision = Decision.COMPLETED
        case = "import_completed"
        title = t(
            "title_completed_blocked" if counts.blocked else "title_completed", language, **figures
        )
        lines.append(t("summary_completed", language, **figures))
    else:
        decision = Decision.INTERRUPTED
        case = interruption.case
        title = t("title_interrupted", language, **figures)
        lines.append(t("summary_interrupted", language, **figures))
        lines.append(t(interruption.case, language, **{**figures, **interruption.figures}))
    if dry_run:
        lines.append(t("summary_dry_run", language))
    lines.append(t("counts", language, **figures))
    if verdict is not None and verdict.override:
        lines.append(
            t(
                "update_limit_overridden",
                language,
                limit=verdict.update_limit,
                updates=verdict.updates,
                override=verdict.override,
            )
        )
    if changeset:
        lines.append(t("changeset", language, changeset=changeset))
    if removed:
        shown = ", ".join(removed[:MAX_LISTED_REMOVED]) + (
            " …" if len(removed) > MAX_LISTED_REMOVED else ""
        )
        lines.append(t("removed_rows", language, count=len(removed), row_ids=shown))
    if data_quality is not None:
        lines += quality_section(data_quality, translations, language)
    if blocked:
        lines.append("")
        lines.append(t("blocked_rows_heading", language, count=len(blocked)))
        for row in blocked[:MAX_LISTED_BLOCKED]:
            reasons = "; ".join(r.message for r in row.reasons)
            lines.append(
                "- "
                + t(
                    "blocked_row",
                    language,
                    position=row.position,
                    row_id=row.row_id or "-",
                    reasons=reasons,
                )
            )
        if len(blocked) > MAX_LISTED_BLOCKED:
            lines.append(t("blocked_rows_more", language, count=len(blocked) - MAX_LISTED_BLOCKED))
    return AdminTask(
        task_id=task_id,
        data_type=data_type,
        decision=decision,
        case=case,
        language=language,
        title=title,
        description="\n".join(lines),
        counts=counts,
        blocked_rows=blocked,
        changeset=changeset,
        attachments=attachments or [],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        data_quality=data_quality if data_quality is not None and not data_quality.empty else None,
    )


def render_markdown(task: AdminTask) -> str:
    out = [f"# {task.title}", "", task.description, ""]
    if task.attachments:
        out.append("Attachments: " + ", ".join(a.name for a in task.attachments))
    return "\n".join(out).rstrip() + "\n"
