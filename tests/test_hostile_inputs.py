"""Hostile files and parameters that once walked around a guard or ended badly.

An approval that lets another changeset through, UTF-16/32 without a BOM, look-alike row IDs,
an escaped NUL in JSON, a lone CR in CSV, a repeated wrapper key, a date format that reads no
date, ``true`` as a number. Each runs the plain pipeline after a good full load and checks what
a user sees: the decision, the message, the files.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hr_connector.outcome import Decision

from conftest import SAMPLES
from run_helpers import Snapshot, run_plain, seed_full_run

TITLE_HEADER = "title_id;title_name\n"


def _title_file(workdir: Path, name: str, data: bytes) -> None:
    folder = workdir / "in"
    for old in folder.iterdir():
        old.unlink()
    (folder / name).write_bytes(data)


def _sample_lines() -> str:
    return (SAMPLES / "title" / "title.csv").read_text(encoding="utf-8")


# --- the changeset digest is injective ------------------------------------------------------------


def test_an_approval_does_not_let_a_colliding_changeset_through(workdir: Path) -> None:
    seed_full_run(workdir, "title")
    # the same joined text under the old digest (U+001F was its field separator)
    _title_file(workdir, "title.csv", (_sample_lines() + "TX;Evil\x1fMallory\n").encode())
    stopped = run_plain(workdir, data_type="title", run_type="partial", update_limit=0)
    assert stopped.decision is Decision.INTERRUPTED and stopped.changeset
    _title_file(workdir, "title.csv", (_sample_lines() + "TX\x1fEvil;Mallory\n").encode())
    before = Snapshot.of(workdir, "title")
    other = run_plain(
        workdir,
        data_type="title",
        run_type="partial",
        update_limit=0,
        approved_changeset=stopped.changeset,
    )
    assert other.changeset != stopped.changeset
    assert other.decision is Decision.INTERRUPTED
    assert other.interruption is not None and other.interruption.case == "update_limit_exceeded"
    assert Snapshot.of(workdir, "title").archives == before.archives


# --- the encoding is checked before any parser sees the bytes -------------------------------------


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("title.xml", "utf-16-le"),
        ("title.xml", "utf-16-be"),
        ("title.csv", "utf-16-le"),
        ("title.json", "utf-32-le"),
        ("title.xml", "utf-32-be"),
    ],
)
def test_utf16_and_utf32_without_a_bom_are_refused(workdir: Path, name: str, encoding: str) -> None:
    old = seed_full_run(workdir, "title")
    text = (SAMPLES / "title" / name).read_text(encoding="utf-8")
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"') if "16" in encoding else text
    _title_file(workdir, name, text.encode(encoding))
    fmt = name.rsplit(".", 1)[1]
    result = run_plain(workdir, data_type="title", run_type="partial", fmt=fmt)
    assert result.decision is Decision.INTERRUPTED
    assert result.interruption is not None and result.interruption.case == "file_unreadable"
    assert "without a byte-order mark" in result.interruption.message
    assert name in result.interruption.message
    assert Snapshot.of(workdir, "title").archives == old.archives


def test_a_doctype_hidden_in_utf16_is_never_parsed(workdir: Path) -> None:
    seed_full_run(workdir, "title")
    xml = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        "<r><e><title_id>T1</title_id><title_name>&x;</title_name></e></r>\n"
    )
    _title_file(workdir, "title.xml", xml.encode("utf-16-le"))
    result = run_plain(workdir, data_type="title", run_type="partial", fmt="xml")
    assert result.decision is Decision.INTERRUPTED
    assert "without a byte-order mark" in str(result.interruption)


# --- one rule each --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (unicodedata.normalize("NFC", "Mäkinen"), unicodedata.normalize("NFD", "Mäkinen")),
        ("T900", " T900"),
        ("T900", "T900\t"),
    ],
)
def test_row_ids_that_differ_only_in_form_are_duplicates(
    workdir: Path, first: str, second: str
) -> None:
    seed_full_run(workdir, "title")
    lines = _sample_lines() + f"{first};One\n{second};Two\n"
    _title_file(workdir, "title.csv", lines.encode())
    result = run_plain(workdir, data_type="title", run_type="partial")
    assert result.decision is Decision.COMPLETED
    assert result.counts.new == 0  # neither is imported as a new row
    errors = json.loads((workdir / "data" / "archive" / "error_title_reasons.json").read_text())
    blocked = {e["row_id"]: [r["code"] for r in e["reasons"]] for e in errors}
    assert blocked[first] == ["duplicate_row_id"] and blocked[second] == ["duplicate_row_id"]


def test_an_escaped_nul_in_json_is_refused_like_a_nul_byte(workdir: Path) -> None:
    old = seed_full_run(workdir, "title")
    records = [{"title_id": f"T{i}", "title_name": f"Name {i}"} for i in range(50)]
    records[7]["title_name"] = "Evil\x00Name"
    _title_file(workdir, "title.json", json.dumps({"Report_Entry": records}).encode())
    result = run_plain(workdir, data_type="title", run_type="partial", fmt="json")
    assert result.decision is Decision.INTERRUPTED
    message = str(result.interruption)
    assert "record 8" in message and "NUL" in message and "\x00" not in message
    assert Snapshot.of(workdir, "title").archives == old.archives


def test_a_lone_cr_outside_quotes_refuses_the_file_and_inside_quotes_is_a_value(
    workdir: Path,
) -> None:
    old = seed_full_run(workdir, "title")
    _title_file(workdir, "title.csv", (_sample_lines() + "T900;Split\rhere\n").encode())
    result = run_plain(workdir, data_type="title", run_type="partial")
    assert result.decision is Decision.INTERRUPTED
    lines = _sample_lines().count("\n")
    assert f"line {lines + 1}" in str(result.interruption)
    assert "carriage return" in str(result.interruption)
    assert Snapshot.of(workdir, "title").archives == old.archives
    _title_file(workdir, "title.csv", (_sample_lines() + 'T900;"Kept\rtogether"\n').encode())
    result = run_plain(workdir, data_type="title", run_type="partial")
    assert result.decision is Decision.COMPLETED and result.counts.new == 1
    output = json.loads((workdir / "3_output.json").read_text(encoding="utf-8"))
    assert output == [{"title_id": "T900", "title_name": "Kept\rtogether", "objectGUID": "T900"}]


# --- wrapper keys, date formats, numbers ----------------------------------------------------------


def test_a_repeated_wrapper_key_is_named_without_an_internal_marker(workdir: Path) -> None:
    seed_full_run(workdir, "title")
    text = (
        '{"Report_Entry": [{"title_id": "T1", "title_name": "A"}],\n'
        ' "Report_Entry": [{"title_id": "T2", "title_name": "B"}]}\n'
    )
    _title_file(workdir, "title.json", text.encode())
    result = run_plain(workdir, data_type="title", run_type="partial", fmt="json")
    assert result.decision is Decision.INTERRUPTED
    message = str(result.interruption)
    assert "'Report_Entry' twice" in message
    assert "\x00" not in message and "duplicate keys" not in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("date_formats", ["%"]),
        ("date_formats", ["%Y"]),
        ("update_limit", True),
        ("minimum_row_count", True),
    ],
)
def test_parameters_that_mean_nothing_are_refused(workdir: Path, key: str, value: object) -> None:
    from hr_connector.errors import ParametersInvalid
    from hr_connector.params import parse_params

    from conftest import base_raw

    with pytest.raises(ParametersInvalid) as info:
        parse_params(base_raw(**{key: value}))
    assert key in str(info.value)


def test_a_date_format_that_reads_no_date_never_replaces_the_archive(workdir: Path) -> None:
    from conftest import base_raw
    from run_helpers import epe

    old = seed_full_run(workdir, "workperiod")
    proc = epe(workdir, base_raw(run_type="partial", date_formats=["%"], taskid=3))
    assert proc.returncode == 1
    assert "date_formats" in proc.stderr
    assert Snapshot.of(workdir, "workperiod").archives == old.archives


_VALUES = st.one_of(
    st.none(), st.text(alphabet=st.sampled_from(["a", "b", "\x1f", "\n", "\\", "\x1e", ";"]))
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_VALUES, _VALUES, _VALUES), max_size=4),
    st.lists(st.tuples(_VALUES, _VALUES, _VALUES), max_size=4),
)
def test_the_changeset_digest_tells_every_two_changesets_apart(
    first: list[tuple[str | None, ...]], second: list[tuple[str | None, ...]]
) -> None:
    import polars as pl

    from hr_connector.compare import changeset_digest
    from hr_connector.records import Table

    def digest(rows: list[tuple[str | None, ...]]) -> str:
        table = Table.of("t.csv", ["a", "b", "c"], rows)
        every = pl.Series(range(len(rows)), dtype=pl.UInt32)
        return changeset_digest(
            "title", "partial", table.frame, None, every, pl.Series([], dtype=pl.String)
        )

    assert (digest(first) == digest(second)) == (first == second)
