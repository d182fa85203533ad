"""Header names matched as a person reads them, and never a wrong guess.

Through ``deployments/epe/IGAConnector.py``: a header written with the vendor page's attribute
names verbatim, one in PascalCase/camelCase, and one whose columns only *might* be the mapped
ones (``Start``, ``JobCode``, ``Department``) - answered before with a suggestion that, applied,
validated the wrong columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hr_connector import header
from hr_connector.schemas import SCHEMAS

from conftest import SAMPLES
from vendor_helpers import MAPPINGS, VENDOR_PAGE, engine, filed_task, local_params, schema_of

#: The page's attribute names (its "Validation" table) for the sample's canonical columns.
PAGE_NAMES = {
    "row_id": "Row ID",
    "last_name": "Last name",
    "first_name": "First name",
    "national_id": "Social security number / national ID",
    "employee_number": "Employee number (employee ID)",
    "employment_start_date": "Employment start date",
    "title_id": "Title ID",
    "manager_id": "Manager ID",
    "org_unit_id": "Organizational unit ID",
    "spoken_name": "Spoken name",
    "second_name": "Second name",
    "employment_end_date": "Employment end date",
    "employment_type": "Employment type",
    "is_manager": "Is user manager?",
    "title_name": "Title",
    "manager_name": "Manager name",
    "user_type": "User type",
    "cost_center": "Cost center",
    "org_unit_name": "Organizational unit name",
}
PASCAL = {c: "".join(w.title() for w in c.split("_")) for c in PAGE_NAMES}


def _workperiods(workdir: Path, names: dict[str, str]) -> list[str]:
    """The sample work periods with the header renamed by ``names``."""
    (workdir / "data").mkdir(exist_ok=True)
    lines = (SAMPLES / "workperiod" / "workperiod.csv").read_text("utf-8").splitlines()
    columns = [names.get(c, c) for c in lines[0].split(";")]
    lines[0] = ";".join(columns)
    (workdir / "data" / "workperiod.csv").write_text("\n".join(lines) + "\n", "utf-8")
    return columns


def test_the_page_names_its_attributes_as_this_test_does() -> None:
    page = VENDOR_PAGE.read_text("utf-8")
    for name in PAGE_NAMES.values():
        assert f"\n{name} " in page, name


@pytest.mark.parametrize("names", [PAGE_NAMES, PASCAL], ids=["page", "PascalCase"])
def test_a_header_named_as_the_page_or_in_pascal_case_is_read(
    workdir: Path, esm: Any, names: dict[str, str]
) -> None:
    columns = _workperiods(workdir, names)
    proc = engine(workdir, local_params(esm, "workperiod", run_type="full") + MAPPINGS)
    assert proc.returncode == 0, proc.stderr
    output = json.loads((workdir / "1042_output.json").read_text("utf-8"))
    assert len(output) == 34  # the sample's six bad rows are blocked, as with canonical names
    assert list(output[0]) == [*columns, "objectGUID"]  # the file's own names go out
    assert output[0]["objectGUID"] == output[0][names["row_id"]] == "WP-0001"
    task = filed_task(proc, esm, workdir)
    assert task["counts"]["blocked"] == 6


def test_camel_case_matches_too(workdir: Path, esm: Any) -> None:
    names = {c: p[0].lower() + p[1:] for c, p in PASCAL.items()}  # employeeNumber, orgUnitId
    _workperiods(workdir, names)
    proc = engine(workdir, local_params(esm, "workperiod", run_type="full") + MAPPINGS)
    assert proc.returncode == 0, proc.stderr
    assert "orgUnitId" in json.loads((workdir / "1042_output.json").read_text("utf-8"))[0]


def test_columns_that_only_might_be_the_mapped_ones_stop_with_their_candidates(
    workdir: Path, esm: Any
) -> None:
    """``Start``, ``JobCode``, ``Department``: the job code is a title ID by its common name; a
    start is suggested only for the start date (never the end date); ``Department`` may hold
    the units' IDs or their names, so it is named, never put in a suggested field_names."""
    names = {
        "employment_start_date": "Start",
        "title_id": "JobCode",
        "org_unit_id": "Department",
        "employment_end_date": "Finish",
        "title_name": "Job",
        "org_unit_name": "Unit",
    }
    _workperiods(workdir, names)
    proc = engine(workdir, local_params(esm, "workperiod", run_type="full") + MAPPINGS)
    assert proc.returncode == 1, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert "employment_start_date (did you mean Start?)" in first
    assert "org_unit_id (maybe 'Department' or 'Unit': say which with field_names)" in first
    assert "title_id" not in first  # JobCode is the title ID
    assert '"field_names": {"employment_start_date": "Start"}' in first
    for wrong in ("employment_end_date", "title_name", "org_unit_name"):
        assert f'"{wrong}"' not in first
    task = filed_task(proc, esm, workdir)
    assert task["case"] == "missing_columns" and "Department" in task["description"]
    assert not (workdir / "1042_output.json").exists()


def test_two_columns_spelling_one_mapped_column_stop_naming_both(workdir: Path, esm: Any) -> None:
    _workperiods(workdir, {"employee_number": "Employee ID", "national_id": "Employee number"})
    proc = engine(workdir, local_params(esm, "workperiod", run_type="full") + MAPPINGS)
    assert proc.returncode == 1, proc.stderr
    assert (
        "employee_number (the header spells it more than once: 'Employee ID' and 'Employee number')"
    ) in proc.stderr
    assert not (workdir / "1042_output.json").exists()


# --- the rules on any header -----------------------------------------------------------------


@pytest.mark.parametrize("data_type", sorted(SCHEMAS))
def test_no_two_columns_of_a_data_type_share_a_spelling(data_type: str) -> None:
    seen: dict[str, str] = {}
    for canonical in SCHEMAS[data_type].attributes:
        for spelling in header._spellings(canonical, canonical):
            assert seen.setdefault(spelling, canonical) == canonical, spelling


_SPELLINGS = sorted({a for names in header.ALIASES.values() for a in names} | set(header.ALIASES))
_WORDS = ["Start", "End", "Begin", "Department", "Dept", "Code", "ID", "Name", "Job", "Date"]


@given(
    st.sampled_from(sorted(SCHEMAS)),
    st.lists(st.sampled_from(_SPELLINGS + _WORDS), max_size=8, unique=True),
    st.integers(min_value=0, max_value=6),
)
def test_a_suggested_fix_is_always_of_the_same_kind_and_unique(
    data_type: str, extra: list[str], drop: int
) -> None:
    schema = schema_of(data_type=data_type)
    kept = list(schema.mapped_columns)
    kept = kept[: max(1, len(kept) - drop)]
    columns = list(dict.fromkeys(kept + extra))
    try:
        matched = header.check_header("f.csv", schema, columns)
    except header.MissingColumnsSuggested as error:
        fixes = (
            json.loads(error.figures["columns"].split(". field_names: ")[1])
            if (". field_names: " in error.figures["columns"])
            else {}
        )
        assert len(set(fixes.values())) == len(fixes)  # no column suggested twice
        for canonical, column in fixes.items():
            assert header._kind(column) == header._kind(canonical), (canonical, column)
            assert column not in schema.columns.values()
        return
    for canonical, column in matched.columns.items():  # a match spells the mapped column
        if column in columns and column != schema.columns[canonical]:
            assert header.normalized(column) in header._spellings(canonical, canonical)
