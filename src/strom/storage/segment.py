"""Segment: one ``<base offset>.log`` file with its ``.index`` and ``.timeindex``.

The .log file is a plain concatenation of record batches exactly as stored
(see strom.records.batch for the layout).  Appends go to the end with one
os.write per call; reads use os.pread, so readers never move a file pointer.
Owned by its Log on the event-loop thread; ``fsync`` and ``delete_files`` may
run on a worker thread (they touch only file descriptors / paths, never the
in-memory state).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from strom.records.batch import HEADER_SIZE, BatchHeader, read_header, scan_batches
from strom.storage.index import CorruptIndex, OffsetIndex, TimeIndex


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


class Segment:
    def __init__(self, directory: Path, base_offset: int, *, index_max_bytes: int, index_interval_bytes: int,
                 created_ms: int) -> None:
        self.dir = directory
        self.base_offset = base_offset
        name = segment_name(base_offset)
        self.log_path = directory / f"{name}.log"
        self.index = OffsetIndex(directory / f"{name}.index", base_offset, index_max_bytes)
        self.time_index = TimeIndex(directory / f"{name}.timeindex", base_offset, index_max_bytes)
        self.index_interval_bytes = index_interval_bytes
        self.fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.created_ms = created_ms
        self.first_batch_timestamp: int | None = None
        self._bytes_since_index = 0
        self.closed = False

    # ------------------------------------------------------------------ loading
    def load(self, *, recover: bool) -> list[tuple[int, BatchHeader]]:
        """Open an existing segment.

        recover=True: validate every batch (CRC), truncate a torn/corrupt tail
        and rebuild both indexes; returns the valid batches.  recover=False:
        trust the file, load the indexes (rebuilding them if missing or
        corrupt) and find the end by scanning headers after the last index entry.
        """
        if recover:
            return self._rebuild(check_crc=True)
        try:
            if not self.index.path.exists() or not self.time_index.path.exists():
                raise CorruptIndex("missing index")
            self.index.load()
            self.time_index.load()
            if self.index.values and self.index.values[-1] > self.size:
                raise CorruptIndex("index points past the end of the log")
        except CorruptIndex:
            self._rebuild(check_crc=False)
            return []
        start_offset, pos = self.index.lookup(2**62)
        last = None
        for pos, h in self._headers_from(pos):
            last = h
            if self.first_batch_timestamp is None and pos == 0:
                self.first_batch_timestamp = h.max_timestamp
        if last is not None:
            self.next_offset = last.next_offset
        elif self.size:
            self._rebuild(check_crc=False)
            return []
        if self.first_batch_timestamp is None and self.size:
            self.first_batch_timestamp = read_header(os.pread(self.fd, HEADER_SIZE, 0)).max_timestamp
        self.max_timestamp, self.offset_of_max_timestamp = self.time_index.max_timestamp
        if self.size:
            self._bytes_since_index = self.size - (self.index.values[-1] if self.index.values else 0)
        return []

    def _rebuild(self, *, check_crc: bool) -> list[tuple[int, BatchHeader]]:
        data = os.pread(self.fd, self.size, 0) if self.size else b""
        batches, valid = scan_batches(data, check_crc=check_crc)
        if valid < self.size:
            os.ftruncate(self.fd, valid)
            self.size = valid
        self.index.keys, self.index.values = [], []
        self.time_index.keys, self.time_index.values = [], []
        self.next_offset = self.base_offset
        self.max_timestamp = self.offset_of_max_timestamp = -1
        self._bytes_since_index = 0
        self.first_batch_timestamp = None
        for pos, h in batches:
            self._track(pos, h, write=False)
        self.index.rewrite()
        self.time_index.rewrite()
        return batches

    def _headers_from(self, pos: int) -> Iterator[tuple[int, BatchHeader]]:
        while pos + HEADER_SIZE <= self.size:
            h = read_header(os.pread(self.fd, HEADER_SIZE, pos))
            if pos + h.size > self.size or h.batch_length <= 0:
                return
            yield pos, h
            pos += h.size

    # ------------------------------------------------------------------ appending
    def _track(self, pos: int, h: BatchHeader, *, write: bool) -> None:
        if self.first_batch_timestamp is None:
            self.first_batch_timestamp = h.max_timestamp
        if self._bytes_since_index >= self.index_interval_bytes or not self.index.keys:
            if write:
                self.index.append(h.base_offset, pos)
                self.time_index.maybe_append(max(h.max_timestamp, self.max_timestamp), h.base_offset)
            else:
                self.index.keys.append(h.base_offset)
                self.index.values.append(pos)
                ts = max(h.max_timestamp, self.max_timestamp)
                if not self.time_index.keys or ts > self.time_index.keys[-1]:
                    self.time_index.keys.append(ts)
                    self.time_index.values.append(h.base_offset)
            self._bytes_since_index = 0
        self._bytes_since_index += h.size
        if h.max_timestamp > self.max_timestamp:
            self.max_timestamp = h.max_timestamp
            self.offset_of_max_timestamp = h.base_offset
        self.next_offset = h.next_offset

    def append(self, data: bytes | bytearray, batches: list[tuple[int, BatchHeader]]) -> None:
        """Write ``data`` (whole batches) at the end; ``batches`` are (position within data, header)."""
        start = self.size
        written = os.pwrite(self.fd, data, start)
        if written != len(data):  # pragma: no cover - disk full and the like
            os.ftruncate(self.fd, start)
            raise OSError(f"short write to {self.log_path}")
        self.size += written
        for pos, h in batches:
            self._track(start + pos, h, write=True)

    # ------------------------------------------------------------------ reading
    def find_position(self, offset: int) -> tuple[int, BatchHeader] | None:
        """(file position, header) of the batch that contains ``offset``, or None if beyond the end."""
        _, pos = self.index.lookup(offset)
        for pos, h in self._headers_from(pos):
            if h.last_offset >= offset:
                return pos, h
        return None

    def read(self, position: int, max_bytes: int) -> bytes:
        return os.pread(self.fd, min(max_bytes, self.size - position), position)

    def headers(self) -> Iterator[tuple[int, BatchHeader]]:
        return self._headers_from(0)

    def find_timestamp(self, timestamp: int) -> tuple[int, BatchHeader] | None:
        """First batch whose max timestamp is >= ``timestamp``."""
        start = self.time_index.lookup(timestamp)
        pos = 0 if start is None else self.index.lookup(start)[1]
        for pos, h in self._headers_from(pos):
            if h.max_timestamp >= timestamp:
                return pos, h
        return None

    # ------------------------------------------------------------------ maintenance
    def truncate_to(self, offset: int) -> None:
        """Remove every batch at or after ``offset`` (batch boundaries)."""
        found = self.find_position(offset)
        if found is None:
            return
        pos, h = found
        if h.base_offset < offset:  # keep the batch that holds offset-1
            pos += h.size
        os.ftruncate(self.fd, pos)
        self.size = pos
        self._rebuild(check_crc=False)

    @property
    def is_full_index(self) -> bool:
        return self.index.full or self.time_index.full

    def fsync(self) -> None:
        """Worker thread: flush the log and index files to disk."""
        if not self.closed:
            os.fsync(self.fd)
            self.index.fsync()
            self.time_index.fsync()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.index.close()
            self.time_index.close()
            os.close(self.fd)

    def paths(self) -> list[Path]:
        return [self.log_path, self.index.path, self.time_index.path]

    def mark_deleted(self) -> list[Path]:
        """Loop thread: close and rename the files to ``*.deleted``; returns the new paths."""
        self.close()
        out = []
        for p in self.paths():
            if p.exists():
                target = p.with_name(p.name + ".deleted")
                os.replace(p, target)
                out.append(target)
        self._deleted_paths = out
        return out

    def delete_files(self) -> None:
        """Worker thread: unlink the renamed files."""
        for p in getattr(self, "_deleted_paths", []):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
