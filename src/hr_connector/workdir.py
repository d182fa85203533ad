"""The working directory: the table of every file a run touches in it (PLATFORM.md §2), and the
writes that make them safe, on top of its :class:`~hr_connector.door.Door` (``WorkDir.door``):
atomic writes (0600: the files hold personal data), the commit journal that makes "output +
archive + error archive" one all-or-nothing step, and the per-data-type run lock.

:class:`WorkDir` is the one table of those paths: a new side file is one line there, and the
tests that plant links, pipes and folders at every path in it cover it unedited.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, overload

from hr_connector.door import Door, FileRefused
from hr_connector.errors import RunLocked

#: The folder of the archives and the files that guard them, relative to the working directory.
ARCHIVE_DIR = "data/archive"
#: The admin task's zipped attachments, kept for a re-send (hr_connector.attachments).
ATTACHMENTS_DIR = "data/attachments"

#: The working directories of this process: the door of a bare path is its working directory's.
_ROOTS: set[Path] = set()


class _TaskFile:
    """A path of the task's files: a template of ``task_id`` and ``data_type``, relative to the
    working directory or to its folder ``under`` (``wd.output``: ``<root>/<task_id>_output.json``).
    """

    def __init__(self, template: str, under: str = ".") -> None:
        self.template = f"{under}/{template}"

    @overload
    def __get__(self, wd: None, owner: type[WorkDir]) -> _TaskFile: ...
    @overload
    def __get__(self, wd: WorkDir, owner: type[WorkDir] | None = None) -> Path: ...
    def __get__(self, wd: WorkDir | None, owner: type[WorkDir] | None = None) -> Path | _TaskFile:
        if wd is None:  # on the class: the file itself, for a subclass to name another
            return self
        return wd.root / self.template.format(task_id=wd.task_id, data_type=wd.data_type)


class WorkDir:
    """Paths of one task's files, relative to the working directory."""

    def __init__(self, root: Path, task_id: str, data_type: str) -> None:
        self.root = root.resolve()
        self.task_id = task_id
        self.data_type = data_type
        #: every file below ``root`` is opened, written and removed through it
        self.door = Door(self.root)
        _ROOTS.add(self.root)

    log = _TaskFile("{task_id}_log.txt")
    output = _TaskFile("{task_id}_output.json")
    admin_task_json = _TaskFile("{task_id}_admin_task.json")
    admin_task_markdown = _TaskFile("{task_id}_admin_task.md")
    #: a partial run's changes, for the admin's review (hr_connector.changes)
    changes_csv = _TaskFile("{task_id}_changes.csv")
    attachments_dir = _TaskFile(ATTACHMENTS_DIR)
    translation_override = _TaskFile("misc-files/translation.json")
    archive_dir = _TaskFile(ARCHIVE_DIR)
    archive = _TaskFile("{data_type}_archive.json", under=ARCHIVE_DIR)
    error_archive = _TaskFile("error_{data_type}_archive.json", under=ARCHIVE_DIR)
    #: the error archive's rows' positions and reasons, one entry per row, in its order
    error_reasons = _TaskFile("error_{data_type}_reasons.json", under=ARCHIVE_DIR)
    #: the previous run's imported rows as columns, tied to the archives by their SHA-256
    #: (:mod:`hr_connector.previous_run`)
    archive_sidecar = _TaskFile(".{data_type}_archive.parquet", under=ARCHIVE_DIR)
    journal = _TaskFile(".{data_type}_commit.json", under=ARCHIVE_DIR)
    lock = _TaskFile(".{data_type}.lock", under=ARCHIVE_DIR)
    #: the last run's result, for a retry that only re-files its admin task (hr_connector.runrecord)
    last_run = _TaskFile(".{data_type}_{task_id}_last_run.json", under=ARCHIVE_DIR)
    #: the data type's committed output is not yet the platform's, whichever task wrote it, and
    #: the archives it was compared with (hr_connector.delivery)
    undelivered = _TaskFile(".{data_type}_undelivered", under=ARCHIVE_DIR)
    kept_archive = _TaskFile(".{data_type}_archive.json.prev", under=ARCHIVE_DIR)
    kept_error_archive = _TaskFile(".error_{data_type}_archive.json.prev", under=ARCHIVE_DIR)
    #: what the data-quality checks keep for the next runs (hr_connector.quality.kept)
    quality_state = _TaskFile(".{data_type}_quality.json", under=ARCHIVE_DIR)

    @property
    def read_archives(self) -> tuple[Path, ...]:
        """The files of the previous run that a run reads (checked before any step reads them)."""
        return (self.archive, self.error_archive, self.archive_sidecar, self.quality_state)

    @property
    def attached(self) -> tuple[Path, ...]:
        """The files a run attaches to its admin task, in the task's order (the last: the admin
        task itself, as data)."""
        return (
            self.archive,
            self.output,
            self.error_archive,
            self.changes_csv,
            self.admin_task_json,
        )

    def zipped(self, name: str) -> Path:
        """Where the attachment ``name`` is kept zipped (hr_connector.attachments)."""
        return self.attachments_dir / f"{self.task_id}_{name}.zip"

    def is_own_temporary(self, folder: Path, name: str) -> bool:
        """Whether ``name`` in ``folder`` is a staged file of this task's or data type's files
        (a crashed run's leftover; another data type's are not touched)."""
        real = name.lstrip(".").partition(".tmp-")[0]
        if ".tmp-" not in name:
            return False
        if folder == self.archive_dir:
            return real.startswith(
                (f"{self.data_type}_", f"error_{self.data_type}_", f"{self.data_type}.")
            )
        return folder in (self.root, self.attachments_dir) and real.startswith(f"{self.task_id}_")


def door_for(path: Path) -> Door:
    """The door of ``path``: its working directory's (the deepest one this process uses), else
    that of its nearest existing folder (a file outside any working directory: a test's, a
    scratch zip's)."""
    full = Path(os.path.abspath(path))
    roots = [root for root in tuple(_ROOTS) if root in full.parents]
    if roots:
        return Door(max(roots, key=lambda r: len(r.parts)))
    return Door(next(p for p in full.parents if p.is_dir()))


def check_archive_dir(workdir: WorkDir) -> None:
    """Refuse ``data/`` or ``data/archive`` when either is not a real folder (a symlink leads
    the archives and the lock elsewhere); nothing is created."""
    workdir.door.check_folder(workdir.archive_dir)


@contextlib.contextmanager
def run_lock(workdir: WorkDir) -> Iterator[None]:
    """One run per data type and working directory at a time.

    ``flock`` is released by the kernel when the holder dies, so a crashed run never leaves a
    stale lock behind; the file only records who holds it, for the error message.
    """
    with workdir.door.open_kept(workdir.lock) as fh:
        fd = fh.fileno()
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


def write_staged(final: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Write ``final``'s content to a temporary sibling, fsynced; return the temporary path."""
    return door_for(final).write_staged(final, write)


def write_staged_together(
    finals: list[Path], write: Callable[[list[IO[bytes]]], None]
) -> list[Path]:
    """:func:`write_staged` for files written in one pass (all or none of them is staged)."""
    with contextlib.ExitStack() as files:
        staged = [files.enter_context(door_for(final).staging(final)) for final in finals]
        write([fh for _, fh in staged])
    return [tmp for tmp, _ in staged]


def write_atomic(final: Path, write: Callable[[IO[bytes]], object]) -> None:
    door_for(final).write_atomic(final, write)


def write_text_atomic(final: Path, text: str) -> None:
    write_atomic(final, lambda fh: fh.write(text.encode("utf-8")))


def remove(path: Path) -> bool:
    return door_for(path).remove(path)


def commit(workdir: WorkDir, staged: list[tuple[Path, Path]]) -> None:
    """Rename staged files into place as one step that survives a crash half-way.

    The journal lists the renames; it is written (atomically) before the first rename and removed
    after the last. A run that finds a journal finishes those renames first
    (:func:`recover`), so the archives are always either all old or all new.
    """
    door = workdir.door
    journal = [[str(tmp), str(final)] for tmp, final in staged]
    try:
        for _, final in staged:  # refused now, not half-way through the renames
            door.replaceable(final)
        door.write_text(workdir.journal, json.dumps(journal))
    except BaseException:  # e.g. the disk is full: nothing was renamed, drop the staged files
        for tmp, _ in staged:
            door.remove(tmp)
        raise
    _apply(door, journal)
    door.remove(workdir.journal)


def _apply(door: Door, journal: list[list[str]]) -> None:
    for tmp, final in journal:
        with contextlib.suppress(FileNotFoundError):  # renamed before a crash
            door.replace(Path(tmp), Path(final))


def recover(workdir: WorkDir) -> bool:
    """Finish a commit that a crash interrupted; drop temporary files of crashed writes."""
    door = workdir.door
    recovered = False
    if door.exists(workdir.journal):
        try:
            journal = json.loads(door.read_bytes(workdir.journal))
        except ValueError:
            raise FileRefused(door.relative(workdir.journal), "not a commit journal") from None
        _apply(door, journal)
        door.remove(workdir.journal)
        recovered = True
    for folder in (workdir.root, workdir.archive_dir, workdir.attachments_dir):
        for name, st in door.list_folder(folder):
            if stat.S_ISDIR(st.st_mode) or not workdir.is_own_temporary(folder, name):
                continue
            door.remove(folder / name)
    return recovered
