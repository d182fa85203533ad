"""CSV: strict UTF-8 (a BOM is accepted), a header row, quoted fields, LF or CRLF.

This is the reference reader: it gives every error message and every edge case.
:func:`read_csv` first tries the fast reader it is given (with the fast path on:
:mod:`hr_connector.fastpath.fast_csv`, the everyday file one record per line), which declines
anything unusual; this reader (:func:`_read_reference`) then reads the file.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hr_connector.errors import FileUnreadable
from hr_connector.readers import FastRead, fast_or_reference, locate_utf8_error
from hr_connector.readers.limits import MAX_FIELD_CHARS, MAX_LINE_CHARS
from hr_connector.records import Reason, Table


class _NulInLine(Exception):
    def __init__(self, line: int):
        self.line = line


class _LineTooLong(Exception):
    def __init__(self, line: int):
        self.line = line


class _LoneCr(Exception):
    def __init__(self, line: int):
        self.line = line


def _lines(fh: Iterator[str]) -> Iterator[str]:
    quoted = False  # inside a quoted field that goes on on the next line
    for number, line in enumerate(fh, 1):
        if "\x00" in line:
            raise _NulInLine(number)
        if len(line) > MAX_LINE_CHARS:
            raise _LineTooLong(number)
        if line.count('"') % 2:
            quoted = not quoted
        if not quoted and line.endswith("\r"):  # a CR alone would split the record (issue 17)
            raise _LoneCr(number)
        yield line


def read_csv(path: Path, *, delimiter: str = ";", fast: FastRead | None = None) -> Table:
    csv.field_size_limit(MAX_FIELD_CHARS)
    reference = lambda: _read_reference(path, delimiter)  # noqa: E731
    return fast_or_reference(fast, reference, (csv.Error, UnicodeDecodeError))


def _read_reference(path: Path, delimiter: str) -> Table:
    name = path.name
    with path.open("r", encoding="utf-8-sig", errors="strict", newline="") as fh:
        reader = csv.reader(_lines(fh), delimiter=delimiter, quotechar='"', strict=True)
        try:
            table = _read(reader, name)
        except UnicodeDecodeError:
            offset, line, col = locate_utf8_error(path)
            raise FileUnreadable(
                name, f"line {line}, column {col} (byte {offset})", "the file is not valid UTF-8"
            ) from None
        except _NulInLine as exc:
            raise FileUnreadable(
                name, f"line {exc.line}", "the file contains a NUL byte (is it UTF-16?)"
            ) from None
        except _LoneCr as exc:
            raise FileUnreadable(
                name,
                f"line {exc.line}",
                "a carriage return (CR) without a line feed ends the line outside quotes; "
                "lines must end with LF or CRLF, and a CR inside a value must be quoted",
            ) from None
        except _LineTooLong as exc:
            raise FileUnreadable(
                name, f"line {exc.line}", f"a line is longer than {MAX_LINE_CHARS} characters"
            ) from None
        except csv.Error as exc:
            line = getattr(exc, "record_line", reader.line_num)
            reason = str(exc)
            if "field larger than field limit" in reason:
                reason = f"a field is longer than {MAX_FIELD_CHARS} characters"
            elif "unexpected end of data" in reason:
                reason = "a quoted field is not closed before the end of the file"
            raise FileUnreadable(name, f"line {line}", f"malformed CSV ({reason})") from None
    return table


def _records(reader: Any, start: Callable[[], int]) -> Iterator[list[str]]:
    """The reader's records; a csv.Error is told the line its record started on."""
    try:
        yield from reader
    except csv.Error as exc:
        exc.record_line = start()  # type: ignore[attr-defined]
        raise


def _read(reader: csv.reader, name: str) -> Table:  # type: ignore[valid-type]
    header: list[str] | None = None
    start_line = 1
    table: Table | None = None
    width = 0
    for fields in _records(reader, lambda: start_line):  # noqa: B023 (late binding wanted)
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            start_line = reader.line_num + 1
            continue  # blank line
        if header is None:
            header = [h.strip() for h in fields]
            _check_header(header, name, start_line)
            table = Table(name, header, "line")
            width = len(header)
        else:
            assert table is not None
            index = len(table.rows)
            if len(fields) != width:
                table.row_problems[index] = [
                    Reason("wrong_field_count", detail=f"{len(fields)}/{width}")
                ]
                fields = (fields + [""] * width)[:width]
            table.rows.append(tuple(fields))
            table.positions.append(start_line)
        start_line = reader.line_num + 1
    if table is None:
        table = Table(name, [], "line")
    return table


def _check_header(header: list[str], name: str, line: int) -> None:
    seen: dict[str, int] = {}
    for number, column in enumerate(header, 1):
        if not column:
            raise FileUnreadable(name, f"line {line}", f"header column {number} has no name")
        if column in seen:
            raise FileUnreadable(
                name,
                f"line {line}",
                f"header names column '{column}' twice (columns {seen[column]} and {number})",
            )
        seen[column] = number
