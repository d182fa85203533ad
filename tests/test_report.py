"""The admin task's content, the Markdown copy, the artifacts' masking of national IDs."""

from __future__ import annotations

from hr_connector.artifacts import summary_table
from hr_connector.errors import UpdateLimitExceeded
from hr_connector.inert import VALUE_MAX
from hr_connector.masking import mask_national_ids
from hr_connector.outcome import (
    AdminTask,
    Attachment,
    BlockedReason,
    BlockedRow,
    Decision,
    GuardVerdict,
    ImportResult,
    Interruption,
    RunCounts,
)
from hr_connector.report import (
    MAX_DESCRIPTION_CHARS,
    MAX_LISTED_BLOCKED,
    build_admin_task,
    render_markdown,
)
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
    t = task(interruption=Interruption.from_error(error), changeset="sha256:feed")
    assert t.decision is Decision.INTERRUPTED and t.case == "update_limit_exceeded"
    assert "40 updates (30 new, 10 changed), more than the update limit 10" in t.description
    assert '"approved_changeset": "sha256:feed"' in t.description


def stop_by_limits(**params: object) -> tuple[GuardVerdict, str]:
    """A partial run of 20 archived rows with 3 new, 2 changed and 5 removed rows, guarded."""
    from hr_connector.compare import Changeset
    from hr_connector.guards import check_guards
    from hr_connector.params import parse_params

    from conftest import base_raw

    raw = base_raw(run_type="partial", update_limit=4, removed_limit="10%", new_limit=1, **params)
    changeset = Changeset(
        run_type="partial",
        new=[0, 1, 2],
        changed=[3, 4],
        unchanged=13,
        removed=["R1", "R2", "R3", "R4", "R5"],
        digest="sha256:5e7",
    )
    verdict = check_guards(parse_params(raw), 18, changeset)
    assert verdict.interruption is not None
    return verdict, changeset.digest


def test_every_limit_a_stop_exceeded_is_named_with_its_figures() -> None:
    verdict, digest = stop_by_limits()
    message = verdict.interruption.message  # type: ignore[union-attr]
    assert "more than update_limit 4" in message
    assert "Also exceeded: new rows: 3 (new_limit 1); removed rows: 5 (removed_limit 10% = 2)" in (
        message
    )
    for language, also in (
        (
            "en",
            "Also exceeded: new rows: 3 (new_limit 1); removed rows: 5 (removed_limit 10% = 2).",
        ),
        ("fi", "uusia rivejä: 3 (new_limit 1); poistuneita rivejä: 5 (removed_limit 10% = 2)"),
    ):
        text = task(
            interruption=verdict.interruption, verdict=verdict, changeset=digest, language=language
        ).description
        assert also in text, text
        assert "Also exceeded: removed_limit." not in text


def test_an_approval_for_other_changes_is_named_as_voided() -> None:
    verdict, digest = stop_by_limits(approved_changeset="sha256:0ld")
    assert "approval of changeset sha256:0ld does not apply" in verdict.interruption.message  # type: ignore[union-attr]
    text = task(interruption=verdict.interruption, verdict=verdict, changeset=digest).description
    assert "The approval of changeset sha256:0ld does not apply: the file has changed" in text


def test_a_stop_gives_one_approval_route_where_the_run_came_from() -> None:
    from hr_connector import advice

    verdict, digest = stop_by_limits()

    def text() -> str:
        return task(
            interruption=verdict.interruption, verdict=verdict, changeset=digest
        ).description

    epe = text()
    assert '"approved_changeset": "' in epe and "Prefect" not in epe and "Custom run" not in epe
    deployment = advice.RunOrigin(deployment="hr-import-workperiod/acme-workperiod")
    with advice.running_under(deployment):
        custom = text()
        with advice.awaiting_decision("acme-workperiod 2026-12-01 05:45"):
            resume = text()
    assert "run the deployment hr-import-workperiod/acme-workperiod once" in custom
    assert "Custom run" in custom and "extra arguments" not in custom
    assert "the flow run acme-workperiod 2026-12-01 05:45 waits for you" in resume
    assert "Resume" in resume
    for other in ("extra arguments", "Custom run", "approved_changeset"):
        assert other not in resume


def test_override_is_reported() -> None:
    verdict = GuardVerdict(update_limit=1, updates=2, override="override_update_limit")
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
    translations = Translations.load()
    md = render_markdown(task(), translations)
    assert md.startswith("# HR import work periods: completed")
    attached = [Attachment(name="3_changes.csv", path="3_changes.csv")]
    finnish = render_markdown(task(language="fi", attachments=attached), translations)
    assert "Liitteet: 3_changes.csv" in finnish and "Attachments" not in finnish


def test_the_description_is_bounded_and_says_where_the_rest_is() -> None:
    rows = [
        BlockedRow(
            row_id=f"WP-{i}-" + "x" * 400_000 if i < 40 else f"WP-{i}",
            position=f"line {i}",
            reasons=[
                BlockedReason(code="missing_value", message=f"{column} is missing")
                for column in ("last_name", "first_name", "employment_start_date", "org_unit_id")
            ],
        )
        for i in range(MAX_LISTED_BLOCKED)
    ]
    files = [Attachment(name="error_workperiod_archive.json", path="x")]
    for language in ("en", "sv"):
        text = task(blocked=rows, attachments=files, language=language).description
        assert len(text) <= MAX_DESCRIPTION_CHARS
        assert "error_workperiod_archive.json" in text.splitlines()[-1]
        assert "x" * (VALUE_MAX + 1) not in text
        assert f"WP-39-{'x' * 100}" in text  # the long row IDs are listed, shortened
    assert "lines left out:" in task(blocked=rows, attachments=files).description


def test_counted_texts_use_each_language_s_plural_forms() -> None:
    t = Translations.load()
    heading = "attachments_not_attached_heading"
    assert "(1 fil)" in t.text(heading, "sv", count=1)
    assert "(2 filer)" in t.text(heading, "sv", count=2)
    assert "(1 file)" in t.text(heading, "en", count=1)
    assert "(0 fichier)" in t.text(heading, "fr", count=0)
    assert "(1 Datei)" in t.text(heading, "de", count=1)
    check = "quality_check"
    assert t.text(check, "en", check="Cycles", severity="warning", count=1).endswith("1 finding")
    assert t.text(check, "en", check="Cycles", severity="warning", count=3).endswith("3 findings")
    assert task(counts=RunCounts(rows_read=2, valid=1, blocked=1)).title.endswith("1 row blocked")
    assert task(counts=RunCounts(rows_read=3, valid=1, blocked=2)).title.endswith("2 rows blocked")


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


def test_the_summary_says_where_the_rows_went_and_whether_they_were_handed_over() -> None:
    from hr_connector import advice

    done = ImportResult(
        task_id="acme-workperiod",
        data_type="workperiod",
        run_type="partial",
        decision=Decision.COMPLETED,
        counts=RunCounts(rows_read=41, output=4),
        output_path="/srv/hr-connector/acme/workperiod/acme-workperiod_output.json",
    )
    stopped = done.model_copy(update={"decision": Decision.INTERRUPTED, "output_path": None})

    def said(result: ImportResult, had_output: bool = False) -> str:
        rows = {r["figure"]: r["value"] for r in summary_table(result, had_output)}
        return str(rows["rows handed over"])

    assert said(done).startswith("yes: /srv/hr-connector/acme/workperiod/acme-workperiod_output")
    assert "(4 rows), which the platform imports once this run exits" in said(done)
    with advice.running_under(advice.RunOrigin(deployment="hr-import-workperiod/acme-workperiod")):
        deployed = said(done)
    assert deployed.startswith("written for the platform: /srv/hr-connector/acme/workperiod/")
    assert "imports nothing itself" in deployed
    assert said(stopped).startswith("nothing: the run stopped")
    removed = said(stopped, had_output=True)
    assert "previous run's output was removed" in removed
    assert "handed over when that run completed" in removed
