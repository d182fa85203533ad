"""Report: the "IGA admin task" text in the run's language (PLATFORM.md §5, §7, §8).

:func:`build_admin_task` turns a run's decision and figures into an :class:`AdminTask`;
:func:`render_markdown` gives the readable copy kept beside it. Filing it in the ESM is the job of
a :class:`ReportSink` (``hr_connector.clients``); the local copy is always written first, so a task
that could not be filed can be re-sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

import polars as pl

from hr_connector import wording
from hr_connector.outcome import (
    AdminTask,
    Attachment,
    BlockedReason,
    BlockedRow,
    ChangeList,
    Decision,
    GuardVerdict,
    Interruption,
    RunCounts,
)
from hr_connector.quality.findings import QualityReport
from hr_connector.quality.report import section as quality_section
from hr_connector.records import Table, first_blocked
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
    *wording.WORDING_CASES,
)
#: Stops an admin can approve with ``approved_changeset`` (the task gives the exact line).
APPROVABLE_CASES = (
    "update_limit_exceeded",
    "new_limit_exceeded",
    "changed_limit_exceeded",
    "removed_limit_exceeded",
)


class ReportSink(Protocol):
    """Where an admin task is filed (the ESM's REST or XML API, or nowhere for a dry run)."""

    def file(self, task: AdminTask) -> str:
        """File the task; return the datacard's ID (or another reference)."""
        ...


def blocked_rows(
    table: Table | None,
    blocked: pl.DataFrame,
    key_column: str,
    translations: Translations,
    language: str,
) -> list[BlockedRow]:
    """The first :data:`MAX_LISTED_BLOCKED` blocked rows as the admin task lists them (all of
    them are in the error archive and the changes attachment)."""
    if table is None or not blocked.height:
        return []
    key = table.frame.get_column(key_column) if key_column in table.columns else None
    rows: list[BlockedRow] = []
    for i, reasons in first_blocked(blocked, MAX_LISTED_BLOCKED).items():
        rows.append(
            BlockedRow(
                row_id=(key[i] if key is not None else None) or "",
                position=table.position(i),
                reasons=[
                    BlockedReason(
                        code=r.code,
                        column=r.column,
                        detail=r.detail,
                        message=translations.text(
                            f"reason_{r.code}",
                            language,
                            column=r.column,
                            detail=wording.example_dates(r.detail)
                            if r.code == "invalid_date"
                            else r.detail,
                        ),
                    )
                    for r in reasons
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
    changes: ChangeList | None = None,
    approved_by: str | None = None,
    data_quality: QualityReport | None = None,
) -> AdminTask:
    t = translations.text
    blocked = blocked or []
    figures = {
        "data_type": wording.named(translations, language, "data_type", data_type),
        "run_type": wording.named(translations, language, "run_type", run_type),
        "task_id": task_id,
        "file": file,
        **counts.model_dump(),
    }
    lines: list[str] = []
    if interruption is None:
        decision = Decision.COMPLETED
        case = "import_completed"
        if counts.blocked:
            title = wording.counted(
                translations, "title_completed_blocked", language, counts.blocked, **figures
            )
        else:
            title = t("title_completed", language, **figures)
        lines.append(t("summary_completed", language, **figures))
    else:
        decision = Decision.INTERRUPTED
        case = interruption.case
        title = t("title_interrupted", language, **figures)
        lines += _interruption_lines(translations, language, interruption, figures, changeset)
    if dry_run:
        lines.append(t("summary_dry_run", language))
    if counts.rows_read or interruption is None:  # no file read: the figures would say nothing
        lines.append(t("counts_full" if run_type == "full" else "counts", language, **figures))
    for note in translations.notes:  # the customer's translation.json was not (fully) used
        lines.append(t("translation_file_ignored", language, **note))
    if verdict is not None:
        lines += _override_lines(translations, language, verdict, changeset, approved_by)
    if changeset:
        lines.append(t("changeset", language, changeset=changeset))
    if changes is not None:
        lines.extend(
            wording.change_sections(translations, language, changes, f"{task_id}_changes.csv")
        )
    if removed:
        shown = ", ".join(removed[:MAX_LISTED_REMOVED]) + (
            " …" if len(removed) > MAX_LISTED_REMOVED else ""
        )
        lines.append(t("removed_rows", language, count=len(removed), row_ids=shown))
    if data_quality is not None:
        lines += quality_section(data_quality, translations, language)
    lines += _blocked_lines(translations, language, blocked, max(counts.blocked, len(blocked)))
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
        changes=changes,
        data_quality=data_quality if data_quality is not None and not data_quality.empty else None,
    )


def _interruption_lines(
    translations: Translations,
    language: str,
    interruption: Interruption,
    figures: dict[str, object],
    changeset: str | None,
) -> list[str]:
    """The summary of a stopped run: why it stopped, and how to approve it when it can be."""
    t = translations.text
    if "position" in interruption.figures:
        where = wording.position(translations, language, str(interruption.figures["position"]))
        interruption = interruption.model_copy(
            update={"figures": {**interruption.figures, "position": where}}
        )
    lines = [t("summary_interrupted", language, **figures)]
    stop_case = interruption.case
    how_many = interruption.figures.get("updates", interruption.figures.get("count"))
    if how_many == 1 and wording.singular(translations, stop_case, language):
        stop_case += "_one"  # "1 row", not "1 rows"
    lines.append(t(stop_case, language, **{**figures, **interruption.figures}))
    if interruption.figures.get("also"):
        lines.append(t("limits_also_exceeded", language, limits=interruption.figures["also"]))
    if interruption.case in APPROVABLE_CASES and changeset:
        lines.append(t("approve_extra_arguments", language, changeset=changeset))
        if wording.PREFECT_APPROVAL.get():
            run = wording.PREFECT_APPROVAL.get()
            lines.append(t("approve_in_prefect", language, run=run, changeset=changeset))
    return lines


def _override_lines(
    translations: Translations,
    language: str,
    verdict: GuardVerdict,
    changeset: str | None,
    approved_by: str | None,
) -> list[str]:
    """Which exceeded limits an override let through, and who approved the changeset."""
    t = translations.text
    lines: list[str] = []
    exceeded = [c for c in verdict.limits if c.exceeded]
    if verdict.override and [c.name for c in exceeded] in ([], ["update_limit"]):
        lines.append(
            t(
                "update_limit_overridden",
                language,
                limit=exceeded[0].shown if exceeded else verdict.update_limit,
                updates=verdict.updates,
                override=verdict.override,
            )
        )
    elif verdict.override:
        limits = ", ".join(f"{c.name} {c.shown} ({c.count})" for c in exceeded)
        lines.append(t("limits_overridden", language, limits=limits, override=verdict.override))
    if verdict.override == "approved_changeset" and approved_by:
        lines.append(t("approved_by", language, who=approved_by, changeset=changeset))
    return lines


def _blocked_lines(
    translations: Translations, language: str, blocked: list[BlockedRow], total: int
) -> list[str]:
    """The blocked rows section: at most :data:`MAX_LISTED_BLOCKED` rows, then how many more
    (``total``: every blocked row)."""
    t = translations.text
    lines: list[str] = []
    if blocked:
        lines += ["", t("blocked_rows_heading", language, count=total)]
        for row in blocked[:MAX_LISTED_BLOCKED]:
            reasons = "; ".join(r.message for r in row.reasons)
            lines.append(
                "- "
                + t(
                    "blocked_row",
                    language,
                    position=wording.position(translations, language, row.position),
                    row_id=row.row_id or "-",
                    reasons=reasons,
                )
            )
        if total > MAX_LISTED_BLOCKED:
            lines.append(
                wording.counted(
                    translations, "blocked_rows_more", language, total - MAX_LISTED_BLOCKED
                )
            )
    return lines


def render_markdown(task: AdminTask) -> str:
    out = [f"# {task.title}", "", task.description, ""]
    if task.attachments:
        out.append("Attachments: " + ", ".join(a.name for a in task.attachments))
    return "\n".join(out).rstrip() + "\n"
