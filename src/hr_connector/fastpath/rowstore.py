"""Compact row stores for the fast readers: a sequence of row tuples that keeps far less in memory.

A million rows as tuples of fresh strings cost ~1.4 GB (19 columns: 19 million str objects).
The stores here keep one object per row and decode a row when it is asked for:

* :class:`JoinedRows` keeps each row as its values joined by :data:`~hr_connector.records.SEP`
  (a control character no value of the row contains); a row with a missing value (``None``) or
  with the separator inside a value stays a tuple.
* :class:`CsvLines` keeps each CSV data line as raw UTF-8 bytes; a line without a quote is
  decoded by splitting at the delimiter, a quoted one by the ``csv`` module, exactly as the
  reference reader would (the reader has checked every line's field count already).

Both also give fast column access and the changeset digest's text of a row, so the later steps
touch whole rows only where they must (new, changed and blocked rows).
"""

from __future__ import annotations

import csv
import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter, methodcaller
from typing import Any, overload

import orjson

from hr_connector.records import SEP, Row, Value, joined_text

_digest = methodcaller("digest")
_sha1 = hashlib.sha1
#: Rows decoded per batch when a whole store is walked.
BATCH = 20_000
#: Rows a :class:`CsvLines` keeps once decoded one by one (a few percent of a large file).
MAX_DECODED = 100_000


def tuple_digest(row: Row) -> bytes:
    """Fingerprint of a row kept as a tuple.

    The input starts with ``len(row)`` separators, one more than a joined row of that width
    has (and orjson escapes the separator inside strings), so it never equals a joined row's.
    """
    return _sha1((SEP * len(row)).encode() + orjson.dumps(row)).digest()


class _Rows(Sequence[Row]):
    """What both stores share: a row (:meth:`_row`) or a batch of rows (:meth:`_batch`) on
    access, batch by batch when walked; equal to any sequence of the same rows."""

    __slots__ = ()

    def _row(self, index: int) -> Row:
        raise NotImplementedError

    def _batch(self, start: int, stop: int) -> list[Row]:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return self._batch(start, max(start, stop))
            return [self._row(i) for i in range(start, stop, step)]
        if index < 0:
            index += len(self)
            if index < 0:
                raise IndexError("row index out of range")
        return self._row(index)  # past the end: the list in ``_row`` raises IndexError

    def __iter__(self) -> Iterator[Row]:
        size = len(self)
        for start in range(0, size, BATCH):
            yield from self._batch(start, min(start + BATCH, size))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class JoinedRows(_Rows):
    """Rows as ``SEP``-joined strings; see the module doc.

    A row that cannot be joined exactly (a missing value, the separator inside a value, no
    value at all) is kept as a tuple in ``_tuples`` and has an empty placeholder among the
    strings, so the bulk paths stay C-level over the strings and patch those few rows after.
    """

    __slots__ = ("_items", "_narrowest", "_order", "_tuples")

    def __init__(self) -> None:
        self._items: list[str] = []
        #: row -> the row, for the rows that are not joined (their item is a placeholder)
        self._tuples: dict[int, Row] = {}
        self._order: list[int] | None = []  # sorted keys of _tuples (None: to be sorted)
        #: the fewest values a row was added with (rows get padded when columns appear later)
        self._narrowest = 1 << 30

    @classmethod
    def of(cls, items: list[str | Row], width: int) -> JoinedRows:
        """A store of ``width``-value rows: joined text, or a tuple where that is not exact."""
        store = cls()
        for i, item in enumerate(items):
            if isinstance(item, tuple):
                store._tuples[i] = item
                items[i] = ""
        store._items = items  # type: ignore[assignment]
        store._order = None
        store._narrowest = width
        return store

    def extend_joined(self, texts: Iterable[str], width: int) -> None:
        """Add rows of ``width`` values given as joined text (no ``None``, no SEP inside)."""
        self._items.extend(texts)
        self._narrowest = min(self._narrowest, width)

    def append_row(self, row: Row) -> None:
        """Add one row, joined when that is exact (values, none missing, no separator inside)."""
        if row and None not in row and not any(SEP in v for v in row):  # type: ignore[operator]
            self._items.append(SEP.join(row))  # type: ignore[arg-type]
        else:
            self._keep(len(self._items), tuple(row))
            self._items.append("")
        self._narrowest = min(self._narrowest, len(row))

    def _keep(self, index: int, row: Row) -> None:
        if index not in self._tuples and self._order is not None:
            if self._order and self._order[-1] > index:
                self._order = None
            else:
                self._order.append(index)
        self._tuples[index] = row

    def _kept(self) -> list[int]:
        if self._order is None:
            self._order = sorted(self._tuples)
        return self._order

    def pad_to(self, width: int) -> None:
        """Give every row ``width`` values (``None`` at the end), as the reference readers do."""
        if self._narrowest >= width:
            return
        for i in range(len(self._items)):
            row = self._tuples.get(i)
            if row is None:
                row = tuple(self._items[i].split(SEP))
            if len(row) < width:
                self._keep(i, row + (None,) * (width - len(row)))
                self._items[i] = ""

    def __len__(self) -> int:
        return len(self._items)

    def may_lack_values(self) -> bool:
        """Whether a row may hold ``None`` (only rows kept as tuples can)."""
        return any(None in row for row in self._tuples.values())

    def _row(self, index: int) -> Row:
        row = self._tuples.get(index)
        return row if row is not None else tuple(self._items[index].split(SEP))

    def _batch(self, start: int, stop: int) -> list[Row]:
        rows = list(map(tuple, map(methodcaller("split", SEP), self._items[start:stop])))
        if self._tuples:
            kept = self._kept()
            for k in range(bisect_left(kept, start), bisect_left(kept, stop)):
                rows[kept[k] - start] = self._tuples[kept[k]]
        return rows

    def column(self, index: int) -> list[Value]:
        items = self._items
        if self._tuples:
            items = list(items)
            for i in self._tuples:
                items[i] = SEP * index  # a placeholder that has a value ``index``
        values: list[Value] = list(
            map(itemgetter(index), map(methodcaller("split", SEP, index + 1), items))
        )
        for i, row in self._tuples.items():
            values[i] = row[index]
        return values

    def columns(self, indices: Sequence[int], width: int) -> list[list[Value]] | None:
        """:meth:`column` of several columns in one pass over ``width``-value rows (None: a
        row is not ``width`` values wide; ask :meth:`column`)."""
        items = self._items
        if self._tuples:
            items = list(items)
            for i in self._tuples:
                items[i] = SEP * (width - 1)
        out = _split_columns(items, SEP, width, False, indices)
        if out is None:
            return None
        for i, row in self._tuples.items():
            for values, index in zip(out, indices, strict=True):
                values[i] = row[index]
        return out

    def joined(self, indices: Iterable[int]) -> Iterator[str]:
        items, kept = self._items, self._tuples
        for i in indices:
            row = kept.get(i)
            yield items[i] if row is None else joined_text(row)

    def digests(self) -> list[bytes]:
        """One fingerprint per row: SHA-1 of the joined text (a tuple row: of its JSON)."""
        digests = list(map(_digest, map(_sha1, map(str.encode, self._items))))
        for i, row in self._tuples.items():
            digests[i] = tuple_digest(row)
        return digests


class CsvLines(_Rows):
    """The data lines of a CSV file as raw bytes, decoded into rows on access.

    ``quoted`` are the lines that hold a quote character and need the ``csv`` module;
    ``fixed`` are rows already decoded because their field count was wrong (padded or cut to the
    header's width, as the reference reader does). Every other line is exactly
    ``line.decode().split(delimiter)``.
    """

    __slots__ = ("_decoded", "_delimiter", "_fixed", "_lines", "_quoted", "_special")

    def __init__(
        self, lines: list[bytes], delimiter: str, quoted: set[int], fixed: dict[int, Row]
    ) -> None:
        self._lines = lines
        self._delimiter = delimiter
        self._quoted = quoted
        self._fixed = fixed
        #: sorted indices of the lines a plain split does not decode
        self._special = sorted(quoted | fixed.keys())
        #: rows decoded one by one so far: the same few (new, changed, blocked) rows are asked
        #: for by validation, comparison, publishing and the report
        self._decoded: dict[int, Row] = {}

    def __len__(self) -> int:
        return len(self._lines)

    def may_lack_values(self) -> bool:
        return False  # a CSV row has every column

    def _row(self, index: int) -> Row:
        row = self._fixed.get(index) or self._decoded.get(index)
        if row is not None:
            return row
        text = self._lines[index].decode("utf-8")
        if index in self._quoted:
            row = tuple(parse_csv_line(text, self._delimiter))
        else:
            row = tuple(text.split(self._delimiter))
        if len(self._decoded) < MAX_DECODED:
            self._decoded[index] = row
        return row

    def _batch(self, start: int, stop: int) -> list[Row]:
        split = methodcaller("split", self._delimiter)
        rows = list(map(tuple, map(split, map(bytes.decode, self._lines[start:stop]))))
        special = self._special
        for k in range(bisect_left(special, start), bisect_left(special, stop)):
            rows[special[k] - start] = self._row(special[k])
        return rows

    def column(self, index: int) -> list[Value]:
        delimiter = self._delimiter.encode()
        split = methodcaller("split", delimiter, index + 1)
        values: list[Value] = list(
            map(bytes.decode, map(itemgetter(index), map(split, self._plain_lines(index))))
        )
        for i in self._special:
            values[i] = self._row(i)[index]
        return values

    def columns(self, indices: Sequence[int], width: int) -> list[list[Value]] | None:
        """:meth:`column` of several columns in one pass over the lines (None: a line is not
        ``width`` fields wide; ask :meth:`column`)."""
        delimiter = self._delimiter.encode()
        lines = self._lines
        if self._special:
            filler = delimiter * (width - 1)
            lines = list(lines)
            for i in self._special:
                lines[i] = filler
        out = _split_columns(lines, self._delimiter, width, True, indices)
        if out is None:
            return None
        for i in self._special:
            row = self._row(i)
            for values, index in zip(out, indices, strict=True):
                values[i] = row[index]
        return out

    def _plain_lines(self, index: int) -> list[bytes]:
        """The lines, with the special ones swapped for a placeholder that has field ``index``."""
        if not self._special:
            return self._lines
        lines = list(self._lines)
        filler = self._delimiter.encode() * index
        for i in self._special:
            lines[i] = filler
        return lines

    def joined(self, indices: Iterable[int]) -> Iterator[str]:
        lines, delimiter, special = self._lines, self._delimiter, self._special_set()
        for i in indices:
            if i in special:
                yield joined_text(self._row(i))
            else:  # no quote: the values are the text between delimiters
                yield lines[i].decode("utf-8").replace(delimiter, SEP)

    def joined_utf8(self, indices: Iterable[int]) -> Iterator[bytes]:
        """:meth:`joined` encoded: a line without a quote is already the UTF-8 of its values;
        only its delimiters become the separator."""
        lines, special = self._lines, self._special_set()
        delimiter, separator = self._delimiter.encode(), SEP.encode()
        for i in indices:
            if i in special:
                yield joined_text(self._row(i)).encode()
            else:
                yield lines[i].replace(delimiter, separator)

    def _special_set(self) -> set[int]:
        return self._quoted | self._fixed.keys()


def _split_columns(
    items: Sequence[Any],
    sep: str,
    width: int,
    encoded: bool,
    indices: Sequence[int],
) -> list[list[Value]] | None:
    """Columns ``indices`` of ``items`` (each exactly ``width`` fields joined by ``sep``;
    None when they are not). ``encoded``: the items are UTF-8 bytes; a batch is decoded at once
    (in UTF-8 no character's bytes occur inside another's, so the separator splits alike).

    A batch of rows is joined and split once (C level, no per-row list), and each column is a
    slice of the fields. Equal values share one string object afterwards: HR columns repeat a
    lot (dates, org units, managers), so such a column costs its distinct values; a column of
    mostly distinct values (person IDs) is not shared, which would only cost time.
    """
    out: list[list[Value]] = [[] for _ in indices]
    shared: list[dict[Value, Value]] = [{} for _ in indices]
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        text = sep.encode().join(batch).decode("utf-8") if encoded else sep.join(batch)
        fields = text.split(sep)
        if len(fields) != width * len(batch):
            return None
        for k, index in enumerate(indices):
            values = fields[index::width]
            same = shared[k]
            if len(same) < 200_000 and len(same) * 2 <= len(out[k]):  # else mostly unique
                values = list(map(same.setdefault, values, values))
            out[k].extend(values)
    return out


def parse_csv_line(text: str, delimiter: str) -> list[str]:
    """One line through the ``csv`` module with the reference reader's dialect."""
    return next(csv.reader([text], delimiter=delimiter, quotechar='"', strict=True), [])
