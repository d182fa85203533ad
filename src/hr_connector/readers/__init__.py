"""Readers turn one HR file (CSV, JSON or flat XML) into a :class:`~hr_connector.records.Table`.

Each reader refuses a file it cannot read as a whole (not UTF-8, not well formed) with
:class:`~hr_connector.errors.FileUnreadable`, naming the file, the position and the reason, and
records per-row structural problems (ragged rows, nested values) as reasons, so that one bad
record blocks one row, not the run. The file is opened through the working directory's door
(no symlink followed, only a regular file, never a pipe that would hang the run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from hr_connector.door import Door
from hr_connector.errors import FileUnreadable
from hr_connector.readers import csv_reader, json_reader, xml_reader
from hr_connector.records import Table

FileFormat = Literal["csv", "json", "xml"]
#: Read one open HR file (its name for messages, the CSV delimiter) into a table.
ReadFile = Callable[[BinaryIO, str, str], Table]


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


def _read_json(source: BinaryIO, name: str, delimiter: str) -> Table:
    return json_reader.read_json(source, name)


def _read_xml(source: BinaryIO, name: str, delimiter: str) -> Table:
    return xml_reader.read_xml(source, name)


#: Every format the connector reads, by name. A new format is one entry here.
READERS: dict[FileFormat, Reader] = {
    "csv": Reader(
        "csv", (".csv", ".txt"), missing_column_interrupts=True, read=csv_reader.read_csv
    ),
    "json": Reader("json", (".json",), missing_column_interrupts=False, read=_read_json),
    "xml": Reader("xml", (".xml",), missing_column_interrupts=False, read=_read_xml),
}


def _door(path: Path, door: Door | None) -> Door:
    """The working directory's door, or (a file read on its own) one at the file's folder."""
    return door if door is not None else Door(path.absolute().parent)


def detect_format(path: Path, door: Door | None = None) -> FileFormat:
    """By extension; otherwise by the first non-blank character of the file."""
    suffix = path.suffix.lower()
    for reader in READERS.values():
        if suffix in reader.suffixes:
            return reader.format
    with _door(path, door).open_read(path if door else path.absolute()) as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head[:1] in (b"[", b"{"):
        return "json"
    return "csv"


def reader_for(path: Path, fmt: FileFormat | None = None, door: Door | None = None) -> Reader:
    """The reader of ``path``: the format it was read as decides its rules, not its suffix."""
    return READERS[fmt or detect_format(path, door)]


def read_table(
    path: Path,
    *,
    delimiter: str = ";",
    fmt: FileFormat | None = None,
    door: Door | None = None,
) -> Table:
    """The file as a table, opened through ``door`` (the working directory's)."""
    reader = reader_for(path, fmt, door)
    path = path if door is not None else path.absolute()
    with _door(path, door).open_read(path) as fh:
        check_encoding(fh, path.name)
        fh.seek(0)
        return reader.read(fh, path.name, delimiter)


def missing_column_interrupts(
    path: Path, fmt: FileFormat | None = None, door: Door | None = None
) -> bool:
    """Whether a schema column missing from ``path`` stops the run (see :class:`Reader`)."""
    return reader_for(path, fmt, door).missing_column_interrupts


def check_encoding(fh: BinaryIO, name: str) -> None:
    """Refuse UTF-16 and UTF-32 without a byte-order mark before any parser sees the bytes
    (with a mark every reader refuses the file itself).

    Text in those encodings has NUL bytes between the characters from the very start, which
    UTF-8 text never has; lxml would otherwise detect the encoding itself and parse the file.
    """
    start = fh.read(64)
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # a byte-order mark: the reader names the encoding
    if len(start) >= 4 and start.count(0) * 4 >= len(start):  # a stray NUL is the reader's
        guess = "UTF-32" if b"\x00\x00\x00" in start else "UTF-16"
        raise FileUnreadable(
            name,
            f"line 1 (byte {start.index(0)})",
            f"the file has NUL bytes between its first characters: it looks like {guess} "
            "without a byte-order mark, not UTF-8; export it as UTF-8",
        )
