"""The storage layer's file system seam, and small file helpers shared by the storage modules.

Every file operation of ``strom.storage`` goes through a ``FileSystem``: the
descriptor calls of ``os`` (``open``, ``pread``, ``pwrite``, ``pwritev``,
``fsync`` ...) and a few path operations (``replace``, ``unlink``,
``listdir`` ...).  ``OS_FS`` is the real one: its methods *are* the ``os``
functions (static attributes), so the hot path pays one attribute lookup and
no extra frame or copy.  LogManager passes its file system down to each Log,
which passes it to its segments, indexes, producer-state snapshots and
leader-epoch checkpoint.  Tests pass ``strom.storage.faults.FaultyFileSystem``
to make chosen calls fail (ENOSPC, EIO) or write short.

Composite helpers (``read_bytes``, ``exists``, ``write_atomically`` ...) are
written in terms of the primitives, so a fault injected into a primitive
reaches them too.  Implementations must be thread-safe: flushes and
checkpoint writes call them from worker threads.
"""
from __future__ import annotations

import os
import stat as _stat
from collections.abc import Sequence
from pathlib import Path

StrPath = str | os.PathLike[str]
Buffer = bytes | bytearray | memoryview


class FileSystem:
    """Primitives (the ``os`` functions of the same name) plus helpers built on them.

    Subclasses provide the primitives; ``OsFileSystem`` maps them to ``os`` directly."""

    # ------------------------------------------------------------------ primitives
    def open(self, path: StrPath, flags: int, mode: int = 0o777) -> int: raise NotImplementedError
    def close(self, fd: int) -> None: raise NotImplementedError
    def pread(self, fd: int, n: int, offset: int) -> bytes: raise NotImplementedError
    def pwrite(self, fd: int, data: Buffer, offset: int) -> int: raise NotImplementedError
    def pwritev(self, fd: int, buffers: Sequence[Buffer], offset: int) -> int: raise NotImplementedError
    def write(self, fd: int, data: Buffer) -> int: raise NotImplementedError
    def fsync(self, fd: int) -> None: raise NotImplementedError
    def ftruncate(self, fd: int, length: int) -> None: raise NotImplementedError
    def fstat(self, fd: int) -> os.stat_result: raise NotImplementedError
    def dup(self, fd: int) -> int: raise NotImplementedError
    def stat(self, path: StrPath) -> os.stat_result: raise NotImplementedError
    def truncate(self, path: StrPath, length: int) -> None: raise NotImplementedError
    def replace(self, src: StrPath, dst: StrPath) -> None: raise NotImplementedError
    def remove(self, path: StrPath) -> None: raise NotImplementedError
    def listdir(self, path: StrPath) -> list[str]: raise NotImplementedError
    def mkdir(self, path: StrPath, mode: int = 0o777) -> None: raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def unlink(self, path: StrPath, *, missing_ok: bool = False) -> None:
        try:
            self.remove(path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def makedirs(self, path: Path) -> None:
        """``mkdir -p``."""
        if self.is_dir(path):
            return
        if path.parent != path:
            self.makedirs(path.parent)
        try:
            self.mkdir(path)
        except FileExistsError:
            pass

    def exists(self, path: StrPath) -> bool:
        try:
            self.stat(path)
        except FileNotFoundError:
            return False
        return True

    def is_dir(self, path: StrPath) -> bool:
        try:
            return _stat.S_ISDIR(self.stat(path).st_mode)
        except FileNotFoundError:
            return False

    def read_bytes(self, path: StrPath) -> bytes:
        fd = self.open(path, os.O_RDONLY)
        try:
            chunks = []
            pos = 0
            while chunk := self.pread(fd, 1 << 20, pos):
                chunks.append(chunk)
                pos += len(chunk)
            return b"".join(chunks)
        finally:
            self.close(fd)

    def create_empty(self, path: StrPath) -> None:
        """Create ``path`` or cut it to zero bytes."""
        self.close(self.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))

    def fsync_path(self, path: StrPath) -> None:
        """Fsync a file or directory by path (a directory: so renames and creations in it last)."""
        fd = self.open(path, os.O_RDONLY)
        try:
            self.fsync(fd)
        finally:
            self.close(fd)

    def write_all(self, fd: int, data: Buffer) -> None:
        view = memoryview(data)
        while view:
            n = self.write(fd, view)
            if n <= 0:
                raise OSError("write made no progress")
            view = view[n:]


class OsFileSystem(FileSystem):
    """The real file system: each primitive is the ``os`` function itself."""

    open = staticmethod(os.open)  # type: ignore[assignment]
    close = staticmethod(os.close)  # type: ignore[assignment]
    pread = staticmethod(os.pread)  # type: ignore[assignment]
    pwrite = staticmethod(os.pwrite)  # type: ignore[assignment]
    pwritev = staticmethod(os.pwritev)  # type: ignore[assignment]
    write = staticmethod(os.write)  # type: ignore[assignment]
    fsync = staticmethod(os.fsync)  # type: ignore[assignment]
    ftruncate = staticmethod(os.ftruncate)  # type: ignore[assignment]
    fstat = staticmethod(os.fstat)  # type: ignore[assignment]
    dup = staticmethod(os.dup)  # type: ignore[assignment]
    stat = staticmethod(os.stat)  # type: ignore[assignment]
    truncate = staticmethod(os.truncate)  # type: ignore[assignment]
    replace = staticmethod(os.replace)  # type: ignore[assignment]
    remove = staticmethod(os.remove)  # type: ignore[assignment]
    listdir = staticmethod(os.listdir)  # type: ignore[assignment]
    mkdir = staticmethod(os.mkdir)  # type: ignore[assignment]


OS_FS: FileSystem = OsFileSystem()
"""The default file system of the storage layer."""


def write_atomically(path: Path, data: bytes, *, fsync: bool = False, sync_dir: bool = False,
                     fs: FileSystem = OS_FS, tmp_suffix: str = ".tmp") -> None:
    """Replace ``path`` with ``data`` all at once: write ``<path><tmp_suffix>`` (fsynced when
    ``fsync``), then rename it over ``path`` (and fsync the directory when ``sync_dir``, so the
    rename itself survives a power loss).  On failure the temporary file is removed (so a full
    disk does not keep a half-written one) and the OSError propagates; ``path`` is left as it
    was.  Writers that may run at the same time (threads) use different ``tmp_suffix``es."""
    tmp = path.with_name(path.name + tmp_suffix)
    try:
        fd = fs.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            fs.write_all(fd, data)
            if fsync:
                fs.fsync(fd)
        finally:
            fs.close(fd)
        fs.replace(tmp, path)
        if sync_dir:
            fs.fsync_path(path.parent)
    except OSError:
        try:
            fs.unlink(tmp, missing_ok=True)
        except OSError:  # pragma: no cover - the original error matters more
            pass
        raise
