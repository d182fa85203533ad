"""Every stop is reviewable (the changes in the admin task and its attachment) and every
kind of change is limitable (update/new/changed/removed limits, counts or percentages)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from hr_connector.changes import CSV_COLUMNS, mask
from hr_connector.errors import ParametersInvalid
from hr_connector.limits import allowed
from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import parse_params
from hr_connector.runner import run_plain

from conftest import ESM_USER, base_raw, place

NEXT_DAY = {
    "new": ["WP-0040", "WP-0041"],
    "changed": ["WP-0013", "WP-0014"],
    "removed": ["WP-0038"],
}


def raw(esm: Any, **extra: Any) -> dict[str, Any]:
    return base_raw(webapi_url=esm.url, webapi_user=ESM_USER, **extra)


def run(esm: Any, workdir: Path, task_id: str, **extra: Any) -> ImportResult:
    return run_plain(parse_params(raw(esm, **extra)), workdir, task_id)


def full_then_next_day(esm: Any, workdir: Path, samples: Path, fmt: str = "csv") -> None:
    place(workdir, samples / "workperiod" / f"workperiod.{fmt}")
    assert run(esm, workdir, "1", fmt=fmt).decision is Decision.COMPLETED
    place(workdir, samples / "workperiod" / "next_day" / f"workperiod.{fmt}")


def card_of(esm: Any, result: ImportResult) -> dict[str, Any]:
    assert result.admin_task_id, result.report_error
    card = esm.datacard(result.admin_task_id)
    assert card is not None
    return card


def description(card: dict[str, Any]) -> str:
    return card["data"]["description"]["values"][0]["value"]


def changes_csv(esm: Any, result: ImportResult) -> list[dict[str, str]]:
    card = card_of(esm, result)
    name = f"{result.task_id}_changes.csv"
    assert name in card["files"]["attachments"]
    data = esm.file_path(result.admin_task_id, name).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: a spreadsheet reads it right
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == ";".join(CSV_COLUMNS)
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def assert_esm_has_the_changes(esm: Any, result: ImportResult) -> None:
    text = description(card_of(esm, result))
    for kind in ("new", "changed", "removed"):
        for row_id in NEXT_DAY[kind]:
            assert f"row ID {row_id}" in text, (kind, row_id, text)
    assert "row ID WP-0013 (" in text and "): employment_end_date: – → 2027-01-31" in text
    assert "title_id: T150 → T160; title_name: Ohjelmistokehittäjä → Senior Software Engineer" in (
        text
    )
    assert "): employee_number E1036, first_name Aleksi, last_name Räsänen" in text
    assert "row ID WP-0038: employee_number E1035, first_name Eetu, last_name Väänänen" in text
    lines = changes_csv(esm, result)
    by_kind: dict[str, list[dict[str, str]]] = {}
    for line in lines:
        by_kind.setdefault(line["change"], []).append(line)
    assert [r["row_id"] for r in by_kind["new"]] == NEXT_DAY["new"]
    assert [r["row_id"] for r in by_kind["removed"]] == NEXT_DAY["removed"]
    # one line per changed column, with the old and the new value
    assert [
        (r["row_id"], r["column"], r["old_value"], r["new_value"]) for r in by_kind["changed"]
    ] == [
        ("WP-0013", "employment_end_date", "", "2027-01-31"),
        ("WP-0014", "title_id", "T150", "T160"),
        ("WP-0014", "title_name", "Ohjelmistokehittäjä", "Senior Software Engineer"),
    ]
    assert "last_name=Väänänen" in by_kind["removed"][0]["identity"]
    assert {r["row_id"] for r in by_kind["blocked"]} >= {"WP-0006", "WP-0015", "WP-0039"}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_stopped_partial_run_gives_the_esm_every_change(
    esm: Any, workdir: Path, samples: Path, fmt: str
) -> None:
    full_then_next_day(esm, workdir, samples, fmt)
    stopped = run(esm, workdir, "2", fmt=fmt, run_type="partial", update_limit=3)
    assert stopped.decision is Decision.INTERRUPTED
    assert stopped.interruption and stopped.interruption.case == "update_limit_exceeded"
    assert_esm_has_the_changes(esm, stopped)
    text = description(card_of(esm, stopped))
    assert f'"approved_changeset": "{stopped.changeset}"' in text  # the line to add, for EPE
    assert stopped.changes and stopped.changes.changed_total == 2
    log = (workdir / "2_log.txt").read_text(encoding="utf-8")
    position = "line 15" if fmt == "csv" else "record 14"
    assert f"Changed row ID WP-0014 ({position}): title_id: T150 → T160" in log


def test_completed_partial_run_gives_the_esm_every_change(
    esm: Any, workdir: Path, samples: Path
) -> None:
    full_then_next_day(esm, workdir, samples)
    done = run(esm, workdir, "2", run_type="partial", update_limit=10)
    assert done.decision is Decision.COMPLETED
    assert_esm_has_the_changes(esm, done)
    attached = card_of(esm, done)["files"]["attachments"]
    assert "2_output.json" in attached and "2_changes.csv" in attached


def test_report_max_rows_cuts_the_description_not_the_attachment(
    esm: Any, workdir: Path, samples: Path
) -> None:
    full_then_next_day(esm, workdir, samples)
    stopped = run(esm, workdir, "2", run_type="partial", update_limit=0, report_max_rows=1)
    text = description(card_of(esm, stopped))
    assert "row ID WP-0040" in text and "row ID WP-0041" not in text
    assert "… and 1 more row, listed in the attached 2_changes.csv." in text
    assert {"WP-0040", "WP-0041"} <= {r["row_id"] for r in changes_csv(esm, stopped)}


def test_a_truncated_file_is_stopped_by_removed_limit(
    esm: Any, workdir: Path, samples: Path
) -> None:
    """update_limit 0 lets a file that lost half its rows through; removed_limit does not."""
    place(workdir, samples / "workperiod" / "workperiod.csv")
    assert run(esm, workdir, "1").decision is Decision.COMPLETED
    lines = (samples / "workperiod" / "workperiod.csv").read_text("utf-8").splitlines(True)
    (workdir / "in" / "workperiod.csv").write_text("".join(lines[: len(lines) // 2]), "utf-8")
    unguarded = run(esm, workdir, "2", run_type="partial", update_limit=0, dry_run=True)
    assert unguarded.decision is Decision.COMPLETED and unguarded.counts.removed >= 15
    stopped = run(esm, workdir, "2", run_type="partial", update_limit=0, removed_limit="10%")
    assert stopped.decision is Decision.INTERRUPTED
    assert stopped.interruption and stopped.interruption.case == "removed_limit_exceeded"
    removed = stopped.counts.removed
    archived = stopped.counts.unchanged + stopped.counts.changed + removed
    assert f"more than removed_limit 10% = {archived // 10}" in stopped.interruption.message
    text = description(card_of(esm, stopped))
    assert f"{removed} rows imported last time are missing from the file" in text
    assert f"Rows imported last time that are no longer in the file ({removed})" in text
    assert len([r for r in changes_csv(esm, stopped) if r["change"] == "removed"]) == removed
    # nothing imported, archive kept: the next complete file compares with the full archive
    assert not (workdir / "2_output.json").exists()


def test_update_limit_as_a_percentage(esm: Any, workdir: Path, samples: Path) -> None:
    full_then_next_day(esm, workdir, samples)
    stopped = run(esm, workdir, "2", run_type="partial", update_limit="1%")
    assert stopped.interruption and stopped.interruption.case == "update_limit_exceeded"
    assert "more than update_limit 1% = 0" in stopped.interruption.message
    # 4 updates against 34 archived rows (31 unchanged + 2 changed + 1 removed): 12% allows 4
    done = run(esm, workdir, "3", run_type="partial", update_limit="12%")
    assert done.decision is Decision.COMPLETED, done.interruption


def test_per_kind_limits_name_the_limit_and_approval_covers_them(
    esm: Any, workdir: Path, samples: Path
) -> None:
    full_then_next_day(esm, workdir, samples)
    stopped = run(
        esm, workdir, "2", run_type="partial", update_limit=100, new_limit=1, changed_limit="1"
    )
    assert stopped.interruption and stopped.interruption.case == "new_limit_exceeded"
    text = description(card_of(esm, stopped))
    assert "The import would add 2 new rows, more than the new_limit 1" in text
    assert "Also exceeded: changed rows: 2 (changed_limit 1)." in text
    approved = run(
        esm,
        workdir,
        "3",
        run_type="partial",
        update_limit=100,
        new_limit=1,
        changed_limit=1,
        approved_changeset=stopped.changeset,
    )
    assert approved.decision is Decision.COMPLETED, approved.interruption
    overridden = run(
        esm,
        workdir,
        "4",
        run_type="partial",
        update_limit=0,
        removed_limit=0,
        override_update_limit=True,
    )
    assert overridden.decision is Decision.COMPLETED


@pytest.mark.parametrize(
    ("given", "parsed"),
    [(100, 100), ("100", 100), (" 5% ", "5%"), ("0.5%", "0.5%"), ("2,5%", "2.5%"), (7.0, 7)],
)
def test_limit_values(given: Any, parsed: Any) -> None:
    params = parse_params(base_raw(update_limit=given, removed_limit=given))
    assert params.update_limit == parsed and params.removed_limit == parsed


@pytest.mark.parametrize("bad", ["abc", "-1", "150%", True, -3, "5 %%"])
def test_bad_limit_values_are_named(bad: Any) -> None:
    with pytest.raises(ParametersInvalid) as caught:
        parse_params(base_raw(removed_limit=bad))
    assert "removed_limit" in str(caught.value)


def test_blank_optional_limits_are_off_and_defaults_are_vendor_compatible() -> None:
    params = parse_params(base_raw(new_limit="", changed_limit=None))
    assert (params.new_limit, params.changed_limit, params.removed_limit) == (None, None, None)
    assert params.report_max_rows == 50


def test_percentages_round_down() -> None:
    assert allowed("10%", 20) == 2 and allowed("10%", 19) == 1 and allowed("1%", 35) == 0
    assert allowed("100%", 7) == 7 and allowed(3, 1000) == 3


def test_national_ids_are_masked_in_the_changes(esm: Any, workdir: Path) -> None:
    header = (
        "row_id;last_name;first_name;employment_start_date;title_id;manager_id;org_unit_id;"
        "national_id\n"
    )
    first = header + "WP-1;Virta;Aino;2025-01-01;T1;M1;OU1;131052-308T\n"
    (workdir / "in").mkdir()
    (workdir / "in" / "wp.csv").write_text(first, "utf-8")
    assert run(esm, workdir, "1", unique_id="national_id").decision is Decision.COMPLETED
    second = header + "WP-1;Virta;Aino;2025-01-01;T2;M1;OU1;131052-308T\n"
    second += "WP-2;Koski;Eero;2025-02-01;T1;M1;OU1;010203-123A\n"
    (workdir / "in" / "wp.csv").write_text(second, "utf-8")
    result = run(esm, workdir, "2", run_type="partial", update_limit=0, unique_id="national_id")
    text = description(card_of(esm, result))
    attachment = json.dumps(changes_csv(esm, result), ensure_ascii=False)
    for shown in (text, attachment):
        assert "010203-123A" not in shown and "131052-308T" not in shown
    assert mask("010203-123A") in text  # the new person: the masked ID identifies them
    assert mask("010203-123A") in attachment and mask("131052-308T") in attachment
    assert "title_id: T1 → T2" in text


def test_admin_task_in_finnish_has_no_english_words(esm: Any, workdir: Path, samples: Path) -> None:
    full_then_next_day(esm, workdir, samples)
    stopped = run(esm, workdir, "2", run_type="partial", update_limit=3, language="fi")
    card = card_of(esm, stopped)
    text = description(card)
    title = card["data"]["subject"]["values"][0]["value"]
    assert title == "HR-tuonti työsuhdejaksot: keskeytyi"
    assert "tuontitapa osittainen" in text
    assert "rivitunniste WP-0013 (rivi 14)" in text and "rivi 7, rivitunniste WP-0006" in text
    assert "esim. 2025-01-31" in text and "%Y" not in text
    for english in (" line ", "row ID", "partial", "workperiod", "Changed rows", "New rows"):
        assert english not in text, english


def test_one_blocked_row_is_singular_and_no_counts_without_a_file(esm: Any, workdir: Path) -> None:
    (workdir / "in").mkdir()
    (workdir / "in" / "t.csv").write_text("title_id;title_name\nT1;A\nT2;\n", "utf-8")
    done = run(esm, workdir, "1", data_type="title")
    card = card_of(esm, done)
    assert card["data"]["subject"]["values"][0]["value"] == (
        "HR import job titles: completed, 1 row blocked"
    )
    (workdir / "in" / "t.csv").unlink()
    missing = run(esm, workdir, "2", data_type="title")
    text = description(card_of(esm, missing))
    assert "No HR file" in missing.interruption.message if missing.interruption else False
    assert "Rows read" not in text


def test_full_run_counts_agree_in_log_summary_and_admin_task(
    esm: Any, workdir: Path, samples: Path
) -> None:
    from hr_connector.artifacts import summary_table

    place(workdir, samples / "workperiod" / "workperiod.csv")
    done = run(esm, workdir, "1")
    text = description(card_of(esm, done))
    assert "Rows read: 40. Valid: 34. Blocked: 6. Rows to import: 34." in text
    assert "New:" not in text and "Removed:" not in text
    log = (workdir / "1_log.txt").read_text(encoding="utf-8")
    assert "Completed: 40 rows read, 6 blocked, 34 to import" in log
    assert "removed" not in log.split("Completed:")[1].splitlines()[0]
    table = {r["figure"]: r["value"] for r in summary_table(done)}
    assert (table["rows read"], table["blocked"], table["output"]) == (40, 6, 34)
    assert "new" not in table and "removed" not in table


def reason_codes() -> set[str]:
    """Every reason code a run can give, from where each is declared: the validation rules, the
    data-quality checks, and the readers' and the row-ID check's own (with their log words)."""
    from hr_connector.quality.checks import ROW_CHECKS
    from hr_connector.records import REASON_TEXT_EN
    from hr_connector.rules import RULES

    declared = {code for rule in RULES for code in rule.codes}
    return declared | {code for check in ROW_CHECKS for code in check.codes} | set(REASON_TEXT_EN)


def test_log_and_error_archive_use_the_admin_task_words() -> None:
    from hr_connector.records import REASON_TEXT_EN
    from hr_connector.texts import Translations

    shipped = Translations.load()
    for code in sorted(reason_codes()):
        assert code in REASON_TEXT_EN, f"{code}: no English words for the log"
        text = REASON_TEXT_EN[code]
        assert shipped.cases[f"reason_{code}"]["en"] in (text, text.replace("'", "")), code


def _error_cases() -> set[str]:
    from hr_connector.errors import ConnectorError

    found: set[str] = set()
    todo = [ConnectorError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        found.add(cls.case)
    return found - {"unusable_invocation"}  # exit 2: no admin task is written


def test_every_case_the_code_uses_is_written_in_all_six_languages() -> None:
    """A case or a language missing from translation.json fails here, not in a customer's run."""
    from hr_connector.report import APPROVABLE_CASES, REPORT_CASES
    from hr_connector.texts import SHIPPED_LANGUAGES, Translations

    shipped = Translations.load()
    used = {
        *REPORT_CASES,
        *APPROVABLE_CASES,
        *_error_cases(),
        *(f"reason_{code}" for code in reason_codes()),
        "changes_rejected",
        "attachments_omitted",
        "attachments_not_supported",
    }
    for case in sorted(used):
        assert case in shipped.cases, case
        missing = set(SHIPPED_LANGUAGES) - set(shipped.cases[case])
        assert not missing, (case, missing)
        for language in SHIPPED_LANGUAGES:
            assert shipped.cases[case][language].strip(), (case, language)


@pytest.mark.parametrize("where", ["rule", "check"])
def test_a_reason_code_without_texts_fails_the_language_check(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A rule or a data-quality check given a new code, and no texts for it, is caught."""
    from dataclasses import replace

    from hr_connector import rules
    from hr_connector.quality import checks

    if where == "rule":
        new = rules.Rule("new rule", ("brand_new_reason",), lambda ctx: [])
        monkeypatch.setattr(rules, "RULES", [*rules.RULES, new])
    else:
        first = replace(
            checks.ROW_CHECKS[0], codes=(*checks.ROW_CHECKS[0].codes, "brand_new_reason")
        )
        monkeypatch.setattr(checks, "ROW_CHECKS", (first, *checks.ROW_CHECKS[1:]))
    with pytest.raises(AssertionError, match="reason_brand_new_reason"):
        test_every_case_the_code_uses_is_written_in_all_six_languages()
    with pytest.raises(AssertionError, match="brand_new_reason: no English words"):
        test_log_and_error_archive_use_the_admin_task_words()


@pytest.mark.parametrize("language", ["en", "fi", "de"])
def test_one_change_over_the_limit_is_singular(
    esm: Any, workdir: Path, samples: Path, language: str
) -> None:
    place(workdir, samples / "title" / "title.csv")
    assert run(esm, workdir, "1", data_type="title").decision is Decision.COMPLETED
    text = (workdir / "in" / "title.csv").read_text("utf-8").replace("T100;", "T100;X", 1)
    (workdir / "in" / "title.csv").write_text(text, "utf-8")
    stopped = run(
        esm, workdir, "2", data_type="title", run_type="partial", update_limit=0, language=language
    )
    text = description(card_of(esm, stopped))
    expected = {
        "en": "would make 1 update (0 new, 1 changed)",
        "fi": "Tuonti tekisi 1 päivityksen",
        "de": "würde 1 Aktualisierung vornehmen",
    }
    assert expected[language] in text


def test_an_override_names_every_limit_it_let_through(
    esm: Any, workdir: Path, samples: Path
) -> None:
    full_then_next_day(esm, workdir, samples)
    done = run(
        esm,
        workdir,
        "2",
        run_type="partial",
        update_limit=100,
        removed_limit=0,
        override_update_limit=True,
    )
    text = description(card_of(esm, done))
    expected = "These limits were exceeded: removed rows: 1 (removed_limit 0), but the import went"
    assert expected in text


def test_positions_in_a_stop_are_in_the_admins_language(esm: Any, workdir: Path) -> None:
    (workdir / "in").mkdir()
    (workdir / "in" / "t.csv").write_bytes(b"title_id;title_name\nT1;A\nT2;\xe4\n")
    stopped = run(esm, workdir, "1", data_type="title", language="de")
    text = description(card_of(esm, stopped))
    assert "Zeile 3, Spalte" in text and "line 3" not in text


def test_epe_stop_gives_the_exact_extra_arguments_line(
    esm: Any, workdir: Path, samples: Path
) -> None:
    """The admin adds the printed line to the scheduled task's JSON once, and the rerun imports."""
    from run_helpers import engine_run, epe_day_one_then_next_file, epe_raw

    epe_day_one_then_next_file(workdir, esm)
    partial = epe_raw(esm, run_type="partial", update_limit=3, removed_limit="10%")
    stopped = engine_run(workdir, partial)
    assert stopped.returncode == 1
    line = stopped.stderr.split("for one run: ", 1)[1].splitlines()[0]
    assert line.startswith('"approved_changeset": "sha256:')
    approved = json.loads(json.dumps(partial)[:-1] + ", " + line + "}")
    done = engine_run(workdir, approved)
    assert done.returncode == 0, done.stderr
    assert len(json.loads((workdir / "3_output.json").read_text("utf-8"))) == 4
