"""Words of the admin task in the admin's language: positions, names, dates, and the changes
sections of a partial run. One vs many is :mod:`hr_connector.plurals`' job.

Everything here reads translation.json through :class:`~hr_connector.texts.Translations`;
nothing English is put into a task written in another language except the customer's own column
names and values, and parameter names (which the admin types as they are).
"""

from __future__ import annotations

import re

from hr_connector.changes import describe
from hr_connector.outcome import ChangeList, RowChange
from hr_connector.schemas import SCHEMAS
from hr_connector.texts import Translations

#: Cases this module uses (checked up front with the report's cases).
WORDING_CASES = (
    "position_line",
    "position_record",
    "position_column",
    "position_byte",
    "limits_overridden",
    "run_type_partial",
    "run_type_full",
    *(schema.text_key for schema in SCHEMAS.values()),
    "counts_full",
    "title_completed_blocked_one",
    "blocked_rows_more_one",
    "changes_new_heading",
    "changes_changed_heading",
    "changes_removed_heading",
    "change_row",
    "change_more",
    "change_more_one",
    "approve_extra_arguments",
    "limits_also_exceeded",
    "approved_by",
    "approve_in_prefect",
    "changes_rejected",
)


_POSITION = re.compile(r"\b(line|record|column|byte) (\d+)")


def position(translations: Translations, language: str, text: str) -> str:
    """``line 5``, ``record 5``, ``line 3, column 16 (byte 43)`` (as the readers give them) in
    the admin's language."""
    return _POSITION.sub(
        lambda m: translations.text(f"position_{m.group(1)}", language, number=m.group(2)), text
    )


def named(translations: Translations, language: str, prefix: str, value: str) -> str:
    """A run type or data type name in the admin's language (the value itself if unknown)."""
    case = f"{prefix}_{value}"
    if translations.cases.get(case):
        return translations.text(case, language)  # English where the language lacks it
    return value


def _row_line(t: Translations, language: str, row: RowChange) -> str:
    what = describe(row)
    where = f" ({position(t, language, row.position)})" if row.position else ""
    return "- " + t.text("change_row", language, row_id=row.row_id, position=where, changes=what)


def change_sections(
    translations: Translations, language: str, changes: ChangeList, attachment: str
) -> list[str]:
    """The description's lists: new, changed and removed rows, the rest counted."""
    lines: list[str] = []
    for kind in ("new", "changed", "removed"):
        rows: list[RowChange] = getattr(changes, kind)
        total: int = getattr(changes, f"{kind}_total")
        if not total:
            continue
        lines.append("")
        lines.append(translations.text(f"changes_{kind}_heading", language, count=total))
        lines.extend(_row_line(translations, language, row) for row in rows)
        if total > len(rows):
            lines.append(
                translations.text("change_more", language, count=total - len(rows), file=attachment)
            )
    return lines
