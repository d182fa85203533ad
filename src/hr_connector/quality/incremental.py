"""The everyday (next-day) work-period run, checked incrementally: same findings, less work.

A work-period file of a million rows changes by a few percent a day. The archive index already
tells which rows are byte-identical to rows the last completed run imported
(``Table.previous``, a :class:`~hr_connector.fastpath.archive_index.PreviousMatch`: ``hits[i]``
is the row of the last run that row ``i`` equals, or ``MISS``); the archive's row ``j`` is the last
run's row ``j``. Every completed work-period run keeps beside its archive:

* ``.workperiod_quality.columns``: the person and manager columns of every row of its file
  (JSON lists, row ``j`` of the archive at position ``j``), so this run builds its own two
  columns from the hits and decodes only the other rows (the cycles and the manager references
  run over them, as in a full check);
* in ``.workperiod_quality.json`` (``incremental``): the overlapping pairs it found and, per
  reference column that points at another data type's archive, the rows it found dangling
  and a fingerprint of the IDs it checked them against.

What is carried over, and why it equals a full re-check:

* **overlaps** are a person's own business: a person none of whose rows is new, changed or gone
  (and none of whose rows the last run blocked) has exactly the rows, values included, they had
  last time, so the same pairs overlap. Only the persons touched by a changed row are checked
  again, over all of their rows.
* **references** to organizations, titles and cost centers: a matched row has the same value as
  last time; while the referenced IDs are the same set (same fingerprint), it dangles exactly
  when it did. New and changed rows are checked; a changed ID set means a full check.

Nothing is carried over (a full check) when the state is missing, was written for other
archives than the ones the match was made against (a foreign or restored archive), other
columns or date formats, or when two rows match the same archived row.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import not_
from pathlib import Path
from typing import Any

import orjson

from hr_connector.records import Row, Table, Value
from hr_connector.workdir import write_atomic

#: The data type checked incrementally (the others are small files).
DATA_TYPE = "workperiod"
#: ``Table.previous.hits`` value of a row that matches no archived row (archive_index.MISS).
MISS = -1


#: Set to "0" to check every row every time (the tests compare the two).
ENV = "HR_CONNECTOR_QUALITY_INCREMENTAL"


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def columns_path(folder: Path) -> Path:
    return folder / f".{DATA_TYPE}_quality.columns"


def jsonable(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def id_set_digest(ids: Collection[Value]) -> str:
    """A fingerprint of a set of IDs (whether the referenced IDs changed since the last run)."""
    text = "\n".join(sorted(v for v in ids if v is not None))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, repr=False)
class Packed:
    """One column of a million values kept from the checks to the end of the run, packed as
    its JSON array in one bytes object (:func:`pack`).

    Kept as a list, its strings stay alive spread over the memory where the checks' other,
    freed, temporary strings were; the publish step's own millions of objects then land in
    the holes between them, and writing the files took 40 % more CPU (4 s of 10 at 1M rows,
    bench/quality_results.md). Packed, they are freed with the checks' temporaries, and the
    values are unpacked (:meth:`values`) after the files are written.
    """

    data: bytes

    def __repr__(self) -> str:  # never the values: they may be national IDs
        return f"Packed({len(self.data)} bytes)"

    def values(self) -> list[Value]:
        values: list[Value] = orjson.loads(self.data)
        return values


def pack(columns: Mapping[str, Sequence[Value]]) -> dict[str, Packed]:
    """Each column as a :class:`Packed` JSON array."""
    dumps = orjson.dumps
    return {name: Packed(dumps(list(values))) for name, values in columns.items()}


@dataclass(repr=False)
class Previous:
    """The last completed run's findings and columns, matched to this run's rows."""

    def __repr__(self) -> str:  # never the columns: they hold personal data
        return f"Previous(rows={len(self.hits)}, misses={len(self.misses)})"

    #: this run's row -> the last run's row it equals (imported rows only), or MISS
    hits: list[int]
    #: this run's rows that equal no imported row of the last run
    misses: list[int]
    #: what the last run kept (``state["incremental"]``)
    kept: dict[str, Any]
    #: the last run's columns (person, manager), one value per row of its file
    columns: dict[str, list[Value]]
    _positions: dict[int, int] | None = field(default=None, repr=False)
    _hit: bytearray | None = field(default=None, repr=False)
    _miss_rows: list[Row] | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return int(self.kept["rows"])

    def column(self, table: Table, name: str, position: int) -> list[Value]:
        """This run's column ``name``: the last run's value for a matched row, else decoded."""
        last = [*self.columns[name], None]  # MISS (-1) picks the None
        values = list(map(last.__getitem__, self.hits))
        for i, row in zip(self.misses, self.miss_rows(table), strict=True):
            values[i] = row[position]
        return values

    def hit(self) -> bytearray:
        """A byte per row of the last run: 1 when a row of this file equals it (a copy)."""
        if self._hit is None:
            self._hit = hit_mask(self.hits, self.size)
        return bytearray(self._hit)

    def miss_rows(self, table: Table) -> list[Row]:
        """The rows of :attr:`misses`, decoded once for every check that reads them."""
        if self._miss_rows is None:
            self._miss_rows = list(map(table.rows.__getitem__, self.misses))
        return self._miss_rows

    def gone(self) -> Iterable[int]:
        """The last run's rows that no row of this file equals (changed, removed, blocked)."""
        return compress(count(), map(not_, self.hit()))

    def now(self, last_rows: Iterable[int]) -> dict[int, int]:
        """The last run's row -> this run's row that equals it, for ``last_rows`` (rows the
        kept findings name: they are all looked up in one pass over the hits)."""
        if self._positions is None:
            wanted = set(_named_rows(self.kept))
            hits = self.hits
            self._positions = {
                hits[i]: i for i in compress(count(), map(wanted.__contains__, hits))
            }
        positions = self._positions
        return {j: positions[j] for j in last_rows if j in positions}


def _named_rows(kept: dict[str, Any]) -> Iterable[int]:
    """Every row of the last run its kept findings name."""
    for pair in kept.get("overlaps") or ():
        yield from pair
    for column in (kept.get("references") or {}).values():
        yield from column.get("rows", ())


def hit_mask(hits: Sequence[int], size: int) -> bytearray:
    """A byte per row of the last run (``size`` rows): 1 where one of ``hits`` points."""
    hit = bytearray(size + 1)  # + a spare cell that MISS (-1) sets
    deque(map(hit.__setitem__, hits, repeat(1)), maxlen=0)
    del hit[size]
    return hit


def settings(
    table: Table, person: str, date_formats: Sequence[str], names: Mapping[str, str]
) -> dict[str, Any]:
    """What the kept findings depend on besides the rows themselves: the file's columns, which
    of them the checks read (``names``: canonical -> the file's), the person column and the
    date formats."""
    return jsonable(
        {
            "columns": table.columns,
            "names": dict(names),
            "person": person,
            "date_formats": list(date_formats),
        }
    )


def previous(
    table: Table, state: dict[str, Any], folder: Path, expected: dict[str, Any]
) -> Previous | None:
    """The last run's kept findings for this table, or None: check everything."""
    match = table.previous
    kept = state.get("incremental")
    if match is None or table.digests is None or not isinstance(kept, dict):
        return None
    if kept.get("settings") != expected or kept.get("archives") != jsonable(match.archives):
        return None
    hits = match.hits
    misses = list(match.misses())
    size = kept.get("rows")
    if not isinstance(size, int) or (hits and max(hits) >= size):
        return None
    hit = hit_mask(hits, size)
    if hit.count(1) != len(hits) - len(misses):
        return None  # two rows equal one archived row: let the full check sort them out
    try:
        data = columns_path(folder).read_bytes()
    except FileNotFoundError:
        return None
    if hashlib.sha256(data).hexdigest() != kept.get("columns_sha256"):
        return None
    columns = orjson.loads(data)
    if not isinstance(columns, dict) or any(len(v) != kept.get("rows") for v in columns.values()):
        return None
    return Previous(hits=hits, misses=misses, kept=kept, columns=columns, _hit=hit)


def keep(
    folder: Path,
    table: Table,
    columns: Mapping[str, Packed],
    findings: dict[str, Any],
    expected: dict[str, Any],
    archives: Any,
) -> dict[str, Any]:
    """Write the columns file; the part of the state that describes it and the findings."""
    # the bytes of orjson.dumps({name: values, ...}), from the columns already packed
    members = (orjson.dumps(name) + b":" + packed.data for name, packed in columns.items())
    data = b"{" + b",".join(members) + b"}"
    write_atomic(columns_path(folder), lambda fh: fh.write(data))
    return {
        "archives": jsonable(archives),
        "settings": expected,
        "rows": len(table.rows),
        "columns_sha256": hashlib.sha256(data).hexdigest(),
        **findings,
    }
