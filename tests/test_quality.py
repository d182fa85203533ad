"""Data-quality checks: per check and severity, on local files with the plain steps.

References come from the other data types' archives in the same working directory (as under
EPE, each written by a real import) or from ``reference_archives_dir`` (a Prefect deployment's
per-type working directories). The wrapper and the flow are exercised at the end.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from hr_connector.errors import ParametersInvalid
from hr_connector.outcome import Decision
from hr_connector.params import parse_params
from hr_connector.quality import cycles, overlaps
from hr_connector.quality.findings import QualityCheck, QualityLine, QualityReport
from hr_connector.quality.national_ids import invalid
from hr_connector.quality.report import QUALITY_CASES, section
from hr_connector.rules import date_parser
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir

from conftest import base_raw
from quality_helpers import (
    BAD_NID,
    NID,
    WP_COLUMNS,
    admin_task,
    errors,
    good_workperiods,
    import_references,
    load,
    quality,
    run,
    wp_row,
    write_csv,
    written,
)


def texts(values: list[str]) -> pl.Series:
    return pl.Series(values, dtype=pl.String)


# --- references ---------------------------------------------------------------------------------


def test_references_warn_lists_the_rows_and_imports_them(workdir: Path) -> None:
    import_references(workdir)
    rows = [
        *good_workperiods(),
        wp_row("WP5", "E5", org_unit_id="OU9", title_id="T9", cost_center="CC9", manager="E8"),
    ]
    write_csv(workdir, rows, WP_COLUMNS)
    result = run(workdir)
    assert result.decision is Decision.COMPLETED
    assert result.counts.blocked == 0 and result.counts.output == 5
    assert result.data_quality["references"] == 4
    refs = quality(admin_task(workdir), "references")
    assert refs["severity"] == "warn" and refs["count"] == 4 and refs["rows"] == 1
    messages = " | ".join(line["message"] for line in refs["first"])
    assert "title_id T9" in messages and "org_unit_id OU9" in messages
    assert "cost_center CC9" in messages and "manager_id E8" in messages
    assert {line["row_id"] for line in refs["first"]} == {"WP5"}
    description = admin_task(workdir)["description"]
    assert (
        "Data quality:" in description
        and "References to other data (warning): 4 findings" in description
    )


def test_references_block_blocks_the_row_with_its_reason(workdir: Path) -> None:
    import_references(workdir)
    rows = [*good_workperiods(), wp_row("WP5", "E5", org_unit_id="OU9")]
    write_csv(workdir, rows, WP_COLUMNS)
    result = run(workdir, checks={"references": "block"})
    assert result.decision is Decision.COMPLETED
    assert (result.counts.blocked, result.counts.output) == (1, 4)
    assert errors(workdir) == {"WP5": ["unknown_reference"]}
    task = admin_task(workdir)
    assert [b["row_id"] for b in task["blocked_rows"]] == ["WP5"]
    assert "org_unit_id OU9 does not exist" in task["blocked_rows"][0]["reasons"][0]["message"]
    assert {r["row_id"] for r in load(workdir / "3_output.json")} == {"WP1", "WP2", "WP3", "WP4"}


def test_reference_type_never_imported_is_skipped_and_the_admin_task_says_so(
    workdir: Path,
) -> None:
    rows = [*good_workperiods(), wp_row("WP5", "E5", org_unit_id="OU9")]
    write_csv(workdir, rows, WP_COLUMNS)
    result = run(workdir, checks={"references": "block"})
    assert result.counts.blocked == 0  # nothing to check against: nothing blocked
    refs = quality(admin_task(workdir), "references")
    assert refs["skipped"] == "quality_not_imported"
    assert refs["skipped_figures"]["data_types"] == "organization, title, costcenter"
    assert (
        "not checked: no organization, title, costcenter import"
        in admin_task(workdir)["description"]
    )


def test_reference_archives_dir_points_at_another_working_directory(tmp_path: Path) -> None:
    shared = tmp_path / "organization-task"
    import_references(shared)
    wp = tmp_path / "workperiod-task"
    rows = [*good_workperiods(), wp_row("WP5", "E5", org_unit_id="OU9")]
    write_csv(wp, rows, WP_COLUMNS)
    absolute = str(shared / "data" / "archive")
    result = run(wp, checks={"references": "block"}, reference_archives_dir=absolute)
    assert errors(wp) == {"WP5": ["unknown_reference"]}
    assert result.counts.output == 4
    relative = run(
        wp,
        checks={"references": "block"},
        reference_archives_dir="../organization-task/data/archive",
    )
    assert relative.counts.blocked == 1
    # without it, this working directory has no other type's archive: skipped
    alone = run(wp, checks={"references": "block"})
    assert alone.counts.blocked == 0
    assert quality(admin_task(wp), "references")["skipped"] == "quality_not_imported"


def test_renamed_key_column_of_the_referenced_type_is_remembered(workdir: Path) -> None:
    write_csv(
        workdir, [{"unit": "OU1", "org_unit_name": "One"}, {"unit": "OU2", "org_unit_name": "Two"}]
    )
    run(workdir, "organization", task_id="o", field_names={"org_unit_id": "unit"})
    write_csv(workdir, [{"title_id": "T1", "title_name": "Engineer"}])
    run(workdir, "title", task_id="t")
    write_csv(workdir, [{"cost_center_id": "CC1", "cost_center_name": "Ops"}])
    run(workdir, "costcenter", task_id="c")
    write_csv(workdir, [*good_workperiods(), wp_row("WP5", "E5", org_unit_id="OU9")], WP_COLUMNS)
    assert run(workdir, checks={"references": "block"}).counts.blocked == 1
    assert errors(workdir) == {"WP5": ["unknown_reference"]}


def test_blocked_rows_of_the_referenced_import_do_not_count(workdir: Path) -> None:
    write_csv(
        workdir,
        [
            {"org_unit_id": "OU1", "org_unit_name": "One"},
            {"org_unit_id": "OU2", "org_unit_name": ""},
        ],
    )
    assert run(workdir, "organization", task_id="o").counts.blocked == 1  # OU2 never imported
    write_csv(workdir, good_workperiods(), WP_COLUMNS)
    run(workdir, checks={"references": "block"})
    assert errors(workdir) == {"WP4": ["unknown_reference"]}


def test_unchanged_row_whose_reference_disappeared_is_checked_again(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive index must not let an unchanged row skip the checks (fast and reference path)."""
    outputs = []
    for fast in ("1", "0"):
        wd = workdir / f"fast{fast}"
        import_references(wd)
        write_csv(wd, good_workperiods(), WP_COLUMNS)
        first = run(wd, checks={"references": "block"})
        assert first.counts.blocked == 0 and first.counts.output == 4
        import_references(wd, org_units=("OU1",))  # OU2 is gone from the organization
        write_csv(wd, good_workperiods(), WP_COLUMNS)  # the same work periods again
        second = run(wd, run_type="partial", checks={"references": "block"})
        assert errors(wd) == {"WP4": ["unknown_reference"]}
        assert second.counts.blocked == 1
        outputs.append(written(wd))
    assert outputs[0] == outputs[1]


def test_manager_from_the_last_workperiod_import_and_organization_managers(workdir: Path) -> None:
    write_csv(workdir, good_workperiods(), WP_COLUMNS)
    run(workdir)
    # the next file lacks E2's own row, but E2 is a person of the last work-period import
    rows = [r for r in good_workperiods() if r["row_id"] != "WP2"]
    write_csv(workdir, rows, WP_COLUMNS)
    result = run(workdir, checks={"references": "block"}, task_id="4")
    assert quality(admin_task(workdir, "4"), "references")["skipped_figures"]["columns"] == (
        "org_unit_id, title_id, cost_center"
    )
    assert result.counts.blocked == 0
    # organization managers / cost center owners are persons of the work-period import
    write_csv(
        workdir,
        [
            {"org_unit_id": "OU1", "org_unit_name": "One", "manager_id": "E3"},
            {"org_unit_id": "OU2", "org_unit_name": "Two", "manager_id": "E99"},
        ],
    )
    run(workdir, "organization", task_id="o", checks={"references": "block"})
    assert errors(workdir, "organization") == {"OU2": ["unknown_person"]}
    write_csv(workdir, [{"cost_center_id": "CC1", "cost_center_name": "Ops", "owner_id": "E77"}])
    run(workdir, "costcenter", task_id="c", checks={"references": "block"})
    assert errors(workdir, "costcenter") == {"CC1": ["unknown_person"]}


def test_organization_parent_must_be_in_the_same_file(workdir: Path) -> None:
    write_csv(
        workdir,
        [
            {"org_unit_id": "OU1", "org_unit_name": "One", "parent_org_unit_id": ""},
            {"org_unit_id": "OU2", "org_unit_name": "Two", "parent_org_unit_id": "OU7"},
        ],
    )
    result = run(workdir, "organization", checks={"references": "block"})
    assert errors(workdir, "organization") == {"OU2": ["unknown_parent"]}
    assert result.counts.output == 1


# --- cycles -------------------------------------------------------------------------------------


def test_find_cycles_reports_each_cycle_once_with_its_whole_path() -> None:
    sources = ["A", "B", "C", "D", "E", "F", "G", "H", "I"]
    targets = ["B", "A", "C", "E", "F", "D", "A", "G", ""]  # G and H hang below the A-B loop
    found = cycles.find_cycles(texts(sources), texts(targets))
    assert found == [("A → B → A", [0, 1]), ("C → C", [2]), ("D → E → F → D", [3, 4, 5])]


def test_find_cycles_on_a_deep_tree_finds_nothing_and_an_added_loop_once() -> None:
    n = 50_000
    sources = [f"P{i}" for i in range(n)]
    targets = [""] + [f"P{(i - 1) // 3}" for i in range(1, n)]
    assert cycles.find_cycles(texts(sources), texts(targets)) == []
    targets[0] = f"P{n - 1}"  # the top reports to a leaf: one long loop
    ((text, rows),) = cycles.find_cycles(texts(sources), texts(targets))
    assert text.startswith("P0 → ") and text.endswith(" → P0") and len(rows) == text.count("→")


def test_manager_cycles_warn_by_default_and_block_when_asked(workdir: Path) -> None:
    rows = good_workperiods()  # WP1: E1 is their own manager
    rows += [wp_row("WP5", "E5", manager="E6"), wp_row("WP6", "E6", manager="E5")]
    write_csv(workdir, rows, WP_COLUMNS)
    warned = run(workdir)
    assert warned.counts.blocked == 0 and warned.data_quality["cycles"] == 2
    found = quality(admin_task(workdir), "cycles")
    assert [line["message"].split(": ")[-1] for line in found["first"]] == [
        "E1 → E1",
        "E5 → E6 → E5",
    ]
    assert found["first"][1]["position"] == "line 6, line 7"
    blocked = run(workdir, checks={"cycles": "block"})
    assert blocked.counts.blocked == 3
    assert errors(workdir) == {
        "WP1": ["manager_cycle"],
        "WP5": ["manager_cycle"],
        "WP6": ["manager_cycle"],
    }


def test_organization_parent_cycle_blocks_every_unit_on_it(workdir: Path) -> None:
    write_csv(
        workdir,
        [
            {"org_unit_id": "OU1", "org_unit_name": "Root", "parent_org_unit_id": ""},
            {"org_unit_id": "OU2", "org_unit_name": "A", "parent_org_unit_id": "OU4"},
            {"org_unit_id": "OU3", "org_unit_name": "B", "parent_org_unit_id": "OU2"},
            {"org_unit_id": "OU4", "org_unit_name": "C", "parent_org_unit_id": "OU3"},
            {"org_unit_id": "OU5", "org_unit_name": "D", "parent_org_unit_id": "OU4"},
        ],
    )
    result = run(workdir, "organization", checks={"cycles": "block"})
    assert errors(workdir, "organization") == {k: ["org_cycle"] for k in ("OU2", "OU3", "OU4")}
    assert result.counts.output == 2
    reason = admin_task(workdir)["blocked_rows"][0]["reasons"][0]["message"]
    assert reason.endswith("OU2 → OU4 → OU3 → OU2")


def test_cycles_of_national_ids_are_masked(workdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = good_workperiods()
    for r in rows:
        r["manager_id"] = NID["E2"] if r["row_id"] != "WP2" else NID["E3"]
    rows[2]["manager_id"] = NID["E2"]
    rows[1]["manager_id"] = NID["E3"]
    write_csv(workdir, rows, WP_COLUMNS)
    with caplog.at_level(logging.INFO):
        run(workdir, unique_id="national_id")
    text = json.dumps(admin_task(workdir)) + caplog.text
    assert "*********7L → *********5K → *********7L" in text
    for nid in NID.values():
        assert nid not in json.dumps(admin_task(workdir)["data_quality"]) and nid not in caplog.text


# --- overlaps -----------------------------------------------------------------------------------


def test_overlapping_periods_pairs() -> None:
    parse = date_parser(("%Y-%m-%d",))
    persons = ["A", "A", "A", "B", "B", "C"]
    starts = ["2025-01-01", "2025-07-01", "2026-01-01", "2025-01-01", "2025-03-01", "2025-01-01"]
    ends = ["2025-06-30", "", "2026-02-01", "2025-03-01", "", ""]
    # A: 0 ends before 1 starts; 1 is open-ended so 2 overlaps it. B: end == next start overlaps.
    found = overlaps.overlapping(texts(persons), texts(starts), texts(ends), parse)
    assert found.rows() == [(1, 2), (3, 4)]


def test_overlaps_warn_and_block(workdir: Path) -> None:
    rows = [
        *good_workperiods(),
        wp_row(
            "WP5",
            "E3",
            manager="E2",
            employment_start_date="2024-01-01",
            employment_end_date="2025-01-01",
        ),
        wp_row(
            "WP6",
            "E4",
            manager="E2",
            employment_start_date="2023-01-01",
            employment_end_date="2024-12-31",
        ),
    ]
    write_csv(workdir, rows, WP_COLUMNS)
    warned = run(workdir)
    assert warned.data_quality["overlaps"] == 1 and warned.counts.blocked == 0
    line = quality(admin_task(workdir), "overlaps")["first"][0]
    assert (
        "WP3 2025-01-01 – …" in line["message"] and "WP5 2024-01-01 – 2025-01-01" in line["message"]
    )
    blocked = run(workdir, checks={"overlaps": "block"})
    assert errors(workdir) == {"WP3": ["overlapping_period"], "WP5": ["overlapping_period"]}
    assert blocked.counts.output == 4


# --- national IDs -------------------------------------------------------------------------------

#: (valid, invalid) per country; Denmark's CPR has no check digit since 2007: a bad date
IDS = {
    "fi": ("131052-308T", "131052-308U"),
    "se": ("8112289874", "8112289875"),
    "no": ("15108695088", "15108695089"),
    "dk": ("2110625629", "3210625629"),
    "pl": ("44051401359", "44051401358"),
}


@pytest.mark.parametrize("country", list(IDS))
def test_national_id_countries(country: str) -> None:
    from hr_connector.quality.settings import national_id_module

    good, wrong = IDS[country]

    found = invalid(texts([good, wrong, ""]), national_id_module(country), date.today()).rows()
    assert [row for row, _code, _detail in found] == [1]
    ((_row, code, detail),) = found
    assert code in ("national_id_checksum", "national_id_birth_date")
    assert detail.endswith(wrong[-2:]) and wrong not in detail


def test_national_id_birth_date_and_format() -> None:
    from hr_connector.quality.settings import national_id_module

    module = national_id_module("fi")
    found = invalid(texts(["310268-912K", "12345"]), module, date.today())
    assert found["code"].to_list() == ["national_id_birth_date", "national_id_format"]


def test_national_ids_block_masked_everywhere_a_person_reads(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = good_workperiods()
    rows[2]["national_id"] = BAD_NID
    write_csv(workdir, rows, WP_COLUMNS)
    with caplog.at_level(logging.INFO):
        result = run(workdir, national_id_country="fi", checks={"national_ids": "block"})
    assert result.counts.blocked == 1
    assert errors(workdir) == {"WP3": ["national_id_checksum"]}
    task = admin_task(workdir)
    assert "*********2L" in task["description"]
    assert BAD_NID not in json.dumps(task) and BAD_NID not in caplog.text
    assert BAD_NID not in (workdir / "3_admin_task.md").read_text(encoding="utf-8")
    entry = load(workdir / "data/archive/error_workperiod_reasons.json")[0]
    assert entry["reasons"][0]["detail"] == "*********2L"


def test_national_ids_need_a_country_and_the_country_must_be_known() -> None:
    with pytest.raises(ParametersInvalid, match="national_id_country"):
        parse_params(base_raw(national_id_country="xx"))
    assert parse_params(base_raw(national_id_country=" SE ")).quality.national_id_country == "se"
    assert parse_params(base_raw(national_id_country="")).quality.national_id_country is None


def test_without_a_country_no_national_id_check(workdir: Path) -> None:
    rows = good_workperiods()
    rows[2]["national_id"] = BAD_NID
    write_csv(workdir, rows, WP_COLUMNS)
    result = run(workdir, checks={"national_ids": "block"})
    assert result.counts.blocked == 0 and "national_ids" not in result.data_quality


# --- file-level checks --------------------------------------------------------------------------


def test_same_file_again_stops_the_run_when_blocking(workdir: Path) -> None:
    write_csv(workdir, good_workperiods(), WP_COLUMNS)
    assert run(workdir, checks={"same_file": "block"}).decision is Decision.COMPLETED
    archive = (workdir / "data/archive/workperiod_archive.json").read_bytes()
    again = run(workdir, checks={"same_file": "block"}, run_type="partial")
    assert again.decision is Decision.INTERRUPTED
    assert again.interruption is not None and again.interruption.case == "same_file_again"
    assert "delivered the same file again" in again.interruption.message
    assert not (workdir / "3_output.json").exists()
    assert (workdir / "data/archive/workperiod_archive.json").read_bytes() == archive
    task = admin_task(workdir)
    assert task["case"] == "same_file_again"
    assert "delivered the same file again: hr.csv" in task["description"]
    finnish = run(workdir, checks={"same_file": "block"}, language="fi")
    assert "toimitti saman tiedoston uudelleen" in admin_task(workdir)["description"]
    assert finnish.decision is Decision.INTERRUPTED


def test_same_file_warn_imports_and_off_is_the_default(workdir: Path) -> None:
    write_csv(workdir, good_workperiods(), WP_COLUMNS)
    run(workdir, checks={"same_file": "warn"})
    warned = run(workdir, checks={"same_file": "warn"})
    assert warned.decision is Decision.COMPLETED and warned.data_quality["same_file"] == 1
    assert "delivered the same file again" in admin_task(workdir)["description"]
    default = run(workdir)
    assert default.decision is Decision.COMPLETED and "same_file" not in default.data_quality
    # a changed file is not the same file
    write_csv(workdir, good_workperiods()[:3], WP_COLUMNS)
    assert run(workdir, checks={"same_file": "block"}).decision is Decision.COMPLETED


def test_file_too_old(workdir: Path) -> None:
    path = write_csv(workdir, good_workperiods(), WP_COLUMNS)
    old = time.time() - 30 * 3600
    os.utime(path, (old, old))
    stopped = run(workdir, max_file_age_hours="24")
    assert stopped.decision is Decision.INTERRUPTED
    assert stopped.interruption is not None and stopped.interruption.case == "file_too_old"
    assert "30.0 hours ago" in stopped.interruption.message
    assert "max_file_age_hours 24" in admin_task(workdir)["description"]
    assert not (workdir / "3_output.json").exists()
    warned = run(workdir, max_file_age_hours=24, checks={"file_age": "warn"})
    assert warned.decision is Decision.COMPLETED and warned.data_quality["file_age"] == 1
    assert run(workdir, max_file_age_hours=48).decision is Decision.COMPLETED
    off = run(workdir, max_file_age_hours=24, checks={"file_age": "off"})
    assert off.decision is Decision.COMPLETED and "file_age" not in off.data_quality
    assert run(workdir).decision is Decision.COMPLETED  # no limit: no check


@pytest.mark.parametrize(
    ("days_ahead", "reason"),
    [
        (None, "no real modification time (1970-01-01 00:00 UTC, the Unix epoch)"),
        (30, "720.0 hours ahead of this machine's clock"),
    ],
    ids=["epoch", "30-days-ahead"],
)
def test_wrapper_file_of_unknown_age_stops_with_the_reason(
    workdir: Path, esm: Any, days_ahead: int | None, reason: str
) -> None:
    """A file dated 1970 or a month ahead passes no max_file_age_hours: its age is unknown."""
    from run_helpers import engine_run, epe_raw

    path = write_csv(workdir, good_workperiods(), WP_COLUMNS)
    mtime = 0.0 if days_ahead is None else time.time() + days_ahead * 86400 + 60
    os.utime(path, (mtime, mtime))
    params = epe_raw(esm, max_file_age_hours=26, file_path="in/*.csv")
    proc = engine_run(workdir, params)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert reason in proc.stderr and "its age is unknown" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (workdir / "3_output.json").exists()
    assert reason in admin_task(workdir)["description"]
    warned = engine_run(workdir, {**params, "checks": {"file_age": "warn"}})
    assert warned.returncode == 0, warned.stderr
    (line,) = quality(admin_task(workdir), "file_age")["first"]
    assert "its age is unknown" in line["message"]


def test_file_age_a_few_minutes_ahead_is_a_clock_difference(workdir: Path) -> None:
    path = write_csv(workdir, good_workperiods(), WP_COLUMNS)
    ahead = time.time() + 120
    os.utime(path, (ahead, ahead))
    assert run(workdir, max_file_age_hours=1).decision is Decision.COMPLETED


# --- parameters, report, equivalence --------------------------------------------------------------


def test_checks_parameter() -> None:
    params = parse_params(base_raw(checks='{"References": "BLOCK", "cycles": "off"}'))
    assert params.quality.checks == {"references": "block", "cycles": "off"}
    with pytest.raises(ParametersInvalid) as info:
        parse_params(base_raw(checks={"refs": "block", "cycles": "hard"}))
    assert "unknown check 'refs'" in str(info.value) and "'hard' is not one of" in str(info.value)
    assert parse_params(base_raw(checks="")).quality.checks == {}


def test_all_checks_off_gives_no_section(workdir: Path) -> None:
    rows = [*good_workperiods(), wp_row("WP5", "E5", manager="E5")]
    write_csv(workdir, rows, WP_COLUMNS)
    off = {name: "off" for name in ("references", "cycles", "overlaps", "national_ids")}
    result = run(workdir, checks=off, national_id_country="fi")
    assert result.data_quality == {} and admin_task(workdir)["data_quality"] is None
    assert "Data quality" not in admin_task(workdir)["description"]


@pytest.mark.parametrize("language", ["en", "fi", "sv", "de", "pl", "fr"])
def test_section_in_every_language(language: str) -> None:
    translations = Translations.load()
    translations.require(language, QUALITY_CASES)
    report = QualityReport(
        checks=[
            QualityCheck(
                check="cycles",
                severity="block",
                count=3,
                rows=2,
                first=[QualityLine(position="line 2", row_id="WP1", message="x")],
            ),
            QualityCheck(check="overlaps", severity="warn"),
            QualityCheck(
                check="references",
                severity="warn",
                skipped="quality_not_imported",
                skipped_figures={
                    "columns": "org_unit_id",
                    "data_types": "organization",
                    "folder": "d",
                },
            ),
        ]
    )
    lines = section(report, translations, language)
    assert lines[1] == translations.text("quality_heading", language)
    line = translations.text("position_line", language, number=2)  # "rivi 2", "Zeile 2", …
    assert f"  - {line} (WP1): x" in lines
    assert lines[4] == "  - " + translations.text("quality_more", language, count=2)
    assert len(lines) == 7


def test_every_problem_at_once_same_bytes_on_fast_and_reference_path(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = {
        "references": "block",
        "cycles": "block",
        "overlaps": "block",
        "national_ids": "block",
    }
    rows = [
        *good_workperiods(),
        wp_row("WP5", "E5", org_unit_id="OU9"),
        wp_row("WP6", "E6", manager="E6"),
        wp_row("WP7", "E3", manager="E2", employment_start_date="2024-06-01"),
        wp_row("WP8", "E7", manager="E2", national_id=BAD_NID),
    ]
    results = []
    for fast in ("1", "0"):
        wd = workdir / f"f{fast}"
        import_references(wd)
        write_csv(wd, rows, WP_COLUMNS)
        first = run(wd, checks=checks, national_id_country="fi")
        second = run(wd, checks=checks, national_id_country="fi", run_type="partial")
        assert first.counts.blocked == second.counts.blocked == 6
        results.append(written(wd))
    assert results[0] == results[1]
    assert errors(workdir / "f1") == {
        "WP1": ["manager_cycle"],
        "WP5": ["unknown_reference"],
        "WP6": ["manager_cycle"],
        "WP3": ["overlapping_period"],
        "WP7": ["overlapping_period"],
        "WP8": ["national_id_checksum"],
    }


# --- through the EPE wrapper and through the flow -----------------------------------------------


def test_wrapper_blocks_with_references_from_the_same_working_directory(
    workdir: Path, esm: Any
) -> None:
    """As under EPE: the other types' archives sit in the same working directory."""
    from run_helpers import engine_run, epe_raw

    import_references(workdir)
    rows = [
        *good_workperiods(),
        wp_row("WP5", "E5", org_unit_id="OU9"),
        wp_row("WP6", "E6", manager="E2", national_id=BAD_NID),
    ]
    write_csv(workdir, rows, WP_COLUMNS)
    checks = {"references": "block", "national_ids": "block", "cycles": "warn"}
    proc = engine_run(
        workdir,
        epe_raw(esm, checks=json.dumps(checks), national_id_country="fi", file_path="in/*.csv"),
    )
    assert proc.returncode == 0, proc.stderr
    output = load(Path(proc.stdout.strip().splitlines()[-1]))
    assert {r["row_id"] for r in output} == {"WP1", "WP2", "WP3", "WP4"}
    assert errors(workdir) == {"WP5": ["unknown_reference"], "WP6": ["national_id_checksum"]}
    task = admin_task(workdir)
    assert quality(task, "cycles")["count"] == 1
    log_text = (workdir / "3_log.txt").read_text(encoding="utf-8")
    assert "Data quality references" in log_text
    assert BAD_NID not in log_text and BAD_NID not in json.dumps(task)
    assert BAD_NID not in proc.stdout + proc.stderr


def test_wrapper_same_file_again_exits_1_with_one_line(workdir: Path, esm: Any) -> None:
    from run_helpers import engine_run, epe_raw

    write_csv(workdir, good_workperiods(), WP_COLUMNS)
    params = epe_raw(esm, checks={"same_file": "block"}, file_path="in/*.csv")
    assert engine_run(workdir, params).returncode == 0
    proc = engine_run(workdir, params)
    assert proc.returncode == 1
    assert "delivered the same file again" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (workdir / "3_output.json").exists()


@pytest.mark.integration
def test_flow_runs_the_checks_as_tasks_with_references_via_reference_archives_dir(
    prefect_server: str, tmp_path: Path, esm: Any
) -> None:
    """A Prefect deployment: one working directory per data type, the archives shared."""
    from hr_connector.flows.hr_import import run_flow

    from prefect_helpers import artifacts_of, eventually, flow_run_named, raw, task_run_names

    shared = tmp_path / "organization"
    import_references(shared)
    wp = tmp_path / "workperiod"
    write_csv(wp, [*good_workperiods(), wp_row("WP5", "E5", org_unit_id="OU9")], WP_COLUMNS)
    params = raw(
        esm,
        file_path="in/*.csv",
        checks={"references": "block"},
        reference_archives_dir=str(shared / "data" / "archive"),
    )
    result = run_flow(params, wp, "21")
    assert result.decision is Decision.COMPLETED
    assert result.counts.blocked == 1 and result.data_quality["references"] == 1
    assert errors(wp) == {"WP5": ["unknown_reference"]}
    run_ = flow_run_named("workperiod-task-21")
    names = eventually(
        lambda: task_run_names(run_.id) >= {"check-file-quality", "check-data-quality"}
    )
    assert names, task_run_names(run_.id)
    arts = eventually(lambda: artifacts_of(run_.id))
    summary = json.dumps(arts["hr-workperiod-summary"].data, default=str)
    assert "data quality references" in summary
    assert "Data quality" in json.dumps(arts["hr-workperiod-admin-task"].data, default=str)
    # a file-level block ends the flow run Failed with the reason
    params["checks"] = {"same_file": "block"}
    assert run_flow(params, wp, "22").decision is Decision.COMPLETED
    stopped = run_flow(params, wp, "23")
    assert stopped.interruption is not None and stopped.interruption.case == "same_file_again"
    failed = flow_run_named("workperiod-task-23")
    assert failed.state.is_failed() and "same file again" in failed.state.message


def test_a_partial_run_checks_every_national_id_again(workdir: Path) -> None:
    """Unchanged rows are checked like new ones: the verdicts depend on today's settings only."""
    rows = good_workperiods()
    rows[2]["national_id"] = BAD_NID
    write_csv(workdir, rows, WP_COLUMNS)
    first = run(workdir, national_id_country="fi")
    assert first.data_quality["national_ids"] == 1
    rows.append(wp_row("WP5", "E5", national_id="010101-9010"))  # a new row, a wrong check char
    write_csv(workdir, rows, WP_COLUMNS)
    second = run(workdir, national_id_country="fi", run_type="partial")
    assert second.data_quality["national_ids"] == 2
    lines = quality(admin_task(workdir), "national_ids")["first"]
    assert [line["row_id"] for line in lines] == ["WP3", "WP5"]
    # another country: every ID of the file is checked by its rules (none is Swedish)
    swedish = run(workdir, national_id_country="se", run_type="partial")
    assert swedish.data_quality["national_ids"] == 5


def test_samples_have_one_of_each_problem(workdir: Path, samples: Path) -> None:
    """The demo's samples, imported in one working directory as under EPE."""
    from conftest import place

    found: dict[str, dict[str, int]] = {}
    for data_type in ("costcenter", "organization", "title", "workperiod"):
        place(workdir, samples / data_type / f"{data_type}.csv")
        result = run(workdir, data_type, national_id_country="fi", file_path="in/*.csv")
        found[data_type] = result.data_quality
    assert found["organization"]["cycles"] == 1  # OU112 is its own parent
    assert found["workperiod"] == {
        "references": 1,  # WP-0019: cost center CC1700
        "cycles": 1,  # E1001 is his own manager
        "overlaps": 1,  # E1032: WP-0033 / WP-0034
        "national_ids": 1,  # E1033: wrong check character
    }
    task = admin_task(workdir)
    lines = {c["check"]: c["first"][0]["message"] for c in task["data_quality"]["checks"]}
    assert "cost_center CC1700" in lines["references"]
    assert lines["cycles"].endswith("E1001 → E1001")
    assert "WP-0033" in lines["overlaps"] and "WP-0034" in lines["overlaps"]
    assert "wrong check character" in lines["national_ids"]
    assert task["counts"]["blocked"] == 6  # warnings only: the sample counts stay


def test_organization_managers_are_the_persons_of_the_last_workperiod_import(
    workdir: Path,
) -> None:
    """Read from the work-period archive as it is now (a restored archive counts as it is);
    the checks keep no person, no national ID, beside it."""
    write_csv(workdir, good_workperiods(), WP_COLUMNS)
    run(workdir, unique_id="national_id")
    folder = workdir / "data" / "archive"
    kept = [p for p in folder.iterdir() if "quality" in p.name or "person" in p.name]
    assert [p.name for p in kept] == [".workperiod_quality.json"]
    assert not any(nid in kept[0].read_text() for nid in NID.values())
    orgs = [
        {"org_unit_id": "OU1", "org_unit_name": "One", "manager_id": NID["E2"]},
        {"org_unit_id": "OU2", "org_unit_name": "Two", "manager_id": BAD_NID},
    ]
    write_csv(workdir, orgs)
    run(workdir, "organization", task_id="o", checks={"references": "block"})
    assert errors(workdir, "organization") == {"OU2": ["unknown_person"]}
    # the work-period archive restored from a backup that lacks E2: E2 is unknown now
    archive = folder / "workperiod_archive.json"
    rows = [r for r in load(archive) if r["national_id"] != NID["E2"]]
    archive.write_text(json.dumps(rows), encoding="utf-8")
    os.utime(archive, (1, 1))
    run(workdir, "organization", task_id="o", checks={"references": "block"})
    assert errors(workdir, "organization") == {
        "OU1": ["unknown_person"],
        "OU2": ["unknown_person"],
    }


def test_a_crash_while_keeping_the_checks_state_leaves_nothing_behind(workdir: Path) -> None:
    from hr_connector.door import staged_name
    from hr_connector.workdir import recover

    folder = workdir / "data" / "archive"
    folder.mkdir(parents=True)
    staged_name(folder / ".workperiod_quality.json").write_bytes(b"half")
    recover(WorkDir(workdir, "3", "workperiod"))
    assert list(folder.iterdir()) == []


def test_thousands_of_self_managers_each_reported_once_with_their_row() -> None:
    n = 20_000
    sources = [f"E{i:05d}" for i in range(n)]
    targets = [f"E{i // 10 * 10:05d}" for i in range(n)]  # every 10th is their own manager
    found = cycles.find_cycles(texts(sources), texts(targets))
    assert len(found) == n // 10
    assert found[:2] == [("E00000 → E00000", [0]), ("E00010 → E00010", [10])]


@pytest.mark.integration
def test_file_age_of_an_sftp_file_is_the_listings_mtime(
    sftp_env: Any, esm: Any, samples: Path
) -> None:
    """The download keeps the server's modification time, so yesterday's file is old."""
    from conftest_sftp import sftp_raw
    from run_helpers import engine_run

    sftp_env.put("organization.csv", (samples / "organization" / "organization.csv").read_bytes())
    old = time.time() - 30 * 3600
    os.utime(sftp_env.data / "organization.csv", (old, old))
    root = sftp_env.workdir.root
    proc = engine_run(root, sftp_raw(sftp_env, esm, max_file_age_hours=24))
    assert proc.returncode == 1
    assert "30.0 hours ago" in proc.stderr and "max_file_age_hours 24" in proc.stderr
    assert (sftp_env.data / "organization.csv").exists()  # left for the rerun
    for when, reason in ((0, "the Unix epoch"), (time.time() + 86400, "24.0 hours ahead")):
        os.utime(sftp_env.data / "organization.csv", (when, when))
        proc = engine_run(root, sftp_raw(sftp_env, esm, max_file_age_hours=48))
        assert proc.returncode == 1 and reason in proc.stderr, proc.stderr
        assert (sftp_env.data / "organization.csv").exists()
    os.utime(sftp_env.data / "organization.csv", (old, old))
    proc = engine_run(root, sftp_raw(sftp_env, esm, max_file_age_hours=48))
    assert proc.returncode == 0, proc.stderr


def test_unknown_manager_by_national_id_is_masked_and_counted_when_other_types_are_missing(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = good_workperiods()
    for r in rows:
        r["manager_id"] = NID["E2"]
    rows[3]["manager_id"] = BAD_NID  # nobody's national ID
    write_csv(workdir, rows, WP_COLUMNS)
    with caplog.at_level(logging.INFO):
        result = run(workdir, unique_id="national_id", checks={"references": "block"})
    assert errors(workdir) == {"WP4": ["unknown_person"]}
    assert result.data_quality["references"] == 1  # counted although other columns were skipped
    entry = load(workdir / "data/archive/error_workperiod_reasons.json")[0]
    assert entry["reasons"][0]["detail"] == "*********2L"
    assert BAD_NID not in caplog.text and BAD_NID not in json.dumps(admin_task(workdir))


@pytest.mark.integration
def test_a_flow_run_stopped_by_same_file_reads_as_a_decision_without_a_traceback(
    prefect_server: str, tmp_path: Path, esm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An expected stop: the task run check-file-quality ends Failed with the reason, and neither
    the run's logs on the server nor any log record (what the console handler writes to stderr)
    carry a traceback."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    from hr_connector.flows.hr_import import run_flow

    from prefect_helpers import eventually, flow_run_named, raw

    wp = tmp_path / "workperiod"
    write_csv(wp, good_workperiods(), WP_COLUMNS)
    params = raw(esm, file_path="in/*.csv", checks={"same_file": "block"})
    assert run_flow(params, wp, "31").decision is Decision.COMPLETED
    # the first flow run of a process configures Prefect's logging, which sets the root logger's
    # handlers anew (caplog's is not kept): capture from here on whatever ran before this test
    if caplog.handler not in logging.getLogger().handlers:
        logging.getLogger().addHandler(caplog.handler)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        stopped = run_flow(params, wp, "32")
    assert stopped.interruption is not None and stopped.interruption.case == "same_file_again"
    assert any("same file again" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert record.exc_info is None and record.exc_text is None, record.getMessage()
        assert "Traceback" not in record.getMessage()
    run_ = flow_run_named("workperiod-task-32")
    assert run_.state.is_failed() and "same file again" in run_.state.message
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_.id]))
        )
        checked = [t for t in tasks if t.name.startswith("check-file-quality")]
        assert len(checked) == 1 and checked[0].state.is_failed()
        assert "same file again" in (checked[0].state.message or "")
        assert not [t.name for t in tasks if t.name.startswith("parse-hr-file")]

        def logs() -> list[str]:
            found = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_.id])), limit=200
            )
            messages = [entry.message for entry in found]
            return messages if any("same file again" in m for m in messages) else []

        messages = eventually(logs)
    assert messages
    for message in messages:
        assert "Traceback" not in message and "unexpected exception" not in message, message
