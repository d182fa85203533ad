"""What the IGA admin reads: the datacard the ESM receives lists every blocked row and every reason.

The description is checked as the local ESM stored it (not the task object the report step
built), in every shipped language: each blocked row ID, each of its reasons in that language, and
each removed row ID.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hr_connector.outcome import Decision
from hr_connector.params import parse_params
from hr_connector.runner import run_plain
from hr_connector.texts import Translations

from conftest import ESM_USER, SAMPLES, base_raw, place

SAMPLE = SAMPLES / "workperiod" / "workperiod.csv"
LANGUAGES = sorted(Translations.load().languages())
#: rows the next day's file leaves out
REMOVED = ("WP-0010", "WP-0011")
#: row ID -> every (reason, column) the next day's file must block it for, in file order
BLOCKED: dict[str, list[tuple[str, str]]] = {
    "WP-0006": [("end_before_start", "employment_end_date")],
    "WP-0015": [("missing_value", "first_name"), ("missing_value", "last_name")],
    "WP-0026": [("missing_value", "last_name"), ("invalid_date", "employment_start_date")],
    "WP-0035": [("missing_unique_id", "employee_number")],
    "WP-0039": [("duplicate_row_id", "")],  # twice in the file: two blocked rows
}


def _next_day(path: Path) -> Path:
    """The sample without REMOVED, with more than one reason on some of its blocked rows."""
    header, *lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    columns = header.split(";")
    out = [header]
    edits = {"WP-0015": "first_name", "WP-0026": "last_name"}  # emptied: a second reason
    for line in lines:
        values = line.split(";")
        if values[0] in REMOVED:
            continue
        if values[0] in edits:
            values[columns.index(edits[values[0]])] = ""
        out.append(";".join(values))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _description(esm: Any, card_id: str) -> str:
    card = esm.datacard(card_id)
    assert card is not None, f"the ESM has no datacard {card_id}"
    values = card["data"]["description"]["values"]
    return "\n".join(str(v["value"]) for v in values)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_esm_receives_every_blocked_row_every_reason_and_every_removed_row(
    tmp_path: Path, esm: Any, language: str
) -> None:
    translations = Translations.load()
    raw = base_raw(webapi_url=esm.url, webapi_user=ESM_USER, language=language)
    place(tmp_path, SAMPLE)
    assert run_plain(parse_params(raw), tmp_path, "3").decision is Decision.COMPLETED
    place(tmp_path, _next_day(tmp_path / "next_day.csv"))
    result = run_plain(parse_params({**raw, "run_type": "partial"}), tmp_path, "3")
    assert result.decision is Decision.COMPLETED, result.interruption
    assert result.admin_task_id is not None, result.report_error
    assert result.counts.blocked == 6 and result.counts.removed == len(REMOVED)
    text = _description(esm, result.admin_task_id)

    problems: list[str] = []
    listed = [line for line in text.splitlines() if line.startswith("- ")]
    for row_id, reasons in BLOCKED.items():
        lines = [line for line in listed if f" {row_id}:" in line or f" {row_id} " in line]
        expected_lines = 2 if row_id == "WP-0039" else 1
        if len(lines) != expected_lines:
            problems.append(f"{row_id}: {len(lines)} lines, expected {expected_lines}")
            continue
        for line in lines:
            for code, column in reasons:
                detail = row_id if code == "duplicate_row_id" else _detail(code, column)
                message = translations.text(
                    f"reason_{code}", language, column=column, detail=detail
                )
                if message not in line:
                    problems.append(f"{row_id}: reason {code} on {column!r} missing: {line}")
            shown = line.count("; ") + 1
            if shown != len(reasons):
                problems.append(f"{row_id}: {shown} reasons shown, {len(reasons)} expected")
    for row_id in REMOVED:
        if row_id not in text:
            problems.append(f"removed row {row_id} not listed")
    english = translations.text("blocked_rows_heading", "en", count=6)
    if language != "en" and english in text:
        problems.append("the heading is in English")
    assert problems == [], f"{language}:\n" + "\n".join(problems) + f"\n--- description:\n{text}"


def _detail(code: str, column: str) -> str:
    """The detail each reason of the next day's file carries (what the message quotes)."""
    return {
        ("end_before_start", "employment_end_date"): "2026-05-01",
        ("invalid_date", "employment_start_date"): "2025-01-31, 2025-01-31T08:00:00+02:00, "
        "31.01.2025, 20250131",
    }.get((code, column), "")
