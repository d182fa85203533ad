"""The fast CSV reader: the everyday file, one record per line, in 8 MB blocks.

Each block is checked in a few C-level passes and the rows are kept compactly
(:mod:`~hr_connector.fastpath.rowstore`). Anything unusual (a record spanning lines, a lone CR, a
NUL, bad UTF-8, a line longer than :data:`MAX_FIELD_CHARS`, a header that is not on line 1, any
``csv`` error) makes it decline the file (:class:`Unsupported`), and the reference reader
(:mod:`hr_connector.readers.csv_reader`) reads the file instead, so every error message and every
edge case stays exactly as it is there.
"""

from __future__ import annotations

import hashlib
from itertools import compress, count, repeat
from operator import eq, methodcaller, ne
from pathlib import Path
from typing import Any

from hr_connector.fastpath import archive_index
from hr_connector.fastpath.archive_index import ArchiveIndex
from hr_connector.fastpath.rowstore import CsvLines, JoinedRows, parse_csv_line
from hr_connector.readers.limits import BLOCK, MAX_FIELD_CHARS, Unsupported
from hr_connector.records import SEP, Reason, Row, Table

_sha1 = hashlib.sha1

_digest = methodcaller("digest")


class _FastCsv:
    """State of one fast read: the data lines so far and what is known about them.

    Every line gets a fingerprint. When the run is given the index of its previous archive
    (``index``, of the same kind of fingerprints), a line whose fingerprint is that of a row the
    previous run imported is that row's exact bytes, under the same header: it is known to be
    UTF-8, to have the header's field count and to parse. Only the other lines (a few percent in
    a daily file) are checked one by one, and the rows stay raw lines
    (:class:`~hr_connector.fastpath.rowstore.CsvLines`): most are never decoded. Without an index
    every line is checked in C-level passes over the block, and since every row will be decoded
    (validated, written), each block is decoded once into rows joined by ``SEP``
    (:class:`~hr_connector.fastpath.rowstore.JoinedRows`), which later passes only need to split.
    """

    def __init__(self, name: str, delimiter: str, index: ArchiveIndex | None) -> None:
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
        #: the previous run's index, as given (its fingerprints are matched once the header
        #: says they are of the same kind)
        self.given = index
        self.previous: ArchiveIndex | None = None
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
        if self.given is not None and self.given.has_kind(self.digest_kind()):
            self.previous = self.given
            self.matcher = archive_index.Matcher(self.given)

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
            table.previous = archive_index.PreviousMatch(self.previous, self.hits)
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


def read_fast(path: Path, delimiter: str, index: ArchiveIndex | None) -> Table:
    """One record per line, in 8 MB blocks; raises :class:`Unsupported` for anything else.

    ``index``: the previous run's archive index; the lines of the rows it imported are matched
    instead of checked one by one.
    """
    state = _FastCsv(path.name, delimiter, index)
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
