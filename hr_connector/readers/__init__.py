"""Readers turn one HR file (CSV, JSON or flat XML) into a :class:`~hr_connector.records.Table`.

Each reader refuses a file it cannot read as a whole (not UTF-8, not well formed) with
:class:`~hr_connector.errors.FileUnreadable`, naming the file, the position and the reason, and
records per-row structural problems (ragged rows, nested values) as reasons, so that one bad
record blocks one row, not the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from hr_connector.records import Table

FileFormat = Literal["csv", "json", "xml"]


class ReadFile(Protocol):
    """Read one HR file into a table; ``delimiter`` matters to the formats that have one."""

    def __call__(self, path: Path, *, delimiter: str) -> Table: ...


@dataclass(frozen=True)
class Reader:
    """One file format: its name, the suffixes that name it, and how it is read and checked.

    ``missing_column_interrupts``: a column of the schema missing from the file stops the run
    (CSV's header rule: its first line names every column); otherwise a missing column only
    blocks the rows it would have filled (JSON and XML records may leave a field out).
    """

    format: FileFormat
    suffixes: tuple[str, ...]
    missing_column_interrupts: bool
    read: ReadFile


def _read_csv(path: Path, *, delimiter: str) -> Table:
    from hr_connector.readers import csv_reader

    return csv_reader.read_csv(path, delimiter=delimiter)


def _read_json(path: Path, *, delimiter: str) -> Table:
    from hr_connector.readers import json_reader

    return json_reader.read_json(path)


def _read_xml(path: Path, *, delimiter: str) -> Table:
    from hr_connector.readers import xml_reader

    return xml_reader.read_xml(path)


#: Every format the connector reads, by name. A new format is one entry here.
READERS: dict[FileFormat, Reader] = {
    "csv": Reader("csv", (".csv", ".txt"), missing_column_interrupts=True, read=_read_csv),
    "json": Reader("json", (".json",), missing_column_interrupts=False, read=_read_json),
    "xml": Reader("xml", (".xml",), missing_column_interrupts=False, read=_read_xml),
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


def read_table(path: Path, *, delimiter: str = ";", fmt: FileFormat | None = None) -> Table:
    check_encoding(path)
    return reader_for(path, fmt).read(path, delimiter=delimiter)


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
