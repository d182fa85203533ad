"""The pieces of the drop-in for migrating customers, one by one.

The subprocess tests in test_migration.py drive the wrapper end to end; these pin the rules of each
piece on many inputs: reading the engine's stdin, merging translation.json, matching header names,
ISO 8601 dates, and reading the archives the vendor's script left.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hr_connector import header, invocation
from hr_connector.door import Door
from hr_connector.errors import UnusableInvocation
from hr_connector.params import parse_params
from hr_connector.previous_run import ArchiveUnusable, blocked_row_ids, rebuild
from hr_connector.records import Table
from hr_connector.rules import iso_date, parse_date
from hr_connector.texts import Translations
from hr_connector.translation_merge import merge

from vendor_helpers import schema_of

# --- stdin -----------------------------------------------------------------------------------


@given(
    params=st.dictionaries(
        st.text(min_size=1, max_size=8), st.text(max_size=8) | st.integers(), max_size=5
    ),
    indent=st.sampled_from([None, 2, 4]),
    second=st.sampled_from(["", "\n", "null", "[]", "{}", '{"__taskid__": "7"}']),
)
def test_stdin_one_object_then_an_optional_second_value(
    params: dict[str, object], indent: int | None, second: str
) -> None:
    text = json.dumps(params, indent=indent) + "\n" + second
    given = invocation.split_input(text)
    got, mappings = given.params, given.mappings
    assert got == params
    assert mappings == ({"__taskid__": "7"} if "__taskid__" in second else {})


@given(st.text(alphabet=' \u00a0a"\\:{}', max_size=12))
def test_no_break_spaces_inside_values_are_kept(value: str) -> None:
    text = '{\u00a0"name":\u00a0' + json.dumps(value, ensure_ascii=False) + "\u00a0}"
    assert invocation.split_input(text).params == {"name": value}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"a": 1} {oops', "the task mappings (line 2) is not valid JSON"),
        ('{"a": ' + "[" * 40 + "]" * 40 + "}", "nested more than 32 levels"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_unusable_stdin(text: str, why: str) -> None:
    with pytest.raises(UnusableInvocation, match=why.replace("(", r"\(").replace(")", r"\)")):
        invocation.split_input(text)


def test_task_id_limits() -> None:
    assert invocation.safe_task_id(" 1042 ") == "1042"
    with pytest.raises(UnusableInvocation, match="at most 100"):
        invocation.safe_task_id("7" * 101)
    with pytest.raises(UnusableInvocation, match="not a plain name"):
        invocation.safe_task_id("../x")


def test_blank_values_are_not_given() -> None:
    raw = {
        "file_path": "in/*.csv",
        "data_type": "title",
        "update_limit": "5",
        "webapi_url": "http://esm",
        "webapi_user": "u",
        "webapi_password": "p",
        "report_template_code": "T",
    }
    blanks = {
        "minimum_row_count": "",
        "debug": "",
        "run_type": None,
        "language": " ",
        "override_update_limit": "",
        "objectGUID_field_name": "",
        "sftp_server_fqdn": "",
        "sftp_server_ssh_port_number": "",
    }
    params = parse_params({**raw, **blanks, "__taskid__": "9"})
    assert params.minimum_row_count is None and params.debug is False
    assert params.run_type == "partial" and params.webapi.language == "en"
    assert params.objectGUID_field_name == "objectGUID" and params.sftp is None
    assert params.taskid == "9" and "__taskid__" not in params.extra_keys


# --- translation.json ------------------------------------------------------------------------


def _custom(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "translation.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return path


def test_custom_texts_override_per_case_and_language(tmp_path: Path) -> None:
    shipped = Translations.load()
    custom = _custom(
        tmp_path,
        {
            "title_completed": {"text": {"fi": "Oma: {data_type}", "et": "Valmis {data_type}"}},
            "NotOurCase": {"text": {"en": "x"}},
        },
    )
    merged = Translations.load(custom)
    assert merged.text("title_completed", "fi", data_type="title") == "Oma: title"
    assert merged.text("title_completed", "en", data_type="t") == shipped.text(
        "title_completed", "en", data_type="t"
    )
    assert merged.text("title_interrupted", "fi", data_type="t") == shipped.text(
        "title_interrupted", "fi", data_type="t"
    )
    assert merged.text("counts", "et", rows_read=3).startswith("Rows read: 3")  # English
    assert "NotOurCase" not in merged.cases
    assert merged.notes == [
        {
            "case": "translation_cases_unknown",
            "file": "misc-files/translation.json",
            "cases": '"NotOurCase"',
        }
    ]
    merged.require("et", ["title_completed", "counts"])
    with pytest.raises(Exception, match="'xx'"):
        merged.require("xx", ["title_completed"])


@pytest.mark.parametrize(
    "content",
    ["{", "[]", '{"a": 1}', '{"title_completed": {"text": {"en": 5}}}', "\ufffe\x00"],
)
def test_unusable_custom_file_is_ignored_with_a_note(tmp_path: Path, content: str) -> None:
    merged = Translations.load(_custom(tmp_path, content))
    assert merged.cases == Translations.load().cases
    assert len(merged.notes) == 1 and merged.notes[0]["file"] == "misc-files/translation.json"


@pytest.mark.parametrize(
    "template",
    ["{0}", "{a.b}", "{", "}", "{x!z}", "{file!r}", "{file:>30000000}", "{file:.2}", "{rows}"],
)
def test_a_text_beyond_its_cases_placeholders_keeps_the_shipped_text(
    tmp_path: Path, template: str
) -> None:
    merged = Translations.load(_custom(tmp_path, {"file_empty": {"text": {"en": template}}}))
    assert merged.cases["file_empty"]["en"] == Translations.load().cases["file_empty"]["en"]
    (note,) = merged.notes
    assert note["case"] == "translation_text_refused" and note["text_case"] == "file_empty"
    assert note["allowed"] == "{file}"
    assert len(merged.note_lines("fi")[0]) < 600


@given(st.text(alphabet="{}:>.!0a_", max_size=12))
def test_a_used_custom_text_formats_with_the_cases_figures_in_bounded_size(text: str) -> None:
    cases = {"file_empty": {"en": "The HR file {file} is empty."}}
    merged = merge({c: {"text": t} for c, t in cases.items()}, None)
    assert merged.cases == cases  # no custom file: the shipped texts
    with tempfile.TemporaryDirectory() as folder:
        custom = _custom(Path(folder), {"file_empty": {"text": {"en": text}}})
        merged = merge({c: {"text": t} for c, t in cases.items()}, custom)
    used = merged.cases["file_empty"]["en"]
    assert len(used.format(file="x" * 10)) <= len(used) + 10 * used.count("{file}")


# --- header names ------------------------------------------------------------------------------


@given(
    st.lists(st.sampled_from([" ", "_", "-"]), min_size=1, max_size=3),
    st.booleans(),
    st.sampled_from(["", " ", "  "]),
)
def test_header_spellings_match(seps: list[str], upper: bool, pad: str) -> None:
    schema = schema_of()
    spelled = pad + "employment" + "".join(seps) + "start" + seps[0] + "date" + pad
    spelled = spelled.upper() if upper else spelled.title()
    columns = [c if c != "employment_start_date" else spelled for c in schema.mapped_columns]
    matched = header.check_header("f.csv", schema, columns)
    assert spelled in matched.mandatory_columns and spelled in matched.date_columns
    assert matched.date_order[0][0] == spelled


def test_two_header_spellings_of_one_name_are_not_guessed() -> None:
    schema = schema_of()
    columns = [c for c in schema.mapped_columns if c != "last_name"] + ["Last Name", "LAST-NAME"]
    with pytest.raises(header.MissingColumnsSuggested, match="last_name"):
        header.check_header("f.csv", schema, columns)


def test_missing_column_names_the_fix() -> None:
    schema = schema_of(field_names='{"title_id": "TitleCode"}')
    columns = [c for c in schema.mapped_columns if c != "TitleCode"] + ["Title_Code_X"]
    with pytest.raises(header.MissingColumnsSuggested) as info:
        header.check_header("f.csv", schema, columns)
    assert "TitleCode (did you mean Title_Code_X?)" in str(info.value)
    assert '"field_names": {"title_id": "Title_Code_X"}' in str(info.value)


def test_guid_field_rule() -> None:
    schema = schema_of()
    table = Table.of(
        "f.csv", ["row_id", "objectGUID", "last_name"], [("1", "g1", "A"), ("2", "g2", "A")]
    )
    header.check_guid_field("f.csv", schema, table)  # unique in every row: the identifier
    assert header.output_guid_field(schema, table.columns) == "row_id"
    assert header.output_guid_field(schema, ["row_id"]) == "objectGUID"
    with pytest.raises(header.GuidFieldConflict, match="'A' appears in more than one row"):
        header.check_guid_field("f.csv", schema_of(objectGUID_field_name="last_name"), table)


# --- dates ---------------------------------------------------------------------------------------


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@given(st.datetimes(min_value=datetime(1900, 1, 1)), st.none() | offsets, st.sampled_from("T "))
def test_iso_date_times_give_the_written_date(
    moment: datetime, zone: timezone | None, sep: str
) -> None:
    text = moment.replace(tzinfo=zone).isoformat(sep=sep)
    assert iso_date(text) == moment.date()


@given(st.dates(min_value=date(1900, 1, 1)), offsets)
def test_workday_date_with_offset(day: date, zone: timezone) -> None:
    offset = datetime(2000, 1, 1, tzinfo=zone).strftime("%z")
    text = f"{day.isoformat()}{offset[:3]}:{offset[3:]}"
    assert iso_date(text) == day
    assert iso_date(day.isoformat() + "Z") == day


@pytest.mark.parametrize(
    "text",
    ["2025-02-30", "2025-01-01T24:01", "2025-01-01-8", "2025-01-01x", "31.01.2025", "2025-W01-1"],
)
def test_not_iso_dates(text: str) -> None:
    assert iso_date(text) is None


def test_date_formats_add_to_iso() -> None:
    formats = ("%d.%m.%Y",)
    assert parse_date("31.01.2025", formats) == date(2025, 1, 31)
    assert parse_date("2025-01-31T08:00:00+02:00", formats) == date(2025, 1, 31)
    assert parse_date("01/31/2025", formats) is None


# --- the vendor's archives ------------------------------------------------------------------------


def test_vendor_archive_values_are_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "title_archive.json"
    rows = [{"title_name": "A", "title_id": 7, "active": True, "x": None, "f": 1.5}]
    path.write_text(json.dumps(rows), encoding="utf-8")
    errors = tmp_path / "error_title_archive.json"
    got = rebuild(Door(tmp_path), path, errors, "title", "title_id")
    assert got.rows(named=True) == [
        {"title_name": "A", "title_id": "7", "active": "true", "x": None, "f": "1.5"}
    ]


def test_error_archives_ours_and_the_vendors(tmp_path: Path) -> None:
    path = tmp_path / "error_title_archive.json"
    path.write_text(
        json.dumps(
            [
                {"row_id": "T1", "position": "line 2", "reasons": [], "row": {}},
                {"title_id": "T2", "title_name": ""},
                {"title_id": 3},
            ]
        ),
        encoding="utf-8",
    )
    assert set(blocked_row_ids(Door(tmp_path), path, "title_id")) == {"T1", "T2", "3"}
    path.write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(ArchiveUnusable, match=r"error_title_archive\.json"):
        blocked_row_ids(Door(tmp_path), path, "title_id")
