"""The admin task's content, the Markdown copy, the artifacts' masking of national IDs."""

from __future__ import annotations

from hr_connector.artifacts import summary_table
from hr_connector.errors import UpdateLimitExceeded
from hr_connector.masking import mask_national_ids
from hr_connector.outcome import (
    AdminTask,
    BlockedReason,
    BlockedRow,
    Decision,
    GuardVerdict,
    ImportResult,
    Interruption,
    RunCounts,
)
from hr_connector.report import MAX_LISTED_BLOCKED, build_admin_task, render_markdown
from hr_connector.texts import Translations


def task(**extra: object) -> AdminTask:
    args: dict[str, object] = dict(
        translations=Translations.load(),
        language="en",
        task_id="3",
        data_type="workperiod",
        run_type="partial",
        file="hr.csv",
        counts=RunCounts(
            rows_read=10, valid=8, blocked=2, new=1, changed=1, unchanged=6, removed=1, output=2
        ),
        interruption=None,
    )
    args.update(extra)
    return build_admin_task(**args)  # type: ignore[arg-type]


def test_completed_task_has_decision_counts_and_removed_rows() -> None:
    t = task(removed=["WP-9"], changeset="sha256:abc")
    assert t.decision is Decision.COMPLETED and t.case == "import_completed"
    assert "Rows read: 10. Valid: 8. Blocked: 2. New: 1. Changed: 1." in t.description
    assert "WP-9" in t.description and "sha256:abc" in t.description
    assert t.title == "HR import work periods: completed, 2 rows blocked"


def test_interrupted_task_says_why_and_what_to_fix() -> None:
    error = UpdateLimitExceeded(40, 10, 30, 10, "sha256:feed")
    t = task(interruption=Interruption.from_error(error))
    assert t.decision is Decision.INTERRUPTED and t.case == "update_limit_exceeded"
    assert "40 updates (30 new, 10 changed), more than the update limit 10" in t.description
    assert "approved_changeset sha256:feed" in t.description


def test_override_is_reported() -> None:
    verdict = GuardVerdict(
        update_limit=1, updates=2, update_limit_applied=True, override="override_update_limit"
    )
    assert "because override_update_limit was given" in task(verdict=verdict).description


def test_long_blocked_list_is_cut_and_points_to_the_attachment() -> None:
    rows = [
        BlockedRow(
            row_id=f"WP-{i}",
            position=f"line {i}",
            reasons=[BlockedReason(code="missing_value", message="x missing")],
        )
        for i in range(MAX_LISTED_BLOCKED + 5)
    ]
    text = task(blocked=rows).description
    assert "WP-199" in text and "WP-200" not in text
    assert "5 more blocked rows" in text


def test_markdown_copy() -> None:
    md = render_markdown(task())
    assert md.startswith("# HR import work periods: completed")


def test_national_ids_are_masked() -> None:
    text = "Row 131052-308T, SE 19811228-9874, DK 0707614285, E1001 and 2025-01-01 stay"
    masked = mask_national_ids(text)
    assert "131052-308T" not in masked and "*********8T" in masked
    assert "19811228-9874" not in masked and "0707614285" not in masked
    assert "E1001" in masked and "2025-01-01" in masked


def test_summary_table_artifact_rows() -> None:
    result = ImportResult(
        task_id="3",
        data_type="title",
        run_type="full",
        decision=Decision.COMPLETED,
        counts=RunCounts(rows_read=3, output=3),
    )
    table = {r["figure"]: r["value"] for r in summary_table(result)}
    assert table["decision"] == "completed" and table["rows read"] == 3
