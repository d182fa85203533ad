"""Validation (every reason of a row), schemas, guards and the comparer's partition."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hr_connector.compare import PreviousRun, compare
from hr_connector.errors import MissingColumns, ParametersInvalid
from hr_connector.guards import check_guards
from hr_connector.header import check_header
from hr_connector.params import parse_params
from hr_connector.readers import read_table
from hr_connector.records import Reason, Table, no_reasons
from hr_connector.schemas import run_schema
from hr_connector.validate import validate_table

from conftest import base_raw

WP_HEADER = [
    "row_id",
    "employee_number",
    "national_id",
    "last_name",
    "first_name",
    "employment_start_date",
    "employment_end_date",
    "title_id",
    "manager_id",
    "org_unit_id",
]


def wp_table(rows: list[list[str]], columns: list[str] = WP_HEADER) -> Table:
    return Table.of("t.csv", columns, rows)


def reasons(blocked: pl.DataFrame) -> dict[int, list[Reason]]:
    """The reasons frame by row, as Python values."""
    found: dict[int, list[Reason]] = {}
    for row, code, column, detail in blocked.rows():
        found.setdefault(row, []).append(Reason(code, column, detail))
    return found


def good(row_id: str = "WP-1", **changes: str) -> list[str]:
    values = dict(
        zip(
            WP_HEADER,
            [row_id, "E1", "010101-123A", "Öberg", "Åsa", "2025-01-01", "", "T1", "E0", "OU1"],
            strict=True,
        )
    )
    values.update(changes)
    return [values[c] for c in WP_HEADER]


def schema(**extra: object):
    return run_schema(parse_params(base_raw(**extra)))


def test_every_reason_of_a_row_is_collected() -> None:
    table = wp_table(
        [
            good(
                last_name="", first_name=" ", employment_start_date="2025-02-30", employee_number=""
            ),
            good("WP-2"),
        ]
    )
    blocked = reasons(validate_table(table, schema()))
    assert list(blocked) == [0]
    codes = sorted((r.code, r.column) for r in blocked[0])
    assert codes == [
        ("invalid_date", "employment_start_date"),
        ("missing_unique_id", "employee_number"),
        ("missing_value", "first_name"),
        ("missing_value", "last_name"),
    ]


def test_duplicate_row_ids_block_both_rows() -> None:
    table = wp_table([good("WP-1"), good("WP-2"), good("WP-1")])
    blocked = reasons(validate_table(table, schema()))
    assert sorted(blocked) == [0, 2]
    assert blocked[0][0].code == "duplicate_row_id"


def test_end_before_start_and_date_formats() -> None:
    table = wp_table(
        [
            good(employment_start_date="01.03.2025", employment_end_date="28.02.2025"),
            good("WP-2", employment_start_date="01.03.2025"),
        ]
    )
    blocked = reasons(validate_table(table, schema(date_formats='["%Y-%m-%d", "%d.%m.%Y"]')))
    assert [r.code for r in blocked[0]] == ["end_before_start"]
    assert 1 not in blocked


def test_unique_id_national_id_and_field_names() -> None:
    columns = [c if c != "last_name" else "Sukunimi" for c in WP_HEADER]
    table = wp_table([good(employee_number=""), good("WP-2", national_id="")], columns)
    s = schema(unique_id="national_id", field_names={"last_name": "Sukunimi"})
    blocked = reasons(validate_table(table, s))
    assert list(blocked) == [1]
    assert blocked[1][0].column == "national_id"


def test_csv_header_must_name_every_mapped_column() -> None:
    kept = [i for i, c in enumerate(WP_HEADER) if c != "title_id"]
    table = wp_table([[good()[i] for i in kept]], [WP_HEADER[i] for i in kept])
    with pytest.raises(MissingColumns, match="title_id"):
        check_header(table.file, schema(), table.columns)
    # an optional column mapped explicitly is required too
    with pytest.raises(MissingColumns, match="Kustannuspaikka"):
        wide = schema(field_names={"cost_center": "Kustannuspaikka"})
        check_header("t.csv", wide, WP_HEADER)


def test_json_record_without_a_mapped_field_is_blocked(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[{"title_id": "T1", "title_name": "Chef"}, {"title_id": "T2"}]')
    blocked = reasons(validate_table(read_table(path), schema(data_type="title")))
    assert [(r.code, r.column) for r in blocked[1]] == [("missing_field", "title_name")]
    assert 0 not in blocked


def test_parameters_name_every_problem_at_once() -> None:
    with pytest.raises(ParametersInvalid) as info:
        parse_params(
            {
                "data_type": "person",
                "update_limit": "many",
                "run_type": "sometimes",
                "webapi_password": "pw-not-shown",
            }
        )
    text = str(info.value)
    for key in (
        "file_path",
        "webapi_user",
        "webapi_url",
        "report_template_code",
        "data_type",
        "update_limit",
        "run_type",
    ):
        assert key in text
    assert "pw-not-shown" not in text


def test_parameters_coerce_strings_and_mask_secrets() -> None:
    p = parse_params(
        base_raw(
            update_limit="100",
            override_update_limit="true",
            debug="false",
            run_type="full load",
            minimum_row_count="5",
            taskid=12,
        )
    )
    assert (p.update_limit, p.override_update_limit, p.run_type, p.taskid) == (
        100,
        True,
        "full",
        "12",
    )
    assert "Webapi-Secret" not in repr(p) and "Webapi-Secret" not in str(p.safe_dump())


def test_unknown_field_names_are_refused() -> None:
    with pytest.raises(ParametersInvalid, match="field_names"):
        schema(field_names={"surname": "x"})


# --- the comparer ------------------------------------------------------------------------------


def previous_of(table: Table, indices: list[int], key: str = "row_id") -> PreviousRun:
    return PreviousRun(table.frame[indices], key)


def indices(series: pl.Series) -> list[int]:
    return series.to_list()


def test_compare_new_changed_unchanged_removed() -> None:
    before = wp_table([good("A"), good("B"), good("C")])
    now = wp_table([good("A"), good("B", title_id="T2"), good("D")])
    cs = compare(now, no_reasons(), schema(), previous_of(before, [0, 1, 2]))
    assert (indices(cs.new), indices(cs.changed), cs.unchanged, cs.removed.to_list()) == (
        [2],
        [1],
        1,
        ["C"],
    )


def test_previously_blocked_row_counts_as_new_when_valid() -> None:
    before = wp_table([good("A"), good("B")])
    prev = previous_of(before, [0])  # B was blocked last time: not imported
    cs = compare(wp_table([good("A"), good("B")]), no_reasons(), schema(), prev)
    assert indices(cs.new) == [1] and cs.removed.to_list() == []


def test_change_columns_ignore_timestamp_noise() -> None:
    cols = [*WP_HEADER, "last_updated"]
    before = wp_table([[*good("A"), "2025-01-01T10:00"]], cols)
    now = wp_table([[*good("A"), "2025-01-02T03:00"]], cols)
    assert indices(compare(now, no_reasons(), schema(), previous_of(before, [0])).changed) == [0]
    quiet = schema(change_columns='["row_id", "last_name", "title_id"]')
    assert indices(compare(now, no_reasons(), quiet, previous_of(before, [0])).changed) == []


def test_guard_decisions() -> None:
    table = wp_table([good("A"), good("B")])
    cs = compare(table, no_reasons(), schema(), PreviousRun.empty("row_id"))
    assert check_guards(parse_params(base_raw(update_limit=2)), 2, cs).interruption is None
    verdict = check_guards(parse_params(base_raw(update_limit=1, run_type="partial")), 2, cs)
    assert verdict.interruption and verdict.interruption.case == "update_limit_exceeded"
    assert verdict.interruption.figures["changeset"] == cs.digest
    ok = check_guards(parse_params(base_raw(update_limit=1, approved_changeset=cs.digest)), 2, cs)
    assert ok.interruption is None and ok.override == "approved_changeset"
    wrong = check_guards(
        parse_params(base_raw(update_limit=1, approved_changeset="sha256:0")), 2, cs
    )
    assert wrong.interruption is not None
    over = check_guards(parse_params(base_raw(update_limit=1, override_update_limit=True)), 2, cs)
    assert over.interruption is None and over.override == "override_update_limit"
    few = check_guards(parse_params(base_raw(minimum_row_count=3)), 2, cs)
    assert few.interruption and few.interruption.case == "minimum_row_count"


_ids = st.sampled_from([f"R{i}" for i in range(12)])
_rows = st.dictionaries(
    _ids, st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"])), max_size=12
)


@settings(max_examples=200, deadline=None)
@given(before=_rows, now=_rows)
def test_compare_partitions_rows(
    before: dict[str, tuple[str, str]], now: dict[str, tuple[str, str]]
) -> None:
    cols = ["row_id", "title_id", "org_unit_id"]
    s = run_schema(parse_params(base_raw(data_type="workperiod")))
    t_now = wp_table([[k, *v] for k, v in now.items()], cols)
    t_before = wp_table([[k, *v] for k, v in before.items()], cols)
    cs = compare(t_now, no_reasons(), s, previous_of(t_before, list(range(len(t_before)))))
    rows = sorted(indices(cs.new) + indices(cs.changed))
    ids = t_now.frame.get_column("row_id").to_list()
    assert len(cs.new) + len(cs.changed) + cs.unchanged == len(t_now)
    assert len(set(rows)) == len(rows)
    assert set(cs.removed) == set(before) - set(now)
    assert {ids[i] for i in cs.new} == set(now) - set(before)
    both = set(now) & set(before)
    assert {ids[i] for i in cs.changed} == {k for k in both if now[k] != before[k]}
    assert cs.unchanged == len({k for k in both if now[k] == before[k]})
    same = compare(t_now, no_reasons(), s, previous_of(t_now, list(range(len(t_now)))))
    assert (len(same.new), len(same.changed), len(same.removed)) == (0, 0, 0)
    assert same.unchanged == len(t_now)
    again = compare(t_now, no_reasons(), s, previous_of(t_before, list(range(len(t_before)))))
    assert again.digest == cs.digest
