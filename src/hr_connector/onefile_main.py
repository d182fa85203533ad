"""The ``__main__`` of the one-file ``IGAConnector.py`` (``hr-connector bundle --one-file``).

Compiled modules cannot be imported from a zip, so the first run unpacks ``lib/`` into a cache
folder named by the bundle's content, private to the user and outside the working directory (one
owned by someone else, or open to others, is refused). Standard library only: nothing else is
importable before the unpacking. The ``BUNDLE_*`` values are written in by the bundle's build.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import zipfile
from typing import NoReturn

BUNDLE_KEY = "development"
BUNDLE_PYTHON = ""
BUNDLE_MACHINE = ""
_NAME = "IGAConnector.py"
_DONE = ".complete"


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"{_NAME}: {message}\n")
    sys.exit(2)


def _check_target() -> None:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    machine = os.uname().machine
    if (BUNDLE_PYTHON and here != BUNDLE_PYTHON) or (BUNDLE_MACHINE and machine != BUNDLE_MACHINE):
        _fail(
            f"this bundle is for Python {BUNDLE_PYTHON} on {BUNDLE_MACHINE}, not Python {here} on "
            f"{machine} ({sys.executable}): build one with 'hr-connector bundle --one-file "
            f"--python-version {here} DIR' for this worker."
        )


def _private(folder: str) -> str | None:
    """Why ``folder`` may not hold code this user runs (None: it may)."""
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder (a symlink?)"
    if info.st_uid != os.getuid():
        return f"belongs to uid {info.st_uid}, not {os.getuid()}"
    if info.st_mode & 0o077:
        return f"is open to other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _cache_root() -> str:
    """``$XDG_CACHE_HOME/hr-connector`` or ``~/.cache/hr-connector``; else, or when that lies in
    the working directory, ``$TMPDIR/hr-connector-<uid>``."""
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    work = os.path.realpath(os.getcwd())
    for base in (home, os.environ.get("TMPDIR") or "/tmp"):
        root = os.path.join(os.path.realpath(base), "hr-connector")
        if base != home:
            root += f"-{os.getuid()}"
        if os.path.commonpath([root, work]) == work or not os.path.isabs(root):
            continue  # never a cache the working directory's files could be
        try:
            os.makedirs(root, mode=0o700, exist_ok=True)
        except OSError:
            continue
        why = _private(root)
        if why is None:
            return root
        _fail(f"the cache folder {root} {why}: remove it, or set XDG_CACHE_HOME.")
    _fail("no private cache folder can be made (HOME and TMPDIR are not writable).")


def _unpacked(archive: str) -> str:
    """The folder holding ``lib/`` of ``archive``, unpacked once per bundle content."""
    root = _cache_root()  # private: nobody else can change what is below it
    target = os.path.join(root, BUNDLE_KEY)
    if os.path.exists(os.path.join(target, _DONE)):
        return target
    staging = os.path.join(root, f".{BUNDLE_KEY}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)  # a killed run's leftover of the same pid
    os.mkdir(staging, 0o700)
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            if member.filename.startswith("lib/") and ".." not in member.filename.split("/"):
                bundle.extract(member, staging)
    with open(os.path.join(staging, "lib", _DONE), "w", encoding="utf-8") as mark:
        mark.write(BUNDLE_KEY + "\n")
    try:
        os.rename(os.path.join(staging, "lib"), target)
    except OSError:  # another run unpacked it meanwhile: theirs is the same content
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.exists(os.path.join(target, _DONE)):
            raise
    else:
        os.rmdir(staging)
    return target


def main() -> None:
    _check_target()  # the build refuses targets older than 3.11: another Python is refused here
    archive = os.path.realpath(sys.path[0])  # a zip application runs with itself first
    sys.path[0] = _unpacked(archive)
    from hr_connector.epe import main as connector

    sys.exit(connector())


if __name__ == "__main__":
    main()
