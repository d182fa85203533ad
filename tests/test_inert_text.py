"""Values shown to a person are inert: a value from the HR file never forges a line in the admin
task or the log, and a huge value never makes either huge (the whole value stays in the files
attached to the admin task)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import ESM_USER, SAMPLES, base_raw
from run_helpers import engine_run

FORGED = '"override_update_limit": true'
#: Every line of the run's log is a record (it starts with its time) or the continuation of one.
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} |    \| )")


def _params(esm: Any, **extra: Any) -> dict[str, Any]:
    return base_raw(webapi_url=esm.url, webapi_user=ESM_USER, taskid=3, **extra)


def _card(esm: Any, proc: Any) -> dict[str, Any]:
    match = re.search(r"\(datacard (\d+)\)", proc.stderr)
    assert match, proc.stderr
    card = esm.datacard(match.group(1))
    assert card is not None
    return card


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def _day_two(rows: list[dict[str, str]], fields: list[str]) -> str:
    """The sample with a first name and a new row's ID that hold a line break and a forged
    instruction (the new row lacks its last name: it is blocked and listed)."""
    rows = [dict(r) for r in rows]
    rows[1]["first_name"] = f"Åsa\n{FORGED}"
    added = dict(rows[2], row_id=f"WP-9999\n{FORGED}", last_name="")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, delimiter=";", lineterminator="\n")
    writer.writeheader()
    writer.writerows([*rows, added])
    return out.getvalue()


@pytest.mark.timeout(120)
def test_a_value_holding_a_line_break_forges_no_line_in_the_admin_task_or_the_log(
    workdir: Path, esm: Any
) -> None:
    sample = SAMPLES / "workperiod" / "workperiod.csv"
    (workdir / "in").mkdir()
    (workdir / "in" / "wp.csv").write_bytes(sample.read_bytes())
    assert engine_run(workdir, _params(esm, run_type="full")).returncode == 0
    reader = csv.DictReader(io.StringIO(sample.read_text(encoding="utf-8")), delimiter=";")
    rows = list(reader)
    (workdir / "in" / "wp.csv").write_text(
        _day_two(rows, list(reader.fieldnames or [])), encoding="utf-8"
    )

    proc = engine_run(workdir, _params(esm, run_type="partial", debug=True))

    assert proc.returncode == 0, proc.stderr
    card = _card(esm, proc)
    description = json.dumps(card, ensure_ascii=False)
    assert "WP-9999\\\\n" in description  # the row is listed, its line break escaped
    kept = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    for text in (kept["description"], (workdir / "3_admin_task.md").read_text("utf-8")):
        assert "WP-9999\\n" in text and "Åsa\\n" in text
        assert not [line for line in _lines(text) if line.startswith(FORGED)], text
        assert not [line for line in _lines(text) if line.startswith(FORGED.strip('"'))]
    log = (workdir / "3_log.txt").read_text(encoding="utf-8")
    assert "WP-9999\\n" in log
    assert [line for line in log.splitlines() if not LOG_LINE.match(line)] == []
    # the whole values are in the attached files, as they were
    errors = (workdir / "data" / "archive" / "error_workperiod_archive.json").read_text("utf-8")
    assert f"WP-9999\\n{FORGED}".replace('"', '\\"') in errors


@pytest.mark.timeout(180)
def test_forty_blocked_rows_with_400_kb_row_ids_make_a_small_admin_task(
    workdir: Path, esm: Any
) -> None:
    huge = [f"T{i:02d}" + "x" * 400_000 for i in range(40)]
    lines = ["title_id;title_name", "T1;Chief", *(f"{row_id};" for row_id in huge)]
    (workdir / "in").mkdir()
    (workdir / "in" / "titles.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    proc = engine_run(workdir, _params(esm, data_type="title", run_type="full"))

    assert proc.returncode == 0, proc.stderr
    card = _card(esm, proc)
    assert len(json.dumps(card)) < 64_000, len(json.dumps(card))
    assert (workdir / "3_admin_task.json").stat().st_size < 64_000
    assert (workdir / "3_admin_task.md").stat().st_size < 64_000
    description = (workdir / "3_admin_task.md").read_text(encoding="utf-8")
    assert "more characters" in description and "T07xxx" in description
    log = (workdir / "3_log.txt").read_text(encoding="utf-8")
    assert max(len(line) for line in log.splitlines()) < 10_000
    errors = (workdir / "data" / "archive" / "error_title_archive.json").read_text("utf-8")
    assert all(row_id in errors for row_id in huge)  # the whole values, in the attachment
