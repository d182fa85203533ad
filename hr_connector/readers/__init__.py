"""Readers turn one HR file (CSV, JSON or flat XML) into a :class:`~hr_connector.records.Table`.

Each reader refuses a file it cannot read as a whole (not UTF-8, not well formed) with
:class:`~hr_connector.errors.FileUnreadable`, naming the file, the position and the reason, and
records per-row structural problems (ragged rows, nested values) as reasons, so that one bad
record blocks one row, not the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from hr_connector.records import Table

FileFormat = Literal["csv", "json", "xml"]
_SUFFIXES: dict[str, FileFormat] = {".csv": "csv", ".txt": "csv", ".json": "json", ".xml": "xml"}


def detect_format(path: Path) -> FileFormat:
    """By extension; otherwise by the first non-blank character of the file."""
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt:
        return fmt
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head[:1] in (b"[", b"{"):
        return "json"
    return "csv"


def read_table(path: Path, *, delimiter: str = ";", fmt: FileFormat | None = None) -> Table:
    from hr_connector.readers import csv_reader, json_reader, xml_reader

    check_encoding(path)
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        return csv_reader.read_csv(path, delimiter=delimiter)
    if fmt == "json":
        return json_reader.read_json(path)
    return xml_reader.read_xml(path)


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
