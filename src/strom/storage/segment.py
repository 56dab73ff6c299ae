"""Segment: one ``<20-digit base offset>.log`` file with its ``.index``, ``.timeindex`` and ``.txnindex``.

The ``.log`` file is a plain concatenation of record batches exactly as they
were appended (see strom.records.batch for the layout; base offsets already
assigned).  Appends go to the end with one ``pwrite``/``pwritev`` per call;
reads use ``pread``, so readers never move a file pointer.  All file calls go
through the segment's FileSystem (strom.storage.files).  The index formats
are in strom.storage.index, the aborted-transaction index (maintained by the
Log) in strom.storage.txn_index.

Opening (``load``):

* ``recover=False`` (clean shutdown, or a segment before the recovery point):
  the indexes are sanity-checked as Kafka does (whole entries, last offset
  entry pointing at a batch whose last offset matches) and only the tail after
  the last offset-index entry is scanned (headers only) to find the end, the
  next offset and the largest timestamp.  A missing or corrupt index is
  rebuilt from the log; a tail that does not end on a batch boundary triggers
  a full recovery.
* ``recover=True``: every batch is re-validated (magic, length, CRC-32C,
  offsets increasing from the segment's base offset — not contiguous, as
  compacted segments have gaps); the
  file is truncated at the first bad batch; both indexes are rebuilt.  Files
  are read in chunks of a few MiB, never whole.  As in Kafka, the base offset
  and partition leader epoch are not covered by the CRC.

Threading: owned by its Log on the event-loop thread.  Worker threads only
ever get duplicated file descriptors (``sync_fds``) or renamed paths
(``delete_files``), never the in-memory state.
"""
from __future__ import annotations

import collections
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from strom.records.batch import (
    ATTRIBUTES_OFFSET, HEADER_SIZE, INT32_MAX, MAGIC, MIN_BATCH_LENGTH, BatchHeader, crc32c_of, read_header,
)
from strom.storage.files import OS_FS, FileSystem
from strom.storage.index import CorruptIndex, OffsetIndex, TimeIndex
from strom.storage.txn_index import TXN_INDEX_SUFFIX, TransactionIndex

_MAX_IOVECS = 512  # well under IOV_MAX (1024 on Linux)

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
DELETED_SUFFIX = ".deleted"
SCAN_CHUNK = 8 << 20  # recovery / rebuild reads
WALK_CHUNK = 16 << 10  # header walks from an index entry (a few index intervals)


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


MAX_OPEN_INACTIVE = 256  # inactive segments that may keep their .log descriptor open, process-wide
_open_inactive: collections.OrderedDict["Segment", None] = collections.OrderedDict()


def _touch_inactive(seg: "Segment") -> None:
    """LRU bookkeeping of inactive segments holding a descriptor; closes the least recently used
    beyond MAX_OPEN_INACTIVE, so open files grow with partitions, not with segments."""
    _open_inactive[seg] = None
    _open_inactive.move_to_end(seg)
    while len(_open_inactive) > MAX_OPEN_INACTIVE:
        old, _ = _open_inactive.popitem(last=False)
        old._release_fd()


class Segment:
    def __init__(self, directory: Path, base_offset: int, *, index_max_bytes: int, index_interval_bytes: int,
                 created_ms: int, fs: FileSystem = OS_FS) -> None:
        self.dir = directory
        self.fs = fs
        self.base_offset = base_offset
        name = segment_name(base_offset)
        self.log_path = directory / f"{name}{LOG_SUFFIX}"
        self.index = OffsetIndex(directory / f"{name}{INDEX_SUFFIX}", base_offset, index_max_bytes, fs=fs)
        self.time_index = TimeIndex(directory / f"{name}{TIME_INDEX_SUFFIX}", base_offset, index_max_bytes, fs=fs)
        self.txn_index = TransactionIndex(directory / f"{name}{TXN_INDEX_SUFFIX}", fs=fs)  # loaded by the Log
        self.index_interval_bytes = index_interval_bytes
        self._fd: int | None = fs.open(self.log_path, os.O_RDWR | os.O_CREAT, 0o644)
        self._inactive = False  # inactive segments open their .log lazily (see _touch_inactive)
        self.size = fs.fstat(self._fd).st_size
        if self.size == 0:  # a new segment: create its (empty) index files, as Kafka does
            for index in (self.index, self.time_index):
                try:
                    fs.create_empty(index.path)
                except OSError as exc:
                    index.go_memory_only(exc)
        self.next_offset = base_offset
        self.max_timestamp = -1  # largest batch max timestamp in the segment
        self.offset_of_max_timestamp = -1  # last offset of the (first) batch carrying it
        self.created_ms = created_ms
        self._first_batch_timestamp: int | None = None
        self._bytes_since_index = 0
        self.closed = False
        self._deleted_paths: list[Path] = []

    # ------------------------------------------------------------------ loading
    def load(self, *, recover: bool) -> int:
        """Open an existing segment (see the module docstring); returns the bytes truncated."""
        if recover or self.size == 0:
            return self.recover(check_crc=True)
        try:
            self.index.open_existing()
            self.time_index.open_existing()
            last = self.index.last_entry()
            start, expected = 0, self.base_offset
            if last is not None:
                offset, start = last
                if start >= self.size:
                    raise CorruptIndex("offset index points past the end of the log")
                h = read_header(self.fs.pread(self.fd, HEADER_SIZE, start))
                if h.magic != MAGIC or h.last_offset != offset or h.base_offset < self.base_offset:
                    raise CorruptIndex("offset index does not match the log")
                expected = h.base_offset
            tlast = self.time_index.last_entry()
            if tlast is not None and tlast[1] < self.base_offset:
                raise CorruptIndex("time index offset below the base offset")
        except CorruptIndex:
            self.index.close()
            self.time_index.close()
            return self.recover(check_crc=False)
        if tlast is not None:
            self.max_timestamp, self.offset_of_max_timestamp = tlast
        self._bytes_since_index = 0
        walked = False
        for _pos, h in self._walk(start, check_crc=False, next_offset=expected, chunk=WALK_CHUNK):
            walked = True
            self._track_in_memory(h)
            self._bytes_since_index += h.size
        if not walked or self._walk_end != self.size or (tlast is not None and tlast[1] >= self.next_offset):
            return self.recover(check_crc=True)  # torn tail despite a clean shutdown: validate all
        return 0

    def recover(self, *, check_crc: bool) -> int:
        """Rescan the whole file; truncate at the first invalid batch; rebuild both indexes."""
        self.index.close()
        self.time_index.close()
        self.index.reset()
        self.time_index.reset()
        self.next_offset = self.base_offset
        self.max_timestamp = self.offset_of_max_timestamp = -1
        self._bytes_since_index = 0
        self._first_batch_timestamp = None
        for pos, h in self._walk(0, check_crc=check_crc, next_offset=self.base_offset, chunk=SCAN_CHUNK):
            self._track(pos, h, write=False)
        truncated = self.size - self._walk_end
        if truncated:
            self.fs.ftruncate(self.fd, self._walk_end)
            self.size = self._walk_end
        self.index.write_all()
        self.time_index.write_all()
        return truncated

    def _walk(self, start: int, *, check_crc: bool, next_offset: int | None = None,
              chunk: int = WALK_CHUNK) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of the batches from ``start``; stops at the first torn/invalid one
        and leaves its position in ``self._walk_end``."""
        pos = start
        buf = b""
        buf_start = start
        size = self.size
        self._walk_end = pos
        while pos + HEADER_SIZE <= size:
            if pos + HEADER_SIZE > buf_start + len(buf):
                buf = self.fs.pread(self.fd, min(max(chunk, HEADER_SIZE), size - pos), pos)
                buf_start = pos
            h = read_header(buf, pos - buf_start)
            if (h.magic != MAGIC or h.batch_length < MIN_BATCH_LENGTH or pos + h.size > size
                    or h.last_offset_delta < 0 or h.last_offset_delta > INT32_MAX):
                return
            if next_offset is not None:  # recovery: offsets must increase (compaction leaves gaps)
                if h.base_offset < next_offset or h.last_offset - self.base_offset > INT32_MAX:
                    return
                next_offset = h.next_offset
            if check_crc:
                if pos + h.size > buf_start + len(buf):
                    buf = self.fs.pread(self.fd, min(max(chunk, h.size), size - pos), pos)
                    buf_start = pos
                rel = pos - buf_start
                if crc32c_of(memoryview(buf)[rel + ATTRIBUTES_OFFSET:rel + h.size]) != h.crc:
                    return
            yield pos, h
            pos += h.size
            self._walk_end = pos

    def iter_headers(self, start: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of every batch from byte ``start`` (producer-state replay, tools)."""
        return self._walk(start, check_crc=False, chunk=SCAN_CHUNK)

    headers = iter_headers

    # ------------------------------------------------------------------ appending
    def _track_in_memory(self, h: BatchHeader) -> None:
        if h.max_timestamp > self.max_timestamp:
            self.max_timestamp = h.max_timestamp
            self.offset_of_max_timestamp = h.last_offset
        self.next_offset = h.next_offset

    def _track(self, pos: int, h: BatchHeader, *, write: bool) -> None:
        """Kafka's LogSegment.append bookkeeping for one batch at file position ``pos``."""
        if self._first_batch_timestamp is None and pos == 0:
            self._first_batch_timestamp = h.max_timestamp
        self._track_in_memory(h)
        if self._bytes_since_index > self.index_interval_bytes:
            if write:
                self.index.append(h.last_offset, pos)
                self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            else:
                self.index.add_in_memory(h.last_offset, pos)
                self.time_index.add_in_memory(self.max_timestamp, self.offset_of_max_timestamp)
            self._bytes_since_index = 0
        self._bytes_since_index += h.size

    def append(self, data: bytes | bytearray | memoryview | Sequence[bytes | memoryview],
               batches: list[tuple[int, BatchHeader]]) -> None:
        """Write ``data`` (whole batches, offsets assigned) at the end with one pwrite, or
        one pwritev when it is a list of pieces (so received bytes need not be copied);
        ``batches`` are (position within the written bytes, header)."""
        start = self.size
        if isinstance(data, (list, tuple)):
            if len(data) > _MAX_IOVECS:
                data = b"".join(data)
                written, size = self.fs.pwrite(self.fd, data, start), len(data)
            else:
                written, size = self.fs.pwritev(self.fd, data, start), sum(map(len, data))
        else:
            written, size = self.fs.pwrite(self.fd, data, start), len(data)
        if written != size:  # pragma: no cover - disk full and the like
            self.fs.ftruncate(self.fd, start)
            raise OSError(f"short write to {self.log_path}")
        self.size += written
        for pos, h in batches:
            self._track(start + pos, h, write=True)

    @property
    def first_batch_timestamp(self) -> int | None:
        """Max timestamp of the first batch (Kafka's rollingBasedTimestamp), None when empty."""
        if self._first_batch_timestamp is None and self.size >= HEADER_SIZE:
            self._first_batch_timestamp = read_header(self.fs.pread(self.fd, HEADER_SIZE, 0)).max_timestamp
        return self._first_batch_timestamp

    def time_waited_for_roll(self, now_ms: int, incoming_max_timestamp: int) -> int:
        """Kafka's timeWaitedForRoll: the incoming batch's timestamp minus the first batch's,
        or the time since creation when the segment has no timestamped batch."""
        first = self.first_batch_timestamp
        if first is not None and first >= 0:
            return incoming_max_timestamp - first
        return now_ms - self.created_ms

    @property
    def largest_timestamp(self) -> int:
        """Largest batch timestamp, or the file's mtime when no batch has one (Kafka's rule)."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return int(self.fs.fstat(self.fd).st_mtime * 1000)

    # ------------------------------------------------------------------ reading
    def translate_offset(self, offset: int, start_position: int = 0) -> tuple[int, BatchHeader] | None:
        """(file position, header) of the first batch whose last offset is >= ``offset``, or None
        when ``offset`` is beyond this segment.  Index lookup, then a header-only scan."""
        _, pos = self.index.lookup(offset)
        for pos, h in self._walk(max(pos, start_position), check_crc=False):
            if h.last_offset >= offset:
                return pos, h
        return None

    find_position = translate_offset

    def read(self, position: int, max_bytes: int) -> bytes:
        return self.fs.pread(self.fd, max(0, min(max_bytes, self.size - position)), position)

    def read_batches(self, offset: int, max_bytes: int, max_offset: int, *, min_one_batch: bool) -> bytes | None:
        """Whole batches from the one holding ``offset``: at most ``max_bytes`` (but the first batch
        whole when ``min_one_batch``), none whose base offset is >= ``max_offset``.  One pread.
        None when ``offset`` is beyond this segment."""
        found = self.translate_offset(offset)
        if found is None:
            return None
        pos, first = found
        if first.base_offset >= max_offset:
            return b""
        end = self.size
        if max_offset < self.next_offset:
            limit = self.translate_offset(max_offset, pos)
            if limit is not None:
                lpos, lh = limit
                end = lpos if lh.base_offset >= max_offset else lpos + lh.size
        if pos + first.size > min(end, pos + max_bytes):
            return self.read(pos, first.size) if min_one_batch else b""
        limit = min(end, pos + max_bytes)
        if limit < end:  # the last batch boundary <= limit: index entry, then a short header walk
            start = max(self.index.floor_position(limit), pos)
            cut = start
            for bpos, h in self._walk(start, check_crc=False):
                if bpos + h.size > limit:
                    break
                cut = bpos + h.size
            limit = cut
        return self.fs.pread(self.fd, limit - pos, pos)

    def find_timestamp(self, timestamp: int, start_offset: int = 0) -> tuple[int, BatchHeader] | None:
        """(position, header) of the first batch with max timestamp >= ``timestamp`` and last
        offset >= ``start_offset`` (Kafka's findOffsetByTimestamp, batch level)."""
        if self.max_timestamp < timestamp:
            return None
        start = self.time_index.lookup(timestamp)
        pos = self.index.lookup(max(start if start is not None else self.base_offset, start_offset))[1]
        for pos, h in self._walk(pos, check_crc=False):
            if h.max_timestamp >= timestamp and h.last_offset >= start_offset:
                return pos, h
        return None

    # ------------------------------------------------------------------ maintenance
    def truncate_to(self, offset: int) -> int:
        """Remove the batch holding ``offset`` and everything after it (Kafka's LogSegment.truncateTo);
        returns the bytes removed."""
        found = self.translate_offset(offset)
        if found is None:
            return 0
        pos = found[0]
        removed = self.size - pos
        self.fs.ftruncate(self.fd, pos)
        self.size = pos
        self.index.truncate_to_position(pos)
        self.time_index.truncate_to_offset(found[1].base_offset)
        self.next_offset = self.base_offset
        self.max_timestamp = self.offset_of_max_timestamp = -1
        if pos == 0:
            self._first_batch_timestamp = None
        last = self.index.last_entry()
        tlast = self.time_index.last_entry()
        if tlast is not None:
            self.max_timestamp, self.offset_of_max_timestamp = tlast
        start = last[1] if last is not None else 0
        self._bytes_since_index = 0
        for _pos, h in self._walk(start, check_crc=False):
            self._track_in_memory(h)
            self._bytes_since_index += h.size
        return removed

    @property
    def is_full_index(self) -> bool:
        return self.index.full or self.time_index.full

    def offset_fits(self, last_offset: int) -> bool:
        """Whether ``last_offset`` is representable relative to the base (int32) in the indexes."""
        return last_offset - self.base_offset <= INT32_MAX

    @property
    def fd(self) -> int:
        """The .log descriptor: always open for the active segment, reopened on demand for others."""
        fd = self._fd
        if fd is None:
            if self.closed:
                raise OSError(f"{self.log_path} is closed")
            fd = self._fd = self.fs.open(self.log_path, os.O_RDWR)
        if self._inactive:
            _touch_inactive(self)
        return fd

    def _release_fd(self) -> None:
        if self._fd is not None:
            self.fs.close(self._fd)
            self._fd = None

    def drop_descriptors(self) -> None:
        """Close every descriptor without writing anything (simulates a crash in tests)."""
        _open_inactive.pop(self, None)
        self._release_fd()
        self.index.close()
        self.time_index.close()

    def mark_inactive(self) -> None:
        """No more appends will come (loaded older segment, or after a roll): the .log descriptor
        joins the process-wide LRU of inactive descriptors."""
        if not self._inactive:
            self._inactive = True
            if self._fd is not None:
                _touch_inactive(self)

    def on_inactive(self) -> None:
        """The segment stops being active (roll): final time-index entry, release index write fds."""
        if self.max_timestamp >= 0:
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp, skip_full_check=True)
        self.index.close()
        self.time_index.close()
        self.mark_inactive()

    def sync_fds(self) -> list[int]:
        """Loop thread: fresh descriptors of the log and index files for a worker to fsync and close."""
        fds = [self.fs.dup(self.fd)]
        for path in (self.index.path, self.time_index.path):
            try:
                fds.append(self.fs.open(path, os.O_RDONLY))
            except FileNotFoundError:
                pass
        return fds

    def fsync(self) -> None:
        """Fsync the log and index files now (same-thread use, e.g. shutdown)."""
        for fd in self.sync_fds():
            try:
                self.fs.fsync(fd)
            finally:
                self.fs.close(fd)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.max_timestamp >= 0:
                try:
                    self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp,
                                                 skip_full_check=True)
                except (OSError, CorruptIndex):  # pragma: no cover - a vanished file: rebuilt at next open
                    pass
            self.index.close()
            self.time_index.close()
            _open_inactive.pop(self, None)
            self._release_fd()

    def paths(self) -> list[Path]:
        return [self.log_path, self.index.path, self.time_index.path, self.txn_index.path]

    def mark_deleted(self) -> list[Path]:
        """Loop thread: close and rename the files to ``*.deleted`` (Kafka's async delete); returns them."""
        self.closed = True
        self.index.close()
        self.time_index.close()
        _open_inactive.pop(self, None)
        self._release_fd()
        out = []
        for p in self.paths():
            target = p.with_name(p.name + DELETED_SUFFIX)
            try:
                self.fs.replace(p, target)
            except FileNotFoundError:
                continue
            out.append(target)
        self._deleted_paths = out
        return out

    def delete_files(self) -> None:
        """Worker thread: unlink the files renamed by ``mark_deleted``."""
        for p in self._deleted_paths:
            self.fs.unlink(p, missing_ok=True)

    def __repr__(self) -> str:
        return f"Segment({self.log_path.name}, offsets {self.base_offset}..{self.next_offset}, {self.size} bytes)"
