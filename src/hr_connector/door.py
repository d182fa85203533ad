"""The one door to the working directory: every file under it is opened, created, replaced and
removed here, and nowhere else.

Why one door: when each path the run touches is guarded on its own, every new side file (a lock,
a mark, an attachment, a sidecar) opens a new seam. Here the rules hold once, for every path:

- no symlink is followed at any component below the working directory: each folder is opened
  relative to its parent's descriptor with ``O_NOFOLLOW`` (the working directory itself may be
  reached through a symlink: the platform chooses it, not a file in it);
- only regular files are read or written: a file is opened non-blocking and checked with
  ``fstat`` before a byte moves, so a named pipe, a device or a socket is refused instead of
  hanging the run;
- a file is never written through: a new file is written beside it and renamed over it, so a
  hard link to a file outside is left as it was (a lock and the log, kept open, must have one
  link);
- a refusal is one line naming the path, relative to the working directory
  (:class:`FileRefused`).

A file the engine must open by name (polars reads a path) is opened here first and handed over as
``/proc/self/fd/N`` (:meth:`Door.readable`): the engine reopens the very file that was checked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from hr_connector.errors import RunInterrupted

FILE_MODE = 0o600
FOLDER_MODE = 0o700

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = {
    stat.S_IFLNK: "a symlink",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFDIR: "a folder",
}


class FileRefused(RunInterrupted):
    """A path under the working directory that the connector will not open as its file."""

    case = "unsafe_file"
    message_format = "'{path}' is {kind}: the connector only opens regular files of its own there."
    hint_format = "Remove '{path}' (or make it a regular file); the connector creates its files."

    def __init__(self, path: str, kind: str) -> None:
        self._stated(path=path, kind=kind)


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


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
        """The descriptor of the folder ``parts`` below the root, walked without a symlink."""
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

    # --- reading ----------------------------------------------------------------------------

    def open_read(self, path: Path) -> BinaryIO:
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
            if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EOPNOTSUPP):
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
                st = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
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

    # --- writing ----------------------------------------------------------------------------

    def write_staged(self, final: Path, write: Callable[[IO[bytes]], None]) -> Path:
        """``final``'s content written to a new sibling file and fsynced; its path (renamed in
        by :meth:`replace` or a commit)."""
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
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
                    write(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=folder)
                raise
        return tmp

    def replace(self, staged: Path, final: Path) -> None:
        """Rename a staged file over ``final`` (the entry is replaced; nothing is written
        through a link there) and make the rename durable."""
        with self._at(final, create=True) as (folder, name):
            try:
                st = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise self._refuse(final, st.st_mode)
            with self._at(staged) as (source_folder, source):
                os.replace(source, name, src_dir_fd=source_folder, dst_dir_fd=folder)
            os.fsync(folder)

    def write_atomic(self, final: Path, write: Callable[[IO[bytes]], None]) -> None:
        self.replace(self.write_staged(final, write), final)

    def write_bytes(self, final: Path, data: bytes) -> None:
        self.write_atomic(final, lambda fh: fh.write(data))

    def write_text(self, final: Path, text: str) -> None:
        self.write_bytes(final, text.encode("utf-8"))

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

    def open_kept(self, path: Path, *, append: bool = False) -> BinaryIO:
        """A file the run keeps open and writes in place (the run lock, the log): created when
        missing; refused unless it is a regular file with one link (never written through)."""
        flags = os.O_RDWR | os.O_CREAT | (os.O_APPEND if append else 0)
        with self._at(path, create=True) as (folder, name):
            fd = self._open_regular(path, folder, name, flags, FILE_MODE)
        st = os.fstat(fd)
        if st.st_nlink != 1:
            os.close(fd)
            raise FileRefused(self.relative(path), "a hard-linked file")
        return os.fdopen(fd, "r+b", buffering=0)
