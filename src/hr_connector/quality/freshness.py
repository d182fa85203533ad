"""File-level checks: the same file delivered again, and a file older than allowed.

The SHA-256 of every completed run's file is kept beside the archive (:mod:`.kept`); a file with
the same hash is what the HR system delivered last time. The age is the file's modification
time: the local file's, or the SFTP listing's (the download keeps it). A time in the first day of
1970 is no time at all (an export or a server that never set it), and a time more than a few
minutes ahead of this machine's clock is a wrong clock: either way the file's age is unknown, and
the check says so instead of passing the file.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from hr_connector.errors import RunInterrupted
from hr_connector.previous_run import file_sha256
from hr_connector.quality import kept
from hr_connector.quality.findings import CheckRun
from hr_connector.quality.settings import QualitySettings
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.quality")

#: Seconds a file may seem modified after now (two machines' clocks never agree exactly).
CLOCK_SKEW = 300
#: A modification time before this is unset (the epoch, in any time zone).
UNSET_BEFORE = 86_400


class SameFileAgain(RunInterrupted):
    case = "same_file_again"
    message_format = (
        "The HR system delivered the same file again: '{file}' has the same content (SHA-256 "
        "{sha256}…) as the file '{previous_file}' of the last completed run ({completed_at})."
    )
    hint_format = (
        "Check that the HR system's export job ran, deliver today's file and rerun the task (or "
        "set checks.same_file to warn or off for a system that rarely changes)."
    )

    def __init__(self, file: str, sha256: str, previous_file: str, completed_at: str):
        self._stated(
            file=file, sha256=sha256[:16], previous_file=previous_file, completed_at=completed_at
        )


class _FileAge(RunInterrupted):
    def __init__(self, **figures: str) -> None:
        self._stated(**figures)


class FileTooOld(_FileAge):
    case = "file_too_old"
    message_format = (
        "The HR file '{file}' was last modified {modified}, {age_hours} hours ago: older than "
        "max_file_age_hours {limit}."
    )
    hint_format = (
        "Check that the HR system's export job ran, deliver a fresh file and rerun the task."
    )


class FileDateUnset(_FileAge):
    case = "file_date_unset"
    message_format = (
        "The HR file '{file}' has no real modification time ({modified}, the Unix epoch): its "
        "age is unknown, so max_file_age_hours {limit} cannot be checked."
    )
    hint_format = (
        "Have the HR system or the SFTP server keep the file's time, deliver the file again and "
        "rerun the task (or set checks.file_age to warn)."
    )


class FileDateInFuture(_FileAge):
    case = "file_date_in_future"
    message_format = (
        "The HR file '{file}' was last modified {modified}, {ahead_hours} hours ahead of this "
        "machine's clock: its age is unknown, so max_file_age_hours {limit} cannot be checked."
    )
    hint_format = (
        "Check the clocks of the HR system, the SFTP server and this machine, deliver the file "
        "again and rerun the task (or set checks.file_age to warn)."
    )


def file_age(name: str, mtime: float, now: float, limit: float) -> RunInterrupted | None:
    """Why a file modified at ``mtime`` does not pass ``max_file_age_hours`` ``limit``, if it
    does not: too old, or of unknown age."""
    modified = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(mtime))
    figures = {"file": name, "modified": modified, "limit": f"{limit:g}"}
    if mtime < UNSET_BEFORE:
        return FileDateUnset(**figures)
    if mtime > now + CLOCK_SKEW:
        return FileDateInFuture(**figures, ahead_hours=f"{(mtime - now) / 3600:.1f}")
    if (age := max(now - mtime, 0.0) / 3600) > limit:
        return FileTooOld(**figures, age_hours=f"{age:.1f}")
    return None


def check_file(settings: QualitySettings, workdir: WorkDir, source: Path) -> list[CheckRun]:
    """Same file again and file age; raises on a ``block`` finding."""
    runs: list[CheckRun] = []
    limit = settings.max_file_age_hours
    if limit is not None and settings.on("file_age"):
        run = CheckRun("file_age", settings.level("file_age"))
        st = kept.door_for(source.parent, workdir.door).stat(source)
        mtime = st.st_mtime if st is not None else time.time()
        _found(run, file_age(source.name, mtime, time.time(), limit))
        runs.append(run)
    if settings.on("same_file"):
        run = CheckRun("same_file", settings.level("same_file"))
        previous = kept.read(workdir.archive_dir, workdir.data_type, workdir.door)
        digest = run.sha256 = file_sha256(kept.door_for(source.parent, workdir.door), source)
        if previous.get("sha256") == digest:
            last, at = str(previous.get("file", "")), str(previous.get("completed_at", ""))
            _found(run, SameFileAgain(source.name, digest, last, at))
        runs.append(run)
    return runs


def _found(run: CheckRun, error: RunInterrupted | None) -> None:
    """``block``: stop the run with ``error``; ``warn``: list it (its figures fill the case)."""
    if error is None:
        return
    if run.severity == "block":
        raise error
    log.warning("Data quality: %s", error.message)
    run.file_findings.append((error.case, {k: str(v) for k, v in error.figures.items()}))
