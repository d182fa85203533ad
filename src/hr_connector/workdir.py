"""The working directory and the files the platform expects in it (PLATFORM.md §2).

Everything that touches the disk goes through here: atomic writes (temporary file in the same
folder, fsync, rename, 0600 since the files hold personal data), the commit journal that makes
"output + archive + error archive" one all-or-nothing step, and the per-data-type run lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from hr_connector.door import Door
from hr_connector.errors import RunLocked, UnsafePath

FILE_MODE = 0o600


#: The folder of the archives and the files that guard them, relative to the working directory.
ARCHIVE_DIR = "data/archive"


class _TaskFile:
    """A path of the task's files: a template of ``task_id`` and ``data_type``, relative to the
    working directory or to its folder ``under`` (``wd.output``: ``<root>/<task_id>_output.json``).
    """

    def __init__(self, template: str, under: str = ".") -> None:
        self.template = f"{under}/{template}"

    def __get__(self, wd: WorkDir, owner: type[WorkDir] | None = None) -> Path:
        return wd.root / self.template.format(task_id=wd.task_id, data_type=wd.data_type)


class WorkDir:
    """Paths of one task's files, relative to the working directory."""

    def __init__(self, root: Path, task_id: str, data_type: str) -> None:
        self.root = root.resolve()
        self.task_id = task_id
        self.data_type = data_type
        #: every file below ``root`` is opened, written and removed through it
        self.door = Door(self.root)

    log = _TaskFile("{task_id}_log.txt")
    output = _TaskFile("{task_id}_output.json")
    admin_task_json = _TaskFile("{task_id}_admin_task.json")
    admin_task_markdown = _TaskFile("{task_id}_admin_task.md")
    #: a partial run's changes, for the admin's review (hr_connector.changes)
    changes_csv = _TaskFile("{task_id}_changes.csv")
    #: the admin task's zipped attachments, kept for a re-send (hr_connector.attachments)
    attachments_dir = _TaskFile("data/attachments")
    translation_override = _TaskFile("misc-files/translation.json")
    archive_dir = _TaskFile(ARCHIVE_DIR)
    archive = _TaskFile("{data_type}_archive.json", under=ARCHIVE_DIR)
    error_archive = _TaskFile("error_{data_type}_archive.json", under=ARCHIVE_DIR)
    #: the previous run's imported rows as columns, tied to the archives by their SHA-256
    #: (:mod:`hr_connector.previous_run`)
    archive_sidecar = _TaskFile(".{data_type}_archive.parquet", under=ARCHIVE_DIR)
    journal = _TaskFile(".{data_type}_commit.json", under=ARCHIVE_DIR)
    lock = _TaskFile(".{data_type}.lock", under=ARCHIVE_DIR)
    #: the last run's result, for a retry that only re-files its admin task (hr_connector.runrecord)
    last_run = _TaskFile(".{data_type}_{task_id}_last_run.json", under=ARCHIVE_DIR)
    #: the output is not yet the platform's (hr_connector.delivery)
    undelivered = _TaskFile(".{data_type}_{task_id}_undelivered", under=ARCHIVE_DIR)

    def inside(self, key: str, relative: str) -> Path:
        """Resolve a user-given path; refuse one that leaves the working directory."""
        candidate = (self.root / relative).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise UnsafePath(key, relative)
        return candidate


def check_archive_dir(workdir: WorkDir) -> None:
    """Refuse ``data/`` or ``data/archive`` that lead out of the working directory (a symlink):
    the archives and the lock would be written there."""
    for folder in (workdir.root / "data", workdir.archive_dir):
        if not folder.is_symlink() and not folder.exists():
            return
        target = folder.resolve()
        if target != workdir.root and workdir.root not in target.parents:
            relative = folder.relative_to(workdir.root)
            error = UnsafePath(str(relative), f"{relative} -> {target}")
            error.hint = (
                f"Make {relative} a real folder inside the working directory (not a symlink "
                "to another place), or remove it: the connector creates it."
            )
            raise error


@contextlib.contextmanager
def run_lock(workdir: WorkDir) -> Iterator[None]:
    """One run per data type and working directory at a time.

    ``flock`` is released by the kernel when the holder dies, so a crashed run never leaves a
    stale lock behind; the file only records who holds it, for the error message.
    """
    check_archive_dir(workdir)
    workdir.archive_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(workdir.lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown process"
            raise RunLocked(workdir.data_type, str(workdir.lock), holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, task {workdir.task_id}".encode(), 0)
        yield
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


def write_staged(final: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write ``final``'s content to a temporary sibling, fsynced; return the temporary path."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return tmp


def write_staged_together(
    finals: list[Path], write: Callable[[list[IO[bytes]]], None]
) -> list[Path]:
    """:func:`write_staged` for files written in one pass (all or none of them is staged)."""
    staged: list[Path] = []
    try:
        with contextlib.ExitStack() as files:
            handles = []
            for final in finals:
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = temp_path(final)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
                staged.append(tmp)
                handles.append(files.enter_context(os.fdopen(fd, "wb", buffering=1 << 20)))
            write(handles)
            for fh in handles:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        for tmp in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
    return staged


def write_atomic(final: Path, write: Callable[[IO[bytes]], None]) -> None:
    tmp = write_staged(final, write)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def write_text_atomic(final: Path, text: str) -> None:
    write_atomic(final, lambda fh: fh.write(text.encode("utf-8")))


def remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def commit(workdir: WorkDir, staged: list[tuple[Path, Path]]) -> None:
    """Rename staged files into place as one step that survives a crash half-way.

    The journal lists the renames; it is written (atomically) before the first rename and removed
    after the last. A run that finds a journal finishes those renames first
    (:func:`recover`), so the archives are always either all old or all new.
    """
    journal = [[str(tmp), str(final)] for tmp, final in staged]
    try:
        write_text_atomic(workdir.journal, json.dumps(journal))
    except BaseException:  # e.g. the disk is full: nothing was renamed, drop the staged files
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise
    _apply(journal)
    remove(workdir.journal)


def _apply(journal: list[list[str]]) -> None:
    for tmp, final in journal:
        if os.path.exists(tmp):
            os.replace(tmp, final)
    for folder in {os.path.dirname(final) for _, final in journal}:
        fsync_dir(Path(folder))


def recover(workdir: WorkDir) -> bool:
    """Finish a commit that a crash interrupted; drop temporary files of crashed writes."""
    recovered = False
    if workdir.journal.exists():
        journal = json.loads(workdir.journal.read_text(encoding="utf-8"))
        _apply(journal)
        remove(workdir.journal)
        recovered = True
    mine = [
        workdir.output,
        workdir.archive,
        workdir.error_archive,
        workdir.journal,
        workdir.archive_sidecar,
        workdir.admin_task_json,
        workdir.admin_task_markdown,
        workdir.changes_csv,
        workdir.last_run,
        workdir.undelivered,
        # what the data-quality checks keep (hr_connector/quality/archives.py)
        workdir.archive_dir / f".{workdir.data_type}_quality.json",
        workdir.archive_dir / ".workperiod_persons.bin",
        workdir.archive_dir / ".workperiod_quality.columns",
    ]
    for final in mine:
        if final.parent.is_dir():
            for tmp in final.parent.glob(f".{final.name}.tmp-*"):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
    if workdir.attachments_dir.is_dir():
        for tmp in workdir.attachments_dir.glob(f".{workdir.task_id}_*.tmp-*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return recovered
