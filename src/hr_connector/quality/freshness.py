"""File-level checks: the same file delivered again, and a file older than allowed.

The SHA-256 of every completed run's file is kept beside the archive
(``data/archive/.<data_type>_quality.json``). A file with the same hash is what the HR system
delivered last time. The age is the file's modification time: the local file's, or the SFTP
listing's (the download keeps it).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from hr_connector.errors import RunInterrupted


class SameFileAgain(RunInterrupted):
    case = "same_file_again"

    def __init__(self, file: str, sha256: str, previous_file: str, completed_at: str):
        super().__init__(
            f"The HR system delivered the same file again: '{file}' has the same content "
            f"(SHA-256 {sha256[:16]}…) as the file '{previous_file}' of the last completed run "
            f"({completed_at}).",
            hint="Check that the HR system's export job ran, deliver today's file and rerun "
            "the task (or set checks.same_file to warn or off for a system that rarely changes).",
            figures={
                "file": file,
                "sha256": sha256[:16],
                "previous_file": previous_file,
                "completed_at": completed_at,
            },
        )


class FileTooOld(RunInterrupted):
    case = "file_too_old"

    def __init__(self, file: str, age_hours: float, limit: float, modified: str):
        super().__init__(
            f"The HR file '{file}' was last modified {modified}, {age_hours:.1f} hours ago: "
            f"older than max_file_age_hours {limit:g}.",
            hint="Check that the HR system's export job ran, deliver a fresh file and rerun "
            "the task.",
            figures={
                "file": file,
                "age_hours": f"{age_hours:.1f}",
                "limit": f"{limit:g}",
                "modified": modified,
            },
        )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def age_hours(path: Path, now: float | None = None) -> tuple[float, str]:
    """How old the file is (hours) and its modification time as UTC text."""
    mtime = path.stat().st_mtime
    now = time.time() if now is None else now
    modified = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(mtime))
    return max(now - mtime, 0.0) / 3600.0, modified
