"""The extra arguments read as the vendor's page writes them, and refused where they are ambiguous.

Through ``deployments/epe/IGAConnector.py`` as the engine runs it: the page's example verbatim
(``//`` comments, no-break spaces), a key given twice, a working directory whose name breaks a
line, a tab as the CSV delimiter.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hr_connector import invocation
from hr_connector.errors import ParametersInvalid, UnusableInvocation
from hr_connector.params import parse_params

from conftest import SAMPLES, WEBAPI_PASSWORD
from vendor_helpers import (
    MAPPINGS,
    engine,
    filed_task,
    local_params,
    plain_params,
    vendor_example,
)

# --- comments ------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.text('a/*: "\\\u00a0\n', max_size=8)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def _with_comments(value: Any, comment: str) -> str:
    """``value`` as JSON with ``comment`` after every token that may end a line."""
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: {_with_comments(v, comment)}" for k, v in value.items()]
        return "{" + comment + (", " + comment).join(items) + "}"
    if isinstance(value, list):
        items = [_with_comments(v, comment) for v in value]
        return "[" + comment + (", " + comment).join(items) + "]"
    return json.dumps(value)


@given(
    st.dictionaries(st.text(max_size=6), _values, max_size=5),
    st.sampled_from([" // a note, with 'quotes' and \"doubles\"\n", " /* a // note */ ", "\n"]),
)
def test_comments_outside_strings_are_ignored_and_strings_keep_theirs(
    params: dict[str, Any], comment: str
) -> None:
    text = _with_comments(params, comment) + "\n"
    assert invocation.split_input(text).params == params


def test_the_pages_example_reads_as_the_page_means_it() -> None:
    params = invocation.split_input(vendor_example()).params
    assert params["file_path"] == "./data/workperiod*.csv"
    assert params["webapi_url"] == "https://eisdemo.efectecloud-demo.com"  # its // stays
    assert params["update_limit"] == 100 and params["language"] == "en"
    assert len(params) == 20


def test_the_pages_example_with_its_comments_runs_as_a_partial_import(
    workdir: Path, esm: Any
) -> None:
    (workdir / "data" / "archive").mkdir(parents=True)
    shutil.copy(SAMPLES / "workperiod" / "workperiod.csv", workdir / "data")
    (workdir / "data" / "archive" / "workperiod_archive.json").write_text("[]", "utf-8")
    text = local_params(esm, "workperiod")
    assert "// Path and file pattern where file is located. Mandatory value" in text
    proc = engine(workdir, text + MAPPINGS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == str(workdir / "1042_output.json")
    task = filed_task(proc, esm, workdir)
    assert task["counts"]["rows_read"] == 40


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"a": 1 /* never closed\n}', "'/*' that is never closed (line 1)"),
        ('{"a": 1,\n "b": x // what\n}', "not valid JSON: Expecting value at line 2, column 7"),
    ],
)
def test_unusable_comments_say_where(text: str, why: str) -> None:
    with pytest.raises(UnusableInvocation) as info:
        invocation.split_input(text)
    assert why in str(info.value)


# --- a key given twice ---------------------------------------------------------------------


def test_a_key_given_twice_is_refused_naming_it_and_nothing_is_imported(
    workdir: Path, esm: Any
) -> None:
    """``update_limit`` 5, then 100000: the run stops; the last value never wins silently."""
    (workdir / "data" / "archive").mkdir(parents=True)
    shutil.copy(SAMPLES / "title" / "title.csv", workdir / "data")
    (workdir / "data" / "archive" / "title_archive.json").write_text("[]", "utf-8")
    text = plain_params(esm, "title", update_limit=5).replace(
        '"update_limit": 5,', '"update_limit": 5, "update_limit": 100000,'
    )
    proc = engine(workdir, text)
    assert proc.returncode == 1, proc.stderr
    assert "update_limit (given 2 times (5, then 100000): keep one)" in proc.stderr
    task = filed_task(proc, esm, workdir)
    assert task["case"] == "parameters_invalid"
    assert "update_limit" in task["description"] and "100000" in task["description"]
    assert not (workdir / "1042_output.json").exists()
    assert (workdir / "data" / "archive" / "title_archive.json").read_text("utf-8") == "[]"


def test_a_repeated_secret_is_named_without_its_values() -> None:
    text = '{"webapi_password": "first-Secret", "webapi_password": "second-Secret"}'
    given_ = invocation.split_input(text)
    with pytest.raises(ParametersInvalid) as info:
        parse_params(given_.params, repeated=given_.repeated)
    assert "webapi_password (given 2 times: keep one)" in str(info.value)
    assert "Secret" not in str(info.value)


def test_repeats_are_found_at_any_depth_and_the_same_value_twice_is_no_conflict() -> None:
    text = '{"debug": false, "debug": false, "field_names": {"row_id": "Id", "row_id": "RowId"}}'
    assert invocation.split_input(text).repeated == {"field_names.row_id": ["Id", "RowId"]}


def test_a_task_id_given_twice_is_an_unusable_invocation(workdir: Path) -> None:
    proc = engine(workdir, '{"taskid": 7, "taskid": 8}\n')
    assert proc.returncode == 2
    assert proc.stderr == (
        "hr-connector: the parameters (line 1) give taskid more than once (7, 8): keep one.\n"
    )
    assert list(workdir.iterdir()) == []


# --- the working directory's name ------------------------------------------------------------


def test_a_working_directory_named_with_a_line_break_is_unusable(tmp_path: Path, esm: Any) -> None:
    """The last stdout line names the output: a folder name that breaks it cannot be used."""
    workdir = tmp_path / "work\nfake/path"
    workdir.mkdir(parents=True)
    (workdir / "data").mkdir()
    shutil.copy(SAMPLES / "title" / "title.csv", workdir / "data")
    proc = engine(workdir, plain_params(esm, "title", run_type="full"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "holds a line break" in proc.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["data"]


# --- the CSV delimiter -----------------------------------------------------------------------


@pytest.mark.parametrize("given_as", ["\t", "\\t", "tab"])
def test_a_tab_delimited_file_is_read_with_csv_delimiter_tab(
    workdir: Path, esm: Any, given_as: str
) -> None:
    (workdir / "data").mkdir()
    text = (SAMPLES / "title" / "title.csv").read_text("utf-8").replace(";", "\t")
    (workdir / "data" / "title.csv").write_text(text, "utf-8")
    params = local_params(esm, "title", run_type="full", csv_delimiter=given_as)
    proc = engine(workdir, params + MAPPINGS)
    assert proc.returncode == 0, proc.stderr
    output = json.loads((workdir / "1042_output.json").read_text("utf-8"))
    assert len(output) == 13 and set(output[0]) == {"title_id", "title_name", "objectGUID"}


@pytest.mark.parametrize(
    ("value", "why"), [('"', "a quote"), ("\n", "a line break"), (";;", "one character")]
)
def test_a_delimiter_that_cannot_separate_fields_is_refused(value: str, why: str) -> None:
    raw = {
        "file_path": "in/*.csv",
        "data_type": "title",
        "update_limit": 5,
        "webapi_url": "http://esm",
        "webapi_user": "u",
        "webapi_password": WEBAPI_PASSWORD,
        "report_template_code": "T",
        "csv_delimiter": value,
    }
    with pytest.raises(ParametersInvalid, match="csv_delimiter") as info:
        parse_params(raw)
    assert why in str(info.value)
