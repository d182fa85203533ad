"""Readers turn one HR file (CSV, JSON or flat XML) into a :class:`~hr_connector.records.Table`.

Each reader refuses a file it cannot read as a whole (not UTF-8, not well formed) with
:class:`~hr_connector.errors.FileUnreadable`, naming the file, the position and the reason, and
records per-row structural problems (ragged rows, nested values) as reasons, so that one bad
record blocks one row, not the run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from hr_connector import fastpath
from hr_connector.readers.limits import Unsupported
from hr_connector.records import Table, paused_gc

if TYPE_CHECKING:
    from hr_connector.fastpath.archive_index import ArchiveIndex

FileFormat = Literal["csv", "json", "xml"]
#: A fast reader bound to one file: its table, or :class:`Unsupported` (it declines the file).
FastRead = Callable[[], Table]


class ReadFile(Protocol):
    """Read one HR file into a table; ``delimiter`` matters to the formats that have one.

    ``fast``: the fast reader to try first (:func:`fast_or_reference`); None: the reference
    reader only.
    """

    def __call__(self, path: Path, *, delimiter: str, fast: FastRead | None) -> Table: ...


class ReadFast(Protocol):
    """A fast reader of :mod:`hr_connector.fastpath`; ``index``: the previous run's archive
    index (rows byte-identical to rows it imported are matched instead of checked)."""

    def __call__(self, path: Path, *, delimiter: str, index: ArchiveIndex | None) -> Table: ...


@dataclass(frozen=True)
class Reader:
    """One file format: its name, the suffixes that name it, and how it is read and checked.

    ``missing_column_interrupts``: a column of the schema missing from the file stops the run
    (CSV's header rule: its first line names every column); otherwise a missing column only
    blocks the rows it would have filled (JSON and XML records may leave a field out).
    ``read`` is the reference reader (it gives every error message); ``fast`` the format's fast
    reader, tried first when the fast path is on.
    """

    format: FileFormat
    suffixes: tuple[str, ...]
    missing_column_interrupts: bool
    read: ReadFile
    fast: ReadFast | None = None


def _read_csv(path: Path, *, delimiter: str, fast: FastRead | None) -> Table:
    from hr_connector.readers import csv_reader

    return csv_reader.read_csv(path, delimiter=delimiter, fast=fast)


def _read_json(path: Path, *, delimiter: str, fast: FastRead | None) -> Table:
    from hr_connector.readers import json_reader

    return json_reader.read_json(path, fast=fast)


def _read_xml(path: Path, *, delimiter: str, fast: FastRead | None) -> Table:
    from hr_connector.readers import xml_reader

    return xml_reader.read_xml(path, fast=fast)


def _fast_csv(path: Path, *, delimiter: str, index: ArchiveIndex | None) -> Table:
    from hr_connector.fastpath import fast_csv

    return fast_csv.read_fast(path, delimiter, index)


def _fast_json(path: Path, *, delimiter: str, index: ArchiveIndex | None) -> Table:
    from hr_connector.fastpath import fast_json

    return fast_json.read_fast(path)


def _fast_xml(path: Path, *, delimiter: str, index: ArchiveIndex | None) -> Table:
    from hr_connector.fastpath import fast_xml

    return fast_xml.read_fast(path)


#: Every format the connector reads, by name. A new format is one entry here.
READERS: dict[FileFormat, Reader] = {
    "csv": Reader(
        "csv", (".csv", ".txt"), missing_column_interrupts=True, read=_read_csv, fast=_fast_csv
    ),
    "json": Reader(
        "json", (".json",), missing_column_interrupts=False, read=_read_json, fast=_fast_json
    ),
    "xml": Reader(
        "xml", (".xml",), missing_column_interrupts=False, read=_read_xml, fast=_fast_xml
    ),
}


def detect_format(path: Path) -> FileFormat:
    """By extension; otherwise by the first non-blank character of the file."""
    suffix = path.suffix.lower()
    for reader in READERS.values():
        if suffix in reader.suffixes:
            return reader.format
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head[:1] in (b"[", b"{"):
        return "json"
    return "csv"


def reader_for(path: Path, fmt: FileFormat | None = None) -> Reader:
    """The reader of ``path``: the format it was read as decides its rules, not its suffix."""
    return READERS[fmt or detect_format(path)]


def read_table(
    path: Path,
    *,
    delimiter: str = ";",
    fmt: FileFormat | None = None,
    fast: fastpath.FastPath = fastpath.ON,
) -> Table:
    """The file as a table; ``fast``: the run's fast-path setting (the fast reader is tried
    first when it is on, with the previous run's archive index when the run has one)."""
    check_encoding(path)
    reader = reader_for(path, fmt)
    first: FastRead | None = None
    if fast.enabled and reader.fast is not None:
        first = functools.partial(reader.fast, path, delimiter=delimiter, index=fast.index)
    return reader.read(path, delimiter=delimiter, fast=first)


def fast_or_reference(
    fast: FastRead | None,
    reference: Callable[[], Table],
    declined: tuple[type[Exception], ...] = (),
) -> Table:
    """The fast reader's table; the reference reader's when there is no fast reader or it
    declines the file (:class:`Unsupported`, or one of ``declined``)."""
    if fast is not None:
        try:
            with paused_gc():
                return fast()
        except (Unsupported, *declined):
            pass
    return reference()


def missing_column_interrupts(path: Path, fmt: FileFormat | None = None) -> bool:
    """Whether a schema column missing from ``path`` stops the run (see :class:`Reader`)."""
    return reader_for(path, fmt).missing_column_interrupts


def check_encoding(path: Path) -> None:
    """Refuse UTF-16 and UTF-32 without a byte-order mark before any parser sees the bytes
    (issue 17, point 8; with a mark every reader refuses the file itself).

    Text in those encodings has NUL bytes between the characters from the very start (``<``,
    NUL, ``?``, NUL, …), which UTF-8 text never has; lxml would otherwise detect the encoding
    itself and parse (and import) the file.
    """
    from hr_connector.errors import FileUnreadable

    with path.open("rb") as fh:
        start = fh.read(64)
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # a byte-order mark: the reader names the encoding
    if len(start) >= 4 and start.count(0) * 4 >= len(start):  # a stray NUL is the reader's
        guess = "UTF-32" if b"\x00\x00\x00" in start else "UTF-16"
        raise FileUnreadable(
            path.name,
            f"line 1 (byte {start.index(0)})",
            f"the file has NUL bytes between its first characters: it looks like {guess} "
            "without a byte-order mark, not UTF-8; export it as UTF-8",
        )


def locate_utf8_error(path: Path) -> tuple[int, int, int]:
    """(byte offset, line, column) of the first byte sequence that is not UTF-8."""
    data_offset = 0
    line = 1
    line_start = 0
    carry = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            buf = carry + chunk
            base = data_offset - len(carry)
            try:
                buf.decode("utf-8")
                good = len(buf)
            except UnicodeDecodeError as exc:
                # an incomplete sequence at the end of the chunk may complete in the next one
                if exc.reason == "unexpected end of data" and exc.start >= len(buf) - 3:
                    good = exc.start
                else:
                    offset = base + exc.start
                    head = buf[: exc.start]
                    nl = head.count(b"\n")
                    if nl:
                        line += nl
                        line_start = base + head.rfind(b"\n") + 1
                    return offset, line, offset - line_start + 1
            head = buf[:good]
            nl = head.count(b"\n")
            if nl:
                line += nl
                line_start = base + head.rfind(b"\n") + 1
            carry = buf[good:]
            data_offset += len(chunk)
    offset = data_offset - len(carry)
    return offset, line, offset - line_start + 1
