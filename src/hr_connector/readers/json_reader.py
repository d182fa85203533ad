"""JSON: an array of flat objects, or an object holding exactly one such array.

Workday's custom reports look like ``{"Report_Entry": [{...}, ...]}``. Numbers keep their exact
text (``parse_int=str``), booleans become ``"true"``/``"false"`` and ``null`` an empty value, so a
JSON file yields the same rows as the CSV export of the same data. A record with a nested value or
a repeated key is blocked with that reason; the rest of the file is imported.

:func:`read_json` first tries the fast reader it is given (with the fast path on:
:mod:`hr_connector.fastpath.fast_json`, which streams the array in pieces parsed by orjson); a
file that reader cannot follow is read by this module's reference reader
(:func:`_read_reference`), which also gives every error message.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hr_connector.errors import FileUnreadable
from hr_connector.readers import FastRead, fast_or_reference
from hr_connector.readers.limits import MAX_FIELD_CHARS
from hr_connector.records import Reason, Table

_SURROGATE = re.compile("[\ud800-\udfff]")
_DUPLICATES = "\x00duplicate keys"


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj[_DUPLICATES] = sorted({k for k, _ in pairs if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    return obj


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def read_json(path: Path, *, fast: FastRead | None = None) -> Table:
    return fast_or_reference(fast, lambda: _read_reference(path))


def _read_reference(path: Path) -> Table:
    name = path.name
    raw = path.read_bytes()
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
    if not text.strip():
        return Table(name, [], "record")
    try:
        doc = json.loads(
            text, object_pairs_hook=_pairs, parse_int=str, parse_float=str, parse_constant=_constant
        )
    except json.JSONDecodeError as exc:
        raise FileUnreadable(
            name, f"line {exc.lineno}, column {exc.colno}", f"malformed JSON ({exc.msg})"
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise FileUnreadable(name, "the document", f"malformed JSON ({reason})") from None
    del text
    return _table(name, _records(doc, name))


def _records(doc: Any, name: str) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        repeated = doc.pop(_DUPLICATES, None)
        if repeated:  # e.g. "Report_Entry" twice: which one is the export? (issue 17)
            names = ", ".join(f"'{k}'" for k in repeated)
            raise FileUnreadable(name, "the top level", f"the object has the key {names} twice")
        arrays = [k for k, v in doc.items() if isinstance(v, list)]
        if len(arrays) == 1:
            return doc[arrays[0]]
        if not arrays:
            raise FileUnreadable(name, "the top level", "the object holds no array of records")
        raise FileUnreadable(
            name, "the top level", f"the object holds several arrays ({', '.join(arrays)})"
        )
    raise FileUnreadable(name, "the top level", "expected an array of objects")


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


def _table(name: str, records: list[Any]) -> Table:
    columns: dict[str, int] = {}
    table = Table(name, [], "record")
    rows: list[list[str | None]] = []
    positions: list[int] = []
    for number, record in enumerate(records, 1):
        positions.append(number)
        try:
            row, problems = _record_row(record, columns)
        except _BadValue as exc:
            raise FileUnreadable(name, f"record {number}", str(exc)) from None
        if problems:
            table.row_problems[len(rows)] = problems
        rows.append(row)
    width = len(columns)
    table.columns = list(columns)
    table.positions = positions
    table.rows = [
        tuple(r) if len(r) == width else tuple(r + [None] * (width - len(r))) for r in rows
    ]
    return table


def _record_row(record: Any, columns: dict[str, int]) -> tuple[list[str | None], list[Reason]]:
    """One record (parsed with the reference settings) as a row; ``columns`` grows as needed."""
    if not isinstance(record, dict):
        kind = "an array" if isinstance(record, list) else type(record).__name__
        return [], [Reason("not_a_record", detail=kind)]
    problems: list[Reason] = []
    dupes = record.pop(_DUPLICATES, None)
    if dupes:
        problems.extend(Reason("duplicate_field", column=k) for k in dupes)
    row: list[str | None] = [None] * len(columns)
    for key, value in record.items():
        col = columns.get(key)
        if col is None:
            col = columns[key] = len(columns)
            row.append(None)
        flat = _flat(value)
        if flat is None:
            problems.append(Reason("nested_value", column=key))
            flat = json.dumps(value, ensure_ascii=False)[:200]
        elif len(flat) > MAX_FIELD_CHARS:
            raise _BadValue(f"the field '{key}' is longer than {MAX_FIELD_CHARS} characters")
        elif _SURROGATE.search(flat):
            raise _BadValue(f"the field '{key}' holds a lone UTF-16 surrogate (not a character)")
        elif "\x00" in flat or "\x00" in key:  # as a NUL byte is refused (issue 17)
            shown = key.replace("\x00", "\\u0000")
            raise _BadValue(f"the field '{shown}' holds a NUL character (\\u0000)")
        row[col] = flat
    return row, problems


class _BadValue(Exception):
    """A value no row can carry: the file is refused at its record."""
