"""Undelivered output: rows a killed run committed but the platform never imported.

The platform imports ``<taskid>_output.json`` only after the script exits 0. A run killed after
its commit (archives advanced) but before that exit leaves rows nobody imports, and the next
partial run, comparing against the advanced archive, would not output them again. So before a
commit the run marks its output *undelivered* and keeps hard links to the archives it compared
against (``.prev``); the mark is cleared as the run's very last step. A run that finds the mark
compares against the kept base instead, so the undelivered changes are output again.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from hr_connector.workdir import WorkDir, remove, write_text_atomic

log = logging.getLogger("hr_connector.delivery")


def marker(workdir: WorkDir) -> Path:
    return workdir.archive_dir / f".{workdir.data_type}_{workdir.task_id}_undelivered"


def _prev(path: Path) -> Path:
    return path.with_name(f".{path.name}.prev")


class BaseView(WorkDir):
    """The working directory as the undelivered run found it: its archives are the kept base."""

    @property
    def archive(self) -> Path:
        return _prev(super().archive)

    @property
    def error_archive(self) -> Path:
        return _prev(super().error_archive)

    @property
    def archive_index(self) -> Path:  # the index describes the current archive, not the base
        return self.archive_dir / f".{self.data_type}_prev_archive.index"


def comparison_base(workdir: WorkDir) -> WorkDir:
    """Where the comparison's archives are: the kept base when an output is undelivered."""
    if marker(workdir).exists():
        log.warning(
            "The output of an earlier run was committed but never delivered (the run was "
            "stopped before it ended); comparing against the archive before that run so its "
            "changes are output again"
        )
        return BaseView(workdir.root, workdir.task_id, workdir.data_type)
    return workdir


def _link(source: Path, target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    with contextlib.suppress(FileNotFoundError):
        os.link(source, target)


def before_commit(workdir: WorkDir) -> None:
    """Keep the comparison base and mark the coming output undelivered (first mark wins)."""
    if marker(workdir).exists():
        return  # the base of the still-undelivered run stays the base
    _link(workdir.archive, _prev(workdir.archive))
    _link(workdir.error_archive, _prev(workdir.error_archive))
    write_text_atomic(marker(workdir), "undelivered\n")


def delivered(workdir: WorkDir) -> None:
    """The run ends normally: its output is the platform's now."""
    remove(marker(workdir))
    for path in (_prev(workdir.archive), _prev(workdir.error_archive)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
