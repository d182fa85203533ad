"""Fetch (local part): find the one HR file that ``file_path`` names in the working directory.

The vendor's rules: no file, or an empty one, and several matching files each interrupt the run.
When the SFTP parameters are set, :mod:`hr_connector.clients.sftp` first downloads the remote
file into the local folder; this step then finds it exactly as it finds a file put there by hand.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TypeVar

from hr_connector.errors import FileEmpty, FileNotReceived, MultipleFiles, UnsafePath
from hr_connector.workdir import WorkDir

_Match = TypeVar("_Match")

#: A dry run writes nothing in the working directory: an SFTP download goes to a scratch folder
#: of this name in the system's temporary directory, removed when the run ends.
DRY_RUN_PREFIX = "hr-connector-dry-run-"


def check_pattern(workdir: WorkDir, file_path: str) -> str:
    """``file_path`` must stay inside the working directory: relative, no '..'."""
    pure = PurePosixPath(file_path)
    if ".." in pure.parts:
        raise UnsafePath("file_path", file_path)
    if pure.is_absolute():
        # an absolute path is accepted only when it lies inside the working directory
        try:
            return str(Path(file_path).resolve().relative_to(workdir.root))
        except ValueError:
            raise UnsafePath("file_path", file_path) from None
    return file_path


def locate_local_file(workdir: WorkDir, file_path: str) -> Path:
    """The one regular file ``file_path`` matches, found through the working directory's door:
    a symlink, pipe or device that matches is refused (FileRefused), a folder is skipped."""
    pattern = check_pattern(workdir, file_path)
    matches = [
        p for p in workdir.door.glob(pattern) if not (p.name.startswith(".") and ".tmp-" in p.name)
    ]
    where = str((workdir.root / pattern).parent)
    found = the_one_match(matches, file_path, where, lambda m: m.name)
    st = workdir.door.stat(found)
    if st is None:
        raise FileNotReceived(file_path, where)  # removed since it was listed
    if st.st_size == 0:
        raise FileEmpty(found.name)
    return found


def the_one_match(
    matches: Sequence[_Match], file_path: str, where: str, name: Callable[[_Match], str]
) -> _Match:
    """The vendor's rules, locally and on the SFTP server: no matching file, or several,
    interrupt the run (FileNotReceived, MultipleFiles)."""
    if not matches:
        raise FileNotReceived(file_path, where)
    if len(matches) > 1:
        raise MultipleFiles(file_path, [name(m) for m in matches])
    return matches[0]


def scratch_workdir(workdir: WorkDir) -> WorkDir:
    """A private, empty folder standing in for ``workdir`` (a dry run's SFTP download)."""
    root = Path(tempfile.mkdtemp(prefix=DRY_RUN_PREFIX))
    return WorkDir(root, workdir.task_id, workdir.data_type)


def discard_dry_run_copy(source: Path | None) -> None:
    """Remove the scratch folder a dry run downloaded ``source`` into (nothing else)."""
    if source is None:
        return
    temp = Path(tempfile.gettempdir()).resolve()
    for folder in source.parents:
        if folder.name.startswith(DRY_RUN_PREFIX) and folder.parent.resolve() == temp:
            shutil.rmtree(folder, ignore_errors=True)
            return
