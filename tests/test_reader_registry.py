"""Readers behind one registry: the format a file is read as decides its rules, not its suffix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hr_connector import header, readers
from hr_connector.params import parse_params
from hr_connector.readers import limits
from hr_connector.schemas import run_schema
from hr_connector.steps import parse_file
from hr_connector.workdir import WorkDir

TITLES_XML = (
    b"<titles><title><title_id>T1</title_id></title><title><title_id>T2</title_id></title></titles>"
)


def _params(file_path: str):  # type: ignore[no-untyped-def]
    return parse_params(
        {
            "file_path": file_path,
            "data_type": "title",
            "update_limit": 5,
            "webapi_url": "http://esm",
            "webapi_user": "u",
            "webapi_password": "p",
            "report_template_code": "T",
        }
    )


def test_every_format_has_one_entry() -> None:
    assert set(readers.READERS) == {"csv", "json", "xml"}
    assert [f for f, r in readers.READERS.items() if r.missing_column_interrupts] == ["csv"]
    for fmt, reader in readers.READERS.items():
        assert reader.format == fmt
        for suffix in reader.suffixes:
            assert readers.detect_format(Path(f"hr{suffix}")) == fmt


def test_flat_xml_named_dat_is_read_and_checked_as_xml(tmp_path: Path) -> None:
    path = tmp_path / "hr.dat"
    path.write_bytes(TITLES_XML)
    assert readers.detect_format(path) == "xml"
    assert not readers.missing_column_interrupts(path)
    params = _params("hr.dat")
    # title_name is missing from every record: XML blocks those rows, it does not stop the run
    table = parse_file(path, params, run_schema(params), WorkDir(tmp_path, "3", "title"))
    assert table.columns == ["title_id"] and len(table) == 2
    same = tmp_path / "hr.xml"
    same.write_bytes(TITLES_XML)
    assert readers.read_table(same).frame.equals(table.frame)


def test_csv_named_dat_keeps_the_header_rule(tmp_path: Path) -> None:
    path = tmp_path / "hr.dat"
    path.write_text("title_id\nT1\nT2\n", encoding="utf-8")
    assert readers.detect_format(path) == "csv"
    params = _params("hr.dat")
    with pytest.raises(header.MissingColumnsSuggested, match="title_name"):
        parse_file(path, params, run_schema(params), WorkDir(tmp_path, "3", "title"))


def test_readers_share_one_set_of_limits() -> None:
    from hr_connector.readers import csv_reader, json_reader, xml_reader

    assert csv_reader.MAX_FIELD_CHARS is json_reader.MAX_FIELD_CHARS is limits.MAX_FIELD_CHARS
    assert xml_reader.MAX_PROLOG_BYTES == limits.MAX_PROLOG_BYTES
