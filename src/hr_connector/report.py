"""Report: the "IGA admin task" text in the run's language (PLATFORM.md §5, §7, §8).

:func:`build_admin_task` turns a run's decision and figures into an :class:`AdminTask`;
:func:`render_markdown` gives the readable copy kept beside it. Filing it in the ESM is the job of
a :class:`ReportSink` (``hr_connector.clients``); the local copy is always written first, so a task
that could not be filed can be re-sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from hr_connector import advice, wording
from hr_connector.inert import shown
from hr_connector.limits import LimitCheck
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
from hr_connector.records import Table, example_dates, first_blocked
from hr_connector.texts import Translations

#: Blocked rows listed in the description; all of them are in the attached error rows.
MAX_LISTED_BLOCKED = 200
MAX_LISTED_REMOVED = 100
#: The description's size cap: past it the lists are cut, with a line that names the attachment
#: holding them whole (a 300k-row day listed 42,000 characters; 400 KB row IDs made 16 MB).
MAX_DESCRIPTION_CHARS = 20_000
#: The longest line of the description (a changed row with many long values).
MAX_LINE_CHARS = 1_000

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
    "approve_deployment_run",
    "approval_voided",
    "limit_figure_updates",
    "limit_figure_new",
    "limit_figure_changed",
    "limit_figure_removed",
    "attachments_list",
    "description_cut",
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

    @property
    def refused(self) -> Sequence[str]:
        """The attachments the target refused in the last :meth:`file` (the task lists them)."""
        ...

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

    def reason(code: str, column: str, detail: str) -> BlockedReason:
        said = example_dates(detail) if code == "invalid_date" else detail
        message = translations.text(f"reason_{code}", language, column=column, detail=said)
        return BlockedReason(
            code=code, column=shown(column), detail=shown(detail), message=_capped(message)
        )

    return [
        BlockedRow(
            row_id=shown((key[i] if key is not None else None) or ""),  # whole: error archive
            position=table.position(i),
            reasons=[reason(r.code, r.column, r.detail) for r in reasons],
        )
        for i, reasons in first_blocked(blocked, MAX_LISTED_BLOCKED).items()
    ]


def data_attachment(task_json: Path) -> Attachment:
    """The admin task as data (``<taskid>_admin_task.json``, the file the run keeps): attached so
    that a tool reads the decision, counts and lists without parsing the text in its language.
    Any ESM takes it as one more file; it is small (the description and lists are bounded)."""
    return Attachment(name=task_json.name, path=str(task_json))


def _capped(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…"


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
    notes: list[dict[str, str]] | None = None,
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
        title_case = "title_completed_blocked" if counts.blocked else "title_completed"
        title = t(title_case, language, **figures)
        lines.append(t("summary_completed", language, **figures))
    else:
        decision = Decision.INTERRUPTED
        case = interruption.case
        title = t("title_interrupted", language, **figures)
        lines += _interruption_lines(
            translations, language, interruption, figures, changeset, verdict
        )
    if dry_run:
        lines.append(t("summary_dry_run", language))
    if counts.rows_read or interruption is None:  # no file read: the figures would say nothing
        lines.append(t("counts_full" if run_type == "full" else "counts", language, **figures))
    lines += translations.note_lines(language)  # what of the customer's texts was not used
    # how the file was read: a report case and its figures
    lines += [t(language=language, **note) for note in notes or []]
    if verdict is not None:
        lines += _override_lines(translations, language, verdict, changeset, approved_by)
    if changeset:
        lines.append(t("changeset", language, changeset=changeset))
    if changes is not None:
        lines += wording.change_sections(translations, language, changes, f"{task_id}_changes.csv")
    if removed:
        row_ids = ", ".join(map(shown, removed[:MAX_LISTED_REMOVED])) + (
            " …" if len(removed) > MAX_LISTED_REMOVED else ""
        )
        lines.append(t("removed_rows", language, count=len(removed), row_ids=row_ids))
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
        description=_bounded(lines, translations, language, attachments or []),
        counts=counts,
        blocked_rows=blocked[:MAX_LISTED_BLOCKED],
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
    verdict: GuardVerdict | None,
) -> list[str]:
    """The summary of a stopped run: why it stopped, every limit it exceeded with its figures,
    and the one way to approve it where it came from (Prefect's Resume form, a deployment's
    Custom run, or the scheduled task's extra arguments)."""
    t = translations.text
    said = {**figures, **interruption.figures}
    if "position" in interruption.figures:
        said["position"] = wording.position(translations, language, str(said["position"]))
    lines = [t("summary_interrupted", language, **figures), t(interruption.case, language, **said)]
    exceeded = [c for c in verdict.limits if c.exceeded] if verdict is not None else []
    if len(exceeded) > 1:
        lines.append(t("limits_also_exceeded", language, limits=_limits(t, language, exceeded[1:])))
    if interruption.figures.get("approval_voided"):
        lines.append(
            t("approval_voided", language, approved=interruption.figures["approval_voided"])
        )
    if interruption.case in APPROVABLE_CASES and changeset:
        run, deployment = advice.awaited_run(), advice.current().deployment
        route = "approve_in_prefect" if run is not None else "approve_deployment_run"
        if run is None and deployment is None:
            route = "approve_extra_arguments"
        lines.append(t(route, language, run=run, deployment=deployment, changeset=changeset))
    return lines


def _limits(t: Any, language: str, checks: list[LimitCheck]) -> str:
    """``removed rows: 3 (removed_limit 5% = 2); …`` in the admin's language."""
    return "; ".join(
        t(f"limit_figure_{c.kind}", language, count=c.count, limit_name=c.name, limit=c.shown)
        for c in checks
    )


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
        limits = _limits(t, language, exceeded)
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
            where = wording.position(translations, language, row.position)
            row_id = shown(row.row_id) or "-"
            lines.append(
                "- " + t("blocked_row", language, position=where, row_id=row_id, reasons=reasons)
            )
        if total > MAX_LISTED_BLOCKED:
            lines.append(t("blocked_rows_more", language, count=total - MAX_LISTED_BLOCKED))
    return lines


def _bounded(
    lines: list[str], translations: Translations, language: str, attachments: list[Attachment]
) -> str:
    """The description, cut at a line once it would pass :data:`MAX_DESCRIPTION_CHARS`, with a
    line that says so and names the attachment that holds the lists whole."""
    lines = [_capped(line) for line in lines]
    text = "\n".join(lines)
    if len(text) <= MAX_DESCRIPTION_CHARS:
        return text
    names = [a.name for a in attachments]
    whole = [n for n in names if n.endswith("_changes.csv") or n.startswith("error_")]
    budget = MAX_DESCRIPTION_CHARS - 400  # room for the closing line
    kept = lines[: sum(size <= budget for size in accumulate(len(line) + 1 for line in lines))]
    cut = translations.text(
        "description_cut",
        language,
        limit=MAX_DESCRIPTION_CHARS,
        count=len(lines) - len(kept),
        files=", ".join(whole or names) or "-",
    )
    return "\n".join([*kept, "", cut])


def render_markdown(task: AdminTask, translations: Translations) -> str:
    """The readable copy of the admin task kept beside its JSON (and shown in Prefect)."""
    out = [f"# {task.title}", "", task.description, ""]
    if task.attachments:
        files = ", ".join(a.name for a in task.attachments)
        out.append(translations.text("attachments_list", task.language, files=files))
    return "\n".join(out).rstrip() + "\n"
