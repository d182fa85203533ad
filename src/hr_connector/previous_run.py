"""The previous completed run: the rows it imported, as columns, from a sidecar tied to the archive.

The vendor-format JSON archive (``data/archive/<data_type>_archive.json``) stays the record of the
last completed run. Beside it, every completed run writes a columnar sidecar,
``data/archive/.<data_type>_archive.parquet``: the rows that run imported (not the blocked ones),
with the archive's columns as text, and in its metadata the SHA-256 of the archive and of the
error archive it was written with (hashed as they were written). The next run hashes the archives
on disk and reads the sidecar only when both hashes match; a missing, foreign, edited, restored or
vendor-written archive rebuilds the same frame from the JSON instead. Nothing is trusted by file
name, inode or time: a copied working directory matches, an archive edited in place does not.

Any JSON array of flat objects is an archive, and so are the vendor's dict shapes
(``{"data": [rows]}``, ``{"<row ID>": {row}}``): values as text, numbers as written, booleans
``true``/``false``, ``null`` an absent field. Anything else (``null``, another object,
``[1, 2, 3]``, rows without the row ID column, an empty, truncated or corrupt file) is
:class:`ArchiveUnusable`, naming the archive and the fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import polars as pl

from hr_connector.door import Door
from hr_connector.errors import ArchiveMissing, RunInterrupted
from hr_connector.readers.columns import RecordColumns
from hr_connector.readers.json_reader import each_record, skip
from hr_connector.schemas import SCHEMAS

#: The sidecar's metadata key (its value: JSON, see :func:`_meta`).
META_KEY = "hr_connector.previous_run"
FORMAT = 1


class ArchiveUnusable(RunInterrupted):
    case = "archive_unusable"
    message_format = (
        "The archive of the previous run '{archive}' cannot be compared with: {reason}."
    )
    hint_format = (
        "Run a full load once (run_type 'full') to replace it, or restore it from a backup; "
        "then partial runs again."
    )

    def __init__(self, archive: str, reason: str):
        self._stated(archive=archive, reason=reason)


def archive_path(folder: Path, data_type: str) -> Path:
    return folder / f"{data_type}_archive.json"


def error_archive_path(folder: Path, data_type: str) -> Path:
    return folder / f"error_{data_type}_archive.json"


def sidecar_path(folder: Path, data_type: str) -> Path:
    return folder / f".{data_type}_archive.parquet"


@dataclass(frozen=True)
class PreviousRun:
    """The rows the last completed run imported (one per row ID), and its archive's hash.

    Read from the sidecar, ``rows`` is lazy: a step reads only the columns and rows it needs
    (compare: a fingerprint per row; the change list: the changed and removed rows) from the
    sidecar held open in ``source``, not a second copy of the whole table.
    """

    rows: pl.DataFrame | pl.LazyFrame
    key: str
    archive_sha256: str = ""
    source: IO[bytes] | None = None

    @property
    def columns(self) -> list[str]:
        return self.rows.lazy().collect_schema().names()

    @classmethod
    def empty(cls, key: str) -> PreviousRun:
        return cls(pl.DataFrame(schema={key: pl.String}), key)


class HashingWriter:
    """A file being written that hashes every byte that goes through it (SHA-256)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes | memoryview) -> int:
        self.sha256.update(data)
        return self.fh.write(data)

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


def file_sha256(door: Door, path: Path) -> str:
    """SHA-256 of a file below the door ("" when there is none)."""
    try:
        with door.open_read(path) as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return ""


def sidecar_meta(archive_sha256: str, error_sha256: str, key: str) -> dict[str, str]:
    value = {"format": FORMAT, "archive": archive_sha256, "errors": error_sha256, "key": key}
    return {META_KEY: json.dumps(value)}


def write_sidecar(fh: IO[bytes], rows: pl.LazyFrame, meta: dict[str, str]) -> None:
    """The imported rows (streamed, not collected first) with the hashes they are tied to."""
    rows.sink_parquet(fh, compression="lz4", statistics=False, metadata=meta)


def _meta(door: Door, path: Path) -> dict[str, Any] | None:
    try:
        with door.readable(path) as name:
            found = pl.read_parquet_metadata(name).get(META_KEY)
        value = json.loads(found) if found else None
    except FileNotFoundError:
        return None
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None  # a damaged sidecar: rebuilt from the archive
    return value if isinstance(value, dict) else None


def read_previous(door: Door, folder: Path, data_type: str, key: str) -> PreviousRun | None:
    """The previous run in ``folder`` (None: no archive there)."""
    archive = archive_path(folder, data_type)
    archive_sha = file_sha256(door, archive)
    if not archive_sha:
        return None
    errors_sha = file_sha256(door, error_archive_path(folder, data_type))
    meta = _meta(door, sidecar_path(folder, data_type))
    wanted = sidecar_meta(archive_sha, errors_sha, key)[META_KEY]
    if meta is not None and json.dumps(meta) == wanted:
        try:
            source = door.open_read(sidecar_path(folder, data_type))
            name = f"/proc/self/fd/{source.fileno()}"
            pl.read_parquet_schema(name)  # a damaged sidecar is rebuilt, not read lazily
            return PreviousRun(pl.scan_parquet(name), key, archive_sha, source)
        except (pl.exceptions.PolarsError, OSError):
            pass  # rebuilt below
    rebuilt = rebuild(door, archive, error_archive_path(folder, data_type), data_type, key)
    return PreviousRun(rebuilt, key, archive_sha)


def rebuild(door: Door, archive: Path, errors: Path, data_type: str, key: str) -> pl.DataFrame:
    """The imported rows, from the JSON archives themselves (a sidecar that does not match)."""
    label = door.relative(archive)
    table = RecordColumns(label, "record")
    _each(door, archive, label, lambda n, row: table.add(_flat_row(row, n, label)), key)
    rows = table.table().frame
    if rows.height and key not in rows.columns:
        raise ArchiveUnusable(
            label,
            f"no row has the {data_type} row ID column '{key}' (rows of another data type, or "
            "another field mapping)",
        )
    if key not in rows.columns:
        rows = rows.with_columns(pl.lit(None, pl.String).alias(key))
    blocked = blocked_row_ids(door, errors, key)
    imported = rows.filter(pl.col(key).is_not_null() & (pl.col(key) != ""))
    if len(blocked):
        imported = imported.join(
            pl.DataFrame({key: blocked}), on=key, how="anti", maintain_order="left"
        )
    return imported.unique(subset=key, keep="last", maintain_order=True)


class _Int(str):
    """A JSON number's exact text (an integer)."""


class _Float(str):
    """A JSON number's exact text (with a fraction or an exponent)."""


_KINDS: dict[type, str] = {_Int: "int", _Float: "float"}
_ARCHIVE_DECODER = json.JSONDecoder(parse_int=_Int, parse_float=_Float)


def _each(
    door: Door, path: Path, label: str, take: Callable[[int, Any], None], key: str = ""
) -> None:
    """Every entry of the JSON array in ``path`` (or of the vendor's dict shapes, see
    :func:`_dict_rows`); ArchiveUnusable for anything else."""
    with door.open_read(path) as fh:
        data = fh.read()
    if not data.strip():
        raise ArchiveUnusable(label, "the file is empty")
    try:
        text = data.decode("utf-8-sig")
        del data
        pos = skip(text, 0)
        if text.startswith("{", pos):  # the vendor's dict shapes: read whole
            for number, row in enumerate(_dict_rows(_ARCHIVE_DECODER.decode(text), label, key)):
                take(number + 1, row)
            return
        if not text.startswith("[", pos):
            value = json.loads(text)
            kind = "null" if value is None else f"a JSON {_kind(value)}"
            raise ArchiveUnusable(label, f"it holds {kind}, not an array of rows")
        count = [0]

        def numbered(entry: Any) -> None:
            count[0] += 1
            take(count[0], entry)

        end = each_record(text, pos, numbered, _ARCHIVE_DECODER)
        if skip(text, end) != len(text):
            raise json.JSONDecodeError("Extra data", text, skip(text, end))
    except UnicodeDecodeError:
        raise ArchiveUnusable(label, "it is not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ArchiveUnusable(label, f"not valid JSON ({exc}); it may be truncated") from None


def _dict_rows(value: dict[str, Any], label: str, key: str) -> list[Any]:
    """The rows of an archive the vendor's script wrote as a dict: ``{"data": [rows]}``, or
    ``{"<row ID>": {row}}`` (a row without the ``key`` column gets its entry's name)."""
    if value.keys() == {"data"} and isinstance(value["data"], list):
        return value["data"]
    if all(isinstance(row, dict) for row in value.values()):
        return [row if not key or key in row else {key: k, **row} for k, row in value.items()]
    raise ArchiveUnusable(
        label, 'it holds a JSON object that is neither {"data": [rows]} nor {"row ID": {row}}'
    )


def _kind(value: Any) -> str:
    """The JSON value's kind as Python names it (a number's as it was written)."""
    return _KINDS.get(type(value), type(value).__name__)


def _flat_row(row: Any, number: int, label: str) -> dict[str, str | None]:
    if not isinstance(row, dict):
        kind = "null" if row is None else f"a JSON {_kind(row)}"
        raise ArchiveUnusable(label, f"entry {number} is {kind}, not a row object")
    flat: dict[str, str | None] = {}
    for name, value in row.items():
        if value is None or type(value) is str:
            flat[name] = value
        elif isinstance(value, str):  # a number: its text
            flat[name] = str(value)
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        else:
            raise ArchiveUnusable(
                label, f"entry {number} has a nested value in '{name}', not a flat row"
            )
    return flat


def blocked_row_ids(door: Door, path: Path, key: str) -> pl.Series:
    """Row IDs of the previous run's blocked rows: ours (``row_id``) or the vendor's flat rows."""
    label = door.relative(path)
    ids: list[str] = []

    def take(number: int, entry: Any) -> None:
        if not isinstance(entry, dict):
            raise ArchiveUnusable(label, f"entry {number} is not an object")
        row_id = entry.get("row_id") if {"row_id", "reasons"} <= entry.keys() else entry.get(key)
        if isinstance(row_id, str) and row_id:
            ids.append(row_id)

    with contextlib.suppress(FileNotFoundError):
        _each(door, path, label, take, key)
    return pl.Series("blocked", ids, dtype=pl.String)


def _door_of(where: Any) -> tuple[Door, Path]:
    """(door, archive folder) of a working directory or of an archive folder."""
    folder = getattr(where, "archive_dir", None)
    if folder is not None:
        return where.door, folder
    return Door(Path(where)), Path(where)


def _key_of(door: Door, folder: Path, data_type: str) -> str:
    """The row-ID column the last run of ``data_type`` used: from its sidecar, else canonical."""
    meta = _meta(door, sidecar_path(folder, data_type))
    if meta and isinstance(meta.get("key"), str):
        return str(meta["key"])
    return SCHEMAS[data_type].key


class PreviousRuns:
    """The previous runs one import reads, each opened once.

    A partial run's references check (the persons of the last work-period import) and its
    compare read the same archive; opening it hashes the archive and the error archive to trust
    the sidecar (~0.3 s per 500 MB), so the run opens it once and both read that. Made per run,
    which holds the data type's lock to its end; never kept beyond it.
    """

    def __init__(self) -> None:
        self._opened: dict[tuple[Path, str, str], PreviousRun | None] = {}

    def read(self, door: Door, folder: Path, data_type: str, key: str) -> PreviousRun | None:
        """:func:`read_previous` of every column, the first time it is asked for."""
        at = (folder, data_type, key)
        if at not in self._opened:
            self._opened[at] = read_previous(door, folder, data_type, key)
        return self._opened[at]

    def imported_column(
        self, where: Any, data_type: str, column: str, key: str | None = None
    ) -> pl.Series | None:
        """``column``'s values over the rows the last completed ``data_type`` run imported in
        ``where`` (a :class:`~hr_connector.workdir.WorkDir`, or an archive folder); None when
        that data type was never imported there. A column the archive lacks is all null."""
        door, folder = _door_of(where)
        previous = self.read(door, folder, data_type, key or _key_of(door, folder, data_type))
        if previous is None:
            return None
        rows = previous.rows.lazy()
        if column not in rows.collect_schema().names():
            height = rows.select(pl.len()).collect().item()
            return pl.Series(column, [None] * height, dtype=pl.String)
        return rows.select(column).collect().get_column(column)

    def load(self, workdir: Any, key: str) -> PreviousRun:
        """The last completed run of the working directory (``workdir.archive`` may be a kept
        base, see :mod:`hr_connector.delivery`)."""
        door: Door = workdir.door
        folder, archive = workdir.archive_dir, workdir.archive
        if archive != archive_path(folder, workdir.data_type):  # a kept base: its own files
            return _load_base(workdir, key)
        previous = self.read(door, folder, workdir.data_type, key)
        if previous is None:
            if getattr(workdir, "empty_if_missing", False):
                return PreviousRun.empty(key)
            raise ArchiveMissing(door.relative(archive))
        return previous


def _load_base(workdir: Any, key: str) -> PreviousRun:
    """The kept base of an undelivered run: rebuilt from its JSON (no sidecar describes it)."""
    door: Door = workdir.door
    if not door.exists(workdir.archive):
        if getattr(workdir, "empty_if_missing", False):
            return PreviousRun.empty(key)
        raise ArchiveMissing(door.relative(workdir.archive))
    rows = rebuild(door, workdir.archive, workdir.error_archive, workdir.data_type, key)
    return PreviousRun(rows, key, file_sha256(door, workdir.archive))
