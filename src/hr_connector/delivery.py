"""Undelivered output: rows a killed run committed but the platform never imported.

The platform imports ``<taskid>_output.json`` only after the script exits 0. A run killed after
its commit (archives advanced) but before that exit leaves rows nobody imports, and the next
partial run, comparing against the advanced archive, would not output them again. So before a
commit the run marks its output *undelivered* and keeps hard links to the archives it compared
against (``.prev``, one pair per task: two tasks of one data type in one working directory never
touch each other's base). A run that finds its task's mark compares against the kept base
instead, so the undelivered changes are output again.

When is the output delivered? Only the platform sees the exit status, so the mark is cleared as
late as a process can act: the EPE wrapper prints the output path, flushes stdout, stderr and the
log, and only then turns the mark to "delivered" with one store into its mapped page (no system
call a SIGKILL could outlast; no fsync: should the page be lost in a power cut, the next run
outputs the same changes again, which is harmless) and calls ``os._exit`` at once
(:func:`defer_to_exit`, :func:`clear_deferred`). A kill anywhere before that store, including
after the path was printed, keeps the mark. What stays is the gap between that store and the
``exit_group`` call (a few instructions) that no process can close: its exit status is known
only to its parent. Callers without that contract (the Prefect flows, tests) clear the mark as
the run's last step. The stale base of a delivered run is dropped by the next run of the task.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
from pathlib import Path

from hr_connector.workdir import WorkDir, write_text_atomic

log = logging.getLogger("hr_connector.delivery")

#: Working directories whose mark the process entry clears just before it exits (None: clear
#: at the end of the run, see :func:`defer_to_exit`).
_deferred: list[WorkDir] | None = None
#: The run locks held until then (a kernel lock: the exit releases it).
_locks: list[contextlib.ExitStack] = []


def marker(workdir: WorkDir) -> Path:
    return workdir.undelivered


def is_marked(workdir: WorkDir) -> bool:
    """Whether the task's last committed output is undelivered (the mark reads ``u…``; the
    exit turns it into ``d…`` in place, see :func:`clear_deferred`)."""
    try:
        with open(marker(workdir), "rb") as fh:
            return fh.read(1) == b"u"
    except FileNotFoundError:
        return False


def _prev(path: Path, task_id: str) -> Path:
    return path.with_name(f".{path.name}.{task_id}.prev")


def _legacy_prev(path: Path) -> Path:
    """Where versions before the per-task base kept it (one per data type)."""
    return path.with_name(f".{path.name}.prev")


def _kept(path: Path, task_id: str) -> Path:
    mine = _prev(path, task_id)
    legacy = _legacy_prev(path)
    if not mine.exists() and legacy.exists():
        return legacy
    return mine


class BaseView(WorkDir):
    """The working directory as the undelivered run found it: its archives are the kept base.

    A base that is missing (the undelivered run was the first one, or an older version lost it)
    reads as empty (:attr:`empty_if_missing`): every valid row is output again, nothing is lost.
    """

    empty_if_missing = True

    @property
    def archive(self) -> Path:
        return _kept(super().archive, self.task_id)

    @property
    def error_archive(self) -> Path:
        return _kept(super().error_archive, self.task_id)


def comparison_base(workdir: WorkDir, *, dry_run: bool = False) -> WorkDir:
    """Where the comparison's archives are: the kept base when an output is undelivered."""
    if is_marked(workdir):
        log.warning(
            "The output of an earlier run was committed but never delivered (the run was "
            "stopped before it ended); comparing against the archive before that run so its "
            "changes are output again"
        )
        return BaseView(workdir.root, workdir.task_id, workdir.data_type)
    if not dry_run:
        _drop_base(workdir)  # the base of a delivered run, left by the fast exit
    return workdir


def _link(source: Path, target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    with contextlib.suppress(FileNotFoundError):
        os.link(source, target)


def before_commit(workdir: WorkDir) -> None:
    """Keep the comparison base and mark the coming output undelivered (first mark wins)."""
    from hr_connector import ending

    ending.commit_begins()  # SIGTERM no longer interrupts: the run ends its files first
    if is_marked(workdir):
        return  # the base of the still-undelivered run stays the base
    _link(workdir.archive, _prev(workdir.archive, workdir.task_id))
    _link(workdir.error_archive, _prev(workdir.error_archive, workdir.task_id))
    write_text_atomic(marker(workdir), "undelivered\n")


def _drop_base(workdir: WorkDir) -> None:
    for path in (workdir.archive, workdir.error_archive):
        for kept in (_prev(path, workdir.task_id), _legacy_prev(path)):
            with contextlib.suppress(FileNotFoundError):
                kept.unlink()


def delivered(workdir: WorkDir) -> None:
    """The run ends normally: its output is the platform's now (or at the process's exit)."""
    if _deferred is not None:
        _deferred.append(workdir)
        return
    with contextlib.suppress(FileNotFoundError):
        marker(workdir).unlink()
    _drop_base(workdir)


def hold_until_exit(lock: contextlib.ExitStack) -> None:
    """When the marks are cleared at the exit, the run lock is held until then as well: no
    other run of the working directory starts between the run's end and the hand-over."""
    if _deferred is not None:
        _locks.append(lock.pop_all())


def _release() -> None:
    while _locks:
        _locks.pop().close()


def defer_to_exit() -> None:
    """From now on :func:`delivered` only notes the run; :func:`clear_deferred` clears it."""
    global _deferred
    _deferred = []


def clear_deferred(*, release_locks: bool = True) -> None:
    """Clear the marks of the runs that ended: the caller exits right after this.

    Not an unlink: a SIGKILL that arrives while a file system call runs lets the call finish and
    kills the process after it (exit status "killed", mark gone). The mark's page is mapped
    and made writable first; clearing it is then one store into memory (``u`` -> ``d``), no
    system call, right before the exit. The kernel writes the page back; should a power cut
    lose it, the next run outputs the same changes again, which is harmless. The exit releases
    the run locks (``release_locks=False``).
    """
    global _deferred
    pending, _deferred = _deferred or [], None
    pages: list[mmap.mmap] = []
    for workdir in pending:
        try:
            fd = os.open(marker(workdir), os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            page = mmap.mmap(fd, 1)
        finally:
            os.close(fd)
        page[0] = page[0]  # fault the page in, writable: the last step must not block
        pages.append(page)
    for page in pages:
        page[0] = ord("d")
    if release_locks:
        for page in pages:
            page.close()
        _release()


def discard_deferred() -> None:
    """The process does not exit 0 after all (e.g. SIGTERM): every mark stays."""
    global _deferred
    _deferred = None
    _release()
