"""Undelivered output: rows a killed run committed but the platform never imported.

The platform imports ``<taskid>_output.json`` only after the script exits 0. A run killed after
its commit (archives advanced) but before that exit leaves rows nobody imports, and the next
partial run, comparing against the advanced archive, would not output them again. So before a
commit the run marks the data type's output *undelivered* and keeps second names (hard links) of
the archives it compared against (the kept base). The mark and the base belong to the data type
in the working directory, not to the task: the next run of that data type, whichever task runs
it, compares against the kept base, so the undelivered changes are output again (the base is
always the last state handed to the platform).

When is the output delivered? Only the platform sees the exit status, so the mark is cleared as
late as a process can act: the EPE wrapper prints the output path, flushes stdout, stderr and the
log, and only then turns the mark to "delivered" with one store into its mapped page (no system
call a SIGKILL could outlast; no fsync: should the page be lost in a power cut, the next run
outputs the same changes again, which is harmless) and calls ``os._exit`` at once
(:func:`defer_to_exit`, :func:`clear_deferred`). A kill anywhere before that store, including
after the path was printed, keeps the mark. What stays is the gap between that store and the
``exit_group`` call (a few instructions) that no process can close: its exit status is known
only to its parent. Callers without that contract (the Prefect flows, tests) clear the mark as
the run's last step. The stale base of a delivered run is dropped by the next run.

Every file here goes through the working directory's door: a mark that is a link, a pipe or a
hard-linked file is refused, never written through.
"""

from __future__ import annotations

import contextlib
import logging
import mmap

from hr_connector.door import FileRefused
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.delivery")

#: Working directories whose mark the process entry clears just before it exits (None: clear
#: at the end of the run, see :func:`defer_to_exit`).
_deferred: list[WorkDir] | None = None
#: The run locks held until then (a kernel lock: the exit releases it).
_locks: list[contextlib.ExitStack] = []


def is_marked(workdir: WorkDir) -> bool:
    """Whether the data type's last committed output is undelivered (the mark reads ``u…``;
    the exit turns it into ``d…`` in place, see :func:`clear_deferred`)."""
    try:
        with workdir.door.open_read(workdir.undelivered) as fh:
            return fh.read(1) == b"u"
    except FileNotFoundError:
        return False


class BaseView(WorkDir):
    """The working directory as the undelivered run found it: its archives are the kept base.

    A base that is missing (the undelivered run was the first one, or an older version lost it)
    reads as empty (:attr:`empty_if_missing`): every valid row is output again, nothing is lost.
    """

    empty_if_missing = True

    archive = WorkDir.kept_archive
    error_archive = WorkDir.kept_error_archive


def comparison_base(workdir: WorkDir, *, dry_run: bool = False) -> WorkDir:
    """Where the comparison's archives are: the kept base when an output is undelivered.

    The archives there must be regular files of ours (or missing): a link, a pipe or a folder
    is refused here, before any step reads them.
    """
    for path in workdir.read_archives:
        workdir.door.stat(path)
    if not dry_run:
        _adopt_task_mark(workdir)
    if is_marked(workdir):
        base = BaseView(workdir.root, workdir.task_id, workdir.data_type)
        for path in base.read_archives:
            workdir.door.stat(path)
        log.warning(
            "The output of an earlier run was committed but never delivered (the run was "
            "stopped before it ended); comparing against the archive before that run so its "
            "changes are output again"
        )
        return base
    if not dry_run:
        _drop_base(workdir)  # the base of a delivered run, left by the fast exit
    return workdir


def _adopt_task_mark(workdir: WorkDir) -> None:
    """The mark and base a version before this one kept per task become the data type's: an
    upgrade between a killed run and the rerun of its task loses nothing."""
    door = workdir.door
    legacy = workdir.archive_dir / f".{workdir.data_type}_{workdir.task_id}_undelivered"
    if is_marked(workdir) or not door.exists(legacy):
        return
    for path, kept in (
        (workdir.archive, workdir.kept_archive),
        (workdir.error_archive, workdir.kept_error_archive),
    ):
        with contextlib.suppress(FileNotFoundError):
            door.replace(path.with_name(f".{path.name}.{workdir.task_id}.prev"), kept)
    door.replace(legacy, workdir.undelivered)


def before_commit(workdir: WorkDir) -> None:
    """Keep the comparison base and mark the coming output undelivered (first mark wins)."""
    if is_marked(workdir):
        return  # the base of the still-undelivered run stays the base
    door = workdir.door
    door.link(workdir.archive, workdir.kept_archive)
    door.link(workdir.error_archive, workdir.kept_error_archive)
    door.write_text(workdir.undelivered, "undelivered\n")


def _drop_base(workdir: WorkDir) -> None:
    for kept in (workdir.kept_archive, workdir.kept_error_archive):
        workdir.door.remove(kept)


def delivered(workdir: WorkDir) -> None:
    """The run ends normally: its output is the platform's now (or at the process's exit)."""
    if _deferred is not None:
        _deferred.append(workdir)
        return
    workdir.door.remove(workdir.undelivered)
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
    kills the process after it (exit status "killed", mark gone). So each mark's page is mapped
    writable first, and clearing it is one store (``u`` -> ``d``). The exit releases the run
    locks (``release_locks=False``).
    """
    global _deferred
    pending, _deferred = _deferred or [], None
    pages: list[mmap.mmap] = []
    for workdir in pending:
        try:
            mark = workdir.door.open_kept(workdir.undelivered, create=False)
        except (FileNotFoundError, FileRefused):  # not ours to clear: the next run repeats
            continue
        with mark:
            page = mmap.mmap(mark.fileno(), 1)
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
