"""CSV: strict UTF-8 (a BOM is accepted), a header row, quoted fields, LF or CRLF.

The engine reads the file: polars parses the values (every column as text, an empty field as
``""``), and one pass over the file's lines (also polars) gives what the parser does not: where
each record starts (its line number counts the line breaks inside quoted values before it), which
lines are blank, and each record's number of fields (delimiters outside quotes), so that a ragged
row blocks only itself (``wrong_field_count``) and a short row's missing fields are null.

When the engine refuses a file, or a line looks wrong (a NUL byte, a carriage return that ends a
line outside quotes), :func:`explain` reads the file with Python's strict ``csv`` reader only to
name the exact line and reason; it never gives rows.

Two habits of spreadsheet exports are read, each with a note for the admin task
(:attr:`Table.notes`): Excel's ``sep=;`` first line names the delimiter (it wins over
``csv_delimiter``), and a delimiter at the end of every line (an empty last header with empty
values) ends the row instead of adding a column.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator, Sequence
from typing import BinaryIO, cast

import polars as pl

from hr_connector.errors import FileUnreadable, MissingColumns
from hr_connector.header import normalized
from hr_connector.readers.limits import MAX_FIELD_CHARS, MAX_LINE_CHARS
from hr_connector.records import Table, no_reasons

#: The byte polars stands in for a delimiter it cannot take (not a single byte).
_STAND_IN = "\x1f"
#: Excel's first line naming the delimiter (after an optional BOM).
_SEP_LINE = re.compile(rb'(?:\xef\xbb\xbf)?sep=([^\r\n"][\x80-\xbf]*)\r?(?:\n|$)')

log = logging.getLogger("hr_connector.readers")


def read_csv(source: BinaryIO, name: str, delimiter: str = ";") -> Table:
    """The table of the CSV file open as ``source`` (positioned at its start)."""
    data = source.read()
    if b"\x00" in data:
        explain(data, name, delimiter)
    notes: list[dict[str, str]] = []
    if sep := _SEP_LINE.match(data):  # a blank line instead: the line numbers stay
        delimiter = sep.group(1).decode("utf-8", "replace")
        data = b"\n" + data[sep.end() :]
        log.warning(
            "%s: the first line names the delimiter %r (sep=); read with it", name, delimiter
        )
        notes.append({"case": "csv_sep_line", "file": name, "delimiter": _shown(delimiter)})
    separator = delimiter
    if len(delimiter.encode("utf-8")) != 1:  # e.g. "¦": the engine splits on single bytes
        if _STAND_IN.encode() in data:
            raise FileUnreadable(name, "the file", f"the delimiter {delimiter!r} is not supported")
        data, separator = data.replace(delimiter.encode("utf-8"), _STAND_IN.encode()), _STAND_IN
    if _has_line_longer_than(data, MAX_LINE_CHARS):
        explain(data, name, delimiter)  # refused before the engine holds a huge line
    try:
        lines = pl.read_lines(data).get_column("line")
    except pl.exceptions.PolarsError:
        explain(data, name, delimiter)
        raise
    records = _records(lines, separator, quoted=b'"' in data, cr=b"\r" in data)
    del lines  # (a column of every line: freed before the values are parsed)
    content = records.filter(~pl.col("blank"))
    if content.height == 0:
        return Table(name, pl.DataFrame(), "line")
    header_at = int(content.get_column("index")[0])
    if _suspicious(content):
        explain(data, name, delimiter)
    try:
        raw = pl.read_csv(
            data,
            separator=separator,
            has_header=False,
            skip_lines=header_at,
            infer_schema=False,
            empty_string_is_null=False,
            truncate_ragged_lines=True,
            quote_char='"',
        )
    except pl.exceptions.PolarsError:
        explain(data, name, delimiter)
        raise FileUnreadable(
            name, "the file", "malformed CSV (a quote inside a value that is not quoted)"
        ) from None
    del data
    records = records.filter(pl.col("index") >= header_at)
    if raw.height != records.height:  # the two passes must see the same records
        raise FileUnreadable(name, "the file", "malformed CSV (records cannot be told apart)")
    table = _table(raw, records, name, delimiter if separator == _STAND_IN else None)
    table.notes = notes + table.notes
    return table


def _has_line_longer_than(data: bytes, limit: int) -> bool:
    """Whether a line of ``data`` has more than ``limit`` bytes, in a few C-level searches.

    Such a line covers a whole aligned block of ``limit // 2`` bytes: only a block without a
    line break is measured.
    """
    block = max(limit // 2, 1)
    for start in range(0, len(data), block):
        if data.find(b"\n", start, start + block) < 0 and start + block <= len(data):
            begin = data.rfind(b"\n", 0, start) + 1
            end = data.find(b"\n", start)
            if (len(data) if end < 0 else end) - begin > limit:
                return True
    return False


def _records(lines: pl.Series, separator: str, *, quoted: bool, cr: bool) -> pl.DataFrame:
    """One row per record: its first line's index and number, its number of fields, whether it
    is blank.

    A line continues the record before it when an odd number of quotes stands before it
    (a quoted value with a line break); fields are the delimiters outside quotes plus one.
    ``quoted``, ``cr``: whether the file has a quote, a carriage return at all.
    """
    frame = pl.DataFrame({"line": lines}).with_row_index("index")
    if not quoted:  # every line is a record: no quote logic
        frame = frame.with_columns(
            number=pl.col("index") + 1,
            fields=pl.col("line").str.count_matches(separator, literal=True) + 1,
            length=pl.col("line").str.len_bytes(),
            cr=pl.col("line").str.contains("\r", literal=True) if cr else pl.lit(False),
        )
        single = frame.filter(pl.col("fields") == 1)  # only a line of one field can be blank
        blank = single.filter(_stripped(pl.col("line")) == "").get_column("index")
        return frame.select(
            "index",
            "number",
            "fields",
            "cr",
            "length",
            blank=pl.col("index").is_in(blank.implode()),
        )
    quotes = pl.col("line").str.count_matches('"', literal=True)
    frame = frame.with_columns(quotes=quotes)
    frame = frame.with_columns(
        start=((pl.col("quotes").cum_sum() - pl.col("quotes")) % 2) == 0,
        ends_inside=(pl.col("quotes").cum_sum() % 2) == 1,
        delimiters=pl.col("line").str.count_matches(separator, literal=True),
        cr=pl.col("line").str.count_matches("\r", literal=True) if cr else pl.lit(0),
        length=pl.col("line").str.len_bytes(),
        number=pl.col("index") + 1,
    )
    # only a line with a delimiter inside quotes needs its count corrected: a line within a
    # quoted line break, or one that has a delimiter after an odd number of its quotes (one
    # anchored pass of the regex engine's automaton); its quoted parts are closed at the line's
    # ends, removed, and the rest is counted
    inside = '^(?:[^"]*"[^"]*")*[^"]*"[^"]*' + pl.escape_regex(separator)
    odd = frame.filter((pl.col("quotes") > 0) | ~pl.col("start"))
    odd = odd.filter(~pl.col("start") | pl.col("ends_inside") | pl.col("line").str.contains(inside))
    closed = pl.concat_str(
        pl.when(pl.col("start")).then(pl.lit("")).otherwise(pl.lit('"')),
        pl.col("line"),
        pl.when(pl.col("ends_inside")).then(pl.lit('"')).otherwise(pl.lit("")),
    )
    bare = closed.str.replace_all('"[^"]*"', "")
    outside = odd.select(bare.str.count_matches(separator, literal=True))
    delimiters = frame.get_column("delimiters").scatter(
        odd.get_column("index"), outside.to_series()
    )
    single = frame.filter(pl.col("delimiters") == 0)  # only a line of one field can be blank
    blank = single.filter(_stripped(pl.col("line")) == "").get_column("index")
    frame = frame.with_columns(
        delimiters=delimiters, blank=pl.col("index").is_in(blank.implode())
    ).drop("line")
    if cr:  # a CR inside a quoted value is a line break too
        breaks = pl.col("cr")
        frame = frame.with_columns(number=pl.col("number") + (breaks.cum_sum() - breaks))
    frame = frame.with_columns(cr=pl.col("cr") > 0)
    if frame.get_column("start").all():  # no quoted line breaks: one record per line
        return frame.select("index", "number", fields=pl.col("delimiters") + 1, blank="blank",
                            cr="cr", length="length")  # fmt: skip
    frame = frame.with_columns(record=pl.col("start").cum_sum())
    return (
        frame.group_by("record", maintain_order=True)
        .agg(
            pl.col("index").first(),
            pl.col("number").first(),
            fields=pl.col("delimiters").sum() + 1,
            blank=pl.col("blank").first() & (pl.len() == 1),
            cr=pl.col("cr").any(),
            length=pl.col("length").max(),
        )
        .drop("record")
    )


def _stripped(line: pl.Expr) -> pl.Expr:
    return line.str.strip_chars(" \t\r\ufeff")


def _suspicious(records: pl.DataFrame) -> bool:
    """A record the strict reader must look at: a line too long, or a carriage return that is
    not inside quotes (it would end the line)."""
    too_long = cast(int | None, records.get_column("length").max())
    return bool(records.get_column("cr").any()) or (too_long or 0) > MAX_LINE_CHARS


def _table(raw: pl.DataFrame, records: pl.DataFrame, name: str, stood_in: str | None) -> Table:
    """The header checked, blank lines dropped, short rows' missing fields null."""
    header = [str(v or "").strip() for v in raw.row(0)]
    last = raw.get_column(raw.columns[-1]).slice(1).fill_null("")
    trailing = len(header) > 1 and not header[-1] and (last.str.strip_chars() == "").all()
    if trailing:  # a delimiter at the end of each line: it ends the row
        raw, header = raw.drop(raw.columns[-1]), header[:-1]
        log.warning(
            "%s: every line ends with the delimiter; the empty last column is ignored", name
        )
    _check_header(header, name, int(records.get_column("number")[0]))
    width = len(header)
    data = records.slice(1)
    frame = raw.slice(1)
    frame.columns = header
    if trailing:
        data = data.with_columns(
            fields=pl.when(pl.col("fields") == width + 1).then(width).otherwise("fields")
        )
    if data.get_column("blank").any():
        keep = ~data.get_column("blank")
        frame, data = frame.filter(keep), data.filter(keep)
    if stood_in is not None:
        frame = frame.with_columns(pl.all().str.replace_all(_STAND_IN, stood_in, literal=True))
    fields = data.get_column("fields")
    positions = data.get_column("number").cast(pl.UInt32).alias("position")
    problems = no_reasons()
    ragged = fields != width
    if ragged.any():
        rows = pl.int_range(0, len(fields), dtype=pl.UInt32, eager=True)
        problems = pl.DataFrame(
            {
                "row": rows.filter(ragged),
                "code": pl.Series([], dtype=pl.String).extend_constant(
                    "wrong_field_count", int(ragged.sum())
                ),
                "column": pl.Series([], dtype=pl.String).extend_constant("", int(ragged.sum())),
                "detail": (fields.filter(ragged).cast(pl.String) + f"/{width}"),
            }
        )
        # only the columns a short row lacks are touched
        shortest = cast(int | None, fields.min()) or 0
        frame = frame.with_columns(
            pl.when(pl.lit(fields) <= i).then(None).otherwise(pl.col(c)).alias(c)
            for i, c in enumerate(header)
            if i >= shortest
        )
    _check_field_lengths(frame, positions, name)
    table = Table(name, frame, "line", positions, problems)
    if trailing:
        table.notes.append({"case": "csv_trailing_delimiter", "file": name})
    return table


def _check_field_lengths(frame: pl.DataFrame, positions: pl.Series, name: str) -> None:
    """A value longer than :data:`MAX_FIELD_CHARS` refuses the file at its line."""
    if frame.height == 0 or frame.width == 0:
        return
    widest = frame.select(pl.all().str.len_bytes().max()).row(0)  # bytes >= characters
    if max((w or 0 for w in widest), default=0) <= MAX_FIELD_CHARS:
        return
    longest = frame.select(pl.max_horizontal(pl.all().str.len_chars())).to_series()
    if (cast(int | None, longest.max()) or 0) > MAX_FIELD_CHARS:
        at = int(longest.arg_max() or 0)
        raise FileUnreadable(
            name,
            f"line {positions[at]}",
            f"malformed CSV (a field is longer than {MAX_FIELD_CHARS} characters)",
        )


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


class DelimiterMismatch(MissingColumns):
    """The header does not split on ``csv_delimiter`` but on another common delimiter."""

    def __init__(self, file: str, missing: list[str], delimiter: str, found: str):
        super().__init__(file, missing)
        shown, wanted = _shown(found), _shown(delimiter)
        note = f"the header is separated by {shown}, not by the csv_delimiter {wanted}"
        self.message = (
            f"The header of '{file}' is separated by {shown}, not by the csv_delimiter "
            f"{wanted}: its mapped column(s) {', '.join(missing)} are not found."
        )
        self.hint = (
            f'Add "csv_delimiter": {json.dumps(found)} to the extra arguments (or export the '
            f"file with {wanted}), and rerun."
        )
        self.figures["columns"] = f"{', '.join(missing)} ({note})"
        self.figures["delimiter"] = found
        self.args = (self.message,)


#: Delimiters an HR export commonly uses, tried when the header does not split on the one set.
COMMON_DELIMITERS = (";", ",", "\t", "|")


def _shown(delimiter: str) -> str:
    return "a tab" if delimiter == "\t" else f"'{delimiter}'"


def check_delimiter(file: str, header: list[str], mapped: Sequence[str], delimiter: str) -> None:
    """Stop naming the delimiter when the header splits on another common one into more of the
    mapped columns than on ``delimiter`` (e.g. a comma-separated file under the default ``;``)."""
    wanted = {normalized(c): c for c in mapped}
    present = {normalized(h) for h in header}
    missing = [c for n, c in wanted.items() if n not in present]
    if not missing:
        return
    for other in COMMON_DELIMITERS:
        if other == delimiter or not any(other in h for h in header):
            continue
        split = {normalized(part) for h in header for part in h.split(other)}
        if len([n for n in wanted if n in split]) > len(wanted) - len(missing):
            raise DelimiterMismatch(file, missing, delimiter, other)


# --- the strict reader: only to say why a file is refused ------------------------------------


class _Refusal(Exception):
    def __init__(self, line: int, reason: str) -> None:
        self.line, self.reason = line, reason


def explain(data: bytes, name: str, delimiter: str) -> None:
    """Raise :class:`FileUnreadable` naming the first line the strict reader refuses (returns
    when it refuses none)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        offset, line, col = utf8_error_at(data)
        raise FileUnreadable(
            name, f"line {line}, column {col} (byte {offset})", "the file is not valid UTF-8"
        ) from None
    csv.field_size_limit(MAX_FIELD_CHARS)
    start = [1]
    reader = csv.reader(_lines(io.StringIO(text, newline="")), delimiter=delimiter, strict=True)
    try:
        for _ in reader:
            start[0] = reader.line_num + 1
    except _Refusal as exc:
        raise FileUnreadable(name, f"line {exc.line}", exc.reason) from None
    except csv.Error as exc:
        reason = str(exc)
        if "field larger than field limit" in reason:
            reason = f"a field is longer than {MAX_FIELD_CHARS} characters"
        elif "unexpected end of data" in reason:
            reason = "a quoted field is not closed before the end of the file"
        raise FileUnreadable(name, f"line {start[0]}", f"malformed CSV ({reason})") from None


def _lines(fh: io.StringIO) -> Iterator[str]:
    quoted = False  # inside a quoted field that goes on on the next line
    for number, line in enumerate(fh, 1):
        if "\x00" in line:
            raise _Refusal(number, "the file contains a NUL byte (is it UTF-16?)")
        if len(line) > MAX_LINE_CHARS:
            raise _Refusal(number, f"a line is longer than {MAX_LINE_CHARS} characters")
        if line.count('"') % 2:
            quoted = not quoted
        if not quoted and line.endswith("\r"):  # a CR alone would split the record
            raise _Refusal(
                number,
                "a carriage return (CR) without a line feed ends the line outside quotes; "
                "lines must end with LF or CRLF, and a CR inside a value must be quoted",
            )
        yield line


def utf8_error_at(data: bytes) -> tuple[int, int, int]:
    """(byte offset, line, column) of the first byte sequence in ``data`` that is not UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start
    else:
        offset = len(data)
    line_start = data.rfind(b"\n", 0, offset) + 1
    return offset, data.count(b"\n", 0, offset) + 1, offset - line_start + 1
