"""The validation rules are defined once (hr_connector.rules): a rule added through the public
extension point applies on the reference path and on the fast path, also to rows that are
unchanged since the previous run (the archive index records the rule set's fingerprint)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from hr_connector import rules
from hr_connector.clients.local import LocalOnlySink
from hr_connector.fastpath import FAST_PATH_ENV
from hr_connector.outcome import ImportResult
from hr_connector.params import parse_params
from hr_connector.pipeline import run_import
from hr_connector.records import Reason, Row
from hr_connector.rules import DateParser
from hr_connector.schemas import RunSchema, run_schema
from hr_connector.workdir import WorkDir

from conftest import SAMPLES, base_raw

#: Rows of the edited sample whose temporary work period has no end date.
OPEN_ENDED = ("WP-0020", "WP-0033")


class TemporaryHasEnd(rules.Rule):
    """A customer's rule: a temporary work period names its end date."""

    def __init__(self, schema: RunSchema, index: dict[str, int], parse: DateParser) -> None:
        super().__init__(schema, index, parse)
        self.kind = index.get("employment_type")
        self.end = index.get("employment_end_date")

    def reasons(self, row: Row) -> Sequence[Reason]:
        if self.kind is None or self.end is None or row[self.kind] != "temporary":
            return ()
        end = row[self.end]
        return () if end and end.strip() else (Reason("missing_value", "employment_end_date"),)


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


def _run(root: Path, source: Path, fast: bool, mp: pytest.MonkeyPatch, **raw: str) -> ImportResult:
    mp.setenv(FAST_PATH_ENV, "1" if fast else "0")
    folder = root / "in"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(source, folder / source.name)
    params = parse_params(base_raw(**raw))
    return run_import(params, WorkDir(root, "3", "workperiod"), LocalOnlySink())


def _blocked_ids(root: Path) -> set[str]:
    errors = root / "data" / "archive" / "error_workperiod_archive.json"
    if not errors.exists():
        return set()
    return {row["row_id"] for row in json.loads(errors.read_text(encoding="utf-8"))}


def _files(root: Path) -> dict[str, bytes]:
    names = [
        "3_output.json",
        "data/archive/workperiod_archive.json",
        "data/archive/error_workperiod_archive.json",
    ]
    return {n: (root / n).read_bytes() for n in names if (root / n).exists()}


def test_an_added_rule_applies_on_both_paths_also_to_unchanged_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _open_ended_sample(tmp_path)
    roots = {fast: tmp_path / ("fast" if fast else "simple") for fast in (True, False)}
    before = {fast: _run(root, source, fast, monkeypatch) for fast, root in roots.items()}
    assert before[True].counts == before[False].counts
    assert not _blocked_ids(roots[True]) & set(OPEN_ENDED)  # the rule is not there yet
    index = roots[True] / "data" / "archive" / ".workperiod_archive.index"
    assert index.exists()

    rules.register(TemporaryHasEnd)
    try:
        after = {
            fast: _run(root, source, fast, monkeypatch, run_type="partial")  # unchanged rows
            for fast, root in roots.items()
        }
        fresh = {  # and a first run, without a previous one (the batch pre-check)
            fast: _run(tmp_path / f"fresh-{fast}", source, fast, monkeypatch)
            for fast in (True, False)
        }
    finally:
        rules.unregister(TemporaryHasEnd)
    for results in (after, fresh):
        assert results[True].counts == results[False].counts
        assert results[True].counts.blocked == before[True].counts.blocked + len(OPEN_ENDED)
    for root in [*roots.values(), *(tmp_path / f"fresh-{fast}" for fast in (True, False))]:
        assert set(OPEN_ENDED) <= _blocked_ids(root)
    assert _files(roots[True]) == _files(roots[False])
    assert _files(tmp_path / "fresh-True") == _files(tmp_path / "fresh-False")


def test_the_fingerprint_follows_the_rules_and_the_settings() -> None:
    schema = run_schema(parse_params(base_raw()))
    plain = rules.fingerprint(schema)
    assert rules.fingerprint(schema) == plain
    rules.register(TemporaryHasEnd)
    try:
        assert rules.fingerprint(schema) != plain
    finally:
        rules.unregister(TemporaryHasEnd)
    assert rules.fingerprint(schema) == plain
    for setting in ({"date_formats": '["%d.%m.%Y"]'}, {"unique_id": "national_id"}):
        assert rules.fingerprint(run_schema(parse_params(base_raw(**setting)))) != plain
