"""Readers: the three formats, their failure modes, and round trips of generated rows."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hr_connector.errors import FileUnreadable
from hr_connector.readers import detect_format, read_table
from hr_connector.records import Table

SAMPLE_TYPES = ["costcenter", "organization", "title", "workperiod"]


def problems(table: Table) -> dict[int, list[str]]:
    """Each row's structural problems (reason codes), as the reader found them."""
    found: dict[int, list[str]] = {}
    for row, code in table.problems.select("row", "code").rows():
        found.setdefault(row, []).append(code)
    return found


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("data_type", SAMPLE_TYPES)
def test_sample_formats_read_identically(samples: Path, data_type: str) -> None:
    tables = [read_table(samples / data_type / f"{data_type}.{f}") for f in ("csv", "json", "xml")]
    dicts = [[t.as_dict(i) for i in range(len(t))] for t in tables]
    assert dicts[0] == dicts[1] == dicts[2]
    assert len(dicts[0]) > 5
    assert all(not problems(t) for t in tables)


def test_csv_quotes_newlines_crlf_bom_and_positions(tmp_path: Path) -> None:
    text = '\ufeffa;b;c\r\n1;"x;y";"say ""hi"""\r\n\r\n2;"two\nlines";ä\r\n3;z;w\r\n'
    table = read_table(write(tmp_path, "f.csv", text))
    assert table.columns == ["a", "b", "c"]
    assert table.frame.rows() == [
        ("1", "x;y", 'say "hi"'),
        ("2", "two\nlines", "ä"),
        ("3", "z", "w"),
    ]
    assert [table.position(i) for i in range(3)] == ["line 2", "line 4", "line 6"]


def test_csv_configurable_delimiter(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "f.csv", "a,b\n1,2\n"), delimiter=",")
    assert table.frame.rows() == [("1", "2")]


def test_csv_ragged_rows_are_row_problems(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "f.csv", "a;b;c\n1;2\n1;2;3;4\n1;2;3\n"))
    assert problems(table) == {0: ["wrong_field_count"], 1: ["wrong_field_count"]}
    assert table.problems.row(0, named=True)["detail"] == "2/3"
    assert table.frame.rows()[0] == ("1", "2", None)  # the field the row lacks is missing


@pytest.mark.parametrize(
    ("data", "where", "why"),
    [
        (b"a;b\n1;\xe4\n", "line 2, column 3", "not valid UTF-8"),
        (b"a;b\n1;2\x00\n", "line 2", "NUL byte"),
        (b'a;b\n1;"open\n2;3\n', "line", "not closed"),
        (b"a;;c\n1;2;3\n", "line 1", "header column 2 has no name"),
        (b"a;b;a\n1;2;3\n", "line 1", "'a' twice"),
    ],
)
def test_csv_unreadable(tmp_path: Path, data: bytes, where: str, why: str) -> None:
    with pytest.raises(FileUnreadable) as info:
        read_table(write(tmp_path, "bad.csv", data))
    assert where in info.value.figures["position"]
    assert why in str(info.value)
    assert "bad.csv" in str(info.value)


def test_csv_field_too_long_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "big.csv", "a;b\n1;" + "x" * (2 << 20) + "\n")
    with pytest.raises(FileUnreadable, match="longer than"):
        read_table(path)


def test_json_workday_shape_numbers_booleans_null(tmp_path: Path) -> None:
    text = '{"Report_Entry": [{"id": 7, "ok": true, "f": 1.50, "n": null, "s": "Åsa"}]}'
    table = read_table(write(tmp_path, "f.json", text))
    assert table.as_dict(0) == {"id": "7", "ok": "true", "f": "1.50", "n": "", "s": "Åsa"}
    assert table.position(0) == "record 1"


def test_json_nested_duplicate_and_non_objects_block_rows(tmp_path: Path) -> None:
    text = '[{"a": "1", "a": "2"}, {"a": {"x": 1}}, [1], {"a": "ok"}]'
    table = read_table(write(tmp_path, "f.json", text))
    assert problems(table) == {
        0: ["duplicate_field"],
        1: ["nested_value"],
        2: ["not_a_record"],
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('[{"a": "1"}', "malformed JSON"),
        ('{"x": [], "y": []}', "several arrays"),
        ('"text"', "expected an array"),
        ('[{"a": NaN}]', "malformed JSON"),
    ],
)
def test_json_unreadable(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(FileUnreadable, match=why):
        read_table(write(tmp_path, "f.json", text))


def test_json_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(FileUnreadable, match="not valid UTF-8"):
        read_table(write(tmp_path, "f.json", b'[{"a": "\xff"}]'))


def test_xml_namespaced_flat_records(tmp_path: Path) -> None:
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<wd:Report_Data xmlns:wd="urn:x">\n'
        "<wd:Report_Entry><wd:a>1</wd:a><wd:b/></wd:Report_Entry>\n"
        "<wd:Report_Entry><wd:a>T&amp;C</wd:a><wd:b>Öberg</wd:b></wd:Report_Entry>\n"
        "</wd:Report_Data>\n"
    )
    table = read_table(write(tmp_path, "f.xml", text))
    assert table.columns == ["a", "b"]
    assert table.frame.rows() == [("1", ""), ("T&C", "Öberg")]
    assert table.position(1) == "line 4"


def test_xml_nested_and_duplicate_fields_block_rows(tmp_path: Path) -> None:
    text = "<r><e><a>1</a><a>2</a></e><e><a><x>1</x></a></e></r>"
    table = read_table(write(tmp_path, "f.xml", text))
    assert problems(table) == {0: ["duplicate_field"], 1: ["nested_value"]}


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"<r><e><a>1</a></e>", "malformed XML"),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><r><e><a>&x;</a></e></r>', "DOCTYPE"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><r/>', "another encoding"),
        (b"\xff\xfe<\x00r\x00/\x00>\x00", "UTF-16"),
        (b"<r><e><a>\xe4</a></e></r>", "malformed XML"),
    ],
)
def test_xml_unreadable(tmp_path: Path, data: bytes, why: str) -> None:
    with pytest.raises(FileUnreadable, match=why):
        read_table(write(tmp_path, "f.xml", data))


def test_format_detected_by_content_when_extension_is_unknown(tmp_path: Path) -> None:
    assert detect_format(write(tmp_path, "a.dat", "  <r/>")) == "xml"
    assert detect_format(write(tmp_path, "b.dat", "\ufeff[{}]")) == "json"
    assert detect_format(write(tmp_path, "c.dat", "a;b\n")) == "csv"


# --- property-based round trips: what a writer writes, the reader reads back ------------------

_names = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöåABCÅÄÖ_", min_size=1, max_size=8),
    min_size=1,
    max_size=5,
    unique=True,
)
_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    max_size=20,
) | st.sampled_from(["", ";", '"', "a\nb", "x\r\ny", " lead", "Ä;Ö"])


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    names = draw(_names)
    rows = draw(
        st.lists(st.lists(_value, min_size=len(names), max_size=len(names)), min_size=1, max_size=8)
    )
    rows = [r for r in rows if any(v.strip() for v in r) or len(r) > 1] or [["x"] * len(names)]
    return names, rows


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_tables())
def test_round_trip_csv(tmp_path: Path, data: tuple[list[str], list[list[str]]]) -> None:
    names, rows = data
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(names)
    writer.writerows(rows)
    table = read_table(write(tmp_path, "rt.csv", buf.getvalue()))
    assert table.columns == names
    assert [list(r) for r in table.frame.rows()] == rows


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_tables())
def test_round_trip_json(tmp_path: Path, data: tuple[list[str], list[list[str]]]) -> None:
    names, rows = data
    doc = {"Report_Entry": [dict(zip(names, r, strict=True)) for r in rows]}
    table = read_table(write(tmp_path, "rt.json", json.dumps(doc, ensure_ascii=False)))
    assert [list(r) for r in table.frame.rows()] == rows


def _xml_safe(text: str) -> bool:
    return (
        all(c in "\t\n" or (0x20 <= ord(c) < 0xD800) or 0xE000 <= ord(c) < 0xFFFE for c in text)
        and "\r" not in text
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_tables())
def test_round_trip_xml(tmp_path: Path, data: tuple[list[str], list[list[str]]]) -> None:
    names, rows = data
    rows = [[v if _xml_safe(v) else "x" for v in r] for r in rows]
    ns = "urn:com.workday.report/HR"
    root = etree.Element(f"{{{ns}}}Report_Data", nsmap={"wd": ns})
    for r in rows:
        entry = etree.SubElement(root, f"{{{ns}}}Report_Entry")
        for name, value in zip(names, r, strict=True):
            etree.SubElement(entry, f"{{{ns}}}{name}").text = value
    path = tmp_path / "rt.xml"
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    table = read_table(path)
    assert table.columns == names
    assert [list(r) for r in table.frame.rows()] == rows


@pytest.mark.parametrize("delimiter", ["\t", "|", ",", "¦", "§"])
def test_any_single_character_delimiter(tmp_path: Path, delimiter: str) -> None:
    text = f'a{delimiter}b\n1{delimiter}"x{delimiter}y"\n2{delimiter}z\n'
    table = read_table(write(tmp_path, "f.csv", text), delimiter=delimiter)
    assert table.columns == ["a", "b"]
    assert table.frame.rows() == [("1", f"x{delimiter}y"), ("2", "z")]
