"""The columnar engine against a plain-Python statement of the same rules, on random tables.

Each test states a rule the way a person reads it (one row at a time, plain ``str`` methods and
``datetime``) and checks that the engine (polars expressions over whole columns) finds exactly the
same: validation's reasons in order, the comparison's partition, the CSV reader's rows and line
numbers. The values are hostile on purpose: line breaks, quotes, the delimiter, formulas,
non-ASCII, blanks, missing fields, repeated and look-alike row IDs.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import date
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hr_connector.compare import compare
from hr_connector.params import parse_params
from hr_connector.previous_run import PreviousRun
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
@given(versions=_versions(), blocked=st.sets(st.integers(0, 7)))
def test_comparison_equals_the_partition_stated_row_by_row(
    versions: tuple[Version, Version], blocked: set[int]
) -> None:
    before, now = versions
    columns = ["row_id", "title_id", "org_unit_id"]
    schema = run_schema(parse_params(base_raw()))
    table = Table.of("t.csv", columns, [[k, *v] for k, v in now.items()])
    previous = PreviousRun(
        Table.of("a", columns, [[k, *v] for k, v in before.items()]).frame, "row_id"
    )
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
