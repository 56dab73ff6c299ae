"""Sparse offset and time indexes of one segment, in Kafka's file formats.

``<base>.index`` (Kafka's OffsetIndex): 8-byte entries, big-endian
``int32 relative offset`` (offset - segment base offset) and ``int32 position``
(byte position of a batch in the ``.log`` file).  As in Kafka's LogSegment, an
entry is added when more than ``index.interval.bytes`` have been appended since
the previous entry; it maps the *last* offset of the batch being appended to
that batch's position.  A lookup for offset X takes the last entry with an
offset <= X and scans batch headers from its position.

``<base>.timeindex`` (Kafka's TimeIndex): 12-byte entries, big-endian
``int64 timestamp`` and ``int32 relative offset``: written together with an
offset-index entry (and when the segment becomes inactive or closes), holding
the largest timestamp so far in the segment and the last offset of the batch
that carries it; only appended when the timestamp grows.  So every batch up to
an entry's offset has a max timestamp <= the entry's timestamp.

Both entry lists and files grow together and are never preallocated (Kafka
preallocates ``segment.index.bytes`` and trims on close; ours are always
exactly as long as their entries, so there is nothing to trim).  An index is
loaded lazily on the first lookup into compact ``array`` columns; opening a
segment reads only its last entry.  A file that is not a whole number of
entries or fails the segment's sanity check is rebuilt from the log.  Owned by
its Segment, whose FileSystem it uses; event-loop thread only.

An index whose file cannot be written (disk full, read-only file system) goes
*memory-only*: its file is removed (so a later start cannot trust a stale one
and rebuilds it from the log), a warning is logged, and it keeps working from
memory.  A failed index write never fails the append whose data is already in
the ``.log`` file.
"""
from __future__ import annotations

import logging
import os
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from pathlib import Path

from strom.storage.files import OS_FS, FileSystem, write_atomically

OFFSET_ENTRY = struct.Struct(">ii")
TIME_ENTRY = struct.Struct(">qi")
_BIG_ENDIAN = sys.byteorder == "big"

log = logging.getLogger(__name__)


class CorruptIndex(Exception):
    """An index file that cannot be trusted; the segment rebuilds it from the log."""


class _IndexFile:
    ENTRY: struct.Struct

    def __init__(self, path: Path, base_offset: int, max_bytes: int, *, fs: FileSystem = OS_FS) -> None:
        self.path = path
        self.fs = fs
        self.base_offset = base_offset
        self.max_entries = max(1, max_bytes // self.ENTRY.size)
        self.entries = 0
        self._loaded = False
        self._last_raw: tuple[int, int] | None = None  # cached last entry while not loaded
        self._fd: int | None = None
        self.memory_only = False  # the file could not be written: it is gone, the entries live in memory

    # ------------------------------------------------------------------ file
    def open_existing(self) -> None:
        """Check the file's shape without reading it (raises CorruptIndex)."""
        try:
            size = self.fs.stat(self.path).st_size
        except FileNotFoundError:
            raise CorruptIndex(f"{self.path.name} is missing") from None
        if size % self.ENTRY.size:
            raise CorruptIndex(f"{self.path.name} is not a whole number of entries")
        self.entries = size // self.ENTRY.size
        self._loaded = False
        self._last_raw = None

    def last_entry_raw(self) -> tuple[int, int] | None:
        """The last (field1, field2) as stored, read from memory or one pread."""
        if not self.entries:
            return None
        if self._loaded:
            return self._last_loaded()
        if self._last_raw is None:
            fd = self.fs.open(self.path, os.O_RDONLY)
            try:
                data = self.fs.pread(fd, self.ENTRY.size, (self.entries - 1) * self.ENTRY.size)
            finally:
                self.fs.close(fd)
            if len(data) != self.ENTRY.size:
                raise CorruptIndex(f"{self.path.name} shrank while reading")
            self._last_raw = self.ENTRY.unpack(data)
        return self._last_raw

    def ensure_loaded(self) -> None:
        if not self._loaded:
            data = self.fs.read_bytes(self.path) if self.entries else b""
            if len(data) != self.entries * self.ENTRY.size:
                raise CorruptIndex(f"{self.path.name} changed size")
            self._load(data)
            self._loaded = True

    def _append_file(self, entry: bytes) -> None:
        self.entries += 1
        if self.memory_only:
            return
        try:
            if self._fd is None:
                self._fd = self.fs.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if self.fs.write(self._fd, entry) != len(entry):
                raise OSError(f"short write to {self.path.name}")
        except OSError as exc:
            self.go_memory_only(exc)

    def write_all(self) -> None:
        """Replace the file with the in-memory entries (after a rebuild)."""
        self.close()
        self._loaded = True
        if self.memory_only:
            return
        try:
            write_atomically(self.path, self._dump(), fs=self.fs)
        except OSError as exc:
            self.go_memory_only(exc)

    def go_memory_only(self, exc: OSError) -> None:
        """Stop writing the file after ``exc``: remove it (best effort) and keep the entries in memory."""
        self.close()
        self.memory_only = True
        self._loaded = True
        try:
            self.fs.unlink(self.path, missing_ok=True)
        except OSError:  # pragma: no cover - an unremovable index is rebuilt when it fails the checks
            pass
        log.warning("could not write %s (%s); the index is kept in memory and will be rebuilt from the "
                    "log at the next start", self.path, exc)

    def truncate_entries(self, count: int) -> None:
        """Keep the first ``count`` entries."""
        if count >= self.entries:
            return
        self.ensure_loaded()
        self._truncate_loaded(count)
        self.entries = count
        self.close()
        if not self.memory_only:
            try:
                self.fs.truncate(self.path, count * self.ENTRY.size)
            except OSError as exc:
                self.go_memory_only(exc)

    def reset(self) -> None:
        self._truncate_loaded(0)
        self.entries = 0
        self._loaded = True

    @property
    def full(self) -> bool:
        return self.entries >= self.max_entries

    def close(self) -> None:
        if self._fd is not None:
            self.fs.close(self._fd)
            self._fd = None

    # subclass hooks
    def _load(self, data: bytes) -> None: raise NotImplementedError
    def _dump(self) -> bytes: raise NotImplementedError
    def _last_loaded(self) -> tuple[int, int]: raise NotImplementedError
    def _truncate_loaded(self, count: int) -> None: raise NotImplementedError


def _int32_column(data: bytes) -> array:
    col = array("i")
    col.frombytes(data)
    if not _BIG_ENDIAN:
        col.byteswap()
    return col


class OffsetIndex(_IndexFile):
    """Relative offsets and positions, as two ``array('i')`` columns (bisectable)."""

    ENTRY = OFFSET_ENTRY

    def __init__(self, path: Path, base_offset: int, max_bytes: int, *, fs: FileSystem = OS_FS) -> None:
        super().__init__(path, base_offset, max_bytes, fs=fs)
        self.rel_offsets = array("i")
        self.positions = array("i")

    def _load(self, data: bytes) -> None:
        both = _int32_column(data)
        self.rel_offsets = both[0::2]
        self.positions = both[1::2]

    def _dump(self) -> bytes:
        both = array("i", bytes(8 * len(self.positions)))
        both[0::2] = self.rel_offsets
        both[1::2] = self.positions
        if not _BIG_ENDIAN:
            both.byteswap()
        return both.tobytes()

    def _last_loaded(self) -> tuple[int, int]:
        return self.rel_offsets[-1], self.positions[-1]

    def _truncate_loaded(self, count: int) -> None:
        del self.rel_offsets[count:], self.positions[count:]

    def last_entry(self) -> tuple[int, int] | None:
        """(absolute offset, position) of the last entry, or None."""
        raw = self.last_entry_raw()
        return None if raw is None else (self.base_offset + raw[0], raw[1])

    def append(self, offset: int, position: int) -> None:
        self.ensure_loaded()
        self.rel_offsets.append(offset - self.base_offset)
        self.positions.append(position)
        self._append_file(OFFSET_ENTRY.pack(offset - self.base_offset, position))

    def add_in_memory(self, offset: int, position: int) -> None:
        """Rebuild path: add without writing (``write_all`` writes the file once at the end)."""
        self.rel_offsets.append(offset - self.base_offset)
        self.positions.append(position)
        self.entries += 1

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry whose offset is <= ``offset``; (base, 0) when none."""
        self.ensure_loaded()
        i = bisect_right(self.rel_offsets, offset - self.base_offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.base_offset + self.rel_offsets[i], self.positions[i]

    def floor_position(self, position: int) -> int:
        """The largest indexed batch position <= ``position`` (0 when none)."""
        self.ensure_loaded()
        i = bisect_right(self.positions, position) - 1
        return self.positions[i] if i >= 0 else 0

    def truncate_to_position(self, position: int) -> None:
        """Drop entries pointing at ``position`` or beyond (log truncation)."""
        self.ensure_loaded()
        self.truncate_entries(bisect_left(self.positions, position))


class TimeIndex(_IndexFile):
    """Timestamps (``array('q')``) and relative offsets (``array('i')``)."""

    ENTRY = TIME_ENTRY

    def __init__(self, path: Path, base_offset: int, max_bytes: int, *, fs: FileSystem = OS_FS) -> None:
        super().__init__(path, base_offset, max_bytes, fs=fs)
        self.timestamps = array("q")
        self.rel_offsets = array("i")

    def _load(self, data: bytes) -> None:
        ts, offs = array("q"), array("i")
        for t, o in TIME_ENTRY.iter_unpack(data):
            ts.append(t)
            offs.append(o)
        self.timestamps, self.rel_offsets = ts, offs

    def _dump(self) -> bytes:
        return b"".join(TIME_ENTRY.pack(t, o) for t, o in zip(self.timestamps, self.rel_offsets))

    def _last_loaded(self) -> tuple[int, int]:
        return self.timestamps[-1], self.rel_offsets[-1]

    def _truncate_loaded(self, count: int) -> None:
        del self.timestamps[count:], self.rel_offsets[count:]

    def last_entry(self) -> tuple[int, int] | None:
        """(timestamp, absolute offset) of the last entry, or None."""
        raw = self.last_entry_raw()
        return None if raw is None else (raw[0], self.base_offset + raw[1])

    def maybe_append(self, timestamp: int, offset: int, *, skip_full_check: bool = False) -> None:
        """Append when ``timestamp`` is larger than the last entry's (Kafka's maybeAppend)."""
        if timestamp < 0 or (self.full and not skip_full_check):
            return
        last = self.last_entry_raw()  # cached: no need to load the whole index to compare
        if last is not None and timestamp <= last[0]:
            return
        self.ensure_loaded()
        self.timestamps.append(timestamp)
        self.rel_offsets.append(offset - self.base_offset)
        self._append_file(TIME_ENTRY.pack(timestamp, offset - self.base_offset))

    def add_in_memory(self, timestamp: int, offset: int) -> None:
        if timestamp >= 0 and (not self.timestamps or timestamp > self.timestamps[-1]):
            self.timestamps.append(timestamp)
            self.rel_offsets.append(offset - self.base_offset)
            self.entries += 1

    def lookup(self, timestamp: int) -> int | None:
        """Offset of the last entry whose timestamp is < ``timestamp`` (every batch up to it is older:
        a safe place to start scanning), or None when the scan must start at the segment's beginning."""
        self.ensure_loaded()
        i = bisect_left(self.timestamps, timestamp) - 1
        return None if i < 0 else self.base_offset + self.rel_offsets[i]

    def truncate_to_offset(self, offset: int) -> None:
        """Drop entries whose offset is >= ``offset`` (log truncation)."""
        self.ensure_loaded()
        keep = len(self.rel_offsets)
        rel = offset - self.base_offset
        while keep and self.rel_offsets[keep - 1] >= rel:
            keep -= 1
        self.truncate_entries(keep)
