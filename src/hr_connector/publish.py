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
in the file's order, values as text, a field the record lacks left out (never ``null``). Each row
is serialised once, by polars, a slice at a time (:func:`json_lines`): the output's line is the
archive's with the row ID added. Every SHA-256 is taken from the bytes as they are written, so
the sidecar is tied to the archive without reading it again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, cast

import orjson
import polars as pl

from hr_connector.compare import Changeset
from hr_connector.previous_run import HashingWriter, sidecar_meta, write_sidecar
from hr_connector.records import Table, blocked_rows, english_texts, taken, valid_mask
from hr_connector.schemas import RunSchema
from hr_connector.workdir import (
    WorkDir,
    commit,
    remove,
    write_staged,
    write_staged_together,
)

log = logging.getLogger("hr_connector.publish")

#: Rows serialised at a time (bounded memory).
SLICE = 50_000


class _Array:
    """A JSON array written one line per row: ``[``, the rows joined by ``,\\n``, ``]``; each
    slice's last line is held back until the next one shows whether a comma follows it."""

    def __init__(self, out: HashingWriter) -> None:
        self.out, self.held = out, b""
        out.write(b"[")

    def add(self, lines: pl.Series) -> None:
        if not len(lines):
            return
        self.out.write(self.held + (b",\n" if self.held else b"\n"))
        lines.head(-1).to_frame().write_csv(
            cast(IO[bytes], self.out),  # polars only calls write()
            include_header=False,
            quote_style="never",
            line_terminator=",\n",
        )
        self.held = lines[-1].encode()

    def close(self) -> str:
        self.out.write(self.held + b"\n]\n" if self.held else b"]\n")
        return self.out.hexdigest()


def json_lines(part: pl.DataFrame) -> pl.Series:
    """Each row of ``part`` as a JSON object of its columns in order, a null field left out.

    polars writes every column (a null as ``null``); a null field is then cut out of the rows
    that have it: in JSON text a ``"name":null`` member can only stand between ``{`` or ``,``
    and ``,`` or ``}``, because a quote inside a string is always escaped.
    """
    lines = part.select(pl.struct(pl.all()).struct.json_encode()).to_series()
    for column in (c for c in part.columns if part.get_column(c).null_count()):
        member = orjson.dumps(column).decode() + ":null"
        line = pl.lit(lines)
        cut = (
            line.str.replace("," + member, "", literal=True)
            .str.replace("{" + member + ",", "{", literal=True)
            .str.replace("{" + member + "}", "{}", literal=True)
        )
        lines = part.select(pl.when(pl.col(column).is_null()).then(cut).otherwise(line)).to_series()
    return lines


def _write_rows_and_archive(
    handles: list[IO[bytes]], frame: pl.DataFrame, output: pl.Series, key: str, guid_field: str
) -> tuple[str, str]:
    """The output (the rows ``output`` picks, the row ID added under ``guid_field``) and the
    archive (every row) in one pass: each row is serialised once; their SHA-256s."""
    rows, archive = _Array(HashingWriter(handles[0])), _Array(HashingWriter(handles[1]))
    wanted = pl.Series(output).cast(pl.UInt32)
    picked = pl.int_range(0, frame.height, dtype=pl.UInt32, eager=True).is_in(wanted.implode())
    for start in range(0, frame.height, SLICE):
        part = frame.slice(start, SLICE)
        lines = json_lines(part)
        archive.add(lines)
        chosen = picked.slice(start, SLICE)
        if guid_field != key:  # the row ID added as the last member (a null one left out)
            added = part.select(
                pl.struct(pl.col(key).alias(guid_field)).struct.json_encode().str.slice(1)
            ).to_series()
            line = pl.lit(lines)
            lines = pl.select(
                pl.when(pl.lit(part.get_column(key)).is_null())
                .then(line)
                .when(line == "{}")
                .then("{" + added)
                .otherwise(line.str.head(-1) + "," + added)
            ).to_series()
        rows.add(lines.filter(chosen))
    return rows.close(), archive.close()


def error_entries(table: Table, reasons: pl.DataFrame, key_column: str) -> pl.DataFrame:
    """The reasons file's entries, ``{row_id, position, reasons: [...]}`` per blocked row, in
    row order (the n-th entry is the error archive's n-th row)."""
    listed = (
        reasons.with_columns(message=english_texts(reasons))
        .group_by("row", maintain_order=True)
        .agg(pl.struct("code", "column", "detail", "message").alias("reasons"))
        .sort("row")
    )
    rows = listed.get_column("row")  # only the blocked rows are taken from the table
    positions = pl.select(table.position_texts()).to_series().gather(rows)
    frame = taken(table.frame, rows).with_columns(
        positions.alias("\x00position"), listed.get_column("reasons").alias("\x00reasons")
    )
    row_id = pl.col(key_column) if key_column in table.columns else pl.lit(None, pl.String)
    return frame.select(
        row_id.fill_null("").alias("row_id"),
        pl.col("\x00position").alias("position"),
        pl.col("\x00reasons").alias("reasons"),
    )


def _write_array(out: HashingWriter, frame: pl.DataFrame) -> str:
    """``frame``'s rows as a JSON array, one per line, a slice at a time; its SHA-256."""
    array = _Array(out)
    for start in range(0, frame.height, SLICE):
        array.add(json_lines(frame.slice(start, SLICE)))
    return array.close()


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
    hashes: dict[str, str] = {}

    def rows_and_archive(handles: list[IO[bytes]]) -> None:
        output = changeset.output_indices()
        hashes["output"], hashes["archive"] = _write_rows_and_archive(
            handles, table.frame, output, key, guid_field
        )

    def errors(fh: IO[bytes]) -> None:
        rows = taken(table.frame, blocked_rows(blocked))  # only the blocked rows are taken
        hashes["errors"] = _write_array(HashingWriter(fh), rows)

    def reasons(fh: IO[bytes]) -> None:
        _write_array(HashingWriter(fh), error_entries(table, blocked, key))

    def sidecar(fh: IO[bytes]) -> None:
        imported = table.frame.lazy().filter(pl.lit(valid_mask(blocked, len(table))))
        write_sidecar(fh, imported, sidecar_meta(hashes["archive"], hashes["errors"], key))

    staged: list[tuple[Path, Path]] = []
    try:
        finals = [workdir.output, workdir.archive]
        staged += zip(write_staged_together(finals, rows_and_archive), finals, strict=True)
        for final, write in (
            (workdir.error_archive, errors),
            (workdir.error_reasons, reasons),
            (workdir.archive_sidecar, sidecar),
        ):
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
