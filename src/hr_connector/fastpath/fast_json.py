"""The fast JSON reader: the array streamed in 8 MB pieces cut at record boundaries, each parsed
by orjson.

orjson keeps the last of two equal keys silently, so a piece only takes the fast route when an
exact count proves it has no repeated key (see :meth:`_FastJson._fast_rows`); a piece that has
one, or numbers, booleans, nulls or nested values, is parsed again with the reference settings
(``object_pairs_hook``), so ``duplicate_field`` and the exact number text come out as there. A
file this reader cannot follow (another top-level shape, any parse error) it declines
(:class:`Unsupported`): the reference reader (:mod:`hr_connector.readers.json_reader`) reads it.
"""

from __future__ import annotations

import json
import re
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from hr_connector.errors import FileUnreadable
from hr_connector.fastpath.rowstore import JoinedRows
from hr_connector.readers.json_reader import _BadValue, _constant, _pairs, _record_row
from hr_connector.readers.limits import BLOCK, MAX_BUFFER, MAX_FIELD_CHARS, Unsupported
from hr_connector.records import SEP, Reason, Table

_WS = rb"[ \t\r\n]*"
#: ``[`` or ``{"key": [`` at the start of the document (after a BOM).
_KEY = rb'"(?:[^"\\]|\\.)*"'
_OPENING = re.compile(_WS + rb"(?:\[|\{" + _WS + _KEY + _WS + rb":" + _WS + rb"\[)")
#: what follows a record's closing ``}`` when another record comes: a comma and its ``{``
_NEXT_RECORD = re.compile(_WS + rb"," + _WS + rb"\{")
#: A record boundary is looked for among this many ``}`` from the end of the buffer.
MAX_BOUNDARY_TRIES = 64


class _FastJson:
    """The rows read so far: a compact store, the columns in first-seen order, row problems."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.columns: dict[str, int] = {}
        self.rows = JoinedRows()
        self.problems: dict[int, list[Reason]] = {}
        self._getter: itemgetter[Any] | None = None

    def piece(self, buf: bytearray, lo: int, hi: int) -> None:
        """The records in ``buf[lo:hi]``: ``[{...},{...}]``, one or more whole records."""
        try:
            records = orjson.loads(memoryview(buf)[lo:hi])
        except orjson.JSONDecodeError:
            raise Unsupported("not a whole number of records") from None
        if not self.columns and records and isinstance(records[0], dict):
            self._set_columns(records[0])
        joined = self._fast_rows(records, buf, lo, hi)
        if joined is not None:
            self.rows.extend_joined(joined, len(self.columns))
        else:
            self._reference_rows(bytes(buf[lo:hi]))

    def _set_columns(self, first: dict[str, Any]) -> None:
        if len(first) < 2:
            return  # itemgetter of one key gives no tuple: leave such files to the slow route
        self.columns = {key: i for i, key in enumerate(first)}
        self._getter = itemgetter(*first)

    def _fast_rows(self, records: list[Any], buf: bytearray, lo: int, hi: int) -> list[str] | None:
        """The rows joined, when every record is a flat object of exactly the known string fields.

        orjson drops repeated keys silently, so prove there are none: without an escaped quote
        in the piece every ``"`` delimits a string, and records of ``width`` string fields hold
        exactly ``4 * width`` of them each; a repeated key (whatever its value) adds more.
        """
        width = len(self.columns)
        if self._getter is None or not records:
            return None
        if set(map(type, records)) != {dict} or set(map(len, records)) != {width}:
            return None
        try:
            joined = list(map(SEP.join, map(self._getter, records)))
        except (KeyError, TypeError):  # a field is missing, or a value is not a string
            return None
        if "".join(joined).count(SEP) != len(joined) * (width - 1):
            return None  # a value holds the separator
        if max(map(len, joined)) > MAX_FIELD_CHARS:
            return None  # maybe an over-long field: the reference route names it
        if _escaped_quote(buf, lo, hi) or buf.count(b'"', lo, hi) != 4 * width * len(joined):
            return None
        if buf.find(b"\\u0000", lo, hi) >= 0:
            return None  # an escaped NUL: the reference route refuses it
        return joined

    def _reference_rows(self, piece: bytes) -> None:
        """Parse ``[...]`` as the reference reader does and convert record by record."""
        try:
            records = json.loads(
                piece,
                object_pairs_hook=_pairs,
                parse_int=str,
                parse_float=str,
                parse_constant=_constant,
            )
        except (ValueError, RecursionError):
            raise Unsupported("the reference reader reports this") from None
        for record in records:
            try:
                row, problems = _record_row(record, self.columns)
            except _BadValue as exc:
                raise FileUnreadable(self.name, f"record {len(self.rows) + 1}", str(exc)) from None
            if problems:
                self.problems[len(self.rows)] = problems
            self.rows.append_row(tuple(row))
        if len(self.columns) >= 2:
            self._getter = itemgetter(*self.columns)

    def table(self) -> Table:
        if not self.rows:
            raise Unsupported("no records")
        self.rows.pad_to(len(self.columns))
        table = Table(self.name, list(self.columns), "record")
        table.rows = self.rows
        table.positions = range(1, len(self.rows) + 1)
        table.row_problems = self.problems
        table.digests = self.rows.digests()
        table.digest_kind = ("rows", tuple(self.columns))
        return table


def _escaped_quote(buf: bytearray, lo: int, hi: int) -> bool:
    """Whether ``buf[lo:hi]`` has a ``\\"`` (most files have no backslash at all: one memchr)."""
    return buf.find(b"\\", lo, hi) >= 0 and buf.find(b'\\"', lo, hi) >= 0


def read_fast(path: Path) -> Table:
    """Stream the records in pieces cut at ``},{``; raises :class:`Unsupported` otherwise.

    The buffer is a bytearray, and each piece is parsed where it lies: the separator bytes
    around it are overwritten with ``[`` and ``]``, so no piece is ever copied.
    """
    state = _FastJson(path.name)
    with path.open("rb") as fh:
        head = fh.read(BLOCK)
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        opening = _OPENING.match(head)
        if opening is None:
            raise Unsupported("another top-level shape")
        in_object = opening.group().lstrip(b" \t\r\n").startswith(b"{")
        buf = bytearray(head[opening.end() - 1 :])  # from the array's "["
        while more := fh.read(BLOCK):
            buf += more
            cut = _last_boundary(buf)
            if cut is not None:
                end, following = cut
                buf[0], buf[end] = ord("["), ord("]")
                state.piece(buf, 0, end + 1)
                del buf[: following - 1]  # keep one byte before the next record: its "["
            elif len(buf) > MAX_BUFFER:
                raise Unsupported("no record boundary in a long stretch")
    tail = _closing(bytes(buf[1:]), in_object)
    buf = bytearray(b"[" + tail + b"]")
    state.piece(buf, 0, len(buf))
    return state.table()


def _last_boundary(buf: bytearray) -> tuple[int, int] | None:
    """(end of the last whole record, start of the next one) in ``buf``, if one is found.

    A ``}`` inside a string or a nested object may look like a boundary too; the piece then
    fails to parse and the reference reader takes the file.
    """
    end = len(buf)
    for _ in range(MAX_BOUNDARY_TRIES):
        brace = buf.rfind(b"}", 0, end)
        if brace < 0:
            return None
        following = _NEXT_RECORD.match(buf, brace + 1)
        if following is not None:
            return brace + 1, following.end() - 1
        end = brace
    return None


def _closing(buf: bytes, in_object: bool) -> bytes:
    """The last records, without the ``]`` (and ``}``) that close the document."""
    tail = buf.rstrip(b" \t\r\n")
    if in_object:
        if not tail.endswith(b"}"):
            raise Unsupported("the object holds more than the array")
        tail = tail[:-1].rstrip(b" \t\r\n")
    if not tail.endswith(b"]"):
        raise Unsupported("the array is not closed")
    return tail[:-1].rstrip(b" \t\r\n")
