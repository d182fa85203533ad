"""The fast path gives byte-identical files to the simple reference path (issue 7).

``HR_CONNECTOR_FAST_PATH=0`` switches every step to the reference code (list-of-tuples rows,
per-row validation, full archive load, per-row ``orjson.dumps``). Each test runs the same
sequence of imports once each way, in two working directories, and compares the output, the
archive and the error archive byte for byte after every run, with the counts and the changeset
digest. The fast readers are also compared with the reference readers table for table, on the
samples, the bad-input corpus and hand-made edge cases, with small read blocks so that the
block boundaries are crossed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hr_connector import compare
from hr_connector.clients.local import LocalOnlySink
from hr_connector.errors import ConnectorError
from hr_connector.fastpath import (
    FAST_PATH_ENV,
    OFF,
    ON,
    archive_index,
    fast_csv,
    fast_json,
    fast_xml,
)
from hr_connector.outcome import ImportResult
from hr_connector.params import parse_params
from hr_connector.pipeline import run_import
from hr_connector.readers import csv_reader, json_reader, read_table, xml_reader
from hr_connector.records import Table
from hr_connector.workdir import WorkDir

from conftest import SAMPLES, base_raw
from reader_cases import CORPUS, DATA_TYPES, EDGE_CASES, FORMATS, sample_files


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read in 4 KB blocks so that every sample crosses block boundaries."""
    monkeypatch.setattr(fast_csv, "BLOCK", 4096)
    monkeypatch.setattr(fast_json, "BLOCK", 4096)


class Twin:
    """Two working directories that see the same imports, one per path."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_type: str) -> None:
        self.roots = {"fast": tmp_path / "fast", "simple": tmp_path / "simple"}
        self.monkeypatch = monkeypatch
        self.data_type = data_type
        for root in self.roots.values():
            root.mkdir()

    def files(self, root: Path) -> dict[str, bytes | None]:
        names = [
            "3_output.json",
            f"data/archive/{self.data_type}_archive.json",
            f"data/archive/error_{self.data_type}_archive.json",
        ]
        return {n: (root / n).read_bytes() if (root / n).exists() else None for n in names}

    def run(self, source: Path, **raw: Any) -> dict[str, ImportResult]:
        """Import ``source`` both ways; assert the files and figures are the same."""
        results = {}
        for mode, root in self.roots.items():
            self.monkeypatch.setenv(FAST_PATH_ENV, "1" if mode == "fast" else "0")
            folder = root / "in"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            shutil.copy(source, folder / source.name)
            params = parse_params(
                base_raw(data_type=self.data_type, fmt=source.suffix.lstrip("."), **raw)
            )
            results[mode] = run_import(params, WorkDir(root, "3", self.data_type), LocalOnlySink())
        fast, simple = results["fast"], results["simple"]
        assert fast.decision == simple.decision, fast.interruption
        assert fast.counts == simple.counts
        assert fast.changeset == simple.changeset
        assert self.files(self.roots["fast"]) == self.files(self.roots["simple"])
        return results

    @property
    def index(self) -> Path:
        return self.roots["fast"] / "data" / "archive" / f".{self.data_type}_archive.index"


@pytest.fixture
def matched_compares(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the comparisons that took the index route (so the tests are not vacuous)."""
    calls: list[int] = []
    real = compare._compare_matched

    def spy(*args: Any, **kwargs: Any) -> compare.Changeset:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(compare, "_compare_matched", spy)
    yield calls


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("data_type", DATA_TYPES)
def test_full_then_partial_runs_are_byte_identical(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    matched_compares: list[int],
    data_type: str,
    fmt: str,
) -> None:
    twin = Twin(tmp_path, monkeypatch, data_type)
    sample = SAMPLES / data_type / f"{data_type}.{fmt}"
    twin.run(sample)
    assert twin.index.exists()
    twin.run(sample, run_type="partial")  # nothing changed
    if data_type == "workperiod":
        next_day = SAMPLES / "workperiod" / "next_day" / f"workperiod.{fmt}"
        result = twin.run(next_day, run_type="partial")["fast"]
        assert (result.counts.new, result.counts.changed, result.counts.removed) == (2, 2, 1)
        twin.run(next_day, run_type="partial")  # the next day's file again: no changes
        twin.run(sample, run_type="full")
    assert len(matched_compares) == (3 if data_type == "workperiod" else 1)


@pytest.mark.parametrize(
    "raw",
    [
        {"change_columns": '["row_id", "last_name", "title_id"]'},
        {"unique_id": "national_id"},
        {"date_formats": '["%Y-%m-%d", "%d.%m.%Y"]'},
    ],
)
def test_other_settings_between_runs_are_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: dict[str, Any]
) -> None:
    """Settings that change the checks or the comparison, also when they change between runs."""
    twin = Twin(tmp_path, monkeypatch, "workperiod")
    twin.run(SAMPLES / "workperiod" / "workperiod.csv")
    twin.run(SAMPLES / "workperiod" / "next_day" / "workperiod.csv", run_type="partial", **raw)
    twin.run(SAMPLES / "workperiod" / "workperiod.csv", run_type="partial", **raw)


def test_format_changes_between_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index of a CSV run does not match JSON or XML rows: those runs take the slow route."""
    twin = Twin(tmp_path, monkeypatch, "workperiod")
    twin.run(SAMPLES / "workperiod" / "workperiod.csv")
    twin.run(SAMPLES / "workperiod" / "next_day" / "workperiod.json", run_type="partial")
    twin.run(SAMPLES / "workperiod" / "workperiod.xml", run_type="partial")
    twin.run(SAMPLES / "workperiod" / "next_day" / "workperiod.csv", run_type="partial")


def test_reordered_and_edited_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows in another order, a blank line, CRLF, a ragged row: the matcher and the checks."""
    twin = Twin(tmp_path, monkeypatch, "workperiod")
    original = SAMPLES / "workperiod" / "workperiod.csv"
    twin.run(original)
    header, *rows = original.read_text(encoding="utf-8").splitlines()
    edited = tmp_path / "workperiod.csv"
    reordered = rows[::-1]
    reordered[3] += ";one too many"
    reordered.insert(5, "")
    edited.write_bytes(("\r\n".join([header, *reordered]) + "\r\n").encode())
    twin.run(edited, run_type="partial")
    twin.run(original, run_type="partial")


def test_an_archive_replaced_behind_the_index_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, matched_compares: list[int]
) -> None:
    twin = Twin(tmp_path, monkeypatch, "workperiod")
    twin.run(SAMPLES / "workperiod" / "workperiod.csv")
    for root in twin.roots.values():  # e.g. restored from a backup: same content, new file
        archive = root / "data" / "archive" / "workperiod_archive.json"
        shutil.copy(archive, archive.with_suffix(".restored"))
        archive.with_suffix(".restored").replace(archive)
    wd = WorkDir(twin.roots["fast"], "3", "workperiod")
    assert archive_index.load(wd) is None
    twin.run(SAMPLES / "workperiod" / "next_day" / "workperiod.csv", run_type="partial")
    assert matched_compares == []  # compared the slow way
    twin.run(SAMPLES / "workperiod" / "next_day" / "workperiod.csv", run_type="partial")
    assert matched_compares == [1]  # the run above wrote a fresh index


def test_a_corrupt_index_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    twin = Twin(tmp_path, monkeypatch, "title")
    twin.run(SAMPLES / "title" / "title.csv")
    twin.index.write_bytes(twin.index.read_bytes()[:100])
    twin.run(SAMPLES / "title" / "title.csv", run_type="partial")


# --- the readers, table for table ----------------------------------------------------------------


#: Which reader produced the fast mode's result: the fast reader ("fast"); the reference reader
#: after the fast one declined the file ("declined"); or neither, because a check both modes share
#: refused or settled the file first ("before"; for these the agreement is not a fast-path check).
Ran = str


def _read(path: Path, fast: bool) -> tuple[Table | str, Ran]:
    calls: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        spied = [(m, "read_fast", "fast") for m in (fast_csv, fast_json, fast_xml)]
        references = (csv_reader, json_reader, xml_reader)
        spied += [(m, "_read_reference", "reference") for m in references]
        for module, name, label in spied:
            real = getattr(module, name)

            def spy(*args: Any, _real: Any = real, _label: str = label, **kwargs: Any) -> Any:
                calls.append(_label)
                return _real(*args, **kwargs)

            mp.setattr(module, name, spy)
        try:
            result: Table | str = read_table(path, fast=ON if fast else OFF)
        except ConnectorError as error:
            result = str(error)
    if not fast:
        assert "fast" not in calls, "the reference mode ran the fast reader"
    ran = "declined" if "reference" in calls and "fast" in calls else "fast" if calls else "before"
    return result, ran


def _same_tables(path: Path, monkeypatch: pytest.MonkeyPatch) -> Ran:
    """Read ``path`` both ways, assert the same table or error; say which reader ran."""
    (fast, ran), (simple, _) = _read(path, True), _read(path, False)
    if isinstance(simple, str) or isinstance(fast, str):
        assert fast == simple
        return ran
    assert fast.columns == simple.columns
    assert list(fast.rows) == list(simple.rows)
    assert [fast.position(i) for i in range(len(fast))] == [
        simple.position(i) for i in range(len(simple))
    ]
    assert fast.row_problems == simple.row_problems
    return ran


#: Corpus files the fast reader hands to the reference reader, and those a shared check settles
#: before either reader runs; every other HR file is read by the fast reader itself.
CORPUS_DECLINED = {
    "bom_only.csv", "duplicate_header.csv", "empty.csv", "empty.json", "empty_header.csv",
    "invalid_utf8.csv", "lone_surrogate.json", "mixed_line_endings.csv", "nul_byte.csv",
    "nul_byte.json", "nul_byte.xml", "undeclared_entity.xml", "unterminated_quote.csv",
    "utf16_bom.csv", "utf16_bom.json", "whitespace_only.csv", "whitespace_only.json",
}  # fmt: skip
CORPUS_BEFORE = {
    "billion_laughs.xml", "doctype.xml", "empty.xml", "latin1_declared.xml", "utf16_bom.xml",
    "whitespace_only.xml", "xxe_passwd.xml",
}  # fmt: skip
HR_SUFFIXES = {".csv", ".json", ".xml"}


def _expected(path: Path, declined: set[str], before: set[str]) -> Ran:
    return "declined" if path.name in declined else "before" if path.name in before else "fast"


@pytest.mark.parametrize(
    "path",
    sample_files() + sorted(p for p in CORPUS.iterdir() if p.suffix in HR_SUFFIXES),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_readers_agree_on_samples_and_corpus(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = _same_tables(path, monkeypatch)
    assert ran == _expected(path, CORPUS_DECLINED, CORPUS_BEFORE)


#: Edge cases the fast reader declines (the reference reader reads them).
EDGE_DECLINED = {
    "between.xml", "empty_array.json", "header_late.csv", "lone_cr.csv", "one_column.csv",
    "other_keys.json", "other_tags.xml", "quoted.csv", "record_in_record.xml", "two_arrays.json",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_readers_agree_on_edge_cases(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / name
    path.write_bytes(EDGE_CASES[name])
    assert _same_tables(path, monkeypatch) == _expected(path, EDGE_DECLINED, set())


def test_big_xml_positions_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past line 65535 libxml2 reported 65535 for some records at their start event."""
    records = "".join(f"<e>\n<a>{i}</a>\n<b>x</b>\n</e>\n" for i in range(20_000))
    path = tmp_path / "big.xml"
    path.write_text(f"<r>\n{records}</r>\n", encoding="utf-8")
    assert _same_tables(path, monkeypatch) == "fast"
    table, _ = _read(path, True)
    assert isinstance(table, Table) and 65535 not in list(table.positions)
    assert xml_reader.PARSER_OPTIONS["resolve_entities"] is False


# --- larger generated files: many blocks, runs of matched rows, copied archive ranges -----------


def _generated(tmp_path: Path, rows: int) -> dict[str, dict[str, Path]]:
    """The benchmark generator's base and next-day files (deterministic), in each format."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import generate  # type: ignore[import-not-found]

    base = generate.build_base(rows)
    variants = {"base": base, "next_day": generate.build_next_day(base)}
    files: dict[str, dict[str, Path]] = {}
    for variant, data in variants.items():
        folder = tmp_path / "data" / variant
        folder.mkdir(parents=True)
        files[variant] = {}
        for fmt in FORMATS:
            generate.WRITERS[fmt](folder / f"workperiod.{fmt}", data)
            files[variant][fmt] = folder / f"workperiod.{fmt}"
    return files


@pytest.mark.parametrize("fmt", FORMATS)
def test_generated_files_are_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, matched_compares: list[int], fmt: str
) -> None:
    files = _generated(tmp_path, 3000)
    (tmp_path / fmt).mkdir()
    twin = Twin(tmp_path / fmt, monkeypatch, "workperiod")
    twin.run(files["base"][fmt])
    result = twin.run(files["next_day"][fmt], run_type="partial")["fast"]
    assert result.counts.new and result.counts.changed and result.counts.removed
    twin.run(files["next_day"][fmt], run_type="partial")
    twin.run(files["base"][fmt], run_type="full")
    assert len(matched_compares) == 2


def test_json_lookalike_record_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``},{`` inside strings and nested objects near the block boundaries.

    A piece cut at a lookalike boundary does not parse, so the fast reader declines the file and
    the reference reader reads it: what is pinned here is that no mis-cut rows come out.
    """
    records = []
    for i in range(400):
        value = ["plain", "a}, {b", 'q\\"},{\\"', "x},{y"][i % 4]  # JSON string contents
        records.append(
            f'{{"id": "{i}", "v": "{value}", "n": {{"k": "{i}"}}}}'
            if i % 7 == 0
            else f'{{"id": "{i}", "v": "{value}", "w": "{i}"}}'
        )
    path = tmp_path / "lookalike.json"
    path.write_text('{"Report_Entry": [\n' + ",\n".join(records) + "\n]}\n", encoding="utf-8")
    assert _same_tables(path, monkeypatch) == "declined"


def test_validation_edge_cases_are_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blank, whitespace-only and missing values, bad dates and date order in other formats."""
    header, *rows = (SAMPLES / "workperiod" / "workperiod.csv").read_text("utf-8").splitlines()
    columns = header.split(";")
    records: list[dict[str, str]] = [dict(zip(columns, r.split(";"), strict=False)) for r in rows]
    edits: list[dict[str, Any]] = [
        {"last_name": "   "},
        {"first_name": "\t"},
        {"employment_start_date": " 2025-01-01 "},
        {"employment_start_date": "01.02.2025", "employment_end_date": "31.01.2025"},
        {"employment_start_date": "2025-13-01"},
        {"employment_end_date": "  "},
        {"employment_start_date": "2025-03-01", "employment_end_date": "2025-02-28"},
        {"title_id": None},
        {"cost_center": None},
        {"row_id": " "},
    ]
    for record, edit in zip(records[1::3], edits, strict=False):
        for column, value in edit.items():
            if value is None:
                record.pop(column, None)
            else:
                record[column] = value
    path = tmp_path / "workperiod.json"
    path.write_text(json.dumps({"Report_Entry": records}, ensure_ascii=False), encoding="utf-8")
    twin = Twin(tmp_path, monkeypatch, "workperiod")
    settings = {
        "date_formats": '["%Y-%m-%d", "%d.%m.%Y"]',
        "field_names": {"cost_center": "cost_center"},
    }
    result = twin.run(path, **settings)["fast"]
    assert result.counts.blocked > 10
    twin.run(path, run_type="partial", **settings)
