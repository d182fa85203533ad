"""Stand-ins, on this branch only, for what the columnar core provides (PLAN.md interfaces 2–4).

The checks are written against the core's interfaces: the table as a frame of text columns
(``Table.frame``), the blocked rows as a reasons frame, and the last completed import's columns
(``imported_column``). This branch still has the row-tuple ``Table`` and blocked rows as
``{row: [Reason]}``, so these functions bridge the two. At the merge this file is deleted and its
callers use the core's code: ``table.frame``, ``blocked["row"].unique()``, ``pl.concat`` of the
reasons frames, and the core's ``imported_column``.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl

from hr_connector.door import Door
from hr_connector.errors import FileUnreadable
from hr_connector.quality import kept
from hr_connector.records import Reason, Table
from hr_connector.schemas import SCHEMAS

Blocked = dict[int, list[Reason]]


def frame(table: Table, columns: list[str]) -> pl.DataFrame:
    """``table.frame``, of the ``columns`` the checks read (those the file has)."""
    names = [c for c in dict.fromkeys(columns) if c in table.columns]
    index = table.column_index()
    values = table.columns_at([index[c] for c in names])
    return pl.DataFrame(
        [pl.Series(n, v, dtype=pl.String) for n, v in zip(names, values, strict=True)],
        schema=dict.fromkeys(names, pl.String),
        height=len(table.rows),
    )


def blocked_rows(blocked: Blocked) -> pl.Series:
    """The rows validation blocked (``blocked["row"].unique()``)."""
    return pl.Series("row", sorted(blocked), dtype=pl.UInt32)


def merged(blocked: Blocked, reasons: pl.DataFrame) -> Blocked:
    """Validation's blocked rows with the checks' reasons after theirs (``pl.concat``)."""
    if reasons.is_empty():
        return blocked
    out = {i: list(r) for i, r in blocked.items()}
    for row, code, column, detail in reasons.iter_rows():
        out.setdefault(row, []).append(Reason(code, column or "", detail or ""))
    return out


def imported_column(folder: Path, data_type: str, column: str) -> pl.Series | None:
    """That column's values over the rows the last completed ``data_type`` run imported: the
    vendor-format archive's rows without those its error archive lists (None: no archive)."""
    door = Door(folder)
    try:
        rows = _load(door, folder / f"{data_type}_archive.json")
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        errors = _load(door, folder / f"error_{data_type}_archive.json")
    except FileNotFoundError:
        errors = []
    key = str(kept.read(folder, data_type).get("key_column") or SCHEMAS[data_type].key)
    blocked = {e.get("row_id") for e in errors if isinstance(e, dict)} - {None, ""}
    values = [
        row.get(column)
        for row in rows
        if isinstance(row, dict) and (not blocked or row.get(key) not in blocked)
    ]
    return pl.Series(column, [v for v in values if isinstance(v, str) and v], dtype=pl.String)


def _load(door: Door, path: Path) -> list[object]:
    try:
        data = orjson.loads(door.read_bytes(path))
    except orjson.JSONDecodeError as exc:
        raise FileUnreadable(str(path), "the archive", f"not valid JSON ({exc})") from None
    return data if isinstance(data, list) else []
