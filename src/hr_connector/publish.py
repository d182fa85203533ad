"""Publish: the output file and the archives, all or nothing (PLATFORM.md §2, §6).

A completed run stages ``<taskid>_output.json``, the archive and the error archive as temporary
files, then renames them in through the commit journal (:func:`hr_connector.workdir.commit`):
a crash leaves either the old or the new complete set. An interrupted run changes no archive and
removes any earlier output, so the platform can never import stale rows twice.

Every file is a JSON array with one row per line. The fast path writes the same bytes faster:
rows are serialised by orjson a batch at a time (one call per 20 000 rows instead of one per
row), and in the archive the lines of rows that are byte-identical to rows of the previous
archive are copied from it (``copy_file_range``) instead of being built again. After the commit
it writes the archive index the next run compares against
(:mod:`hr_connector.fastpath.archive_index`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, chain, compress, count, groupby, repeat
from operator import add, eq, sub
from pathlib import Path
from typing import IO, Any

import orjson

from hr_connector.compare import Changeset
from hr_connector.fastpath import archive_index
from hr_connector.fastpath.rowstore import BATCH
from hr_connector.records import Reason, Row, Table, paused_gc
from hr_connector.schemas import RunSchema
from hr_connector.validate import key_values
from hr_connector.workdir import WorkDir, commit, remove, write_staged, write_staged_together

log = logging.getLogger("hr_connector.publish")


def _write_array(fh: IO[bytes], items: Iterable[object]) -> None:
    fh.write(b"[")
    first = True
    dumps = orjson.dumps
    for item in items:
        fh.write(b"\n" if first else b",\n")
        fh.write(dumps(item))
        first = False
    fh.write(b"\n]\n" if not first else b"]\n")


def output_rows(table: Table, indices: list[int], key_column: str, guid_field: str):
    """The rows to import: the file's own columns plus the row ID under ``guid_field``."""
    columns = table.columns
    key = columns.index(key_column)
    for i in indices:
        row = table.rows[i]
        item = {c: v for c, v in zip(columns, row, strict=True) if v is not None}
        item[guid_field] = row[key]
        yield item


def error_entries(table: Table, blocked: dict[int, list[Reason]], key_column: str):
    key = table.columns.index(key_column) if key_column in table.columns else None
    for i in sorted(blocked):
        row_id = (table.rows[i][key] if key is not None and i < len(table.rows) else None) or ""
        yield {
            "row_id": row_id,
            "position": table.position(i),
            "reasons": [
                {"code": r.code, "column": r.column, "detail": r.detail, "message": r.english()}
                for r in blocked[i]
            ],
            "row": table.as_dict(i),
        }


def publish_completed(
    workdir: WorkDir,
    table: Table,
    blocked: dict[int, list[Reason]],
    changeset: Changeset,
    schema: RunSchema,
    guid_field: str,
) -> None:
    indices = changeset.output_indices()
    if table.digests is not None and schema.key_column in table.columns:  # a fast table
        with paused_gc():
            _publish_fast(workdir, table, blocked, indices, schema, guid_field)
        return
    _stage_and_commit(
        workdir, _writers(workdir, table, blocked, indices, schema.key_column, guid_field)
    )
    archive_index.remove_stale(workdir)


def _writers(
    wd: WorkDir,
    table: Table,
    blocked: dict[int, list[Reason]],
    indices: list[int],
    key: str,
    guid: str,
) -> list[tuple[Path, Any]]:
    """The reference path's three files of a completed run, each with what writes it."""
    return [
        (wd.output, lambda fh: _write_array(fh, output_rows(table, indices, key, guid))),
        (wd.error_archive, lambda fh: _write_array(fh, error_entries(table, blocked, key))),
        (wd.archive, lambda fh: _write_array(fh, table.iter_dicts(range(len(table.rows))))),
    ]


def _stage_and_commit(workdir: WorkDir, writers: list[tuple[Path, Any]]) -> None:
    staged: list[tuple[Path, Path]] = []
    try:
        for final, write in writers:
            staged.append((write_staged(final, write), final))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    commit(workdir, staged)


def publish_interrupted(workdir: WorkDir) -> bool:
    """Remove a stale output; True when there was one."""
    return remove(workdir.output)


# --- the fast path ------------------------------------------------------------------------------

#: Between two rows in a batch: orjson never writes a raw newline itself, so the rows of one
#: ``orjson.dumps`` call can be told apart again exactly.
_ROW_BREAK = orjson.Fragment(b"\n")


def _dumped(items: Sequence[dict[str, Any]]) -> bytes:
    """``b"[a,\\n,b,\\n]"``: the items serialised by one orjson call, a row break after each."""
    return orjson.dumps(list(chain.from_iterable(zip(items, repeat(_ROW_BREAK)))))


def dump_rows(items: Sequence[dict[str, Any]]) -> list[bytes]:
    """``[orjson.dumps(item) for item in items]``, in one orjson call."""
    if not items:
        return []
    return _dumped(items)[1:-3].split(b",\n,")  # "[a,\n,b,\n]" -> [a, b]


def dump_lines(items: Sequence[dict[str, Any]]) -> bytes:
    """``b",\\n".join(dump_rows(items))`` without splitting the rows apart."""
    return _dumped(items)[1:-3].replace(b",\n,", b",\n") if items else b""


def _as_dict(columns: list[str], row: Row) -> dict[str, Any]:
    if None in row:
        return {c: v for c, v in zip(columns, row, strict=True) if v is not None}
    return dict(zip(columns, row, strict=True))


class _Out:
    """Writes to the staged file and copies byte ranges of another file into it."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.pos = 0
        self._copy_range = hasattr(os, "copy_file_range")

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.pos += len(data)

    def copy(self, src: int, offset: int, length: int) -> None:
        """Append ``length`` bytes of ``src`` from ``offset`` (in the kernel where it can)."""
        end = offset + length
        while offset < end:
            done = self._copy_once(src, offset, end - offset)
            if done <= 0:
                raise OSError(errno.EIO, "the previous archive ended early")
            offset += done

    def _copy_once(self, src: int, offset: int, length: int) -> int:
        if self._copy_range:
            self.fh.flush()  # the copy goes to the descriptor's position: after what is written
            try:
                done = os.copy_file_range(src, self.fh.fileno(), length, offset)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                self._copy_range = False  # not on this file system: copy through memory
            else:
                self.pos += done
                return done
        chunk = os.pread(src, min(length, 8 << 20), offset)
        self.write(chunk)
        return len(chunk)


def _write_rows(out: _Out, lines: list[bytes], starts: array[int], first: bool) -> None:
    """Append ``lines`` to the array being written (``first``: nothing written before), and
    where each line starts to ``starts``: after the lines before it and their ",\\n"."""
    prefix = b"\n" if first else b",\n"
    position = out.pos + len(prefix)
    before = accumulate(map(len, lines[:-1]), initial=0)
    starts.extend(map(add, before, range(position, position + 2 * len(lines), 2)))
    out.write(prefix + b",\n".join(lines))


class _ArchiveAndOutput:
    """Writes the archive and the output in one walk over the rows.

    Archive lines of rows matched to the previous archive are copied from it; the other rows
    are decoded once, and the same dicts give their archive line and, with the row ID added
    under the GUID field, their output line (as in :func:`output_rows`).
    """

    def __init__(
        self,
        table: Table,
        match: archive_index.PreviousMatch | None,
        old_archive: Path,
        output_rows: list[int],
        key: int,
        guid: str,
    ) -> None:
        self.table = table
        self.match = match
        self.old_archive = old_archive
        self.keys = key_values(table, key)
        self.guid = guid
        self.in_output = bytearray(len(table.rows))
        deque(map(self.in_output.__setitem__, output_rows, repeat(1)), maxlen=0)
        #: where each row's line starts in the new archive, for the next index
        self.starts = array("Q")
        self._output_empty = True

    def __call__(self, handles: list[IO[bytes]]) -> None:
        output, archive = _Out(handles[0]), _Out(handles[1])
        output.write(b"[")
        archive.write(b"[")
        src = os.open(self.old_archive, os.O_RDONLY) if self.match is not None else -1
        try:
            self._rows(archive, output, src)
        finally:
            if src >= 0:
                os.close(src)
        self.starts.append(archive.pos + 2)  # where a next line would start
        archive.write(b"\n]\n" if len(self.table.rows) else b"]\n")
        output.write(b"]\n" if self._output_empty else b"\n]\n")

    def _rows(self, archive: _Out, output: _Out, src: int) -> None:
        for start, stop, line in self._segments():
            if line is None:
                dicts: list[dict[str, Any]] | None = self._serialise(archive, start, stop)
            else:
                self._copy(archive, src, start, line, stop - start)
                dicts = None
            if any(self.in_output[start:stop]):
                self._output(output, start, stop, dicts)

    def _segments(self) -> Iterator[tuple[int, int, int | None]]:
        """(start, stop, first archived row) of each run of rows matched to consecutive
        archived rows, and (start, stop, None) of the rows in between, at most BATCH at a time.

        Rows ``i`` in one run share ``hits[i] - i``; runs are found by ``groupby`` over those
        differences (C-level), with the unmatched rows' difference set to None.
        """
        n = len(self.table.rows)
        if self.match is None:
            shifts: list[int | None] = [None] * n
        else:
            hits = self.match.hits
            shifts = list(map(sub, hits, range(n)))
            for i in compress(count(), map(eq, hits, repeat(archive_index.MISS))):
                shifts[i] = None
        start = 0
        for shift, group in groupby(shifts):
            stop = start + len(list(group))
            for chunk in range(start, stop, BATCH):
                end = min(stop, chunk + BATCH)
                yield chunk, end, None if shift is None else chunk + shift
            start = stop

    def _serialise(self, archive: _Out, start: int, stop: int) -> list[dict[str, Any]]:
        columns = self.table.columns
        dicts = [_as_dict(columns, r) for r in self.table.rows[start:stop]]
        _write_rows(archive, dump_rows(dicts), self.starts, start == 0)
        return dicts

    def _copy(self, archive: _Out, src: int, start: int, line: int, count: int) -> None:
        assert self.match is not None
        old_starts = self.match.index.starts
        first, end = old_starts[line], old_starts[line + count] - 2
        archive.write(b"\n" if start == 0 else b",\n")
        shift = archive.pos - first
        self.starts.extend(map(add, old_starts[line : line + count], repeat(shift)))
        archive.copy(src, first, end - first)

    def _output(
        self, output: _Out, start: int, stop: int, dicts: list[dict[str, Any]] | None
    ) -> None:
        """The output lines of the rows in [start, stop) that are output.

        A serialised row's archive dict is reused (its archive line is written already); rows
        whose archive line was copied (output only in a full run) are decoded here.
        """
        columns, keys = self.table.columns, self.keys
        wanted = list(compress(range(start, stop), self.in_output[start:stop]))
        if not wanted:
            return
        if dicts is None:
            rows = self.table.rows[start:stop]
            dicts = [
                _as_dict(columns, rows[i - start]) if self.in_output[i] else {}
                for i in range(start, stop)
            ]
        items = []
        for i in wanted:
            item = dicts[i - start]
            item[self.guid] = keys[i]
            items.append(item)
        output.write((b"\n" if self._output_empty else b",\n") + dump_lines(items))
        self._output_empty = False


def _publish_fast(
    workdir: WorkDir,
    table: Table,
    blocked: dict[int, list[Reason]],
    indices: list[int],
    schema: RunSchema,
    guid_field: str,
) -> None:
    key = table.columns.index(schema.key_column)
    match = archive_index.match_of(table, workdir)  # the rows matched to its archive
    files = _ArchiveAndOutput(table, match, workdir.archive, indices, key, guid_field)
    output, archive = write_staged_together([workdir.output, workdir.archive], files)
    staged = [(output, workdir.output)]
    try:
        errors = write_staged(
            workdir.error_archive,
            lambda fh: _write_array(fh, error_entries(table, blocked, schema.key_column)),
        )
    except BaseException:
        output.unlink(missing_ok=True)
        archive.unlink(missing_ok=True)
        raise
    staged += [(errors, workdir.error_archive), (archive, workdir.archive)]
    commit(workdir, staged)
    try:
        archive_index.write(workdir, table, blocked, schema, key_values(table, key), files.starts)
    except Exception as exc:  # a cache: the run stands, the next one compares the slow way
        log.warning("Could not write the archive index (%s); the next run is slower", exc)
        with contextlib.suppress(OSError):
            archive_index.remove_stale(workdir)
