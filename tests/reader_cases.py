"""Shared inputs of the tests that compare readers: the samples of every data type and format,
the hostile corpus (tests/corpus/) and small edge cases written inline."""

from __future__ import annotations

from pathlib import Path

from conftest import SAMPLES

FORMATS = ["csv", "json", "xml"]
DATA_TYPES = ["costcenter", "organization", "title", "workperiod"]
CORPUS = Path(__file__).resolve().parent / "corpus"


def sample_files() -> list[Path]:
    """Every sample file: each data type in each format, and the next day's workperiods."""
    files = [SAMPLES / t / f"{t}.{f}" for t in DATA_TYPES for f in FORMATS]
    return files + [SAMPLES / "workperiod" / "next_day" / f"workperiod.{f}" for f in FORMATS]


#: Small inputs with the shapes readers get wrong, by file name.
EDGE_CASES = {
    "blank_lines.csv": b"a;b\n1;2\n\n   \n3;4\n",
    "quoted.csv": b'a;b\n"x;y";"say ""hi"""\n2;"two\nlines"\n',
    "crlf.csv": b"a;b\r\n1;2\r\n3;4",
    "lone_cr.csv": b"a;b\r1;2\r",
    "ragged.csv": b"a;b;c\n1;2\n1;2;3;4\n\xc3\xa4;\xc3\xb6;\xc3\xa5\n",
    "header_late.csv": b"\n\na;b\n1;2\n",
    "one_column.csv": b"a\n1\n \n2\n",
    "separator_in_value.csv": b"a;b\n1;x\x1fy\n",
    "plain.json": b'[{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]',
    "mixed_keys.json": b'[{"a": "1", "b": "2"}, {"b": "3", "a": "4"}, {"a": "5", "c": "6"}]',
    "escaped_keys.json": b'[{"a": "1", "b": "2"}, {"a": "3", "\\u0062": "4", "b": "5"}]',
    "escaped_quote.json": b'[{"a": "x\\"},{", "b": "2"}, {"a": "3", "b": "4"}]',
    "types.json": b'[{"a": 1, "b": 2.50}, {"a": true, "b": null}, {"a": "x", "b": "y"}]',
    "nested.json": b'{"R": [{"a": {"x": "1"}, "b": "2"}, {"a": [1], "b": "2"}, ["x"], 5]}',
    "other_keys.json": b'{"n": "1", "R": [{"a": "1", "b": "2"}]}',
    "two_arrays.json": b'{"R": [{"a": "1", "b": "2"}], "S": [{"a": "1"}]}',
    "one_key.json": b'[{"a": "1"}, {"a": "2"}]',
    "separator_in_value.json": b'[{"a": "x\\u001fy", "b": "2"}]',
    "empty_array.json": b"[]",
    "plain.xml": b"<r><e><a>1</a><b/></e><e><a>2</a><b>x</b></e></r>",
    "other_order.xml": b"<r><e><a>1</a><b>2</b></e><e><b>3</b><a>4</a></e><e><a>5</a></e></r>",
    "other_tags.xml": b"<r><e><a>1</a><b>2</b></e><f><a>3</a><b>4</b></f></r>",
    "between.xml": b"<r><e><a>1</a><b>2</b></e><x/><e><a>3</a><b>4</b></e><y/></r>",
    "record_in_record.xml": b"<r><e><a>1</a><e>2</e></e></r>",
    "cdata.xml": b"<r><e><a><![CDATA[1<2]]></a><b>x&amp;y</b></e></r>",
}
