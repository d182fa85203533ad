"""The other data types' last completed imports, read for the reference checks.

Under EPE the four data types share one working directory, so their archives sit side by side
in ``data/archive/``; a Prefect deployment has a working directory per data type and points
``reference_archives_dir`` at the shared folder. A data type's imported IDs are the key values
of its archive's rows, without the rows its error archive lists (those were never imported).

Which column holds the key is read from the ``.<data_type>_quality.json`` every completed run
keeps beside its archive (a customer may have renamed it with ``field_names``); an archive
without one (the vendor's, or an older version's) uses the canonical column name.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from array import array
from bisect import bisect_left
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hr_connector.records import Value
from hr_connector.schemas import SCHEMAS
from hr_connector.workdir import write_atomic, write_text_atomic

log = logging.getLogger("hr_connector.quality")


def archive_path(folder: Path, data_type: str) -> Path:
    return folder / f"{data_type}_archive.json"


def error_archive_path(folder: Path, data_type: str) -> Path:
    return folder / f"error_{data_type}_archive.json"


def state_path(folder: Path, data_type: str) -> Path:
    """What a completed run keeps for the checks: its file's SHA-256 and its column names."""
    return folder / f".{data_type}_quality.json"


def read_state(folder: Path, data_type: str) -> dict[str, Any]:
    path = state_path(folder, data_type)
    try:
        state = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(folder: Path, data_type: str, state: dict[str, Any]) -> None:
    write_text_atomic(state_path(folder, data_type), orjson.dumps(state).decode() + "\n")


def persons_path(folder: Path) -> Path:
    """Fingerprints of the persons the last work-period import imported (see :class:`Persons`)."""
    return folder / ".workperiod_persons.bin"


def archives_identity(folder: Path, data_type: str) -> Any:
    """The identity of a data type's archives in ``folder`` (JSON form): which files they are."""
    ids = []
    for path in (archive_path(folder, data_type), error_archive_path(folder, data_type)):
        try:
            st = path.stat()
        except FileNotFoundError:
            ids.append(None)
            continue
        ids.append([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns])
    return ids


def _fingerprint(value: str) -> bytes:
    return hashlib.blake2b(value.encode(), digest_size=PERSON_DIGEST).digest()


PERSON_DIGEST = 8


def sorted_fingerprints(values: Iterable[Value]) -> bytes:
    """The distinct non-empty values' fingerprints, sorted, in one bytes object (what
    :class:`Persons` keeps; the helper process makes it for a large file, see :mod:`.helper`)."""
    return b"".join(sorted(set(map(_fingerprint, filter(None, values)))))


@dataclass(frozen=True, repr=False)
class Fingerprints:
    """Persons already fingerprinted: :func:`sorted_fingerprints` of them (``blob``), of which
    ``removed`` are not to be kept."""

    blob: bytes
    removed: Collection[Value] = ()

    def __repr__(self) -> str:  # never the values: they may be national IDs
        return f"Fingerprints({len(self.blob) // PERSON_DIGEST}, removed={len(self.removed)})"


class Persons:
    """The persons of the last work-period import, as 8-byte BLAKE2b fingerprints.

    Reading a million-row archive to learn which persons exist costs seconds and gigabytes;
    every completed work-period run with the reference check on keeps the fingerprints of its
    imported persons beside the archive instead (no national ID in clear: the person ID may be
    one), tied to the archive's identity. The fingerprints are kept sorted: a value is looked up
    by binary search for its fingerprint, and only the few values the file itself does not
    have are ever looked up, so the file is never unpacked into a million objects.
    """

    def __init__(self, digests: bytes | None = None, values: set[str] | None = None):
        self._digests = _Sorted(digests) if digests is not None else None
        self._values = values

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        if self._values is not None:
            return value in self._values
        return self._digests is not None and self._digests.find(_fingerprint(value))[1]

    @staticmethod
    def write(folder: Path, values: Iterable[Value] | Fingerprints) -> None:
        """Keep these persons' fingerprints (replacing the kept ones)."""
        if isinstance(values, Fingerprints):
            gone = {_fingerprint(v) for v in values.removed if v}
            blob = _Sorted(values.blob).edited(gone, ()) if gone else values.blob
        else:
            blob = sorted_fingerprints(set(values))
        write_atomic(persons_path(folder), lambda fh: fh.write(blob))

    @staticmethod
    def update(folder: Path, added: set[Value], removed: set[Value]) -> bool:
        """Rewrite the kept fingerprints from the last run's: the ``removed`` values' taken
        out, the ``added`` ones' put in (the next-day run fingerprints a few values, not a
        million). ``added`` may hold values that were there already (they stay once).
        False: there is no kept file to start from.
        """
        try:
            kept = _Sorted(persons_path(folder).read_bytes())
        except FileNotFoundError:
            return False
        new = {_fingerprint(v) for v in added if v}
        blob = kept.edited({_fingerprint(v) for v in removed if v} - new, new)
        write_atomic(persons_path(folder), lambda fh: fh.write(blob))
        return True

    @staticmethod
    def read(folder: Path) -> Persons | None:
        try:
            return Persons(digests=persons_path(folder).read_bytes())
        except FileNotFoundError:
            return None


class _Sorted:
    """Sorted fixed-size fingerprints in one bytes object, searched by ``bisect``.

    The search runs over the fingerprints as big-endian 64-bit integers (an ``array``, C-level
    items: their order is the bytes' order), so a next-day run's ten thousand lookups cost
    milliseconds, not a Python call per probe.
    """

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self._keys = array("Q", blob)
        if sys.byteorder == "little":
            self._keys.byteswap()

    def __len__(self) -> int:
        return len(self.blob) // PERSON_DIGEST

    def find(self, digest: bytes) -> tuple[int, bool]:
        """Where ``digest`` is (or would go), and whether it is there."""
        key = int.from_bytes(digest, "big")
        k = bisect_left(self._keys, key)
        return k, k < len(self._keys) and self._keys[k] == key

    def edited(self, removed: Iterable[bytes], added: Iterable[bytes]) -> bytes:
        """The blob without ``removed`` and with ``added``, still sorted and unique."""
        drops: set[int] = set()
        inserts: dict[int, list[bytes]] = {}
        for digest in removed:
            k, there = self.find(digest)
            if there:
                drops.add(k)
        for digest in added:
            k, there = self.find(digest)
            if not there:
                inserts.setdefault(k, []).append(digest)
        pieces: list[bytes] = []
        last = 0
        for k in sorted(drops | inserts.keys()):
            pieces.append(self.blob[last * PERSON_DIGEST : k * PERSON_DIGEST])
            pieces.extend(sorted(inserts.get(k, ())))
            last = k + 1 if k in drops else k
        pieces.append(self.blob[last * PERSON_DIGEST :])
        return b"".join(pieces)


def imported_values(folder: Path, data_type: str, column: str, key: str) -> set[str] | None:
    """The ``column`` values of the rows the last completed ``data_type`` run imported.

    None when that data type was never imported here (no archive). ``key`` is its row-ID
    column, which the error archive's ``row_id`` refers to.
    """
    from hr_connector.previous_run import imported_column

    values = imported_column(folder, data_type, column, key)
    if values is None:
        return None
    found = set(values.drop_nulls().filter(values.drop_nulls() != "").to_list())
    log.debug("Read %d %s IDs from %s", len(found), data_type, folder)
    return found


@dataclass
class ReferenceArchives:
    """The reference archives of one run, each read at most once."""

    folder: Path
    #: the person column of a work-period archive without a kept state ("employee_number" …)
    default_person_column: str = "employee_number"
    _cache: dict[str, set[str] | None] = field(default_factory=dict)
    _persons: Persons | None = None

    def ids(self, data_type: str) -> set[str] | None:
        """The row IDs the last ``data_type`` import imported (None: never imported)."""
        if data_type not in self._cache:
            state = read_state(self.folder, data_type)
            key = str(state.get("key_column") or SCHEMAS[data_type].key)
            self._cache[data_type] = imported_values(self.folder, data_type, key, key)
        return self._cache[data_type]

    def persons(self) -> Persons | None:
        """The persons' unique IDs of the last work-period import (None: never imported).

        From the kept fingerprints when they describe the archive that is there now; else
        from the archive itself.
        """
        if self._persons is None:
            state = read_state(self.folder, "workperiod")
            kept = state.get("persons_archives")
            if kept is not None and kept == archives_identity(self.folder, "workperiod"):
                self._persons = Persons.read(self.folder)
            if self._persons is None:
                column = str(state.get("person_column") or self.default_person_column)
                key = str(state.get("key_column") or SCHEMAS["workperiod"].key)
                values = imported_values(self.folder, "workperiod", column, key)
                if values is None:
                    return None
                self._persons = Persons(values=values)
        return self._persons
