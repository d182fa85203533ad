"""The fast path as one part (issue 15, point 2): one switch read once per run, and the previous
run's archive index loaded once and handed to the steps, not found through a process global."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hr_connector import compare, fastpath, pipeline
from hr_connector.clients.local import LocalOnlySink
from hr_connector.fastpath import FAST_PATH_ENV, FastPath, archive_index
from hr_connector.fastpath.rowstore import CsvLines, JoinedRows
from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import parse_params
from hr_connector.pipeline import run_import
from hr_connector.readers import read_table
from hr_connector.workdir import WorkDir

from conftest import SAMPLES, base_raw

SAMPLE = SAMPLES / "workperiod" / "workperiod.csv"
NEXT_DAY = SAMPLES / "workperiod" / "next_day" / "workperiod.csv"


def _run(root: Path, source: Path, **raw: Any) -> ImportResult:
    folder = root / "in"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(source, folder / source.name)
    result = run_import(
        parse_params(base_raw(**raw)), WorkDir(root, "3", "workperiod"), LocalOnlySink()
    )
    assert result.decision == Decision.COMPLETED, result.interruption
    return result


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often a run reads the switch, loads an archive index, compares by the index."""
    counted = {"switch": 0, "load": 0, "matched": 0}

    def counting(name: str, real: Any) -> Any:
        def spy(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return real(*args, **kwargs)

        return spy

    monkeypatch.setattr(fastpath, "enabled_in", counting("switch", fastpath.enabled_in))
    monkeypatch.setattr(archive_index, "load", counting("load", archive_index.load))
    monkeypatch.setattr(compare, "_compare_matched", counting("matched", compare._compare_matched))
    return counted


def test_a_run_reads_the_switch_once_and_loads_the_index_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: dict[str, int]
) -> None:
    monkeypatch.setenv(FAST_PATH_ENV, "1")
    _run(tmp_path, SAMPLE)
    assert calls == {"switch": 1, "load": 1, "matched": 0}  # no index yet: None, loaded once
    result = _run(tmp_path, NEXT_DAY, run_type="partial")
    assert (result.counts.new, result.counts.changed, result.counts.removed) == (2, 2, 1)
    # parse, validation, comparison and the change list all used the one index
    assert calls == {"switch": 2, "load": 2, "matched": 1}


def test_the_switch_off_loads_no_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: dict[str, int]
) -> None:
    monkeypatch.setenv(FAST_PATH_ENV, "1")
    _run(tmp_path, SAMPLE)  # writes the index
    assert (tmp_path / "data" / "archive" / ".workperiod_archive.index").exists()
    monkeypatch.setenv(FAST_PATH_ENV, "off")
    _run(tmp_path, NEXT_DAY, run_type="partial")
    assert calls == {"switch": 2, "load": 1, "matched": 0}


def test_the_switch_is_read_once_at_the_start_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: dict[str, int]
) -> None:
    """Turned off in the middle of a run, the switch changes nothing in that run: no step below
    the run consults the environment."""
    monkeypatch.setenv(FAST_PATH_ENV, "1")
    _run(tmp_path, SAMPLE)

    def parse_then_switch_off(*args: Any) -> Any:
        table = pipeline.parse_file(*args)
        monkeypatch.setenv(FAST_PATH_ENV, "0")
        return table

    steps = replace(pipeline.PLAIN_STEPS, parse=parse_then_switch_off)
    result = _run(tmp_path, NEXT_DAY, steps=steps, run_type="partial")
    assert (result.counts.new, result.counts.changed, result.counts.removed) == (2, 2, 1)
    assert calls == {"switch": 2, "load": 2, "matched": 1}  # compared by the index all the same
    environ: Mapping[str, str] = {FAST_PATH_ENV: " No "}
    assert not fastpath.enabled_in(environ) and fastpath.enabled_in({})


def test_the_reader_matches_against_the_index_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two working directories at once (two runs in one process): each read uses its own run's
    index; there is no process-wide "held" working directory any more."""
    monkeypatch.setenv(FAST_PATH_ENV, "1")
    first, second = tmp_path / "a", tmp_path / "b"
    _run(first, SAMPLE)
    blocked = _run(second, NEXT_DAY).counts.blocked  # rows not imported: never matched
    indices = [archive_index.load(WorkDir(root, "3", "workperiod")) for root in (first, second)]
    misses = []
    for index in indices:
        assert index is not None
        table = read_table(NEXT_DAY, fast=FastPath(True, index))
        assert isinstance(table.rows, CsvLines)  # the lines matched, not all decoded
        assert table.previous is not None and table.previous.index is index
        misses.append(sum(1 for _ in table.previous.misses()))
    assert misses[1] == blocked < misses[0]
    alone = read_table(NEXT_DAY, fast=fastpath.ON)
    assert isinstance(alone.rows, JoinedRows) and alone.previous is None
    assert list(alone.rows) == list(read_table(NEXT_DAY, fast=fastpath.OFF).rows)
