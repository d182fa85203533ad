"""JSON: an array of flat objects, or an object holding exactly one such array.

Workday's custom reports look like ``{"Report_Entry": [{...}, ...]}``. Numbers keep their exact
text (``parse_int=str``), booleans become ``"true"``/``"false"`` and ``null`` an empty value, so a
JSON file yields the same rows as the CSV export of the same data. A record with a nested value, a
repeated key or no object at all is blocked with that reason; the rest of the file is imported.

One pass: the records of the array are decoded one at a time (the standard library's C scanner)
and gathered into columns a batch at a time (:class:`~.columns.RecordColumns`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, BinaryIO

from hr_connector.errors import FileUnreadable
from hr_connector.readers.columns import RecordColumns
from hr_connector.readers.limits import MAX_FIELD_CHARS
from hr_connector.records import Table, Value

_SURROGATE = re.compile("[\ud800-\udfff]")
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DUPLICATES = "\x00duplicate keys"


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj[_DUPLICATES] = sorted({k for k, _ in pairs if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    return obj


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_int=str, parse_float=str, parse_constant=_constant
)


def read_json(source: BinaryIO, name: str) -> Table:
    raw = source.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FileUnreadable(
            name, f"line {line} (byte {exc.start})", "the file is not valid UTF-8"
        ) from None
    del raw
    table = RecordColumns(name, "record")
    if not text.strip():
        return table.table()
    try:
        _document(text, table)
    except json.JSONDecodeError as exc:
        raise FileUnreadable(
            name, f"line {exc.lineno}, column {exc.colno}", f"malformed JSON ({exc.msg})"
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise FileUnreadable(name, "the document", f"malformed JSON ({reason})") from None
    except _BadValue as exc:
        raise FileUnreadable(name, f"record {table.count + 1}", str(exc)) from None
    return table.table()


def skip(text: str, pos: int) -> int:
    return _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]


def _expect(text: str, pos: int, what: str) -> None:
    if not text.startswith(what, pos):
        raise json.JSONDecodeError(f"Expecting '{what}' delimiter", text, pos)


def _document(text: str, table: RecordColumns) -> None:
    """The top level: the array itself, or an object holding exactly one array."""
    pos = skip(text, 0)
    if text.startswith("[", pos):
        pos = each_record(text, pos, lambda record: _record(record, table))
    elif text.startswith("{", pos):
        pos = _object(text, pos, table)
    else:
        _DECODER.raw_decode(text, pos)  # a malformed document says so
        raise FileUnreadable(table.name, "the top level", "expected an array of objects")
    pos = skip(text, pos)
    if pos != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)


def _object(text: str, pos: int, table: RecordColumns) -> int:
    """``{"key": value, ..., "records": [...]}``: the one array is read as the records."""
    keys: list[str] = []
    arrays: list[str] = []
    pos = skip(text, pos + 1)
    if text.startswith("}", pos):
        raise FileUnreadable(table.name, "the top level", "the object holds no array of records")
    while True:
        key, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(key, str):
            raise json.JSONDecodeError(
                "Expecting property name enclosed in double quotes", text, pos
            )
        if key in keys:
            raise FileUnreadable(
                table.name, "the top level", f"the object has the key '{key}' twice"
            )
        keys.append(key)
        pos = skip(text, pos)
        _expect(text, pos, ":")
        pos = skip(text, pos + 1)
        if text.startswith("[", pos):
            arrays.append(key)
            if len(arrays) > 1:
                raise FileUnreadable(
                    table.name,
                    "the top level",
                    f"the object holds several arrays ({', '.join(arrays)})",
                )
            pos = each_record(text, pos, lambda record: _record(record, table))
        else:
            _, pos = _DECODER.raw_decode(text, pos)
        pos = skip(text, pos)
        if text.startswith("}", pos):
            break
        _expect(text, pos, ",")
        pos = skip(text, pos + 1)
    if not arrays:
        raise FileUnreadable(table.name, "the top level", "the object holds no array of records")
    return pos + 1


def each_record(
    text: str, pos: int, take: Callable[[Any], None], decoder: json.JSONDecoder = _DECODER
) -> int:
    """Hand each item of the JSON array at ``pos`` to ``take``, one decoded at a time; the
    position after the array."""
    pos = skip(text, pos + 1)
    if text.startswith("]", pos):
        return pos + 1
    decode = decoder.raw_decode
    while True:
        record, pos = decode(text, pos)
        take(record)
        pos = skip(text, pos)
        if text.startswith("]", pos):
            return pos + 1
        _expect(text, pos, ",")
        pos = skip(text, pos + 1)


def _flat(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return None  # nested


def _record(record: Any, table: RecordColumns) -> None:
    """One record as a row; its structural problems as reasons."""
    if not isinstance(record, dict):
        kind = "an array" if isinstance(record, list) else type(record).__name__
        table.problem("not_a_record", detail=kind)
        table.add({})
        return
    for key in record.pop(_DUPLICATES, ()):
        table.problem("duplicate_field", column=key)
    row: dict[str, Value] = {}
    for key, value in record.items():
        flat = _flat(value)
        if flat is None:
            table.problem("nested_value", column=key)
            flat = json.dumps(value, ensure_ascii=False)[:200]
        elif len(flat) > MAX_FIELD_CHARS:
            raise _BadValue(f"the field '{key}' is longer than {MAX_FIELD_CHARS} characters")
        elif _SURROGATE.search(flat):
            raise _BadValue(f"the field '{key}' holds a lone UTF-16 surrogate (not a character)")
        elif "\x00" in flat or "\x00" in key:  # as a NUL byte is refused
            shown = key.replace("\x00", "\\u0000")
            raise _BadValue(f"the field '{shown}' holds a NUL character (\\u0000)")
        row[key] = flat
    table.add(row)


class _BadValue(Exception):
    """A value no row can carry: the file is refused at its record."""
