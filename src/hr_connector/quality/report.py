"""The admin task's "Data quality" section, in the run's language.

Per check that ran: its name, severity and number of findings, then the first
:data:`~hr_connector.quality.findings.MAX_LISTED` findings (position, row ID, reason); a check
that could not run says why. Texts come from translation.json (a customer's
``misc-files/translation.json`` merged over the shipped one, case by case).
"""

from __future__ import annotations

from hr_connector import wording
from hr_connector.masking import mask_national_ids
from hr_connector.quality.findings import (
    MAX_LISTED,
    CheckRun,
    QualityCheck,
    QualityLine,
    QualityReport,
)
from hr_connector.quality.settings import CHECK_NAMES
from hr_connector.records import Table
from hr_connector.texts import Translations

#: Every case the section may use (checked in the tests for all six languages).
QUALITY_CASES = (
    *(f"quality_{case}" for case in ("heading", "check", "none", "more", "not_imported")),
    *(f"quality_name_{check}" for check in CHECK_NAMES),
    *(f"quality_severity_{severity}" for severity in ("block", "warn")),
)


def build_report(
    runs: list[CheckRun], table: Table | None, translations: Translations, language: str
) -> QualityReport:
    """Per check: its counts, and its first findings (position, row ID, reason) as text."""
    checks: list[QualityCheck] = []
    for run in runs:
        entry = QualityCheck(
            check=run.check,
            severity=run.severity,
            count=run.count,
            rows=run.findings["row"].n_unique(),
            skipped=run.skipped,
            skipped_figures=run.skipped_figures,
        )
        for case, figures in run.file_findings[:MAX_LISTED]:  # the figures fill the case
            message = translations.text(case, language, **figures)
            entry.first.append(QualityLine(message=mask_national_ids(message)))
        for rows in run.listed(MAX_LISTED - len(entry.first)):
            first = rows.row(0, named=True)
            message = translations.text(
                f"reason_{first['code']}",
                language,
                column=first["column"],
                detail=first["detail"],
            )
            position = ", ".join(table.position(i) for i in rows["row"]) if table else ""
            entry.first.append(
                QualityLine(
                    position=position, row_id=first["row_id"], message=mask_national_ids(message)
                )
            )
        checks.append(entry)
    return QualityReport(checks=checks)


def section(report: QualityReport, translations: Translations, language: str) -> list[str]:
    """The description lines of the "Data quality" section (none when no check ran)."""
    if report.empty:
        return []
    t = translations
    lines = ["", t.text("quality_heading", language)]
    for check in report.checks:
        name = t.text(f"quality_name_{check.check}", language)
        if check.skipped:
            lines.append(f"- {name}: " + t.text(check.skipped, language, **check.skipped_figures))
            if not check.count:
                continue
        severity = t.text(f"quality_severity_{check.severity}", language)
        if not check.count:
            lines.append("- " + t.text("quality_none", language, check=name, severity=severity))
            continue
        lines.append(
            "- "
            + t.text("quality_check", language, check=name, severity=severity, count=check.count)
        )
        for line in check.first:
            shown = wording.position(t, language, line.position) if line.position else ""
            where = " ".join(p for p in (shown, line.row_id and f"({line.row_id})") if p)
            lines.append(f"  - {where}: {line.message}" if where else f"  - {line.message}")
        if check.count > len(check.first):
            lines.append(
                "  - " + t.text("quality_more", language, count=check.count - len(check.first))
            )
    return lines
