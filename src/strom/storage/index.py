"""Sparse offset and time indexes of one segment, in Kafka's file formats.

``.index`` (OffsetIndex): 8-byte entries, big-endian ``int32 relative offset``
(offset - segment base offset) and ``int32 position`` (byte position of the
batch in the ``.log`` file).  An entry is added every ``index.interval.bytes``
of appended data, for the first offset of the batch written there.

``.timeindex`` (TimeIndex): 12-byte entries, big-endian ``int64 timestamp`` and
``int32 relative offset``: the batch's max timestamp and the batch's base
offset, added only when the timestamp grows.

Both live in memory as two parallel lists (for bisect) and are appended to
their file as entries are added.  Kafka preallocates and memory-maps these
files; we keep them exactly as long as their entries.  A file that is not a
whole number of entries or not monotonic is treated as corrupt and rebuilt
from the log.  Owned by its Segment; event-loop thread only.
"""
from __future__ import annotations

import bisect
import os
import struct
from pathlib import Path

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")


class CorruptIndex(Exception):
    pass


class _Index:
    ENTRY: struct.Struct

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_entries = max(1, max_bytes // self.ENTRY.size)
        self.keys: list[int] = []
        self.values: list[int] = []
        self._fd: int | None = None

    def load(self) -> None:
        """Read the file; raises CorruptIndex when it is malformed."""
        data = self.path.read_bytes() if self.path.exists() else b""
        if len(data) % self.ENTRY.size:
            raise CorruptIndex(f"{self.path} is not a whole number of entries")
        keys, values = [], []
        for a, b in self.ENTRY.iter_unpack(data):
            k, v = self._kv(a, b)
            if keys and (k < keys[-1] or v < values[-1]):
                raise CorruptIndex(f"{self.path} is not monotonic")
            keys.append(k)
            values.append(v)
        self.keys, self.values = keys, values

    def _kv(self, a: int, b: int) -> tuple[int, int]:
        return a, b

    def _entry(self, key: int, value: int) -> bytes:
        return self.ENTRY.pack(key, value)

    def reset(self) -> None:
        self.close()
        self.keys, self.values = [], []
        self.path.write_bytes(b"")

    def append(self, key: int, value: int) -> None:
        self.keys.append(key)
        self.values.append(value)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(self._fd, self._entry(key, value))

    def rewrite(self) -> None:
        """Write the whole in-memory index to its file (after a rebuild or truncation)."""
        self.close()
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_bytes(b"".join(self._entry(k, v) for k, v in zip(self.keys, self.values)))
        os.replace(tmp, self.path)

    def truncate_after(self, key: int) -> None:
        """Drop entries whose key is > key."""
        i = bisect.bisect_right(self.keys, key)
        if i < len(self.keys):
            del self.keys[i:], self.values[i:]
            self.rewrite()

    @property
    def full(self) -> bool:
        return len(self.keys) >= self.max_entries

    def fsync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class OffsetIndex(_Index):
    """Keys: absolute offsets (stored relative); values: file positions."""

    ENTRY = _OFFSET_ENTRY

    def __init__(self, path: Path, base_offset: int, max_bytes: int) -> None:
        super().__init__(path, max_bytes)
        self.base_offset = base_offset

    def _kv(self, a: int, b: int) -> tuple[int, int]:
        return self.base_offset + a, b

    def _entry(self, key: int, value: int) -> bytes:
        return _OFFSET_ENTRY.pack(key - self.base_offset, value)

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry at or before ``offset``; (base, 0) when none."""
        i = bisect.bisect_right(self.keys, offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.keys[i], self.values[i]


class TimeIndex(_Index):
    """Keys: timestamps; values: absolute offsets (stored relative)."""

    ENTRY = _TIME_ENTRY

    def __init__(self, path: Path, base_offset: int, max_bytes: int) -> None:
        super().__init__(path, max_bytes)
        self.base_offset = base_offset

    def _kv(self, a: int, b: int) -> tuple[int, int]:
        return a, self.base_offset + b

    def _entry(self, key: int, value: int) -> bytes:
        return _TIME_ENTRY.pack(key, value - self.base_offset)

    def maybe_append(self, timestamp: int, offset: int) -> None:
        if not self.keys or timestamp > self.keys[-1]:
            self.append(timestamp, offset)

    def lookup(self, timestamp: int) -> int | None:
        """Offset of the first entry whose timestamp is >= ``timestamp`` minus one entry (a safe start)."""
        i = bisect.bisect_left(self.keys, timestamp) - 1
        if i < 0:
            return None
        return self.values[i]

    @property
    def max_timestamp(self) -> tuple[int, int]:
        return (self.keys[-1], self.values[-1]) if self.keys else (-1, -1)
