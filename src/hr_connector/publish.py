"""Publish: the output file, the archives and the previous-run sidecar, all or nothing
(PLATFORM.md §2, §6).

A completed run stages ``<taskid>_output.json``, the archive, the error archive (the blocked
rows, as the vendor's held them), the blocked rows' positions and reasons beside it
(``error_<data_type>_reasons.json``) and the sidecar (:mod:`hr_connector.previous_run`) as
temporary files, then renames them in through the commit
journal (:func:`hr_connector.workdir.commit`): a crash leaves either the old or the new complete
set. An interrupted run changes no archive and removes any earlier output, so the platform can
never import stale rows twice.

Every JSON file is an array with one row per line; a row is an object of the file's own columns
in the file's order, values as text, a field the record lacks left out (never ``null``). The rows
are serialised by polars a slice at a time (:func:`write_rows`); the archive's SHA-256 is taken
from the bytes as they are written, so the sidecar is tied to it without reading it again.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import IO, Any

import orjson
import polars as pl

from hr_connector.compare import Changeset
from hr_connector.previous_run import HashingWriter, sidecar_meta, write_sidecar
from hr_connector.records import Table, english_texts, valid_mask
from hr_connector.schemas import RunSchema
from hr_connector.workdir import WorkDir, commit, remove, write_staged

log = logging.getLogger("hr_connector.publish")

#: Rows serialised at a time (bounded memory).
SLICE = 100_000


def write_rows(out: Any, frame: pl.DataFrame, pick: Any = None) -> None:
    """``frame`` as a JSON array, one object per line, null fields left out; ``pick``: which
    rows of each slice go out, and how (the output's rows and row ID), None: all as they are."""
    out.write(b"[")
    first = True
    for start in range(0, frame.height, SLICE):
        part = frame.slice(start, SLICE)
        if pick is not None:
            part = pick(part, start)
            if not part.height:
                continue
        lines = _json_lines(part)
        out.write(b"\n" if first else b",\n")
        out.write(lines)
        first = False
    out.write(b"]\n" if first else b"\n]\n")


def _json_lines(part: pl.DataFrame) -> memoryview:
    """The rows of ``part`` as JSON objects joined by ``,\\n`` (no trailing line break).

    polars writes every column (a null as ``null``); a null field is then cut out: in JSON text a
    ``"name":null`` member can only stand between ``{`` or ``,`` and ``,`` or ``}``, because a
    quote inside a string is always escaped.
    """
    buffer = io.BytesIO()
    part.write_ndjson(buffer)
    data = buffer.getvalue()
    for column in (c for c in part.columns if part.get_column(c).null_count()):
        data = _without_null(data, column)
    return memoryview(data.replace(b"\n", b",\n"))[:-2]  # no copy for the last ",\n"


def _without_null(data: bytes, name: str) -> bytes:
    """``data`` (JSON lines) without the ``"name":null`` members."""
    member = orjson.dumps(name) + b":null"
    data = data.replace(b"," + member, b"").replace(b"{" + member + b",", b"{")
    return data.replace(b"{" + member + b"}", b"{}")


def output_rows(table: Table, rows: pl.Series, key: str, guid_field: str) -> Any:
    """What :func:`write_rows` picks from each slice for the output: the rows to import (``rows``)
    with the file's own columns plus the row ID under ``guid_field``."""
    wanted = valid_mask(pl.DataFrame({"row": rows}), len(table)).not_()

    def pick(part: pl.DataFrame, start: int) -> pl.DataFrame:
        chosen = part.filter(wanted.slice(start, part.height))
        return chosen.with_columns(pl.col(key).alias(guid_field))

    return pick


def error_entries(table: Table, reasons: pl.DataFrame, key_column: str) -> pl.DataFrame:
    """The reasons file's entries, ``{row_id, position, reasons: [...]}`` per blocked row, in
    row order (the n-th entry is the error archive's n-th row)."""
    listed = (
        reasons.with_columns(message=english_texts(reasons))
        .group_by("row", maintain_order=True)
        .agg(pl.struct("code", "column", "detail", "message").alias("reasons"))
        .sort("row")
    )
    frame = table.frame.with_columns(table.position_texts().alias("\x00position"))
    frame = frame.with_row_index("\x00row").join(
        listed, left_on="\x00row", right_on="row", how="inner", maintain_order="left"
    )
    row_id = pl.col(key_column) if key_column in table.columns else pl.lit(None, pl.String)
    return frame.select(
        row_id.fill_null("").alias("row_id"),
        pl.col("\x00position").alias("position"),
        "reasons",
    )


def publish_completed(
    workdir: WorkDir,
    table: Table,
    blocked: pl.DataFrame,
    changeset: Changeset,
    schema: RunSchema,
    guid_field: str,
) -> dict[str, str]:
    """Stage and commit the five files; their SHA-256 by name (``output``, ``archive``,
    ``errors``: the admin task lists a file it cannot attach with its hash)."""
    key = schema.key_column
    output = output_rows(table, changeset.output_indices(), key, guid_field)
    valid = valid_mask(blocked, len(table))
    hashes: dict[str, str] = {}

    def archive(fh: IO[bytes]) -> None:
        out = HashingWriter(fh)
        write_rows(out, table.frame)
        hashes["archive"] = out.hexdigest()

    def errors(fh: IO[bytes]) -> None:
        out = HashingWriter(fh)
        write_rows(
            out, table.frame, lambda part, start: part.filter(~valid.slice(start, part.height))
        )
        hashes["errors"] = out.hexdigest()

    def reasons(fh: IO[bytes]) -> None:
        write_rows(fh, error_entries(table, blocked, key))

    def sidecar(fh: IO[bytes]) -> None:
        imported = table.frame.lazy().filter(pl.lit(valid))
        write_sidecar(fh, imported, sidecar_meta(hashes["archive"], hashes["errors"], key))

    def rows_to_import(fh: IO[bytes]) -> None:
        out = HashingWriter(fh)
        write_rows(out, table.frame, output)
        hashes["output"] = out.hexdigest()

    writers: list[tuple[Path, Any]] = [
        (workdir.output, rows_to_import),
        (workdir.archive, archive),
        (workdir.error_archive, errors),
        (workdir.error_reasons, reasons),
        (workdir.archive_sidecar, sidecar),
    ]
    staged: list[tuple[Path, Path]] = []
    try:
        for final, write in writers:
            staged.append((write_staged(final, write), final))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    commit(workdir, staged)
    return hashes


def publish_interrupted(workdir: WorkDir) -> bool:
    """Remove a stale output; True when there was one."""
    return remove(workdir.output)
