"""Bad and hostile HR files: a clear error or a blocked row, never a traceback alone,
never partial output, never an advanced archive; within bounded time and memory.

Every case first runs a good full load (the title sample), then feeds the bad file to a partial
run of the same task, so "the archive did not move" and "the earlier output is gone" can be
checked byte for byte. Small hostile files live in ``tests/corpus/`` (see its README); the big
ones (10 MB fields, 100 MB single lines, 100k-deep nesting) are generated in ``tmp_path``.

The helpers at the top (:func:`run_measured`, :func:`seed_full_run`, :class:`Snapshot`) are also
used by the other suites (test_faults, test_concurrency, test_secrets_leak, test_hardening).
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hr_connector.outcome import Decision

from conftest import ESM_USER, base_raw
from run_helpers import (
    MB,
    MEMORY_BOUND_MB,
    PASSWD_MARK,
    Proc,
    Snapshot,
    assert_interrupted_cleanly,
    epe,
    everything_written,
    fmt_of,
    leftovers,
    place_bytes,
    run_plain,
    seed_full_run,
)

CORPUS = Path(__file__).resolve().parent / "corpus"


# --------------------------------------------------------------------------------------------
# The corpus: files the run must refuse as a whole
# --------------------------------------------------------------------------------------------

#: corpus file -> (report case, fragments the message must contain besides the file name)
REFUSED: dict[str, tuple[str, list[str]]] = {
    "invalid_utf8.csv": ("file_unreadable", ["line 3, column 16 (byte 43)", "not valid UTF-8"]),
    "utf16_bom.csv": ("file_unreadable", ["line 1, column 1 (byte 0)", "not valid UTF-8"]),
    "utf16_bom.json": ("file_unreadable", ["line 1 (byte 0)", "not valid UTF-8"]),
    "utf16_bom.xml": ("file_unreadable", ["byte 0", "UTF-16"]),
    "latin1_declared.xml": ("file_unreadable", ["line 1", "another encoding than UTF-8"]),
    "nul_byte.csv": ("file_unreadable", ["line 3", "NUL byte"]),
    "nul_byte.json": ("file_unreadable", ["line 2, column 39", "malformed JSON"]),
    "nul_byte.xml": ("file_unreadable", ["line 3, column 46", "malformed XML"]),
    "duplicate_header.csv": ("file_unreadable", ["line 1", "'title_name' twice"]),
    "empty_header.csv": ("file_unreadable", ["line 1", "column 2 has no name"]),
    "unterminated_quote.csv": ("file_unreadable", ["line ", "quoted field is not closed"]),
    "doctype.xml": ("file_unreadable", ["line ", "DOCTYPE"]),
    "billion_laughs.xml": ("file_unreadable", ["line ", "DOCTYPE"]),
    "xxe_passwd.xml": ("file_unreadable", ["line ", "DOCTYPE"]),
    "undeclared_entity.xml": ("file_unreadable", ["malformed XML"]),
    "empty.csv": ("file_empty", ["is empty"]),
    "empty.json": ("file_empty", ["is empty"]),
    "empty.xml": ("file_empty", ["is empty"]),
    "whitespace_only.csv": ("file_empty", ["is empty"]),
    "whitespace_only.json": ("file_empty", ["is empty"]),
    "whitespace_only.xml": ("file_empty", ["is empty"]),
    "bom_only.csv": ("file_empty", ["is empty"]),
    "header_only.csv": ("file_empty", ["is empty"]),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_file_interrupts_and_names_file_and_position(workdir: Path, name: str) -> None:
    before = seed_full_run(workdir)
    case, fragments = REFUSED[name]
    bad = place_bytes(workdir, name, (CORPUS / name).read_bytes())
    result = run_plain(workdir, data_type="title", fmt=fmt_of(name), run_type="partial")

    assert result.decision is Decision.INTERRUPTED
    assert result.interruption is not None
    assert result.interruption.case == case, result.interruption
    message = result.interruption.message
    assert f"'{bad.name}'" in message
    for fragment in fragments:
        assert fragment in message, message
    assert_interrupted_cleanly(workdir, before)
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    assert task["case"] == case and task["decision"] == "interrupted"
    assert bad.name in task["description"]
    assert PASSWD_MARK not in everything_written(workdir)


# --------------------------------------------------------------------------------------------
# The corpus: files whose bad records are blocked, the rest imported
# --------------------------------------------------------------------------------------------

#: corpus file -> ({blocked row id: (position, reason codes)}, ids imported)
BLOCKED: dict[str, tuple[dict[str, tuple[str, set[str]]], set[str]]] = {
    "ragged_rows.csv": (
        {
            "T2": ("line 3", {"wrong_field_count"}),
            "T3": ("line 4", {"wrong_field_count", "missing_field"}),  # the field is not there
        },
        {"T1", "T4"},
    ),
    "duplicate_keys.json": ({"T2": ("record 2", {"duplicate_field"})}, {"T1", "T3"}),
    "nested_values.json": (
        {"T1": ("record 1", {"nested_value"}), "T3": ("record 3", {"nested_value"})},
        {"T2"},
    ),
    "duplicate_field.xml": ({"T2": ("line 3", {"duplicate_field"})}, {"T1"}),
    "nested_values.xml": ({"T1": ("line 2", {"nested_value"})}, {"T2"}),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", list(BLOCKED))
def test_bad_records_are_blocked_with_reason_and_position(workdir: Path, name: str) -> None:
    seed_full_run(workdir)
    blocked, imported = BLOCKED[name]
    place_bytes(workdir, name, (CORPUS / name).read_bytes())
    result = run_plain(workdir, data_type="title", fmt=fmt_of(name), run_type="partial")

    assert result.decision is Decision.COMPLETED, result.interruption
    assert result.counts.blocked == len(blocked)
    output = json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))
    assert {row["title_id"] for row in output} == imported
    errors = json.loads(
        (workdir / "data/archive/error_title_reasons.json").read_text(encoding="utf-8")
    )
    got = {e["row_id"]: (e["position"], {r["code"] for r in e["reasons"]}) for e in errors}
    assert got == blocked
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    in_task = {
        b["row_id"]: (b["position"], {r["code"] for r in b["reasons"]})
        for b in task["blocked_rows"]
    }
    assert in_task == blocked
    assert leftovers(workdir) == []


def test_duplicate_json_key_reason_names_the_column(workdir: Path) -> None:
    place_bytes(workdir, "t.json", (CORPUS / "duplicate_keys.json").read_bytes())
    run_plain(workdir, data_type="title", fmt="json")
    errors = json.loads(
        (workdir / "data/archive/error_title_reasons.json").read_text(encoding="utf-8")
    )
    (reason,) = errors[0]["reasons"]
    assert (reason["code"], reason["column"]) == ("duplicate_field", "title_name")
    assert "more than once" in reason["message"]


def test_mixed_line_endings_still_parse(workdir: Path) -> None:
    place_bytes(workdir, "t.csv", (CORPUS / "mixed_line_endings.csv").read_bytes())
    result = run_plain(workdir, data_type="title")
    assert result.decision is Decision.COMPLETED and result.counts.blocked == 0
    output = json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))
    assert [(r["title_id"], r["title_name"]) for r in output] == [
        ("T1", "Chef"),
        ("T2", "Kassa"),  # no stray "\r" from the CRLF line
        ("T3", "Myyja"),
        ("T4", "Two\r\nlines"),  # a quoted line break is data
    ]


def test_numbers_where_strings_are_expected_keep_their_text(workdir: Path) -> None:
    place_bytes(workdir, "wp.json", (CORPUS / "numbers_as_strings.json").read_bytes())
    result = run_plain(workdir, data_type="workperiod", fmt="json")
    assert result.decision is Decision.COMPLETED and result.counts.blocked == 0
    (row,) = json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))
    assert row["employee_number"] == "1001"
    assert row["row_id"] == "7" and row["objectGUID"] == "7"
    assert row["org_unit_id"] == "12.50"  # the exact text, not 12.5
    assert row["is_manager"] == "true"
    assert row["spoken_name"] == ""


# --------------------------------------------------------------------------------------------
# Findings: files that currently end in a traceback or a misleading message
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("no_key_field.json", None),
        ("no_key.xml", b"<titles><title><name>Chef</name></title></titles>\n"),
        ("scalars.json", b"[1, [2], null]\n"),
    ],
)
def test_a_file_without_the_key_column_in_any_record_stops_the_run_not_a_crash(
    workdir: Path, name: str, content: bytes | None
) -> None:
    before = seed_full_run(workdir)
    place_bytes(workdir, name, content or (CORPUS / name).read_bytes())
    result = run_plain(workdir, data_type="title", fmt=fmt_of(name), run_type="partial")
    assert result.decision is Decision.INTERRUPTED
    assert result.interruption is not None
    assert f"No record of '{name}' has the row ID field 'title_id'" in result.interruption.message
    assert_interrupted_cleanly(workdir, before)


def test_lone_surrogate_in_json_is_refused(workdir: Path) -> None:
    before = seed_full_run(workdir)
    place_bytes(workdir, "t.json", (CORPUS / "lone_surrogate.json").read_bytes())
    result = run_plain(workdir, data_type="title", fmt="json", run_type="partial")
    assert result.decision is Decision.INTERRUPTED and result.interruption is not None
    assert "'t.json' cannot be read at record 2" in result.interruption.message
    assert "lone UTF-16 surrogate" in result.interruption.message
    assert_interrupted_cleanly(workdir, before)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("doctype.xml", "line 2"),
        ("unterminated_quote.csv", "line 3"),
        ("undeclared_entity.xml", "line 2"),
    ],
)
def test_position_points_at_the_problem(workdir: Path, name: str, fragment: str) -> None:
    place_bytes(workdir, name, (CORPUS / name).read_bytes())
    result = run_plain(workdir, data_type="title", fmt=fmt_of(name))
    assert result.interruption is not None
    assert fragment in result.interruption.message, result.interruption.message
    assert "line 0" not in result.interruption.message


# --------------------------------------------------------------------------------------------
# XML attacks
# --------------------------------------------------------------------------------------------

XXE_BODY = (
    '<!DOCTYPE titles [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    "<titles><title><title_id>T1</title_id><title_name>&xxe;</title_name></title>\n"
    "<title><title_id>T2</title_id><title_name>Kassa</title_name></title></titles>\n"
)
#: A prolog longer than the 64 KB the DOCTYPE check looks at.
LONG_PROLOG = '<?xml version="1.0"?>\n<!--' + "x" * 70_000 + "-->\n"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("prolog", ["", LONG_PROLOG], ids=["plain", "after-64KB-comment"])
def test_external_entity_never_reaches_any_output(workdir: Path, prolog: str) -> None:
    seed_full_run(workdir)
    place_bytes(workdir, "t.xml", (prolog + XXE_BODY).encode())
    result = run_plain(workdir, data_type="title", fmt="xml", run_type="partial")
    assert PASSWD_MARK not in everything_written(workdir)
    assert PASSWD_MARK not in result.model_dump_json()


def test_doctype_after_a_long_prolog_is_refused_too(workdir: Path) -> None:
    before = seed_full_run(workdir)
    place_bytes(workdir, "t.xml", (LONG_PROLOG + XXE_BODY).encode())
    result = run_plain(workdir, data_type="title", fmt="xml", run_type="partial")
    assert result.interruption and result.interruption.case == "file_unreadable"
    assert "DOCTYPE" in result.interruption.message
    assert_interrupted_cleanly(workdir, before)


@pytest.mark.timeout(30)
def test_billion_laughs_after_a_long_prolog_is_bounded(workdir: Path) -> None:
    before = seed_full_run(workdir)
    laughs = (CORPUS / "billion_laughs.xml").read_text(encoding="utf-8").split("\n", 1)[1]
    place_bytes(workdir, "t.xml", (LONG_PROLOG + laughs).encode())
    started = time.monotonic()
    result = run_plain(workdir, data_type="title", fmt="xml", run_type="partial")
    assert time.monotonic() - started < 10
    assert result.interruption and result.interruption.case == "file_unreadable"
    assert_interrupted_cleanly(workdir, before)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("where", ["root", "field"])
def test_deeply_nested_xml_is_refused(workdir: Path, where: str) -> None:
    before = seed_full_run(workdir)
    depth = 100_000
    inner = "<a>" * depth + "x" + "</a>" * depth
    doc = (
        f"<titles>{inner}</titles>"
        if where == "root"
        else (
            f"<titles><title><title_id>T1</title_id><title_name>{inner}</title_name></title></titles>"
        )
    )
    place_bytes(workdir, "t.xml", doc.encode())
    result = run_plain(workdir, data_type="title", fmt="xml", run_type="partial")
    assert result.interruption and result.interruption.case == "file_unreadable"
    assert "line 1, column" in result.interruption.message
    assert_interrupted_cleanly(workdir, before)


@pytest.mark.timeout(30)
def test_deeply_nested_json_is_refused(workdir: Path) -> None:
    before = seed_full_run(workdir)
    depth = 100_000
    doc = '[{"title_id": "T1", "title_name": ' + "[" * depth + "]" * depth + "}]"
    place_bytes(workdir, "t.json", doc.encode())
    result = run_plain(workdir, data_type="title", fmt="json", run_type="partial")
    assert result.interruption and result.interruption.case == "file_unreadable"
    assert "nested too deeply" in result.interruption.message
    assert_interrupted_cleanly(workdir, before)


def test_xml_after_much_leading_whitespace_is_not_called_empty(workdir: Path) -> None:
    doc = (
        "\n" * 5000
        + "<titles><title><title_id>T1</title_id><title_name>A</title_name></title></titles>"
    )
    place_bytes(workdir, "t.xml", doc.encode())
    result = run_plain(workdir, data_type="title", fmt="xml")
    assert result.decision is Decision.COMPLETED, result.interruption
    assert result.counts.output == 1


# --------------------------------------------------------------------------------------------
# Big fields and 100 MB single lines
# --------------------------------------------------------------------------------------------


def _ten_mb_field(fmt: str) -> bytes:
    big = "x" * (10 * MB)
    if fmt == "csv":
        return f"title_id;title_name\nT1;Chef\nT2;{big}\nT3;Kassa\n".encode()
    if fmt == "json":
        return json.dumps(
            [{"title_id": "T1", "title_name": "Chef"}, {"title_id": "T2", "title_name": big}]
        ).encode()
    return (
        "<titles><title><title_id>T1</title_id><title_name>Chef</title_name></title>"
        f"<title><title_id>T2</title_id><title_name>{big}</title_name></title></titles>"
    ).encode()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "fmt",
    [
        "csv",
        "json",
        "xml",
    ],
)
def test_ten_megabyte_field_is_refused(workdir: Path, fmt: str) -> None:
    before = seed_full_run(workdir)
    place_bytes(workdir, f"t.{fmt}", _ten_mb_field(fmt))
    started = time.monotonic()
    result = run_plain(workdir, data_type="title", fmt=fmt, run_type="partial")
    assert time.monotonic() - started < 30
    assert result.decision is Decision.INTERRUPTED
    assert result.interruption and result.interruption.case == "file_unreadable"
    assert f"'t.{fmt}' cannot be read at" in result.interruption.message
    assert_interrupted_cleanly(workdir, before)


def _write_100mb_line(path: Path, fmt: str) -> None:
    """One line of 100 MB, written in chunks (the test process stays small)."""
    chunk = b"x" * MB
    with path.open("wb") as fh:
        if fmt == "csv":
            fh.write(b"title_id;title_name\nT1;")
        elif fmt == "json":
            fh.write(b'[{"title_id": "T1", "title_name": "')
        else:
            fh.write(b"<titles><title><title_id>T1</title_id><title_name>")
        for _ in range(100):
            fh.write(chunk)
        fh.write({"csv": b"\n", "json": b'"}]', "xml": b"</title_name></title></titles>"}[fmt])


def _assert_one_line_messages(proc: Proc) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines, "the run must say what happened"
    assert all(line.startswith("hr-connector: ") for line in lines), proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("fmt", ["csv", "json", "xml"])
def test_100mb_single_line_is_bounded_in_time_and_memory(workdir: Path, esm: Any, fmt: str) -> None:
    before = seed_full_run(workdir)
    place_bytes(workdir, f"big.{fmt}", b"")
    _write_100mb_line(workdir / "in" / f"big.{fmt}", fmt)
    params = base_raw(
        data_type="title",
        fmt=fmt,
        run_type="partial",
        webapi_url=esm.url,
        webapi_user=ESM_USER,
        taskid=3,
    )
    proc = epe(workdir, params)
    print(
        f"100 MB {fmt} line: exit {proc.returncode}, {proc.seconds:.1f} s, {proc.max_rss_mb:.0f} MB"
    )
    assert proc.seconds < 60, proc.seconds
    assert proc.max_rss_mb < MEMORY_BOUND_MB, proc.max_rss_mb
    _assert_one_line_messages(proc)
    # refused in every format: the field is over the readers' 1 MiB limit
    assert proc.returncode == 1
    where = "record 1" if fmt == "json" else "line "
    assert f"'big.{fmt}' cannot be read at {where}" in proc.stderr
    assert_interrupted_cleanly(workdir, before)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_100mb_line_of_short_fields_is_bounded(workdir: Path, esm: Any) -> None:
    before = seed_full_run(workdir)
    path = place_bytes(workdir, "big.csv", b"title_id;title_name\nT1;")
    with path.open("ab") as fh:
        for _ in range(100):
            fh.write(b"ab;" * (MB // 3))
        fh.write(b"\nT2;Kassa\n")
    params = base_raw(
        data_type="title", run_type="partial", webapi_url=esm.url, webapi_user=ESM_USER, taskid=3
    )
    proc = epe(workdir, params, address_space=3 * MEMORY_BOUND_MB * MB // 2)  # dies early
    assert proc.seconds < 60
    _assert_one_line_messages(proc)
    assert proc.max_rss_mb < MEMORY_BOUND_MB, proc.max_rss_mb
    assert proc.returncode == 1, proc.stderr
    assert "'big.csv' cannot be read at line 2" in proc.stderr, proc.stderr
    assert_interrupted_cleanly(workdir, before)


# --------------------------------------------------------------------------------------------
# Through the EPE subprocess: what the engine (and the operator) sees
# --------------------------------------------------------------------------------------------

#: corpus file -> (exit code, text the first stderr line must contain)
EPE_SUBSET: dict[str, tuple[int, str]] = {
    "invalid_utf8.csv": (1, "'invalid_utf8.csv' cannot be read at line 3, column 16"),
    "utf16_bom.xml": (1, "'utf16_bom.xml' cannot be read at byte 0"),
    "nul_byte.csv": (1, "'nul_byte.csv' cannot be read at line 3"),
    "unterminated_quote.csv": (1, "'unterminated_quote.csv' cannot be read at line "),
    "xxe_passwd.xml": (1, "'xxe_passwd.xml' cannot be read at line "),
    "billion_laughs.xml": (1, "'billion_laughs.xml' cannot be read at line "),
    "empty.csv": (1, "'empty.csv' is empty"),
    "duplicate_keys.json": (0, "Completed: 3 rows read, 1 blocked"),
}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_epe_run_of_bad_files_gives_one_line_messages_and_exit_codes(
    tmp_path: Path, esm: Any
) -> None:
    """A representative subset through IGAConnector.py (in parallel: each start costs ~2 s)."""
    cases: dict[str, tuple[Path, Snapshot]] = {}
    for n, name in enumerate(EPE_SUBSET):
        workdir = tmp_path / f"w{n}"
        workdir.mkdir()
        before = seed_full_run(workdir)
        place_bytes(workdir, name, (CORPUS / name).read_bytes())
        cases[name] = (workdir, before)

    def one(name: str) -> Proc:
        workdir, _ = cases[name]
        params = base_raw(
            data_type="title",
            fmt=fmt_of(name),
            run_type="partial",
            webapi_url=esm.url,
            webapi_user=ESM_USER,
            taskid=3,
        )
        return epe(workdir, params)

    with ThreadPoolExecutor(max_workers=4) as pool:
        procs = dict(zip(EPE_SUBSET, pool.map(one, EPE_SUBSET), strict=True))

    for name, proc in procs.items():
        workdir, before = cases[name]
        code, first = EPE_SUBSET[name]
        assert proc.returncode == code, (name, proc.stderr)
        _assert_one_line_messages(proc)
        assert first in proc.stderr.splitlines()[0], (name, proc.stderr)
        assert PASSWD_MARK not in everything_written(workdir, proc.stdout, proc.stderr)
        if code == 1:
            assert proc.stdout == "", name
            assert_interrupted_cleanly(workdir, before)
        else:
            assert proc.stdout.strip().splitlines()[-1] == str(workdir.resolve() / "3_output.json")
            ids = {
                r["title_id"] for r in json.loads((workdir / "3_output.json").read_text("utf-8"))
            }
            assert ids == {"T1", "T3"}


@pytest.mark.timeout(60)
def test_epe_never_ends_with_a_traceback(workdir: Path, esm: Any) -> None:
    before = seed_full_run(workdir)
    place_bytes(workdir, "no_key_field.json", (CORPUS / "no_key_field.json").read_bytes())
    params = base_raw(
        data_type="title",
        fmt="json",
        run_type="partial",
        webapi_url=esm.url,
        webapi_user=ESM_USER,
        taskid=3,
    )
    proc = epe(workdir, params)
    _assert_one_line_messages(proc)
    assert proc.returncode == 1, proc.stderr
    assert "has the row ID field 'title_id'" in proc.stderr
    assert_interrupted_cleanly(workdir, before)


def test_corpus_readme_lists_every_file() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    files = {p.name for p in CORPUS.iterdir() if not p.name.startswith(".")} - {"README.md"}
    missing = sorted(name for name in files if f"`{name}`" not in readme)
    assert missing == []
    assert re.search(r"generated", readme)  # the big files are made at test time
