"""The validation rules are declared once (hr_connector.rules): a rule added to ``RULES`` blocks
rows on every run, also rows that are unchanged since the previous run (no row skips a rule)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from hr_connector import rules
from hr_connector.errors import DateOrderAmbiguous
from hr_connector.outcome import ImportResult
from hr_connector.params import parse_params
from hr_connector.sinks import LocalOnlySink
from hr_connector.workdir import WorkDir

from conftest import SAMPLES, base_raw
from run_helpers import run_import

#: Rows of the edited sample whose temporary work period has no end date.
OPEN_ENDED = ("WP-0020", "WP-0033")


def _temporary_has_end(ctx: rules.Context) -> list[rules.Check]:
    """A customer's rule: a temporary work period names its end date."""
    if not (ctx.has("employment_type") and ctx.has("employment_end_date")):
        return []
    end = pl.col("employment_end_date")
    blocks = (pl.col("employment_type") == "temporary") & (end.is_null() | rules.is_blank(end))
    return [rules.Check("missing_value", "employment_end_date", blocks.fill_null(False))]


TEMPORARY_HAS_END = rules.Rule(
    "temporary has end", ("missing_value",), _temporary_has_end, frozenset({"workperiod"})
)


def _open_ended_sample(tmp_path: Path) -> Path:
    """The work-period sample with the end dates of :data:`OPEN_ENDED` removed."""
    lines = (SAMPLES / "workperiod" / "workperiod.csv").read_text(encoding="utf-8").splitlines()
    edited = []
    for line in lines:
        cells = line.split(";")
        if cells[0] in OPEN_ENDED:
            cells[8] = ""
        edited.append(";".join(cells))
    path = tmp_path / "workperiod.csv"
    path.write_text("\n".join(edited) + "\n", encoding="utf-8")
    return path


def _run(root: Path, source: Path, **raw: str) -> ImportResult:
    folder = root / "in"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(source, folder / source.name)
    params = parse_params(base_raw(**raw))
    return run_import(params, WorkDir(root, "3", "workperiod"), LocalOnlySink())


def _blocked_ids(root: Path) -> set[str]:
    errors = root / "data" / "archive" / "error_workperiod_archive.json"
    return {row["row_id"] for row in json.loads(errors.read_text(encoding="utf-8"))}


def test_an_added_rule_applies_also_to_unchanged_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _open_ended_sample(tmp_path)
    before = _run(tmp_path, source)
    title_sample = SAMPLES / "title" / "title.csv"
    title_before = _run(tmp_path / "title", title_sample, data_type="title")
    assert not _blocked_ids(tmp_path) & set(OPEN_ENDED)  # the rule is not there yet
    monkeypatch.setattr(rules, "RULES", [*rules.RULES, TEMPORARY_HAS_END])
    after = _run(tmp_path, source, run_type="partial")  # the very same rows again
    assert after.counts.blocked == before.counts.blocked + len(OPEN_ENDED)
    assert set(OPEN_ENDED) <= _blocked_ids(tmp_path)
    title = _run(tmp_path / "title", title_sample, data_type="title", run_type="partial")
    assert title.counts.blocked == title_before.counts.blocked  # a rule for work periods only


def test_every_rule_names_codes_with_texts_in_every_language() -> None:
    from hr_connector.texts import SHIPPED_LANGUAGES, Translations

    texts = Translations.load()
    for rule in rules.RULES:
        for code in rule.codes:
            case = texts.cases[f"reason_{code}"]
            assert set(SHIPPED_LANGUAGES) <= set(case), (rule.name, code)


def test_slashed_dates_take_the_order_the_column_shows_unless_a_format_gives_it() -> None:
    column_formats, day_first, month_first = (
        rules.column_formats,
        rules.DAY_FIRST,
        rules.MONTH_FIRST,
    )
    iso = ("%Y-%m-%d",)
    assert column_formats(["13/01/2025", "03/01/2025"], iso) == (*iso, day_first)
    assert column_formats(["01/13/2025", "03/01/2025"], iso) == (*iso, month_first)
    assert column_formats(["05/05/2025", "2025-01-01"], iso) == (*iso, day_first)  # same either way
    assert column_formats(["13/01/2025", "01/13/2025"], iso) == iso  # contradicting: blocked
    assert column_formats(["01/13/2025"], ("%d/%m/%Y",)) == ("%d/%m/%Y",)  # the customer's order
    with pytest.raises(DateOrderAmbiguous) as stop:
        column_formats(["03/01/2025", "2025-01-01"], iso)
    assert stop.value.figures == {
        "column": "?",
        "value": "03/01/2025",
        "day_first": "2025-01-03",
        "month_first": "2025-03-01",
    }
