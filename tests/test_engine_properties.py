"""The columnar engine against a plain-Python statement of the same rules, on random tables.

Each test states a rule the way a person reads it (one row at a time, plain ``str`` methods and
``datetime``) and checks that the engine (polars expressions over whole columns) finds exactly the
same: validation's reasons in order, the comparison's partition (also against a previous run read
back from its sidecar), the change list, the output and archive JSON, the CSV reader's rows and
line numbers. The values are hostile on purpose: line breaks, quotes, the delimiter, formulas,
non-ASCII, blanks, missing fields, repeated and look-alike row IDs.
"""

from __future__ import annotations

import csv
import io
import json
import random
import unicodedata
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hr_connector import compare as compare_module
from hr_connector import publish
from hr_connector.changes import list_changes
from hr_connector.compare import compare
from hr_connector.params import parse_params
from hr_connector.previous_run import PreviousRun, sidecar_meta, write_sidecar
from hr_connector.readers import read_table
from hr_connector.records import Table, no_reasons
from hr_connector.rules import parse_date
from hr_connector.schemas import RunSchema, run_schema
from hr_connector.validate import validate_table

from conftest import base_raw

COLUMNS = [
    "row_id",
    "employee_number",
    "last_name",
    "first_name",
    "employment_start_date",
    "employment_end_date",
    "title_id",
    "manager_id",
    "org_unit_id",
]
FORMATS = ["%Y-%m-%d", "%d.%m.%Y"]

_text = st.text(alphabet=st.sampled_from(list("ab ;,\"'=+-@\t\r\näÅ\u0301é\u00a0")), max_size=6)
_value = st.one_of(st.none(), st.just(""), st.just("  "), _text)
_dates = st.one_of(
    _value,
    st.sampled_from(
        ["2025-01-31", "2025-02-30", "31.01.2025", "2024-12-01T08:00:00+02:00", " 2025-03-01 ",
         "01/31/2025", "2025-01-31-08:00", "29.02.2024", "29.02.2023"]
    ),
)  # fmt: skip
_ids = st.one_of(
    _value,
    st.sampled_from(["WP1", "WP2", " WP1", "WP1 ", "M\u00e4ki", "Ma\u0308ki", "=1+2", "WP3"]),
)


@st.composite
def _rows(draw: st.DrawFn) -> list[list[str | None]]:
    n = draw(st.integers(0, 12))
    rows = []
    for _ in range(n):
        row: list[str | None] = []
        for column in COLUMNS:
            if column == "row_id":
                row.append(draw(_ids))
            elif "date" in column:
                row.append(draw(_dates))
            else:
                row.append(draw(_value))
        rows.append(row)
    return rows


def _schema() -> RunSchema:
    return run_schema(parse_params(base_raw(date_formats=FORMATS)))


def _blank(value: str) -> bool:
    return value.strip() == ""


def plain_reasons(
    rows: list[list[str | None]], schema: RunSchema
) -> list[tuple[int, str, str, str]]:
    """Validation stated row by row: every reason, in the order the rules are listed."""
    index = {c: i for i, c in enumerate(COLUMNS)}
    examples = ", ".join(["%Y-%m-%d", "2025-01-31T08:00:00+02:00", "%d.%m.%Y", "%Y%m%d"])
    found: list[tuple[int, str, str, str]] = []
    keys = [r[index[schema.key_column]] for r in rows]

    def parsed(value: str | None) -> date | None:
        if value is None or _blank(value):
            return None
        # the only slashed date drawn, 01/31/2025, shows its column the month comes first
        return parse_date(value, [*FORMATS, "%m/%d/%Y"])

    for i, row in enumerate(rows):
        for column in dict.fromkeys(schema.mandatory_columns):
            value = row[index[column]]
            is_id = column in schema.identity_columns
            if value is None:
                found.append((i, "missing_unique_id" if is_id else "missing_field", column, ""))
            elif _blank(value):
                found.append((i, "missing_unique_id" if is_id else "missing_value", column, ""))
        for column in schema.date_columns:
            value = row[index[column]]
            if value is not None and not _blank(value) and parsed(value) is None:
                found.append((i, "invalid_date", column, examples))
        for start, end in schema.date_order:
            s, e = parsed(row[index[start]]), parsed(row[index[end]])
            if s is not None and e is not None and e < s:
                found.append((i, "end_before_start", end, row[index[start]] or ""))
    usable = [k if k is not None and not _blank(k) else None for k in keys]
    for i, k in enumerate(usable):
        if k is not None and usable.count(k) > 1:
            found.append((i, "duplicate_row_id", "", k))
    canonical = [unicodedata.normalize("NFC", k.strip()) if k else None for k in usable]
    for i, k in enumerate(usable):
        if k is None or usable.count(k) > 1:
            continue
        spellings = {usable[j] for j, c in enumerate(canonical) if c == canonical[i]}
        if len(spellings) > 1:
            found.append((i, "duplicate_row_id", "", k))
    return sorted(found, key=lambda reason: reason[0])  # stable: each row's order kept


@settings(max_examples=300, deadline=None)
@given(rows=_rows())
def test_validation_equals_the_rules_stated_row_by_row(rows: list[list[str | None]]) -> None:
    schema = _schema()
    table = Table.of("t.csv", COLUMNS, rows)
    engine = validate_table(table, schema).rows()
    assert engine == plain_reasons(rows, schema)


Version = dict[str, list[str | None]]
_small = st.one_of(st.none(), st.sampled_from(["", "a", "b", "a\nb", "=x"]))


@st.composite
def _versions(draw: st.DrawFn) -> tuple[dict[str, list[str | None]], dict[str, list[str | None]]]:
    ids = [f"R{i}" for i in range(8)]
    before = {
        k: [draw(_small), draw(_small)] for k in draw(st.lists(st.sampled_from(ids), unique=True))
    }
    now = {
        k: [draw(_small), draw(_small)] for k in draw(st.lists(st.sampled_from(ids), unique=True))
    }
    return before, now


@settings(max_examples=300, deadline=None)
@given(versions=_versions(), blocked=st.sets(st.integers(0, 7)), from_sidecar=st.booleans())
def test_comparison_equals_the_partition_stated_row_by_row(
    versions: tuple[Version, Version], blocked: set[int], from_sidecar: bool
) -> None:
    """Also with the previous run read lazily from its sidecar, as a partial run reads it."""
    before, now = versions
    columns = ["row_id", "title_id", "org_unit_id"]
    schema = run_schema(parse_params(base_raw()))
    table = Table.of("t.csv", columns, [[k, *v] for k, v in now.items()])
    previous = _previous(columns, before, from_sidecar)
    blocked = {i for i in blocked if i < len(now)}
    reasons = pl.DataFrame(
        {"row": sorted(blocked), "code": "x", "column": "", "detail": ""},
        schema={"row": pl.UInt32, "code": pl.String, "column": pl.String, "detail": pl.String},
    )
    cs = compare(table, reasons if blocked else no_reasons(), schema, previous)

    def same(a: list[str | None], b: list[str | None]) -> bool:
        return [x or "" for x in a] == [x or "" for x in b]

    keys = list(now)
    valid = [i for i in range(len(keys)) if i not in blocked]
    assert cs.new.to_list() == [i for i in valid if keys[i] not in before]
    assert cs.changed.to_list() == [
        i for i in valid if keys[i] in before and not same(now[keys[i]], before[keys[i]])
    ]
    assert cs.unchanged == len(valid) - len(cs.new) - len(cs.changed)
    assert cs.removed.to_list() == sorted(set(before) - set(now))


def _previous(columns: list[str], before: Version, from_sidecar: bool) -> PreviousRun:
    """The previous run in memory, or written as a sidecar and scanned back from it."""
    frame = Table.of("a", columns, [[k, *v] for k, v in before.items()]).frame
    if not from_sidecar:
        return PreviousRun(frame, "row_id")
    buffer = io.BytesIO()
    write_sidecar(buffer, frame.lazy(), sidecar_meta("a", "e", "row_id"))
    return PreviousRun(pl.scan_parquet(io.BytesIO(buffer.getvalue())), "row_id")


@settings(max_examples=200, deadline=None)
@given(versions=_versions(), from_sidecar=st.booleans())
def test_change_list_equals_the_changes_stated_row_by_row(
    versions: tuple[Version, Version], from_sidecar: bool
) -> None:
    """Every new and removed row ID, and per changed row every column whose value differs
    (a missing value and "" alike), old and new value as text."""
    before, now = versions
    columns = ["row_id", "title_id", "org_unit_id"]
    schema = run_schema(parse_params(base_raw()))
    table = Table.of("t.csv", columns, [[k, *v] for k, v in now.items()])
    previous = _previous(columns, before, from_sidecar)
    changes = list_changes(table, compare(table, no_reasons(), schema, previous), schema, previous)

    expected = sorted(
        (k, c, before[k][i] or "", now[k][i] or "")
        for k in set(now) & set(before)
        for i, c in enumerate(columns[1:])
        if (now[k][i] or "") != (before[k][i] or "")
    )
    got = changes.changed.select("row_id", "column", "old_value", "new_value").rows()
    assert sorted(got) == expected
    assert changes.new.get_column("row_id").to_list() == sorted(set(now) - set(before))
    assert changes.removed.get_column("row_id").to_list() == sorted(set(before) - set(now))


_json_value = st.one_of(
    st.none(),
    st.lists(
        st.sampled_from(
            ["a", '"', "\\", "\n", "é", "\x00", "\x1f", ",", "{", "}", ":", "null", "😀"]
        ),
        max_size=4,
    ).map("".join),
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), width=st.integers(1, 4), guid_is_key=st.booleans())
def test_output_and_archive_json_equal_the_rows_stated_one_by_one(
    data: st.DataObject, width: int, guid_is_key: bool
) -> None:
    """The archive holds every row, the output the picked rows with the row ID added under the
    GUID field; each row an object of its present fields in column order, one per line."""
    names = ["k", "a", 'b"', "null", "é"]
    columns = data.draw(
        st.lists(st.sampled_from(names), min_size=width, max_size=width, unique=True)
    )
    rows = data.draw(st.lists(st.lists(_json_value, min_size=width, max_size=width), max_size=9))
    picked = sorted(data.draw(st.sets(st.integers(0, max(len(rows) - 1, 0)))) if rows else [])
    key, guid = columns[0], (columns[0] if guid_is_key else "objectGUID")
    frame = pl.DataFrame(rows, schema={c: pl.String for c in columns}, orient="row")
    output, archive = io.BytesIO(), io.BytesIO()
    slice_before, publish.SLICE = publish.SLICE, 4  # rows held back across slices
    try:
        publish._write_rows_and_archive(
            [output, archive], frame, pl.Series(picked, dtype=pl.UInt32), key, guid
        )
    finally:
        publish.SLICE = slice_before

    def present(row: list[str | None]) -> dict[str, str]:
        return {c: v for c, v in zip(columns, row, strict=True) if v is not None}

    def with_guid(row: list[str | None]) -> dict[str, str]:
        fields = present(row)
        if row[0] is not None:
            fields[guid] = row[0]
        return fields

    expected_output = [with_guid(rows[i]) for i in picked]
    for written, expected in ((archive, [present(r) for r in rows]), (output, expected_output)):
        text = written.getvalue().decode("utf-8")
        decoded = json.loads(text)
        assert decoded == expected
        assert [list(r) for r in decoded] == [list(r) for r in expected]  # key order
        assert text.count("\n") == len(expected) + (2 if expected else 1)  # a row a line


_cell = st.text(
    alphabet=st.sampled_from(list('ab;",\n\r=+@-äÅ\t ')), max_size=6
)  # every value a CSV writer must quote


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(_cell, min_size=3, max_size=3), min_size=1, max_size=8),
    crlf=st.booleans(),
    blank_lines=st.lists(st.integers(0, 8), max_size=3),
)
def test_csv_rows_and_line_numbers_equal_pythons_csv_module(
    tmp_path: Path, rows: list[list[str]], crlf: bool, blank_lines: list[int]
) -> None:
    """The engine's rows and each row's first line, against ``csv.reader`` on the same text."""
    rows = [r for r in rows if "".join(r).strip() or any(r)]
    terminator = "\r\n" if crlf else "\n"
    buffer = io.StringIO()
    # a lone CR is a line break to csv.reader: a value holding one must be quoted
    quoting = csv.QUOTE_ALL if any("\r" in v for r in rows for v in r) else csv.QUOTE_MINIMAL
    writer = csv.writer(buffer, delimiter=";", lineterminator=terminator, quoting=quoting)
    writer.writerows([["a", "b", "c"], *rows])
    lines = buffer.getvalue().split(terminator)
    text = buffer.getvalue()
    records = text.split(terminator)
    for at in sorted(set(blank_lines), reverse=True):  # blank lines between records
        if 0 < at < len(records) - 1 and not records[at - 1].count('"') % 2:
            records.insert(at, "")
    text = terminator.join(records)
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", strict=True)
    expected: list[tuple[int, list[str]]] = []
    start = 1
    for fields in reader:
        if fields and not (len(fields) == 1 and not fields[0].strip()):
            expected.append((start, fields))
        start = reader.line_num + 1
    table = read_table(path)
    assert lines  # written
    assert [list(r) for r in table.frame.rows()] == [f for _, f in expected[1:]]
    assert [table.position(i) for i in range(len(table))] == [f"line {n}" for n, _ in expected[1:]]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(_cell, min_size=1, max_size=5), min_size=1, max_size=8),
    quote_all=st.booleans(),
)
def test_csv_ragged_rows_equal_pythons_csv_module_field_counts(
    tmp_path: Path, rows: list[list[str]], quote_all: bool
) -> None:
    """A row of another number of fields than the header is flagged with its count (delimiters
    inside quotes, also across line breaks, are not counted); a short row's missing fields are
    null."""
    rows = [r for r in rows if len(r) > 1 or r[0].strip()]  # not a blank line (blank lines:
    # the test above)
    buffer = io.StringIO()
    # a lone CR is a line break to csv.reader: a value holding one must be quoted
    quote_all = quote_all or any("\r" in v for r in rows for v in r)
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n", quoting=quoting)
    writer.writerows([["a", "b", "c"], *rows])
    text = buffer.getvalue()
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", strict=True)
    expected = list(reader)[1:]
    table = read_table(path)
    wrong = table.problems.filter(pl.col("code") == "wrong_field_count")
    flagged = dict(zip(wrong.get_column("row").to_list(), wrong.get_column("detail"), strict=True))
    assert flagged == {i: f"{len(f)}/3" for i, f in enumerate(expected) if len(f) != 3}
    assert [list(r) for r in table.frame.rows()] == [(f + [None] * 3)[:3] for f in expected]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.dictionaries(
        st.text(alphabet="abc", max_size=3),
        st.tuples(_cell, st.one_of(st.none(), _cell)),
        max_size=12,
    ),
    chosen=st.sets(st.integers(0, 11)),
    shuffle=st.randoms(use_true_random=False),
    slice_rows=st.integers(1, 4),
)
def test_the_changeset_digest_is_the_same_whatever_order_the_file_lists_its_rows_in(
    monkeypatch: pytest.MonkeyPatch,
    rows: dict[str, tuple[str, str | None]],
    chosen: set[int],
    shuffle: random.Random,
    slice_rows: int,
) -> None:
    """The rows to import, and so the digest an approval names, do not depend on the file's
    order: by row ID (read in place) or any other (gathered), in slices of any size."""
    monkeypatch.setattr(compare_module, "_SLICE", slice_rows)
    by_id = [(k, *v) for k, v in sorted(rows.items())]
    picked = {by_id[i][0] for i in chosen if i < len(by_id)}
    listed = by_id.copy()
    shuffle.shuffle(listed)

    def digest(order: list[tuple[str, str, str | None]]) -> str:
        table = Table.of("t.csv", ["id", "a", "b"], order)
        wanted = [i for i, row in enumerate(order) if row[0] in picked]
        return compare_module.changeset_digest(
            "title", "partial", table.frame, "id", pl.Series(wanted, dtype=pl.UInt32),
            pl.Series(["gone"], dtype=pl.String),
        )  # fmt: skip

    assert digest(listed) == digest(by_id)


def test_the_changeset_digest_of_a_known_changeset_is_what_earlier_versions_gave() -> None:
    """An approval names a digest: the same changes must give it after an upgrade too (the
    values were computed by the connector of 2026-12-07, before rows were read in place)."""
    rows = [["W3", 'b;"x"', None], ["W1", "a\nb", "=1+1"], ["W2", "", "ä"], ["W0", "z", "y"]]

    def digest(
        order: list[list[str | None]], run_type: str, wanted: list[int], gone: list[str]
    ) -> str:
        table = Table.of("t.csv", ["id", "a", "b"], order)
        return compare_module.changeset_digest(
            "workperiod", run_type, table.frame, "id", pl.Series(wanted, dtype=pl.UInt32),
            pl.Series(gone, dtype=pl.String),
        )  # fmt: skip

    assert (
        digest(rows, "partial", [0, 1, 2], ["W9", "W8"])
        == "sha256:624bb9d0f54d955ac9fb39fd391d07fd"
    )
    assert digest(rows, "full", [1, 2, 3], []) == "sha256:4bea67b0bdcc3d973195182d511e0abd"
    assert digest(sorted(rows), "full", [0, 2, 3], []) == "sha256:8cd60cd5b5c7ab6b4c23149acdb8d320"
