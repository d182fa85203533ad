"""SFTP source (PLATFORM.md §2, §3): fetch the HR file from the SFTP server, archive it afterwards.

The one matching remote file goes into the local folder ``file_path`` names (``./org/*.csv`` →
``./org/``), where the local step finds it like a file put there by hand. Nothing
half-written stays behind (a hidden 0600 temporary file, size-checked and fsynced, is renamed in;
older copies go only then); remote names with ``/``, ``\\``, control characters or a leading dot
are never matched or moved; the archive move never overwrites (a taken name gets a timestamp).
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import logging
import os
import posixpath
import shutil
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO

import paramiko

from hr_connector.clients.sftp.hostkeys import FirstUse
from hr_connector.clients.sftp.hostkeys import first_use_since as first_use_since
from hr_connector.clients.sftp.hostkeys import with_first_use as with_first_use
from hr_connector.clients.sftp.pipelined import read_pipelined
from hr_connector.clients.sftp.session import Connection, server_label, session
from hr_connector.door import Door
from hr_connector.errors import (
    FileEmpty,
    FileStillBeingWritten,
    ParametersInvalid,
    SftpError,
)
from hr_connector.fetch import check_pattern, scratch_workdir, the_one_match
from hr_connector.params import SftpSettings
from hr_connector.workdir import WorkDir

log = logging.getLogger(__name__)

_ARCHIVE_NAME_ATTEMPTS = 20


def unsafe_name(name: str) -> bool:
    """A remote name we never match, download or move (see the module docstring)."""
    return (
        not name
        or name.startswith(".")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    )


def _where(settings: SftpSettings) -> str:
    remote = settings.sftp_remote_path_data
    path = remote if remote.startswith("/") else f"/~/{remote}"
    return f"sftp://{settings.sftp_server_fqdn}{path}"


def _matching(
    entries: list[paramiko.SFTPAttributes], pattern: str
) -> list[paramiko.SFTPAttributes]:
    found: list[paramiko.SFTPAttributes] = []
    for entry in entries:
        name = entry.filename
        if unsafe_name(name):
            if fnmatch.fnmatchcase(name, pattern):
                log.warning("Ignoring the remote file %r: unsafe or hidden name", name)
            continue
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        if entry.st_mode is None or not stat.S_ISREG(entry.st_mode):
            log.warning("Ignoring the remote entry %r: not a regular file", name)
            continue
        found.append(entry)
    return sorted(found, key=lambda e: e.filename)


def _local_folder(workdir: WorkDir, file_path: str) -> tuple[Path, str]:
    """The local folder the file goes to, and the file-name pattern to match remotely."""
    pure = PurePosixPath(check_pattern(workdir, file_path))
    parent = str(pure.parent)
    if glob.has_magic(parent):
        raise ParametersInvalid(
            [], {"file_path": "with SFTP, only the file name may contain wildcards"}
        )
    folder = Path(os.path.normpath(workdir.root / parent))
    # the folder is a cache of the remote folder (older matching top-level files are removed
    # there), so it must not be the working directory itself nor hold the connector's own files;
    # ./data/ is fine (the vendor's own example), data/archive/ below it is never touched
    own = (workdir.root, workdir.archive_dir, workdir.translation_override.parent)
    if folder in own or workdir.archive_dir in folder.parents:
        raise ParametersInvalid(
            [],
            {
                "file_path": "with SFTP, the file must go to a folder of its own below the "
                "working directory, e.g. ./organization/*.csv or ./data/workperiod*.csv"
            },
        )
    return folder, pure.name


def _remove_leftovers(door: Door, folder: Path, pattern: str) -> None:
    """Temporary files of earlier downloads that a killed process could not remove."""
    for name, st in door.list_folder(folder):
        real = name[1:].rsplit(".tmp-", 1)[0]
        leftover = name.startswith(".") and ".tmp-" in name and fnmatch.fnmatchcase(real, pattern)
        if leftover and not stat.S_ISDIR(st.st_mode) and door.remove(folder / name):
            log.info("Removed the leftover temporary file %s", name)


def _remove_older_copies(door: Door, folder: Path, pattern: str, keep: str) -> None:
    """Earlier downloads matching the pattern (a link there is removed, never followed)."""
    for name, st in door.list_folder(folder):
        if name == keep or name.startswith(".") or not fnmatch.fnmatchcase(name, pattern):
            continue
        if not stat.S_ISDIR(st.st_mode) and door.remove(folder / name):  # never data/archive
            log.info("Removed the older local copy %s", name)


def _changed(listed: paramiko.SFTPAttributes, now: paramiko.SFTPAttributes) -> str | None:
    """How the remote file changed since it was listed (None: same size and time)."""
    if now.st_size != listed.st_size:
        return f"its size went from {listed.st_size} to {now.st_size} bytes"
    if now.st_mtime != listed.st_mtime:
        return "its modification time changed"
    return None


def _download(
    conn: Connection,
    door: Door,
    remote: str,
    entry: paramiko.SFTPAttributes,
    final: Path,
    still: Callable[[str], FileStillBeingWritten],
) -> Path:
    """Copy ``remote`` into a temporary sibling of ``final``; return it (complete, fsynced,
    dated like the remote file: the file-age check reads it locally)."""
    expected = entry.st_size or 0

    def write(fh: IO[bytes]) -> None:
        with conn.guard(f"opening {remote}"):
            remote_file = conn.sftp.open(remote, "rb")
        try:
            # Many reads in flight, all sent and answered on this thread (see .pipelined):
            # link speed over distance, and a drop surfaces here, as SftpUnavailable.
            with conn.guard(lambda: f"downloading {remote} ({fh.tell()} of {expected} bytes done)"):
                received = read_pipelined(conn.sftp, remote_file.handle, expected, fh.write)
            with conn.guard(f"checking {remote} after the download"):
                after = conn.sftp.stat(remote)
            change = _changed(entry, after) or (
                f"{received} of its {expected} bytes were received"
                if received != expected
                else None
            )
            if change:
                raise still(f"{change} during the download")
        finally:
            with contextlib.suppress(Exception):
                remote_file.close()
        fh.flush()
        if entry.st_mtime is not None:  # the listing's time, 0 too: the file-age check reads it
            os.utime(fh.fileno(), (entry.st_atime or entry.st_mtime, entry.st_mtime))

    return door.write_staged(final, write)


def download_for_dry_run(settings: SftpSettings, workdir: WorkDir, file_path: str) -> Path:
    """A dry run's download: checked like a real run's, written to a scratch folder instead of
    the working directory (``fetch.discard_dry_run_copy`` removes it when the run ends), so the
    local copies a real run keeps are neither replaced nor removed."""
    _local_folder(workdir, file_path)  # the same refusals as a real run
    pattern = check_pattern(workdir, file_path)
    scratch = scratch_workdir(workdir)
    try:  # the key is checked against the real record, which a dry run never writes
        checked = FirstUse(workdir, write=False)
        return download_hr_file(settings, scratch, pattern, checked)  # alone in the scratch
    except BaseException:
        shutil.rmtree(scratch.root, ignore_errors=True)
        raise


def download_hr_file(
    settings: SftpSettings,
    workdir: WorkDir,
    file_path: str,
    first_use: FirstUse | None = None,
) -> Path:
    """Download the one remote file matching ``file_path``'s name into its local folder
    (``first_use``: where a key met for the first time is checked; the working directory's).

    A file is taken whole only: its size and time must be the same at listing, after
    ``sftp_settle_seconds`` and after the download, else :class:`FileStillBeingWritten` stops
    the run (nothing downloaded, nothing moved). Raises FileNotReceived, MultipleFiles or
    FileEmpty by the vendor's rules, SftpError when the server refuses us for good,
    SftpUnavailable when a retry may succeed.
    """
    folder, pattern = _local_folder(workdir, file_path)
    door = workdir.door
    remote_dir = settings.sftp_remote_path_data
    if PurePosixPath(remote_dir).name != folder.name:
        log.info(
            "The local folder %s (from file_path) is not named like the remote folder %s",
            folder.name,
            remote_dir,
        )
    with session(settings, first_use or FirstUse(workdir)) as conn:
        with conn.guard(f"listing the remote data folder {remote_dir}"):
            entries = conn.sftp.listdir_attr(remote_dir)
        matches = _matching(entries, pattern)
        entry = the_one_match(matches, file_path, _where(settings), lambda m: m.filename)
        if entry.st_size is None:
            raise SftpError(conn.server, f"the server reports no size for {entry.filename}")
        settle = settings.sftp_settle_seconds

        def still(change: str) -> FileStillBeingWritten:
            return FileStillBeingWritten(entry.filename, _where(settings), change, settle)

        remote = posixpath.join(remote_dir, entry.filename)
        time.sleep(settle)
        with conn.guard(f"checking {remote} again after {settle:g} s"):
            settled = conn.sftp.stat(remote)
        change = _changed(entry, settled)
        if change:
            raise still(f"{change} within {settle:g} s")
        if not entry.st_size:
            raise FileEmpty(entry.filename)
        door.make_folder(folder)
        _remove_leftovers(door, folder, pattern)
        final = folder / entry.filename
        tmp = _download(conn, door, remote, entry, final, still)
    try:
        _remove_older_copies(door, folder, pattern, keep=final.name)
        door.replace(tmp, final)
    except BaseException:
        door.remove(tmp)
        raise
    log.info(
        "Downloaded %s (%d bytes, unchanged for %g s) from %s to %s",
        entry.filename,
        entry.st_size,
        settle,
        _where(settings),
        door.relative(final),
    )
    return final


def archive_name(name: str, now: datetime, attempt: int = 0) -> str:
    """``name`` for attempt 0, else ``stem_<UTC timestamp>[_n].ext``."""
    if attempt == 0:
        return name
    pure = PurePosixPath(name)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    counter = "" if attempt == 1 else f"_{attempt}"
    return f"{pure.stem}_{stamp}{counter}{pure.suffix}"


def _exists(conn: Connection, path: str) -> bool:
    with conn.guard(f"checking {path}"):
        try:
            conn.sftp.lstat(path)
        except FileNotFoundError:
            return False
    return True


def archive_remote_file(settings: SftpSettings, name: str) -> str | None:
    """Move ``name`` from the remote data folder into the archive folder; return its new path.

    Returns None (and touches nothing) when ``sftp_remote_path_archive`` is not set. A name
    already taken in the archive folder gets a timestamp suffix; nothing is overwritten.
    """
    archive_dir = settings.sftp_remote_path_archive
    if not archive_dir:
        return None
    server = server_label(settings)
    if unsafe_name(name):
        raise SftpError(server, f"refusing to move the file {name!r}: unsafe name")
    source = posixpath.join(settings.sftp_remote_path_data, name)
    now = datetime.now(UTC)
    with session(settings, None) as conn:
        with conn.guard(f"checking the archive folder {archive_dir}"):
            attrs = conn.sftp.stat(archive_dir)
        if attrs.st_mode is None or not stat.S_ISDIR(attrs.st_mode):
            raise SftpError(server, f"the archive folder {archive_dir} is not a folder")
        if not _exists(conn, source):
            raise SftpError(
                server,
                f"{source} is no longer in the data folder (moved or removed by someone else?)",
            )
        for attempt in range(_ARCHIVE_NAME_ATTEMPTS):
            target = posixpath.join(archive_dir, archive_name(name, now, attempt))
            if _exists(conn, target):
                continue
            try:
                with conn.guard(f"moving {source} to {target}"):
                    conn.sftp.rename(source, target)  # fails if target exists: no overwrite
            except SftpError:
                if _exists(conn, target) and _exists(conn, source):
                    continue  # taken meanwhile: next name
                raise
            log.info("Moved the remote file %s to %s", source, target)
            return target
    raise SftpError(server, f"no free name for {name} in the archive folder {archive_dir}")
