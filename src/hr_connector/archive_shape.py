"""The previous run's archives as a partial run reads them, also those the vendor's script left.

After the switch from the vendor's ``IGAConnector.py`` the first partial run compares with the
archive at the same path (PLATFORM.md §2). Any JSON array of flat objects is rows, whatever the key
order and whether values are text, numbers, booleans or null (read as the JSON reader reads an HR
file: numbers as written, booleans ``true``/``false``, null empty). Anything else (an object,
``null``, ``[1, 2, 3]``, rows without the data type's row ID column, an empty or corrupt file)
is :class:`ArchiveUnusable`: the run is interrupted with a reason that names the archive and the
fix (one full load replaces it), never compared against as if it were an empty previous run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from hr_connector.errors import RunInterrupted

#: How a vendor error archive may carry a row (ours: ``{"row_id", "position", "reasons", "row"}``).
_OURS = frozenset({"row_id", "reasons"})


class ArchiveUnusable(RunInterrupted):
    case = "archive_unusable"
    message_format = (
        "The archive of the previous run '{archive}' cannot be compared with: {reason}."
    )
    hint_format = "Run a full load once (run_type 'full') to replace it, then partial runs again."

    def __init__(self, archive: str, reason: str):
        self._stated(archive=archive, reason=reason)


def _label(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _NESTED


_NESTED = object()


def load_array(path: Path, root: Path) -> list[Any]:
    """The archive's JSON array; ArchiveUnusable for anything that is not one."""
    label = _label(path, root)
    data = path.read_bytes()
    if not data.strip():
        raise ArchiveUnusable(label, "the file is empty")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ArchiveUnusable(label, f"not valid JSON ({exc})") from None
    if not isinstance(value, list):
        kind = "null" if value is None else f"a JSON {type(value).__name__}"
        raise ArchiveUnusable(label, f"it holds {kind}, not an array of rows")
    return value


def archived_rows(path: Path, root: Path, key: str, data_type: str) -> list[dict[str, Any]]:
    """The archive's rows as flat dicts of text; ArchiveUnusable when they are not rows."""
    label = _label(path, root)
    rows = load_array(path, root)
    keyed = 0
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            kind = "null" if row is None else f"a JSON {type(row).__name__}"
            raise ArchiveUnusable(label, f"entry {number} is {kind}, not a row object")
        if key in row:
            keyed += 1
        if any(v is not None and type(v) is not str for v in row.values()):
            flat = {k: _text(v) for k, v in row.items()}
            nested = [k for k, v in flat.items() if v is _NESTED]
            if nested:
                raise ArchiveUnusable(
                    label, f"entry {number} has a nested value in '{nested[0]}', not a flat row"
                )
            rows[number - 1] = flat
    if rows and not keyed:
        raise ArchiveUnusable(
            label,
            f"no row has the {data_type} row ID column '{key}' (rows of another data type, or "
            "another field mapping)",
        )
    return rows


def blocked_row_ids(path: Path, root: Path, key: str) -> set[str]:
    """Row IDs of the previous run's blocked rows: ours (``row_id``) or the vendor's flat rows."""
    label = _label(path, root)
    ids: set[str] = set()
    for number, entry in enumerate(load_array(path, root), 1):
        if not isinstance(entry, dict):
            raise ArchiveUnusable(label, f"entry {number} is not an object")
        row_id = entry.get("row_id") if entry.keys() >= _OURS else entry.get(key)
        if isinstance(row_id, str | int) and not isinstance(row_id, bool) and str(row_id):
            ids.add(str(row_id))
    return ids
