"""The previous run, the changes file and the blocked rows' log lines, as the engine sees them:
``deployments/epe/IGAConnector.py`` run with the parameters on stdin, files in the working
directory, the admin task filed to the local ESM."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES, place
from run_helpers import engine_run, epe_raw, workperiod_file

ARCHIVE = Path("data/archive/workperiod_archive.json")


def _full_run(workdir: Path, esm: Any, source: Path) -> None:
    place(workdir, source)
    proc = engine_run(workdir, epe_raw(esm))
    assert proc.returncode == 0, proc.stderr


def _stop(proc: Any) -> str:
    """The run's stderr; it stopped (exit 1) without a traceback."""
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return str(proc.stderr)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"null", "it holds null, not an array of rows"),
        (b'[{"row_id": "WP-0001", "last_name"', "not valid JSON"),
        (b"", "the file is empty"),
    ],
    ids=["null", "truncated", "empty"],
)
def test_an_unusable_archive_is_named_with_its_fix(
    workdir: Path, esm: Any, content: bytes, why: str
) -> None:
    _full_run(workdir, esm, SAMPLES / "workperiod" / "workperiod.csv")
    (workdir / ARCHIVE).write_bytes(content)
    proc = engine_run(workdir, epe_raw(esm, run_type="partial"))
    stderr = _stop(proc)
    assert f"The archive of the previous run '{ARCHIVE}'" in stderr
    assert why in stderr
    assert "restore it from a backup" in stderr and "Run a full load once" in stderr
    assert "HR file" not in stderr and "TypeError" not in stderr
    assert (workdir / ARCHIVE).read_bytes() == content
    assert not (workdir / "3_output.json").exists()


def _edit_in_place(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` (same length) in the file itself: same inode, size and mtime."""
    assert len(old) == len(new)
    before = path.stat()
    data = path.read_bytes()
    assert data.count(old.encode()) == 1
    with path.open("r+b") as fh:
        fh.seek(data.index(old.encode()))
        fh.write(new.encode())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


def test_an_archive_edited_in_place_is_compared_by_its_content(
    workdir: Path, esm: Any, tmp_path: Path
) -> None:
    source = tmp_path / "workperiod.csv"
    workperiod_file(source, day=1, rows=5000)
    _full_run(workdir, esm, source)
    edited = [f"WP-{i:07d}" for i in (777, 1555, 2333, 3111, 3889)]
    for row_id in edited:  # the archive says another last name than the file
        number = int(row_id[3:])
        _edit_in_place(workdir / ARCHIVE, f'"Sukunimi{number}"', f'"Sukunimx{number}"')
    proc = engine_run(workdir, epe_raw(esm, run_type="partial"))  # the very same file again
    assert proc.returncode == 0, proc.stderr
    output = json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))
    assert sorted(row["row_id"] for row in output) == edited
    archive = (workdir / ARCHIVE).read_text(encoding="utf-8")
    assert "Sukunimx" not in archive  # the new archive is the file again


def test_a_copied_working_directory_gives_the_same_partial_run(
    workdir: Path, esm: Any, tmp_path: Path
) -> None:
    _full_run(workdir, esm, SAMPLES / "workperiod" / "workperiod.csv")
    copy = tmp_path / "restored"
    shutil.copytree(workdir, copy, symlinks=True)  # a restore from backup: new inodes, times
    for root in (workdir, copy):
        place(root, SAMPLES / "workperiod" / "next_day" / "workperiod.csv")
        assert engine_run(root, epe_raw(esm, run_type="partial")).returncode == 0
    outputs = [json.loads((r / "3_output.json").read_text("utf-8")) for r in (workdir, copy)]
    assert outputs[0] == outputs[1] and len(outputs[0]) == 4


def test_a_comma_separated_file_under_the_default_delimiter_names_the_delimiter(
    workdir: Path, esm: Any
) -> None:
    text = (SAMPLES / "workperiod" / "workperiod.csv").read_text(encoding="utf-8")
    lines = [line.replace(";", ",") for line in text.splitlines() if "," not in line]
    (workdir / "in").mkdir()
    (workdir / "in" / "workperiod.csv").write_text("\ufeff" + "\n".join(lines) + "\n", "utf-8")
    stderr = _stop(engine_run(workdir, epe_raw(esm)))
    assert "is separated by ',', not by the csv_delimiter ';'" in stderr
    assert '"csv_delimiter": ","' in stderr
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    assert "the header is separated by ','" in task["description"]


FORMULAS = ["=1+2", '=HYPERLINK("http://x","y")', "@SUM(A1)", "+1", "-1", "\tTab", "\rCR"]


def test_the_changes_file_neutralises_formulas(workdir: Path, esm: Any, tmp_path: Path) -> None:
    _full_run(workdir, esm, SAMPLES / "workperiod" / "workperiod.csv")
    header, *rows = (SAMPLES / "workperiod" / "workperiod.csv").read_text("utf-8").splitlines()
    columns = header.split(";")
    edited = []
    valid = [k for k in range(12) if k != 5]  # the sample blocks its sixth row
    for k, line in enumerate(rows):
        cells = line.split(";")
        if k in valid[: len(FORMULAS)]:
            cells[columns.index("title_name")] = FORMULAS[valid.index(k)]
        edited.append(cells)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerows([columns, *edited])
    next_day = tmp_path / "workperiod.csv"
    next_day.write_text(buffer.getvalue(), encoding="utf-8")
    place(workdir, next_day)
    proc = engine_run(workdir, epe_raw(esm, run_type="partial"))
    assert proc.returncode == 0, proc.stderr
    text = (workdir / "3_changes.csv").read_bytes().decode("utf-8-sig")
    changed = [
        r for r in csv.DictReader(io.StringIO(text, newline=""), delimiter=";")
        if r["column"] == "title_name"
    ]  # fmt: skip
    assert sorted(r["new_value"] for r in changed) == sorted("'" + f for f in FORMULAS)
    output = json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))
    assert sorted(r["title_name"] for r in output if r["title_name"] in FORMULAS) == sorted(
        FORMULAS
    )  # the values themselves are imported as the file has them


def test_each_blocked_row_is_logged_with_its_row_id_and_line(workdir: Path, esm: Any) -> None:
    place(workdir, SAMPLES / "workperiod" / "workperiod.csv")
    assert engine_run(workdir, epe_raw(esm)).returncode == 0
    log = (workdir / "3_log.txt").read_text(encoding="utf-8")
    assert "Blocked row ID WP-0015 (line 16): the mandatory value last_name is missing" in log
    assert "Blocked row ID WP-0039 (line 41): the row ID WP-0039 appears more than once" in log
