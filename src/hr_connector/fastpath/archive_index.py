"""The archive's sidecar index: what the next run needs from the archive, without parsing it.

A partial run compares the file with the previous run's archive. Parsing a 1M-row archive into
dicts is most of the reference path's 26 s and 4.8 GB (1M-row CSV, ``bench/results.md``), so
every completed run (fast path) also writes
``data/archive/.<data_type>_archive.index``, derived from the archives it has just committed:

* a fingerprint of every archived row (:attr:`Table.digests`: SHA-1 of the raw CSV line, or of
  the row's values), with what they were computed over (``digest_kind``: format, columns);
* where each row's line starts in the archive file (the writer puts one row per line);
* which rows were imported (not blocked; the rows ``load_previous`` keeps), their row IDs and
  the columns they use;
* a fingerprint of the validation rules and schema settings the rows were checked with
  (a changed rule or setting: every row is checked again).

The next run matches its rows' fingerprints against the imported ones. A matching row is
byte-identical to a row that was imported last time: it is unchanged, it passes the per-row
checks again (same settings), and its archive line can be copied instead of re-serialised.
Only the rest (new, changed, blocked rows: a few percent) goes through the full logic.

The index is a cache. It is trusted only while the archive and the error archive are the files
it was built from: same device, inode, size and mtime, and the same SHA-1 of 32 blocks sampled
across the file (hashing all of a 500 MB archive would cost more than the whole comparison;
``ctime`` is not used because the run itself hard-links the archives before its commit, see
:mod:`hr_connector.delivery`). A commit always brings a new inode. Otherwise, or when the index
is missing or unreadable, the run takes the reference path (full archive load), which is slower
but gives the same result.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import eq, not_
from pathlib import Path
from typing import IO, Any

import orjson

from hr_connector import rules
from hr_connector.records import Reason, Table, Value
from hr_connector.schemas import RunSchema
from hr_connector.workdir import WorkDir, write_atomic

log = logging.getLogger("hr_connector.fastpath.archive_index")

MAGIC = b"hr-connector archive index\n"
VERSION = 1
DIGEST_SIZE = 20  # SHA-1
#: The stored fingerprint of an archived row that was not imported.
NOT_IMPORTED = bytes(DIGEST_SIZE)
#: A row that matches no imported row of the previous run.
MISS = -1
Identity = tuple[int, int, int, int, str]
#: Blocks of the file hashed into its identity, and their size.
SAMPLES, SAMPLE_BYTES = 32, 4096


def file_identity(path: Path) -> Identity | None:
    """What changes whenever the file's content may have changed (None: no such file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        sample = hashlib.sha1(usedforsecurity=False)
        last = max(0, st.st_size - SAMPLE_BYTES)
        for k in range(SAMPLES):
            sample.update(os.pread(fd, SAMPLE_BYTES, last * k // (SAMPLES - 1)))
    finally:
        os.close(fd)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, sample.hexdigest())


def archives_identity(workdir: WorkDir) -> list[Identity | None]:
    return [file_identity(workdir.archive), file_identity(workdir.error_archive)]


def validation_settings(schema: RunSchema) -> dict[str, Any]:
    """Everything the per-row checks depend on besides the row and the columns: the rule set
    and the schema settings (:func:`hr_connector.rules.fingerprint`)."""
    return {"rules": rules.fingerprint(schema)}


@dataclass(eq=False, repr=False, slots=True)
class ArchiveIndex:
    """A loaded index; see the module docstring for what it holds.

    The previous run's archive index as a run loads it once (:func:`hr_connector.fastpath.for_run`)
    and hands it to the steps; the archives it describes do not change while the run holds its
    lock.
    """

    meta: dict[str, Any]
    #: the fingerprints, DIGEST_SIZE bytes each (:data:`NOT_IMPORTED` for rows not imported)
    digest_blob: bytes
    #: start of row j's line in the archive; ``starts[j + 1] - 2`` is its end (",\n" follows)
    starts: array[int]
    #: 1 where the archived row counts as imported (the rows ``load_previous`` keeps)
    imported: bytes
    _ids: bytes
    #: the identity of the archive and the error archive it describes (:func:`archives_identity`)
    archives: list[Identity | None]
    _id_list: list[Value] | None = field(default=None, init=False)
    _lookup: dict[bytes, int] | None = field(default=None, init=False)

    def __repr__(self) -> str:  # never the IDs: they are personal data
        return f"ArchiveIndex(rows={self.rows})"

    def has_kind(self, digest_kind: tuple[Any, ...] | None) -> bool:
        """Whether its fingerprints are computed as ``digest_kind`` says (only those compare)."""
        return digest_kind is not None and self.meta.get("digest_kind") == _jsonable(digest_kind)

    @property
    def rows(self) -> int:
        return int(self.meta["rows"])

    def ids(self) -> list[Value]:
        """The row ID of every archived row (parsed on first use: a million strings)."""
        if self._id_list is None:
            self._id_list = orjson.loads(self._ids)
        return self._id_list

    def lookup(self) -> dict[bytes, int]:
        """Fingerprint -> archived row, for the imported rows.

        The index stores zeros as the fingerprint of a row that was not imported, so the
        mapping is built in one C-level pass and the zeros are dropped at the end.
        """
        if self._lookup is None:
            d, w, n = self.digest_blob, DIGEST_SIZE, self.rows
            spans = map(slice, range(0, n * w, w), range(w, n * w + w, w))
            self._lookup = dict(zip(map(d.__getitem__, spans), range(n), strict=True))
            self._lookup.pop(NOT_IMPORTED, None)
        return self._lookup

    def match(self, digests: list[bytes]) -> list[int]:
        """For each fingerprint, the imported archived row that has it, or :data:`MISS`."""
        return Matcher(self).match(digests)

    def line_span(self, row: int) -> tuple[int, int]:
        """(offset, length) of an archived row's line in the archive file."""
        start = self.starts[row]
        return start, self.starts[row + 1] - 2 - start

    def read_rows(self, archive: Path, rows: Iterable[int]) -> dict[int, Any]:
        """Parse some archived rows straight from their lines."""
        out: dict[int, Any] = {}
        fd = os.open(archive, os.O_RDONLY)
        try:
            for row in rows:
                offset, length = self.line_span(row)
                out[row] = orjson.loads(os.pread(fd, length, offset))
        finally:
            os.close(fd)
        return out


def load(workdir: WorkDir) -> ArchiveIndex | None:
    """The index, if there is one and it describes exactly the archives on disk now."""
    path = workdir.archive_index
    archives = archives_identity(workdir)
    try:
        with path.open("rb") as fh:
            if fh.read(len(MAGIC)) != MAGIC:
                return None
            meta = orjson.loads(fh.readline())
            if meta.get("version") != VERSION:
                return None
            if meta.get("archives") != [list(i) if i else None for i in archives]:
                return None
            sizes = meta["sections"]
            digests = fh.read(sizes["digests"])
            starts = array("Q")
            starts.frombytes(fh.read(sizes["starts"]))
            imported = fh.read(sizes["imported"])
            ids = fh.read(sizes["ids"])
    except FileNotFoundError:
        return None
    except Exception:  # a cache: anything wrong with it means the slow way, never a failed run
        log.warning("The archive index %s is unreadable; comparing the slow way", path.name)
        return None
    n = int(meta["rows"])
    if len(digests) != n * DIGEST_SIZE or len(starts) != n + 1 or len(imported) != n:
        return None
    return ArchiveIndex(meta, digests, starts, imported, ids, archives)


#: How many archived rows past the expected one a fingerprint is looked for (removed rows).
LOOK_AHEAD = 64
#: Unmatched rows looked for in the whole archive before building the full mapping.
SAMPLE = 16


class Matcher:
    """Matches fingerprints to the imported archived rows, batch after batch, in file order.

    A daily file keeps most rows in the archive's order, so the rows are matched along the
    archive: runs of equal fingerprints are found with a few byte comparisons of the
    concatenated fingerprints (galloping), and after a difference the next fingerprint is
    looked for a little further on. Only when many rows of a batch stay unmatched (a reordered
    file) is the full fingerprint -> row mapping built for them. Every match found either way
    is exact; a row left unmatched only takes the slower path.
    """

    def __init__(self, index: ArchiveIndex) -> None:
        self.index = index
        #: the archived row expected to match next
        self.position = 0

    def match(self, digests: list[bytes]) -> list[int]:
        hits, self.position = _match_in_order(
            b"".join(digests), self.index.digest_blob, len(digests), self.position
        )
        missed = list(compress(count(), map(eq, hits, repeat(MISS))))
        if len(missed) > max(100, len(hits) // 20) and self._elsewhere(digests, missed):
            get = self.index.lookup().get
            for i in missed:
                hits[i] = get(digests[i], MISS)
        return hits

    def _elsewhere(self, digests: list[bytes], missed: list[int]) -> bool:
        """Whether some of a sample of the unmatched rows are archived out of order (rather than
        new: new hires appended at the end of a file are the usual reason for many misses)."""
        old, step = self.index.digest_blob, max(1, len(missed) // SAMPLE)
        sample = (digests[i] for i in missed[::step])
        return any(_find_ahead(old, d, 0, self.index.rows) >= 0 for d in sample)


def _match_in_order(cur: bytes, old: bytes, n: int, j: int) -> tuple[list[int], int]:
    """Match fingerprints ``cur`` (``n`` of them) to ``old`` from row ``j``, both in order."""
    w = DIGEST_SIZE
    n_old = len(old) // w
    hits = [MISS] * n
    i = 0
    while i < n:
        run = _run_length(cur, old, i, j, min(n - i, n_old - j))
        if run:
            hits[i : i + run] = range(j, j + run)
            i, j = i + run, j + run
            continue
        found = _find_ahead(old, cur[i * w : i * w + w], j, min(n_old, j + LOOK_AHEAD))
        if found >= 0:
            j = found  # the archived rows in between are gone (or moved)
        else:
            i += 1  # a new or changed row
    return hits, j


def _run_length(cur: bytes, old: bytes, i: int, j: int, limit: int) -> int:
    """How many fingerprints from ``cur[i]`` equal those from ``old[j]`` (galloping search)."""
    w = DIGEST_SIZE
    length, step = 0, 1
    while step:
        take = min(step, limit - length)
        a, b = (i + length) * w, (j + length) * w
        if take > 0 and cur[a : a + take * w] == old[b : b + take * w]:
            length += take
            step *= 2
        else:
            step //= 2
    return length


def _find_ahead(old: bytes, digest: bytes, start: int, stop: int) -> int:
    """The archived row in [start, stop) with this fingerprint, or -1."""
    w = DIGEST_SIZE
    position = old.find(digest, start * w, stop * w)
    while position >= 0 and position % w:
        position = old.find(digest, position + 1, stop * w)
    return position // w if position >= 0 else -1


class PreviousMatch:
    """This run's rows matched against the imported rows of the last completed run."""

    __slots__ = ("_keyed", "archives", "hits", "index", "key_column", "valid_settings")

    def __init__(self, index: ArchiveIndex, hits: list[int]) -> None:
        self.index = index
        #: row -> archived row with the same fingerprint (imported rows only), or :data:`MISS`
        self.hits = hits
        #: the identity of the archives the rows were matched against
        self.archives = index.archives
        self.key_column: str = index.meta["key_column"]
        self.valid_settings: dict[str, Any] = index.meta["validation"]
        self._keyed: KeyedMatch | None = None

    def misses(self) -> Iterator[int]:
        """The rows that match no imported row, in order."""
        return compress(count(), map(eq, self.hits, repeat(MISS)))

    def keyed(self, table: Table, key: int) -> KeyedMatch | None:
        """The row-ID view of the match (None: the index has the IDs of another column)."""
        if table.columns[key] != self.key_column:
            return None
        if self._keyed is None:
            self._keyed = KeyedMatch(self, table, key)
        return self._keyed


class KeyedMatch:
    """What validation and comparison need to know by row ID, worked out from the match.

    A matched row has its archived row's ID (the index keeps them); only the unmatched rows
    are decoded. An imported row ID is unique, so two rows can share an ID only if one of them
    is unmatched, or both match the same archived row; the repeated IDs and the archived rows
    that are gone are found from the few unmatched rows instead of from a million IDs.
    """

    def __init__(self, match: PreviousMatch, table: Table, key: int) -> None:
        index, hits = match.index, match.hits
        self.index = index
        ids = index.ids()
        #: rows that match no imported archived row
        self.misses: list[int] = list(match.misses())
        keys: list[Value] = list(map([*ids, None].__getitem__, hits))  # MISS (-1) -> None
        rows = table.rows
        for i in self.misses:
            keys[i] = rows[i][key]
        self.keys = keys
        self.miss_keys = {keys[i] for i in self.misses}
        #: 1 for an imported archived row that no row of this file matches (+ one spare cell,
        #: which MISS clears)
        self.unmatched = bytearray(index.imported)
        self.unmatched.append(0)
        deque(map(self.unmatched.__setitem__, hits, repeat(0)), maxlen=0)
        matched_rows = index.imported.count(1) - self.unmatched.count(1)
        self.hits = hits
        #: whether two rows match the same archived row (identical rows)
        self.shared = matched_rows < len(hits) - len(self.misses)
        imported = index.imported
        candidates = compress(count(), map(self.miss_keys.__contains__, ids))
        #: unmatched row's ID -> the imported archived row with that ID
        self.archived_row: dict[Value, int] = {ids[j]: j for j in candidates if imported[j]}

    def repeated_ids(self) -> set[Value]:
        """Row IDs that more than one row of the file has."""
        repeated: set[Value] = set()
        seen: set[Value] = set()
        for i in self.misses:
            k = self.keys[i]
            if k in seen:
                repeated.add(k)
            seen.add(k)
        unmatched = self.unmatched
        repeated.update(k for k, row in self.archived_row.items() if not unmatched[row])
        if self.shared:
            lines: set[int] = set()
            for i, line in enumerate(self.hits):
                if line != MISS and line in lines:
                    repeated.add(self.keys[i])
                lines.add(line)
        return repeated

    def gone_ids(self) -> list[Value]:
        """IDs of imported archived rows that no row of the file has (the removed rows)."""
        unmatched = memoryview(self.unmatched)[: self.index.rows]
        present = self.miss_keys
        return [k for k in compress(self.index.ids(), unmatched) if k not in present]


def match_previous(table: Table, index: ArchiveIndex | None) -> PreviousMatch | None:
    """The table's rows matched against ``index`` (made once, then kept on the table for the
    later steps of the run); None without an index or when its fingerprints are of another kind.
    """
    if index is None or table.digests is None or not index.has_kind(table.digest_kind):
        return None
    match = table.previous
    if match is None or match.index is not index:
        match = table.previous = PreviousMatch(index, index.match(table.digests))
    return match


def match_for_validation(
    table: Table, schema: RunSchema, index: ArchiveIndex | None
) -> PreviousMatch | None:
    """The match validation may rely on: same validation settings as the archived rows had."""
    match = match_previous(table, index)
    if match is None or match.valid_settings != validation_settings(schema):
        return None
    return match


def match_of(table: Table, workdir: WorkDir) -> PreviousMatch | None:
    """The table's match, if it was made against the archives ``workdir`` has now (what
    publishing copies archive lines from)."""
    match = table.previous
    if match is None or match.archives != archives_identity(workdir):
        return None
    return match


def _jsonable(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


# --- writing ------------------------------------------------------------------------------------


def _stored_digests(digests: list[bytes], imported: bytes) -> bytes:
    """The fingerprints to store: :data:`NOT_IMPORTED` for the rows that were not imported."""
    blob = bytearray(b"".join(digests))
    w = DIGEST_SIZE
    for i in compress(count(), map(not_, imported)):
        blob[i * w : i * w + w] = NOT_IMPORTED
    return bytes(blob)


def imported_rows(
    table: Table, blocked: dict[int, list[Reason]], keys: Sequence[Value], schema: RunSchema
) -> bytes:
    """1 for each row ``load_previous`` would keep from the archives this run writes.

    That is: the row ID is set, no blocked row has it, and it is the ID's last row (later rows
    win in a dict). When the row ID is a mandatory column, validation blocks a blank ID and every
    row of a repeated ID, so that is exactly the valid rows; else the rule is applied row by row.
    """
    n = len(keys)
    if schema.key_column in schema.mandatory_columns:
        return bytes(map(not_, map(blocked.__contains__, range(n))))
    blocked_ids = {keys[i] for i in blocked if i < n and keys[i]}
    flags = bytearray(n)
    last: dict[Value, int] = {}
    for i, key in enumerate(keys):
        if key and key not in blocked_ids:
            last[key] = i
    for i in last.values():
        flags[i] = 1
    return bytes(flags)


def columns_used(table: Table, imported: bytes) -> list[str]:
    """The columns the imported rows have a value in (``PreviousRun.columns`` of the next run)."""
    if not any(imported):
        return []
    may_lack = getattr(table.rows, "may_lack_values", None)
    if may_lack is not None and not may_lack():
        return sorted(table.columns)
    used: set[str] = set()
    for i in compress(count(), imported):
        used.update(c for c, v in zip(table.columns, table.rows[i], strict=False) if v is not None)
        if len(used) == len(table.columns):
            break
    return sorted(used)


def write(
    workdir: WorkDir,
    table: Table,
    blocked: dict[int, list[Reason]],
    schema: RunSchema,
    keys: Sequence[Value],
    starts: array[int],
) -> None:
    """Write the index of the archives just committed (call after the commit)."""
    assert table.digests is not None
    imported = imported_rows(table, blocked, keys, schema)
    digests = _stored_digests(table.digests, imported)
    ids = orjson.dumps(list(keys))
    meta = {
        "version": VERSION,
        "archives": [list(i) if i else None for i in archives_identity(workdir)],
        "rows": len(table.rows),
        "digest_kind": _jsonable(table.digest_kind),
        "key_column": schema.key_column,
        "validation": validation_settings(schema),
        "columns_used": columns_used(table, imported),
        "sections": {
            "digests": len(digests),
            "starts": len(starts) * starts.itemsize,
            "imported": len(imported),
            "ids": len(ids),
        },
    }

    def body(fh: IO[bytes]) -> None:
        fh.write(MAGIC)
        fh.write(orjson.dumps(meta) + b"\n")
        fh.write(digests)
        fh.write(starts.tobytes())
        fh.write(imported)
        fh.write(ids)

    write_atomic(workdir.archive_index, body)


def remove_stale(workdir: WorkDir) -> None:
    """Drop an index that no longer describes the archives (a failed rewrite, a slow-path run)."""
    with contextlib.suppress(FileNotFoundError):
        workdir.archive_index.unlink()
