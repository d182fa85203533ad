"""The one door to the working directory: every file under it is opened, created, listed,
replaced and removed here, so the rules hold once for every path (a new side file opens no seam):

- no symlink is followed below the working directory (each folder is opened relative to its
  parent with ``O_NOFOLLOW``; the working directory itself is the platform's choice);
- only regular files are read or written (opened non-blocking and checked with ``fstat``, so a
  named pipe or device is refused instead of hanging the run);
- a file is never written through: a new file is renamed over it (so a hard link to a file
  outside is left alone; the few files written in place must have one link);
- a refusal is one line naming the path (:class:`FileRefused`), a decision, not a crash.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import io
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from hr_connector.errors import RunInterrupted

FILE_MODE = 0o600
FOLDER_MODE = 0o700

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = {
    stat.S_IFREG: "a file",
    stat.S_IFLNK: "a symlink",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFDIR: "a folder",
}
#: errnos of an open that met something other than the regular file or folder it asked for
_NOT_MINE = (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.ENOTDIR, errno.EOPNOTSUPP)


class FileRefused(RunInterrupted):
    """A path under the working directory that the connector will not open as its own."""

    case = "unsafe_file"
    message_format = (
        "'{path}' in the working directory is {kind}: the connector follows no link there and "
        "opens only regular files and folders of its own."
    )
    hint_format = (
        "Remove '{path}' or replace it with a regular file (the connector creates its own "
        "files), then rerun the task."
    )

    def __init__(self, path: str, kind: str) -> None:
        self._stated(path=path, kind=kind)


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def staged_name(final: Path) -> Path:
    """Where ``final``'s new content is written before it is renamed in (this process's)."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


class Door:
    """Every file operation below ``root`` (an absolute path; see the module's rules)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))

    # --- paths -------------------------------------------------------------------------------

    def relative(self, path: Path | str) -> str:
        """``path`` as the operator reads it: relative to the working directory."""
        return str(Path(*self._parts(Path(path)))) or "."

    def _parts(self, path: Path) -> tuple[str, ...]:
        full = Path(os.path.abspath(self.root / path))
        try:
            parts = full.relative_to(self.root).parts
        except ValueError:
            raise FileRefused(str(path), "outside the working directory") from None
        return parts

    @contextlib.contextmanager
    def _folder(self, parts: tuple[str, ...], *, create: bool) -> Iterator[int]:
        """The descriptor of the folder ``parts`` below the root, walked without a symlink (a
        missing working directory is created when writing: a deployment's first run)."""
        if create:
            os.makedirs(self.root, FOLDER_MODE, exist_ok=True)
        fd = os.open(self.root, _DIR_FLAGS & ~os.O_NOFOLLOW)
        try:
            for depth, name in enumerate(parts):
                child = self._child(fd, name, parts[: depth + 1], create=create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _child(self, parent: int, name: str, shown: tuple[str, ...], *, create: bool) -> int:
        """The folder ``name`` in ``parent`` (created when missing and ``create``)."""
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, FOLDER_MODE, dir_fd=parent)
            return self._child(parent, name, shown, create=False)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            kind = _kind(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
            raise FileRefused(str(Path(*shown)), kind) from None

    @contextlib.contextmanager
    def _at(self, path: Path, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """(the descriptor of ``path``'s folder, ``path``'s name)."""
        parts = self._parts(path)
        if not parts:
            raise FileRefused(".", "the working directory itself")
        with self._folder(parts[:-1], create=create) as folder:
            yield folder, parts[-1]

    def _refuse(self, path: Path, mode: int) -> FileRefused:
        return FileRefused(self.relative(path), _kind(mode))

    def _entry(self, folder: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return None

    # --- reading ----------------------------------------------------------------------------

    def open_read(self, path: Path) -> io.BufferedReader:
        """A regular file for reading (FileNotFoundError when it is missing)."""
        with self._at(path) as (folder, name):
            fd = self._open_regular(path, folder, name, os.O_RDONLY)
        return os.fdopen(fd, "rb")

    def _open_regular(self, path: Path, folder: int, name: str, flags: int, mode: int = 0) -> int:
        """``open`` that follows no symlink and never blocks, then refuses a non-regular file."""
        try:
            fd = os.open(
                name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=folder
            )
        except OSError as exc:
            if exc.errno in _NOT_MINE:
                st = os.stat(name, dir_fd=folder, follow_symlinks=False)
                raise self._refuse(path, st.st_mode) from None
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise self._refuse(path, st.st_mode)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return fd

    def read_bytes(self, path: Path) -> bytes:
        with self.open_read(path) as fh:
            return fh.read()

    def read_text(self, path: Path) -> str:
        return self.read_bytes(path).decode("utf-8")

    @contextlib.contextmanager
    def readable(self, path: Path) -> Iterator[str]:
        """A name an engine may open (``/proc/self/fd/N``): the checked file, for the block."""
        with self.open_read(path) as fh:
            yield f"/proc/self/fd/{fh.fileno()}"

    def stat(self, path: Path) -> os.stat_result | None:
        """The regular file's status; None when it is missing; refused when it is not regular."""
        try:
            with self._at(path) as (folder, name):
                st = self._entry(folder, name)
        except FileNotFoundError:  # a folder on the way is missing
            return None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise self._refuse(path, st.st_mode)
        return st

    def exists(self, path: Path) -> bool:
        """Whether the regular file is there (anything else there is refused)."""
        return self.stat(path) is not None

    def list_folder(self, folder: Path) -> list[tuple[str, os.stat_result]]:
        """The entries of a folder below the root with their ``lstat`` (none followed); [] when
        the folder is missing."""
        try:
            with self._folder(self._parts(folder), create=False) as fd:
                names = os.listdir(fd)
                return [(n, os.stat(n, dir_fd=fd, follow_symlinks=False)) for n in sorted(names)]
        except FileNotFoundError:
            return []

    def check_folder(self, folder: Path) -> None:
        """Refuse ``folder`` when it, or a folder on the way, is not a real folder (missing is
        fine: nothing is created)."""
        with (
            contextlib.suppress(FileNotFoundError),
            self._folder(self._parts(folder), create=False),
        ):
            pass

    def glob(self, pattern: str) -> list[Path]:
        """The regular files matching ``pattern`` (relative; ``*``, ``?``, ``[...]`` in any part,
        a leading dot only matched by a leading dot), sorted. A folder that matches the last
        part is skipped; a link, pipe, device or socket that matches any part is refused."""
        parts = [p for p in PurePosixPath(pattern).parts if p not in ("", ".")]
        found: list[Path] = []
        self._glob(Path(), parts, found)
        return sorted(self.root / p for p in found)

    def _glob(self, here: Path, parts: list[str], found: list[Path]) -> None:
        part, rest = parts[0], parts[1:]
        for name, st in self.list_folder(here):
            if not fnmatch.fnmatchcase(name, part) or (
                name.startswith(".") and not part.startswith(".")
            ):
                continue
            if stat.S_ISDIR(st.st_mode):
                if rest:
                    self._glob(here / name, rest, found)
            elif not stat.S_ISREG(st.st_mode):
                raise self._refuse(here / name, st.st_mode)
            elif not rest:
                found.append(here / name)

    # --- writing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def staging(self, final: Path) -> Iterator[tuple[Path, BinaryIO]]:
        """A new sibling file for ``final``'s content: (its path, its handle). Flushed and fsynced
        when the block ends; removed when the block fails. Rename it in with :meth:`replace`."""
        tmp = staged_name(final)
        with self._at(tmp, create=True) as (folder, name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder)  # a crashed run's leftover, never written through
            fd = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                FILE_MODE,
                dir_fd=folder,
            )
            try:
                with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
                    yield tmp, fh
                    fh.flush()
                    os.fsync(fh.fileno())
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=folder)
                raise

    def write_staged(self, final: Path, write: Callable[[IO[bytes]], object]) -> Path:
        """``final``'s content written to a new sibling file and fsynced; its path (renamed in
        by :meth:`replace` or a commit)."""
        with self.staging(final) as (tmp, fh):
            write(fh)
        return tmp

    def replaceable(self, final: Path) -> None:
        """Refuse ``final`` when a rename cannot replace its entry (a folder is there)."""
        with contextlib.suppress(FileNotFoundError), self._at(final) as (folder, name):
            st = self._entry(folder, name)
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise self._refuse(final, st.st_mode)

    def replace(self, staged: Path, final: Path) -> None:
        """Rename a staged file over ``final`` (the entry is replaced; nothing is written
        through a link there) and make the rename durable."""
        self.replaceable(final)
        with self._at(final, create=True) as (folder, name):
            with self._at(staged) as (source_folder, source):
                os.replace(source, name, src_dir_fd=source_folder, dst_dir_fd=folder)
            os.fsync(folder)

    def write_atomic(self, final: Path, write: Callable[[IO[bytes]], object]) -> None:
        self.replace(self.write_staged(final, write), final)

    def write_bytes(self, final: Path, data: bytes) -> None:
        self.write_atomic(final, lambda fh: fh.write(data))

    def write_text(self, final: Path, text: str) -> None:
        self.write_bytes(final, text.encode("utf-8"))

    def link(self, source: Path, target: Path) -> None:
        """Make ``target`` a second name of the regular file ``source`` (the old entry at
        ``target`` is replaced, never written through); ``target`` removed when ``source`` is
        missing or not a regular file (nothing of ours to keep)."""
        with self._at(source) as (folder, name):
            st = self._entry(folder, name)
            if st is None or not stat.S_ISREG(st.st_mode):
                self.remove(target)
                return
            tmp = staged_name(target)
            with self._at(tmp, create=True) as (target_folder, tmp_name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp_name, dir_fd=target_folder)
                linked = {"src_dir_fd": folder, "dst_dir_fd": target_folder}
                os.link(name, tmp_name, **linked, follow_symlinks=False)
        self.replace(tmp, target)

    def remove(self, path: Path) -> bool:
        """Remove the entry at ``path`` (a link is removed, never its target); True when there
        was one. A folder there is refused."""
        try:
            with self._at(path) as (folder, name):
                st = os.stat(name, dir_fd=folder, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    raise self._refuse(path, st.st_mode)
                os.unlink(name, dir_fd=folder)
                os.fsync(folder)
        except FileNotFoundError:
            return False
        return True

    def make_folder(self, folder: Path) -> None:
        """Create ``folder`` and its parents below the root (none of them a symlink)."""
        with self._folder(self._parts(folder), create=True):
            pass

    def open_kept(self, path: Path, *, append: bool = False, create: bool = True) -> BinaryIO:
        """A file the run keeps open and writes in place (the run lock, the log, the undelivered
        mark): created (0600) when missing and ``create``; refused unless it is a regular file
        with one link (never written through); made private (0600) when it was not."""
        flags = os.O_RDWR | (os.O_CREAT if create else 0) | (os.O_APPEND if append else 0)
        with self._at(path, create=create) as (folder, name):
            fd = self._open_regular(path, folder, name, flags, FILE_MODE)
        st = os.fstat(fd)
        if st.st_nlink != 1:
            os.close(fd)
            raise FileRefused(self.relative(path), "a hard-linked file")
        if stat.S_IMODE(st.st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "r+b", buffering=0)
