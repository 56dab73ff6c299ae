"""FaultyFileSystem: the real file system, except where a test says a call fails.

For tests and simulations of the storage layer (pass it to LogManager / Log
instead of ``OS_FS``).  A fault names the operations it hits (the primitive
names of ``strom.storage.files.FileSystem``: ``open``, ``pwrite``,
``pwritev``, ``write``, ``fsync``, ``ftruncate``, ``replace`` ...), optionally
a substring of the path (for descriptor calls, the path the descriptor was
opened with), how many matching calls to let through first (``after``) and
how many to hit (``times``, default all).  A hit raises ``OSError`` with the
chosen errno (default ENOSPC, as a full disk does), or for ``short_write``
writes only half of the bytes and returns that count.  Faults can be added
and removed (``heal``) at any time; ``calls`` counts every call by name.
Thread-safe (flushes run on worker threads).
"""
from __future__ import annotations

import collections
import errno
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from strom.storage.files import Buffer, OsFileSystem, StrPath

WRITES = ("pwrite", "pwritev", "write")


@dataclass
class Fault:
    ops: frozenset[str]
    error: int = errno.ENOSPC
    path: str | None = None
    after: int = 0
    times: int | None = None
    short: bool = False
    hits: int = 0  # matching calls seen
    fired: int = 0  # of which failed (or were cut short)

    def matches(self, op: str, paths: tuple[str, ...]) -> bool:
        return op in self.ops and (self.path is None or any(self.path in p for p in paths))


class FaultyFileSystem(OsFileSystem):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._fd_paths: dict[int, str] = {}
        self.calls: collections.Counter[str] = collections.Counter()

    # ------------------------------------------------------------------ configuration
    def fail(self, *ops: str, error: int = errno.ENOSPC, path: str | None = None, after: int = 0,
             times: int | None = None) -> Fault:
        """Make the named operations raise OSError(``error``)."""
        return self._add(Fault(frozenset(ops), error, path, after, times))

    def short_write(self, *ops: str, path: str | None = None, after: int = 0, times: int | None = None) -> Fault:
        """Make the named write operations (default all three) write only half of their bytes."""
        unknown = set(ops) - set(WRITES)
        if unknown:
            raise ValueError(f"only {WRITES} can write short, not {sorted(unknown)}")
        return self._add(Fault(frozenset(ops or WRITES), path=path, after=after, times=times, short=True))

    def heal(self, fault: Fault | None = None) -> None:
        """Remove ``fault``, or every fault."""
        with self._lock:
            self._faults = [] if fault is None else [f for f in self._faults if f is not fault]

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def _hit(self, op: str, *paths: str) -> Fault | None:
        with self._lock:
            self.calls[op] += 1
            for f in self._faults:
                if f.matches(op, paths):
                    f.hits += 1
                    if f.hits > f.after and (f.times is None or f.fired < f.times):
                        f.fired += 1
                        if not f.short:
                            raise OSError(f.error, f"{os.strerror(f.error)} (injected: {op} {' '.join(paths)})")
                        return f
        return None

    def _path_of(self, fd: int) -> str:
        return self._fd_paths.get(fd, f"<fd {fd}>")

    # ------------------------------------------------------------------ descriptors
    def open(self, path: StrPath, flags: int, mode: int = 0o777) -> int:  # type: ignore[override]
        self._hit("open", os.fspath(path))
        fd = os.open(path, flags, mode)
        with self._lock:
            self._fd_paths[fd] = os.fspath(path)
        return fd

    def dup(self, fd: int) -> int:  # type: ignore[override]
        self._hit("dup", self._path_of(fd))
        new = os.dup(fd)
        with self._lock:
            self._fd_paths[new] = self._path_of(fd)
        return new

    def close(self, fd: int) -> None:  # type: ignore[override]
        with self._lock:
            path = self._fd_paths.pop(fd, f"<fd {fd}>")
        self._hit("close", path)
        os.close(fd)

    def pwrite(self, fd: int, data: Buffer, offset: int) -> int:  # type: ignore[override]
        if self._hit("pwrite", self._path_of(fd)):
            return os.pwrite(fd, memoryview(data)[:len(data) // 2], offset)
        return os.pwrite(fd, data, offset)

    def pwritev(self, fd: int, buffers: Sequence[Buffer], offset: int) -> int:  # type: ignore[override]
        if self._hit("pwritev", self._path_of(fd)):
            joined = b"".join(buffers)
            return os.pwrite(fd, joined[:len(joined) // 2], offset)
        return os.pwritev(fd, buffers, offset)

    def write(self, fd: int, data: Buffer) -> int:  # type: ignore[override]
        if self._hit("write", self._path_of(fd)):
            return os.write(fd, memoryview(data)[:max(len(data) // 2, 1)])
        return os.write(fd, data)

    # ------------------------------------------------------------------ paths
    def replace(self, src: StrPath, dst: StrPath) -> None:  # type: ignore[override]
        self._hit("replace", os.fspath(src), os.fspath(dst))
        os.replace(src, dst)


def _fd_call(name: str) -> Callable[..., Any]:
    real = getattr(os, name)

    def call(self: FaultyFileSystem, fd: int, *args: Any) -> Any:
        self._hit(name, self._path_of(fd))
        return real(fd, *args)
    call.__name__ = name
    return call


def _path_call(name: str) -> Callable[..., Any]:
    real = getattr(os, name)

    def call(self: FaultyFileSystem, path: StrPath, *args: Any) -> Any:
        self._hit(name, os.fspath(path))
        return real(path, *args)
    call.__name__ = name
    return call


for _name in ("pread", "fsync", "ftruncate", "fstat"):
    setattr(FaultyFileSystem, _name, _fd_call(_name))
for _name in ("stat", "truncate", "remove", "listdir", "mkdir"):
    setattr(FaultyFileSystem, _name, _path_call(_name))
