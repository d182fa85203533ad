"""The admin task's "Data quality" section, in the run's language.

Per check that ran: its name, severity and number of findings, then the first
:data:`~hr_connector.quality.findings.MAX_LISTED` findings (position, row ID, reason); a check
that could not run says why. Texts come from translation.json; a customer's own
``misc-files/translation.json`` that predates these cases falls back to the shipped texts.
"""

from __future__ import annotations

import json

from hr_connector import wording
from hr_connector.masking import mask_national_ids
from hr_connector.quality.findings import (
    MAX_LISTED,
    CheckRun,
    QualityCheck,
    QualityLine,
    QualityReport,
)
from hr_connector.records import Table
from hr_connector.texts import TranslationMissing, Translations

#: Every case the section may use (checked in the tests for all six languages).
QUALITY_CASES = (
    "quality_heading",
    "quality_check",
    "quality_none",
    "quality_more",
    "quality_not_imported",
    "quality_name_references",
    "quality_name_cycles",
    "quality_name_overlaps",
    "quality_name_national_ids",
    "quality_name_same_file",
    "quality_name_file_age",
    "quality_severity_block",
    "quality_severity_warn",
)

_shipped: Translations | None = None


def text(translations: Translations, case: str, language: str, **figures: object) -> str:
    """``translations.text``, or the shipped text when a customer's file lacks the case."""
    global _shipped
    try:
        return translations.text(case, language, **figures)
    except TranslationMissing:
        if _shipped is None:
            _shipped = Translations.load()
        try:
            return _shipped.text(case, language, **figures)
        except TranslationMissing:
            return _shipped.text(case, "en", **figures)


def build_report(
    runs: list[CheckRun],
    table: Table | None,
    key_column: str,
    translations: Translations,
    language: str,
) -> QualityReport:
    key = None
    if table is not None and key_column in table.columns:
        key = table.frame.get_column(key_column)
    checks: list[QualityCheck] = []
    for run in runs:
        rows = sorted({i for f in run.findings for i in f.rows})
        entry = QualityCheck(
            check=run.check,
            severity=run.severity,
            count=len(run.findings),
            rows=len(rows),
            skipped=run.skipped,
            skipped_figures=run.skipped_figures,
        )
        for finding in run.findings[:MAX_LISTED]:
            reason = finding.reason
            if not finding.rows:  # a file-level finding: its figures fill the report case
                figures = json.loads(finding.subject or "{}")
                message = text(translations, reason.code, language, **figures)
                entry.first.append(QualityLine(message=mask_national_ids(message)))
                continue
            message = text(
                translations,
                f"reason_{reason.code}",
                language,
                column=reason.column,
                detail=reason.detail,
            )
            first = finding.rows[0]
            row_id = ""
            if key is not None and table is not None:
                row_id = key[first] or ""
            position = ", ".join(table.position(i) for i in finding.rows) if table else ""
            entry.first.append(
                QualityLine(position=position, row_id=row_id, message=mask_national_ids(message))
            )
        checks.append(entry)
    return QualityReport(checks=checks)


def section(report: QualityReport, translations: Translations, language: str) -> list[str]:
    """The description lines of the "Data quality" section (none when no check ran)."""
    if report.empty:
        return []
    t = translations
    lines = ["", text(t, "quality_heading", language)]
    for check in report.checks:
        name = text(t, f"quality_name_{check.check}", language)
        if check.skipped:
            lines.append(f"- {name}: " + text(t, check.skipped, language, **check.skipped_figures))
            if not check.count:
                continue
        severity = text(t, f"quality_severity_{check.severity}", language)
        if not check.count:
            lines.append("- " + text(t, "quality_none", language, check=name, severity=severity))
            continue
        lines.append(
            "- "
            + text(t, "quality_check", language, check=name, severity=severity, count=check.count)
        )
        for line in check.first:
            shown = wording.position(t, language, line.position) if line.position else ""
            where = " ".join(p for p in (shown, line.row_id and f"({line.row_id})") if p)
            lines.append(f"  - {where}: {line.message}" if where else f"  - {line.message}")
        if check.count > len(check.first):
            lines.append(
                "  - " + text(t, "quality_more", language, count=check.count - len(check.first))
            )
    return lines
