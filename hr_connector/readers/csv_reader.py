"""CSV: strict UTF-8 (a BOM is accepted), a header row, quoted fields, LF or CRLF.

:func:`read_csv` first tries the fast reader (:func:`_read_fast`), which handles the everyday
file, one record per line, in a few C-level passes over each 8 MB block and keeps the rows as raw
lines (:class:`~hr_connector.rowstore.CsvLines`). Anything unusual (a record spanning lines, a
lone CR, a NUL, bad UTF-8, a line longer than :data:`MAX_FIELD_CHARS`, a header that is not on
line 1, any ``csv`` error) makes it give up, and the reference reader (:func:`_read_reference`)
reads the file instead, so every error message and every edge case stays exactly as it was.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from itertools import compress, count, repeat
from operator import eq, methodcaller, ne
from pathlib import Path
from typing import Any

from hr_connector import archive_index
from hr_connector.errors import FileUnreadable
from hr_connector.readers import locate_utf8_error
from hr_connector.readers.limits import BLOCK, MAX_FIELD_CHARS, MAX_LINE_CHARS, Unsupported
from hr_connector.records import SEP, Reason, Row, Table, fast_path_enabled, paused_gc
from hr_connector.rowstore import CsvLines, JoinedRows, parse_csv_line

_sha1 = hashlib.sha1


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


def read_csv(path: Path, *, delimiter: str = ";") -> Table:
    csv.field_size_limit(MAX_FIELD_CHARS)
    if fast_path_enabled():
        try:
            with paused_gc():
                return _read_fast(path, delimiter)
        except (Unsupported, csv.Error, UnicodeDecodeError):
            pass
    return _read_reference(path, delimiter)


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


# --- the fast reader ------------------------------------------------------------------------

_digest = methodcaller("digest")


class _FastCsv:
    """State of one fast read: the data lines so far and what is known about them.

    Every line gets a fingerprint. When the run in progress has the index of its previous
    archive (:func:`archive_index.reader_index`), a line whose fingerprint is that of a row the
    previous run imported is that row's exact bytes, under the same header: it is known to be
    UTF-8, to have the header's field count and to parse. Only the other lines (a few percent in
    a daily file) are checked one by one, and the rows stay raw lines
    (:class:`~hr_connector.rowstore.CsvLines`): most are never decoded. Without an index every
    line is checked in C-level passes over the block, and since every row will be decoded
    (validated, written), each block is decoded once into rows joined by ``SEP``
    (:class:`~hr_connector.rowstore.JoinedRows`), which later passes only need to split.
    """

    def __init__(self, name: str, delimiter: str) -> None:
        self.name = name
        self.delimiter = delimiter
        self.raw_delimiter = delimiter.encode()
        self.header: list[str] | None = None
        self.width = 0
        self.count = 0
        #: the raw lines (with an index) or the joined rows (without)
        self.lines: list[bytes] = []
        self.joined: list[str | Row] = []
        self.digests: list[bytes] = []
        self.quoted: set[int] = set()
        self.fixed: dict[int, Row] = {}
        self.problems: dict[int, list[Reason]] = {}
        #: indices of blank lines, dropped at the end as the reference reader skips them
        self.blank: list[int] = []
        self.positions: list[int] | range = []
        self.previous: tuple[archive_index.ArchiveIndex, list[Any]] | None = None
        self.matcher: archive_index.Matcher | None = None
        self.hits: list[int] = []

    def block(self, data: bytes) -> None:
        """Take a block of whole lines (it ends with a newline)."""
        if b"\x00" in data:
            raise Unsupported("NUL byte")
        if b"\r" in data:
            if data.count(b"\r") != data.count(b"\r\n"):
                raise Unsupported("a lone CR is a line break for the reference reader")
            data = data.replace(b"\r\n", b"\n")
        lines = data.split(b"\n")
        lines.pop()  # the block ends with a newline
        quoted = _quoted_lines(data)
        header_here = self.header is None
        if header_here:
            self._header(lines.pop(0))
            quoted = [k - 1 for k in quoted if k]
        base = self.count
        digests = list(map(_digest, map(_sha1, lines)))
        self.quoted.update(k + base for k in quoted)
        if self.matcher is not None:
            hits = self.matcher.match(digests)
            self.hits.extend(hits)
            misses = compress(count(), map(eq, hits, repeat(archive_index.MISS)))
            self._check_some(lines, base, list(misses))
            self.lines.extend(lines)
        else:
            text = data.decode("utf-8")  # UnicodeDecodeError: the reference reader reports it
            special = self._check_all(lines, base, quoted)
            self._join(text, lines, base, special, header_here)
        self.digests.extend(digests)
        self.count += len(lines)

    def _header(self, line: bytes) -> None:
        text = line.decode("utf-8")
        fields = parse_csv_line(text, self.delimiter) if '"' in text else text.split(self.delimiter)
        header = [h.strip() for h in fields]
        if len(header) < 2 or len(set(header)) != len(header) or not all(header):
            raise Unsupported("the reference reader judges this header")
        self.header = header
        self.width = len(header)
        self.previous = archive_index.reader_index(self.digest_kind())
        if self.previous is not None:
            self.matcher = archive_index.Matcher(self.previous[0])

    def digest_kind(self) -> tuple[Any, ...]:
        assert self.header is not None
        return ("csv-line", self.delimiter, tuple(self.header))

    def _check_all(self, lines: list[bytes], base: int, quoted: list[int]) -> dict[int, Row]:
        """Every line: length and field count (by counting delimiters), in C-level passes.

        Returns the rows of the lines a plain split does not decode, by index in the block.
        """
        if lines and max(map(len, lines)) > MAX_FIELD_CHARS:
            raise Unsupported("a line may hold a field over the limit")
        counts = map(methodcaller("count", self.raw_delimiter), lines)
        odd = compress(count(), map(ne, counts, repeat(self.width - 1)))
        special: dict[int, Row] = {}
        for k in sorted({*quoted, *odd}):
            row = self._special(k + base, lines[k])
            if row is not None:
                special[k] = row
        return special

    def _check_some(self, lines: list[bytes], base: int, indices: list[int]) -> None:
        """The same checks for the lines at ``indices`` only."""
        width, raw_delimiter = self.width, self.raw_delimiter
        for k in indices:
            line = lines[k]
            if len(line) > MAX_FIELD_CHARS:
                raise Unsupported("a line may hold a field over the limit")
            line.decode("utf-8")
            if k + base in self.quoted or line.count(raw_delimiter) != width - 1:
                self._special(k + base, line)

    def _special(self, index: int, line: bytes) -> Row | None:
        """Decode a line the plain split does not (quoted, blank, another field count)."""
        text = line.decode("utf-8")
        if index in self.quoted:
            fields = parse_csv_line(text, self.delimiter)  # csv.Error: the reference reports it
        else:
            fields = text.split(self.delimiter)
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            self.blank.append(index)
            return None
        if len(fields) != self.width:
            self.problems[index] = [
                Reason("wrong_field_count", detail=f"{len(fields)}/{self.width}")
            ]
            self.fixed[index] = tuple((fields + [""] * self.width)[: self.width])
            return self.fixed[index]
        return tuple(fields)

    def _join(
        self, text: str, lines: list[bytes], base: int, special: dict[int, Row], header: bool
    ) -> None:
        """The block's rows as ``SEP``-joined text: its delimiters become the separator."""
        joined: list[str | Row] = text.replace(self.delimiter, SEP).split("\n")  # type: ignore[assignment]
        joined.pop()
        if header:
            joined.pop(0)
        if SEP in text:  # a value holds the separator: such rows stay tuples
            raw_separator = SEP.encode()
            for k, line in enumerate(lines):
                if raw_separator in line and k not in special:
                    special[k] = tuple(line.decode("utf-8").split(self.delimiter))
        for k, row in special.items():
            joined[k] = row
        self.joined.extend(joined)

    def table(self) -> Table:
        if self.header is None:
            raise Unsupported("no header")
        self.positions = range(2, self.count + 2)
        if self.blank:
            self._drop_blank_lines()
        table = Table(self.name, self.header, "line")
        if self.matcher is not None:
            table.rows = CsvLines(self.lines, self.delimiter, self.quoted, self.fixed)
        else:
            table.rows = JoinedRows.of(self.joined, self.width)
        table.positions = self.positions
        table.row_problems = self.problems
        table.digests = self.digests
        table.digest_kind = self.digest_kind()
        if self.previous is not None:
            index, archives = self.previous
            table.previous = archive_index.PreviousMatch(index, self.hits, archives)
        return table

    def _drop_blank_lines(self) -> None:
        """Renumber everything as if the blank lines had never been rows."""
        blank = set(self.blank)
        keep = [i for i in range(self.count) if i not in blank]
        new_index = {old: new for new, old in enumerate(keep)}
        self.positions = [i + 2 for i in keep]
        if self.matcher is not None:
            self.lines = [self.lines[i] for i in keep]
            self.hits = [self.hits[i] for i in keep]
        else:
            self.joined = [self.joined[i] for i in keep]
        self.digests = [self.digests[i] for i in keep]
        self.quoted = {new_index[i] for i in self.quoted if i in new_index}
        self.fixed = {new_index[i]: row for i, row in self.fixed.items()}
        self.problems = {new_index[i]: p for i, p in sorted(self.problems.items())}


def _quoted_lines(data: bytes) -> list[int]:
    """Indices of the lines of ``data`` (split at newlines) that hold a quote character."""
    found: list[int] = []
    find, count_in = data.find, data.count
    line = position = 0
    while (quote := find(b'"', position)) >= 0:
        line += count_in(b"\n", position, quote)
        found.append(line)
        end = find(b"\n", quote)
        if end < 0:
            break
        position, line = end + 1, line + 1
    return found


def _read_fast(path: Path, delimiter: str) -> Table:
    """One record per line, in 8 MB blocks; raises :class:`Unsupported` for anything else."""
    state = _FastCsv(path.name, delimiter)
    carry = b""
    with path.open("rb") as fh:
        head = fh.read(BLOCK)
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        if not head.strip(b" \t\r\n"):
            raise Unsupported("empty file")
        if head.startswith((b"\n", b"\r")):
            raise Unsupported("the header is not on line 1")
        data = head
        while data:
            data = carry + data
            cut = data.rfind(b"\n") + 1
            if cut:
                state.block(data[:cut])
            carry = data[cut:]
            if len(carry) > MAX_FIELD_CHARS:
                raise Unsupported("a line may hold a field over the limit")
            data = fh.read(BLOCK)
    if carry:
        state.block(carry + b"\n")
    return state.table()
