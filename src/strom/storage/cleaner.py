"""The log cleaner: compaction of ``cleanup.policy=compact`` logs (Kafka's LogCleaner), in three steps.

1. ``plan_clean`` (event-loop thread) looks at a Log and captures what a clean
   needs as an immutable ``CleanPlan``: the paths and offsets of the segments
   to rewrite (every closed segment from the log start up to the *cleanable
   end*), the first dirty offset, the producers' last batch offsets and the
   config.  The cleanable end is Kafka's first uncleanable offset: the
   smallest of the active segment's base offset, the high watermark and the
   base offset of the first dirty segment whose largest timestamp is younger
   than ``min.compaction.lag.ms``; whole segments only.  A log is due when its
   dirty ratio (dirty bytes / all bytes below the cleanable end) reaches
   ``min.cleanable.dirty.ratio``, or when its first dirty segment holds a
   record older than ``max.compaction.lag.ms``.

2. ``clean`` (worker thread) reads the segment files through descriptors of
   its own (the loop may close or rename the Segment objects' files meanwhile;
   an open descriptor survives a rename) and never touches a Log or Segment
   object.  It builds the *offset map* (``OffsetMap``: key -> offset of its
   last record, and the timestamps of tombstones) over the dirty section (from the first dirty offset; at most
   ``max_map_entries`` keys, whole segments: when the map is full the
   cleanable end moves back to the end of the segment that filled it), then
   rewrites the segments, grouped like Kafka's groupSegmentsBySize (as many
   consecutive segments as fit ``segment.bytes`` and the int32 relative
   offsets), into ``<base>.log.cleaned`` with its ``.index.cleaned`` and
   ``.timeindex.cleaned`` (fsynced), where ``<base>`` is the first segment of
   the group.  Each record's key is parsed once, for the map: a dirty record
   is kept exactly when its offset is its key's last, so dirty batches are
   rewritten from offsets alone; records of the clean section (cleaned before)
   are looked up by key.  A record is kept when:

   * it has a key (records without a key are dropped, as Kafka does), and no
     later record in the dirty section has the same key;
   * it is not a tombstone (null value) whose timestamp is more than
     ``delete.retention.ms`` old;
   * it is not part of an aborted transaction (transactional batches whose
     producer's next transaction marker is an ABORT); batches of a
     transaction without a marker yet are kept whole and stay out of the map.

   Batches keep their boundaries, base offset, last offset delta (so the
   producer's sequence range), producer fields, base and max timestamp:
   records are dropped from a batch, never moved; offsets are never reused
   (gaps are normal).  A batch whose records are all kept is copied as is;
   otherwise the kept records' bytes are re-joined (decompressed and
   recompressed with the batch's codec, which is the topic's) under a new
   header and CRC.  A batch with no record left is dropped, except (Kafka's
   rules) the last batch of each producer id still in the producer state,
   which stays as an empty batch (``records_count`` 0) so the producer's
   sequence and epoch survive a restart, and the group's last batch, which
   stays as an empty batch without producer so that the cleaned segment ends
   where the old group ended (recovery relies on it, see below).
   Transaction markers (control batches) stay while any record of their
   transaction is kept, or while younger than ``delete.retention.ms``, or as
   their producer's last batch.

3. ``swap`` (event-loop thread, no await inside) checks that the old segments
   are still exactly the log's (retention, truncation or deletion during the
   clean discard the result), then for each group in offset order renames
   ``*.cleaned`` to ``*.swap`` (the commit point is ``<base>.log.swap``),
   renames the old segments' files to ``*.deleted`` (unlinked later on a
   worker), renames ``*.swap`` to the final names and puts new Segment
   objects in the log.  Appends only touch the active segment and reads run
   on the loop, so no append or read sees a half-swapped log.

Crash safety (kill -9 anywhere): at start-up ``recover_swaps`` (called by
Log's loading before anything else) finishes every interrupted swap: for a
``<B>.log.swap`` it deletes every ``.log``/``.index``/``.timeindex`` whose base
offset lies in ``[B, next offset of the swap file)`` — exactly the old group,
because the cleaned segment ends where the group ended — and renames the swap
in (its indexes are rebuilt); ``.cleaned`` files and index ``.swap`` files
without their log are discarded.  Groups are committed in offset order, so a
crash leaves a cleaned prefix, and a tombstone is never removed while an older
value of its key survives in an older group.  No key is lost, none appears
twice, no offset is readable twice.

Test-only crash points: with the environment variable
``STROM_TEST_CLEANER_CRASH`` set to one of ``CRASH_POINTS`` the process kills
itself with SIGKILL at that point of a clean (the crash-safety tests use it;
never set it in production).

Simplifications relative to Kafka: the tombstone and marker horizon is the
record's own timestamp plus ``delete.retention.ms`` (Kafka 3.1+ stamps a delete
horizon into the batch at the first clean, KIP-534); the first dirty offset
survives only a clean shutdown (``cleaner-offset-checkpoint``, see
log_manager.py; Kafka also writes it after each clean), so after a crash each
compacted log is fully dirty and cleaned once more; the offset
map holds whole keys, bounded by entry count (``log.cleaner.dedupe.buffer.size``
/ ``MAP_ENTRY_BYTES``) rather than Kafka's 24-byte hashed slots.
"""
from __future__ import annotations

import bisect
import logging
import os
import signal
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from strom.errors import CorruptMessage, InvalidRecord
from strom.records import compression
from strom.records.batch import (
    ATTRIBUTES_OFFSET, CONTROL_ABORT, CONTROL_BIT, CRC_OFFSET, HEADER, HEADER_SIZE, INT32_MAX, LOG_APPEND_TIME,
    MAGIC, MIN_BATCH_LENGTH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, TIMESTAMP_TYPE_BIT, BatchHeader,
    crc32c_of, decode_batch, read_header,
)
from strom.storage.files import FileSystem
from strom.storage.index import OFFSET_ENTRY, TIME_ENTRY
from strom.storage.log_config import LogConfig
from strom.storage.segment import INDEX_SUFFIX, LOG_SUFFIX, SCAN_CHUNK, TIME_INDEX_SUFFIX, segment_name

log = logging.getLogger(__name__)

CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
MAP_ENTRY_BYTES = 96  # what one offset-map entry costs in memory, roughly (dict slot, int, short key)
_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX)
_WRITE_CHUNK = 4 << 20
_U32 = struct.Struct(">I")

CRASH_ENV = "STROM_TEST_CLEANER_CRASH"
CRASH_POINTS = ("writing-cleaned", "swap-renamed", "old-deleted", "deleting-old")
"""Test-only: where ``STROM_TEST_CLEANER_CRASH`` kills the process. ``writing-cleaned``: half way
through writing a ``.log.cleaned`` file (worker); ``swap-renamed``: after every ``.cleaned`` became
``.swap``; ``old-deleted``: after the old segments were renamed ``.deleted``, before the swaps are
renamed in; ``deleting-old``: after the swap, before the ``.deleted`` files are unlinked (worker)."""


def crash_point(name: str) -> None:
    """Test-only: SIGKILL this process when ``STROM_TEST_CLEANER_CRASH`` names ``name``."""
    if os.environ.get(CRASH_ENV) == name:
        log.warning("test-only crash point %s reached (%s): killing the process", name, CRASH_ENV)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


class CleanerCancelled(Exception):
    """The clean was told to stop (shutdown); its ``.cleaned`` files are discarded."""


# ---------------------------------------------------------------------------- plan (loop)
@dataclass(frozen=True, slots=True)
class SegmentRef:
    """One segment to rewrite, as the loop saw it when planning."""

    base_offset: int
    next_offset: int
    size: int
    path: Path
    largest_timestamp: int
    identity: int  # id() of the Segment object, checked (with size and offsets) before the swap


@dataclass(frozen=True)
class CleanPlan:
    topic: str
    partition: int
    dir: Path
    fs: FileSystem
    segments: tuple[SegmentRef, ...]  # every segment from the log start up to the cleanable end
    first_dirty: int  # offsets below it were cleaned before
    end: int  # the cleanable end (exclusive): the next offset of the last planned segment
    config: LogConfig
    now_ms: int
    producer_last_offsets: dict[int, int]  # producer id -> last offset of its last batch
    max_map_entries: int
    dirty_ratio: float


@dataclass(frozen=True, slots=True)
class CleanableInfo:
    """What the loop knows about a compacted log without reading it."""

    first_dirty: int
    end: int  # cleanable end (a segment boundary); first_dirty when nothing is cleanable
    clean_bytes: int
    dirty_bytes: int
    overdue: bool  # max.compaction.lag.ms passed for a dirty record

    @property
    def dirty_ratio(self) -> float:
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0


def cleanable_info(the_log, now_ms: int) -> CleanableInfo:  # type: ignore[no-untyped-def]
    """Loop thread: the dirty section of ``the_log`` (a strom.storage.log.Log) and its ratio."""
    config: LogConfig = the_log.config
    first_dirty = max(the_log.first_dirty_offset, the_log.log_start_offset)
    limit = min(the_log.active.base_offset, the_log.high_watermark)
    clean = dirty = 0
    end = first_dirty
    overdue = False
    lag = config.min_compaction_lag_ms
    for seg in the_log.segments[:-1]:
        if seg.next_offset > limit:
            break
        if seg.next_offset <= first_dirty:
            clean += seg.size
            continue
        if lag > 0 and now_ms - seg.largest_timestamp < lag:
            break
        if not dirty and seg.size:
            first = seg.first_batch_timestamp
            if first is not None and first >= 0 and now_ms - first > config.max_compaction_lag_ms:
                overdue = True
        dirty += seg.size
        end = seg.next_offset
    return CleanableInfo(first_dirty, end, clean, dirty, overdue)


def is_due(info: CleanableInfo, config: LogConfig) -> bool:
    """Whether a log with ``info`` should be cleaned now."""
    if info.dirty_bytes <= 0 or info.end <= info.first_dirty:
        return False
    return info.overdue or info.dirty_ratio >= config.min_cleanable_dirty_ratio


def plan_clean(the_log, now_ms: int, max_map_entries: int,  # type: ignore[no-untyped-def]
               info: CleanableInfo | None = None) -> CleanPlan | None:
    """Loop thread: capture a clean of ``the_log`` up to its cleanable end; None if nothing is due."""
    info = info or cleanable_info(the_log, now_ms)
    if not is_due(info, the_log.config):
        return None
    refs = tuple(SegmentRef(s.base_offset, s.next_offset, s.size, s.log_path, s.largest_timestamp, id(s))
                 for s in the_log.segments[:-1] if s.next_offset <= info.end)
    producers = {pid: e.batches[-1].last_offset if e.batches else -1
                 for pid, e in the_log.producer_state.producers.items()}
    return CleanPlan(the_log.topic, the_log.partition, the_log.dir, the_log.fs, refs, info.first_dirty, info.end,
                     the_log.config, now_ms, producers, max_map_entries, info.dirty_ratio)


# ---------------------------------------------------------------------------- reading (worker)
def _iter_batches(fs: FileSystem, fd: int, size: int) -> Iterator[tuple[BatchHeader, memoryview]]:
    """(header, whole batch) of every batch of a segment file, read in chunks of SCAN_CHUNK."""
    pos = 0
    buf = memoryview(b"")
    buf_start = 0
    while pos + HEADER_SIZE <= size:
        rel = pos - buf_start
        if rel + HEADER_SIZE > len(buf):
            buf = memoryview(fs.pread(fd, min(SCAN_CHUNK, size - pos), pos))
            buf_start, rel = pos, 0
        h = read_header(buf, rel)
        if h.magic != MAGIC or h.batch_length < MIN_BATCH_LENGTH or pos + h.size > size:
            return  # a torn tail: the segment ends here (recovery cuts it at the next start)
        if rel + h.size > len(buf):
            buf = memoryview(fs.pread(fd, min(max(SCAN_CHUNK, h.size), size - pos), pos))
            buf_start, rel = pos, 0
        yield h, buf[rel:rel + h.size]
        pos += h.size


def _record_spans(data: bytes | memoryview, count: int) -> Iterator[tuple[int, int, int, int, bytes | None, bool]]:
    """(start, end, offset delta, timestamp delta, key, is tombstone) of each record of an
    uncompressed record block; raises CorruptMessage-free ValueError on malformed data."""
    pos = 0
    n = len(data)
    for _ in range(count):
        start = pos
        # length varint
        shift = v = 0
        while True:
            b = data[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
        length = (v >> 1) ^ -(v & 1)
        end = pos + length
        if length < 1 or end > n:
            raise ValueError(f"record length {length} does not fit the batch")
        pos += 1  # attributes
        fields = []
        for _f in range(3):  # timestamp delta, offset delta, key length
            shift = v = 0
            while True:
                b = data[pos]
                pos += 1
                v |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
            fields.append((v >> 1) ^ -(v & 1))
        ts_delta, off_delta, key_len = fields
        if key_len >= 0:
            key = bytes(data[pos:pos + key_len])
            pos += key_len
        else:
            key = None
        b = data[pos]
        tombstone = b == 1  # zigzag(-1): a null value
        yield start, end, off_delta, ts_delta, key, tombstone
        pos = end


def _records_block(h: BatchHeader, batch: memoryview) -> bytes:
    body = batch[HEADER_SIZE:]
    return compression.decompress(h.compression, body) if h.compression else bytes(body)


def _control_type(batch: memoryview) -> int:
    _h, records = decode_batch(batch)
    if not records or records[0].key is None or len(records[0].key) < 4:
        return -1
    return struct.unpack_from(">h", records[0].key, 2)[0]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A zigzag varint at ``pos``: (value, next position); IndexError past the end."""
    shift = v = 0
    while True:
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return (v >> 1) ^ -(v & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("malformed varint")


class OffsetMap:
    """The dirty section's key -> offset of its last record, and the timestamps of the tombstones
    among those records (by offset).  ``finish`` sorts the live offsets for the rewrite: a record
    of the dirty section is kept exactly when its offset is live (its key's last), so the rewrite
    of a dirty batch needs record lengths and offset deltas only, not keys."""

    def __init__(self, first_dirty: int) -> None:
        self.first_dirty = first_dirty
        self.keys: dict[bytes, int] = {}
        self.tombstones: dict[int, int] = {}  # offset -> timestamp, of every tombstone seen
        self.live: list[int] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add_block(self, data: bytes, count: int, base: int, base_ts: int, append_ts: int) -> None:
        """Map every keyed record of an uncompressed record block (hot loop: one pass, inlined
        one-byte varints; ``append_ts`` >= 0 is the batch's LogAppendTime)."""
        keys, tombs, first_dirty = self.keys, self.tombstones, self.first_dirty
        pos = 0
        for _ in range(count):
            b = data[pos]
            if b < 0x80:
                length = (b >> 1) ^ -(b & 1)
                pos += 1
            elif data[pos + 1] < 0x80:  # two bytes: a record length of 64..8191, a delta of 64..8191
                v = (b & 0x7F) | (data[pos + 1] << 7)
                length = (v >> 1) ^ -(v & 1)
                pos += 2
            else:
                length, pos = _varint(data, pos)
            end = pos + length
            pos += 1  # attributes
            b = data[pos]
            if b < 0x80:
                ts = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                ts, pos = _varint(data, pos)
            b = data[pos]
            if b < 0x80:
                od = (b >> 1) ^ -(b & 1)
                pos += 1
            elif data[pos + 1] < 0x80:  # two bytes: a record length of 64..8191, a delta of 64..8191
                v = (b & 0x7F) | (data[pos + 1] << 7)
                od = (v >> 1) ^ -(v & 1)
                pos += 2
            else:
                od, pos = _varint(data, pos)
            b = data[pos]
            if b < 0x80:
                kl = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                kl, pos = _varint(data, pos)
            if kl >= 0:
                offset = base + od
                if offset >= first_dirty:
                    keys[data[pos:pos + kl]] = offset
                    if data[pos + kl] == 1:  # value length -1: a tombstone
                        tombs[offset] = append_ts if append_ts >= 0 else base_ts + ts
            pos = end

    def finish(self) -> None:
        self.live = sorted(self.keys.values())

    def live_between(self, first: int, last: int) -> list[int]:
        """The live offsets in [first, last]."""
        live = self.live
        return live[bisect.bisect_left(live, first):bisect.bisect_right(live, last)]


def _spans_at(data: bytes, count: int, base: int, wanted: set[int]) -> list[tuple[int, int]]:
    """Byte spans of the records of an uncompressed block whose offsets are in ``wanted``."""
    spans = []
    pos = 0
    for _ in range(count):
        start = pos
        b = data[pos]
        if b < 0x80:
            length = (b >> 1) ^ -(b & 1)
            pos += 1
        elif data[pos + 1] < 0x80:
            v = (b & 0x7F) | (data[pos + 1] << 7)
            length = (v >> 1) ^ -(v & 1)
            pos += 2
        else:
            length, pos = _varint(data, pos)
        end = pos + length
        pos += 1
        b = data[pos]
        if b < 0x80:
            pos += 1
        else:
            _ts, pos = _varint(data, pos)
        b = data[pos]
        if b < 0x80:
            od = (b >> 1) ^ -(b & 1)
        elif data[pos + 1] < 0x80:
            v = (b & 0x7F) | (data[pos + 1] << 7)
            od = (v >> 1) ^ -(v & 1)
        else:
            od, _ = _varint(data, pos)
        if base + od in wanted:
            spans.append((start, end))
        pos = end
    return spans


# ---------------------------------------------------------------------------- transactions
@dataclass
class _TxnIndex:
    """Per producer id, the offsets of its transaction markers (sorted) and whether each aborts."""

    markers: dict[int, list[int]] = field(default_factory=dict)
    aborted: dict[int, set[int]] = field(default_factory=dict)

    def state(self, pid: int, offset: int) -> str:
        """"aborted", "committed" or "open" for a transactional batch of ``pid`` at ``offset``."""
        offsets = self.markers.get(pid)
        if not offsets:
            return "open"
        i = bisect.bisect_right(offsets, offset)
        if i == len(offsets):
            return "open"
        return "aborted" if offsets[i] in self.aborted.get(pid, ()) else "committed"


# ---------------------------------------------------------------------------- result
@dataclass
class CleanedGroup:
    base_offset: int
    old_bases: tuple[int, ...]
    next_offset: int
    size: int


@dataclass
class CleanResult:
    plan: CleanPlan
    end: int  # the new first dirty offset
    groups: list[CleanedGroup] = field(default_factory=list)
    bytes_read: int = 0
    bytes_written: int = 0
    records_read: int = 0
    records_kept: int = 0
    map_entries: int = 0
    duration_s: float = 0.0

    def summary(self) -> str:
        mb = self.bytes_read / 1e6
        rate = mb / self.duration_s if self.duration_s > 0 else 0.0
        return (f"cleaned {self.plan.topic}-{self.plan.partition} offsets [{self.plan.segments[0].base_offset}, "
                f"{self.end}): read {self.bytes_read} bytes ({self.records_read} records), wrote "
                f"{self.bytes_written} bytes ({self.records_kept} records) in {self.duration_s:.3f} s "
                f"({rate:.1f} MB/s), dirty ratio was {self.plan.dirty_ratio:.2f}, {len(self.groups)} segment(s) "
                f"from {sum(len(g.old_bases) for g in self.groups)}")

    def fields(self) -> dict[str, object]:
        """The summary as structured log fields (strom.util.logs)."""
        return {"event": "compaction", "topic": self.plan.topic, "partition": self.plan.partition,
                "start_offset": self.plan.segments[0].base_offset, "end_offset": self.end,
                "bytes_read": self.bytes_read, "bytes_written": self.bytes_written,
                "records_read": self.records_read, "records_kept": self.records_kept,
                "duration_ms": round(self.duration_s * 1000, 3), "dirty_ratio": round(self.plan.dirty_ratio, 4),
                "segments_out": len(self.groups), "segments_in": sum(len(g.old_bases) for g in self.groups)}


def cleaned_path(directory: Path, base_offset: int, suffix: str) -> Path:
    return directory / f"{segment_name(base_offset)}{suffix}{CLEANED_SUFFIX}"


# ---------------------------------------------------------------------------- the clean (worker)
class _GroupWriter:
    """Writes one cleaned segment: ``.log.cleaned`` and its indexes, Segment's index rules."""

    def __init__(self, fs: FileSystem, directory: Path, base_offset: int, interval: int) -> None:
        self.fs = fs
        self.dir = directory
        self.base = base_offset
        self.interval = interval
        self.fd = fs.open(cleaned_path(directory, base_offset, LOG_SUFFIX),
                          os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.pending: list[bytes | memoryview] = []
        self.pending_bytes = 0
        self.size = 0  # bytes written or pending
        self.flushed = 0
        self.since_index = 0
        self.max_ts = -1
        self.offset_of_max_ts = -1
        self.index: list[bytes] = []
        self.time_index: list[bytes] = []
        self.last_time_entry = -1
        self.next_offset = base_offset
        self.crashed_once = False

    def add(self, h: BatchHeader, data: bytes | memoryview) -> None:
        pos = self.size
        if h.max_timestamp > self.max_ts:
            self.max_ts, self.offset_of_max_ts = h.max_timestamp, h.last_offset
        if self.since_index > self.interval:
            self.index.append(OFFSET_ENTRY.pack(h.last_offset - self.base, pos))
            if self.max_ts > self.last_time_entry:
                self.time_index.append(TIME_ENTRY.pack(self.max_ts, self.offset_of_max_ts - self.base))
                self.last_time_entry = self.max_ts
            self.since_index = 0
        self.since_index += len(data)
        self.pending.append(data)
        self.pending_bytes += len(data)
        self.size += len(data)
        self.next_offset = h.next_offset
        if self.pending_bytes >= _WRITE_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        data = b"".join(self.pending)
        written = self.fs.pwrite(self.fd, data, self.flushed)
        if written != len(data):
            raise OSError(f"short write to {segment_name(self.base)}{LOG_SUFFIX}{CLEANED_SUFFIX}")
        self.flushed += written
        self.pending, self.pending_bytes = [], 0
        if not self.crashed_once:
            self.crashed_once = True
            crash_point("writing-cleaned")

    def finish(self) -> None:
        """Write the rest and the indexes; fsync everything (the swap may follow at once)."""
        self._flush()
        if self.max_ts > self.last_time_entry:  # Segment.on_inactive's final time-index entry
            self.time_index.append(TIME_ENTRY.pack(self.max_ts, self.offset_of_max_ts - self.base))
        fs = self.fs
        try:
            fs.fsync(self.fd)
        finally:
            fs.close(self.fd)
        for suffix, entries in ((INDEX_SUFFIX, self.index), (TIME_INDEX_SUFFIX, self.time_index)):
            fd = fs.open(cleaned_path(self.dir, self.base, suffix), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                fs.write_all(fd, b"".join(entries))
                fs.fsync(fd)
            finally:
                fs.close(fd)

    def abort(self) -> None:
        try:
            self.fs.close(self.fd)
        except OSError:
            pass


def _empty_batch(h: BatchHeader, *, keep_producer: bool) -> bytes:
    """A batch with no records spanning ``h``'s offsets (Kafka's empty batch header): no
    compression; producer fields and transactional/control bits only when ``keep_producer``."""
    if keep_producer:
        attributes = h.attributes & ~0x07
        pid, epoch, seq = h.producer_id, h.producer_epoch, h.base_sequence
    else:
        attributes = h.attributes & TIMESTAMP_TYPE_BIT
        pid, epoch, seq = NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE
    batch = bytearray(HEADER.pack(h.base_offset, MIN_BATCH_LENGTH, h.partition_leader_epoch, MAGIC, 0, attributes,
                                  h.last_offset_delta, h.base_timestamp, h.max_timestamp, pid, epoch, seq, 0))
    _U32.pack_into(batch, CRC_OFFSET, crc32c_of(memoryview(batch)[ATTRIBUTES_OFFSET:]))
    return bytes(batch)


def _rebuild(h: BatchHeader, block: bytes | memoryview, spans: list[tuple[int, int]]) -> bytes:
    """``h``'s batch with only the records at ``spans`` of its uncompressed ``block``."""
    records = b"".join(block[s:e] for s, e in spans)
    payload = compression.compress(h.compression, records) if h.compression else records
    batch = bytearray(HEADER.pack(h.base_offset, MIN_BATCH_LENGTH + len(payload), h.partition_leader_epoch, MAGIC,
                                  0, h.attributes, h.last_offset_delta, h.base_timestamp, h.max_timestamp,
                                  h.producer_id, h.producer_epoch, h.base_sequence, len(spans)))
    batch += payload
    _U32.pack_into(batch, CRC_OFFSET, crc32c_of(memoryview(batch)[ATTRIBUTES_OFFSET:]))
    return bytes(batch)


def _groups(segments: tuple[SegmentRef, ...], max_bytes: int) -> list[list[SegmentRef]]:
    """Kafka's groupSegmentsBySize: consecutive segments whose total fits ``segment.bytes`` and
    whose offsets fit int32 relative to the group's base."""
    out: list[list[SegmentRef]] = []
    for seg in segments:
        if out:
            group = out[-1]
            if (sum(s.size for s in group) + seg.size <= max_bytes
                    and seg.next_offset - 1 - group[0].base_offset <= INT32_MAX):
                group.append(seg)
                continue
        out.append([seg])
    return out


def clean(plan: CleanPlan, cancel: threading.Event | None = None) -> CleanResult:
    """Worker thread: write the cleaned segments of ``plan`` as ``*.cleaned`` files (see the module
    docstring).  Raises OSError (files gone or unwritable) or CleanerCancelled; either way every
    ``.cleaned`` file it wrote is removed again."""
    started = time.monotonic()
    fs = plan.fs
    config = plan.config
    result = CleanResult(plan, plan.end)
    fds: dict[int, int] = {}
    writers: list[_GroupWriter] = []
    try:
        for ref in plan.segments:
            fds[ref.base_offset] = fs.open(ref.path, os.O_RDONLY)
        txns = _scan_transactions(plan, fds)
        offset_map, end = _build_offset_map(plan, fds, txns, cancel)
        result.end = end
        result.map_entries = len(offset_map)
        segments = tuple(s for s in plan.segments if s.next_offset <= end)
        horizon = plan.now_ms - config.delete_retention_ms
        txn_kept: dict[int, int] = {}
        for group in _groups(segments, config.segment_bytes):
            writer = _GroupWriter(fs, plan.dir, group[0].base_offset, config.index_interval_bytes)
            writers.append(writer)
            last: BatchHeader | None = None
            last_written = False
            for ref in group:
                result.bytes_read += ref.size
                for h, batch in _iter_batches(fs, fds[ref.base_offset], ref.size):
                    if cancel is not None and cancel.is_set():
                        raise CleanerCancelled
                    last = h
                    out = _clean_batch(h, batch, offset_map, txns, txn_kept, horizon, plan, result)
                    last_written = out is not None
                    if out is not None:
                        writer.add(h, out)
            if last is not None and not last_written:
                writer.add(last, _empty_batch(last, keep_producer=False))
            writer.finish()
            result.bytes_written += writer.size
            result.groups.append(CleanedGroup(writer.base, tuple(s.base_offset for s in group), writer.next_offset,
                                              writer.size))
        if writers:
            fs.fsync_path(plan.dir)
    except BaseException:
        for w in writers:
            w.abort()
        discard(plan.fs, plan.dir, [w.base for w in writers])
        raise
    finally:
        for fd in fds.values():
            fs.close(fd)
    result.duration_s = time.monotonic() - started
    return result


def discard(fs: FileSystem, directory: Path, bases: list[int]) -> None:
    """Remove the ``.cleaned`` files of groups starting at ``bases`` (any thread; best effort)."""
    for base in bases:
        for suffix in _SUFFIXES:
            try:
                fs.unlink(cleaned_path(directory, base, suffix), missing_ok=True)
            except OSError:  # pragma: no cover - the next start removes them
                pass


def _scan_transactions(plan: CleanPlan, fds: dict[int, int]) -> _TxnIndex:
    """Header walk over the planned segments: where each producer's transaction markers are."""
    txns = _TxnIndex()
    fs = plan.fs
    for ref in plan.segments:
        for h, batch in _iter_batches(fs, fds[ref.base_offset], ref.size):
            if h.attributes & CONTROL_BIT and h.records_count > 0:
                txns.markers.setdefault(h.producer_id, []).append(h.base_offset)
                if _control_type(batch) == CONTROL_ABORT:
                    txns.aborted.setdefault(h.producer_id, set()).add(h.base_offset)
    return txns


def _build_offset_map(plan: CleanPlan, fds: dict[int, int], txns: _TxnIndex,
                      cancel: threading.Event | None) -> tuple[OffsetMap, int]:
    """The offset map of the dirty section, and where the dirty section ends (earlier than
    planned when the map fills up: after the segment that filled it)."""
    offset_map = OffsetMap(plan.first_dirty)
    first_dirty = plan.first_dirty
    fs = plan.fs
    end = plan.end
    for ref in plan.segments:
        if ref.next_offset <= first_dirty:
            continue
        for h, batch in _iter_batches(fs, fds[ref.base_offset], ref.size):
            if cancel is not None and cancel.is_set():
                raise CleanerCancelled
            if h.last_offset < first_dirty or h.attributes & CONTROL_BIT or not h.records_count:
                continue
            if h.is_transactional and txns.state(h.producer_id, h.base_offset) != "committed":
                continue
            offset_map.add_block(_records_block(h, batch), h.records_count, h.base_offset, h.base_timestamp,
                                 h.max_timestamp if h.timestamp_type == LOG_APPEND_TIME else -1)
        if len(offset_map) >= plan.max_map_entries:
            end = ref.next_offset
            break
    offset_map.finish()
    return offset_map, end


def _clean_batch(h: BatchHeader, batch: memoryview, offset_map: OffsetMap, txns: _TxnIndex,
                 txn_kept: dict[int, int], horizon: int, plan: CleanPlan, result: CleanResult
                 ) -> bytes | memoryview | None:
    """The batch as it goes into the cleaned segment (unchanged, rebuilt, empty) or None (dropped)."""
    pid = h.producer_id
    producers_last = pid >= 0 and plan.producer_last_offsets.get(pid) == h.last_offset
    result.records_read += h.records_count
    if h.attributes & CONTROL_BIT:
        kept = txn_kept.pop(pid, 0)
        if producers_last or kept > 0 or h.max_timestamp > horizon:
            result.records_kept += h.records_count
            return batch
        return None
    if not h.records_count:  # an empty batch left by an earlier clean
        return batch if producers_last else None
    if h.is_transactional:
        state = txns.state(pid, h.base_offset)
        if state == "open":
            result.records_kept += h.records_count
            return batch
        if state == "aborted":
            return _empty_batch(h, keep_producer=True) if producers_last else None
    if h.base_offset >= offset_map.first_dirty:  # dirty: kept exactly when live, no key needed
        live = offset_map.live_between(h.base_offset, h.last_offset)
        tombs = offset_map.tombstones
        wanted = [o for o in live if tombs.get(o, horizon + 1) > horizon]
        kept = len(wanted)
        if h.is_transactional and kept:
            txn_kept[pid] = txn_kept.get(pid, 0) + kept
        result.records_kept += kept
        if kept == h.records_count:
            return batch
        if not kept:
            return _empty_batch(h, keep_producer=True) if producers_last else None
        block = _records_block(h, batch)
        return _rebuild(h, block, _spans_at(block, h.records_count, h.base_offset, set(wanted)))
    block = _records_block(h, batch)  # clean section: keys the dirty section did not see stay
    base = h.base_offset
    log_append = h.timestamp_type == LOG_APPEND_TIME
    keys = offset_map.keys
    spans = []
    for start, end, off_delta, ts_delta, key, tombstone in _record_spans(block, h.records_count):
        if key is None:
            continue
        offset = base + off_delta
        if keys.get(key, offset) > offset:
            continue
        if tombstone and (h.max_timestamp if log_append else h.base_timestamp + ts_delta) <= horizon:
            continue
        spans.append((start, end))
    if h.is_transactional and spans:
        txn_kept[pid] = txn_kept.get(pid, 0) + len(spans)
    result.records_kept += len(spans)
    if len(spans) == h.records_count:
        return batch
    if not spans:
        return _empty_batch(h, keep_producer=True) if producers_last else None
    return _rebuild(h, block, spans)


# ---------------------------------------------------------------------------- swap (loop)
def swap(the_log, result: CleanResult):  # type: ignore[no-untyped-def]
    """Loop thread: put the cleaned segments of ``result`` into ``the_log`` (see the module
    docstring); returns the replaced Segment objects, whose ``delete_files`` the caller runs on a
    worker, or None when the log changed during the clean (the ``.cleaned`` files are then removed
    here: a few unlinks).  An OSError before the first ``.log.swap`` rename changes nothing that
    the next start does not clean up; one after it leaves the rest of the swap to the next start's
    recovery, and the log's replaced segments are closed until then (reads of their offsets fail
    with a storage error; Kafka takes the log directory offline in that case)."""
    plan = result.plan
    by_base = {s.base_offset: s for s in the_log.segments[:-1]}
    for group in result.groups:
        for base in group.old_bases:
            seg = by_base.get(base)
            ref = next(r for r in plan.segments if r.base_offset == base)
            if (seg is None or id(seg) != ref.identity or seg.closed or seg.size != ref.size
                    or seg.next_offset != ref.next_offset):
                discard(the_log.fs, the_log.dir, [g.base_offset for g in result.groups])
                return None
    fs = the_log.fs
    directory = the_log.dir
    for group in result.groups:  # commit point per group: <base>.log.swap, in offset order
        for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX):
            src = cleaned_path(directory, group.base_offset, suffix)
            fs.replace(src, src.with_name(src.name[:-len(CLEANED_SUFFIX)] + SWAP_SUFFIX))
    crash_point("swap-renamed")
    old = []
    for group in result.groups:
        for base in group.old_bases:
            seg = by_base[base]
            seg.mark_deleted()
            old.append(seg)
    crash_point("old-deleted")
    new = []
    for group in result.groups:
        for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX):
            final = directory / f"{segment_name(group.base_offset)}{suffix}"
            fs.replace(final.with_name(final.name + SWAP_SUFFIX), final)
        new.append(the_log.open_cleaned_segment(group.base_offset))
    the_log.replace_cleaned_segments(old, new, result.end)
    return old


# ---------------------------------------------------------------------------- recovery (start-up)
def _swap_next_offset(fs: FileSystem, path: Path) -> int | None:
    """The next offset after the last whole batch of a ``.log.swap`` file (None when it has none)."""
    fd = fs.open(path, os.O_RDONLY)
    try:
        size = fs.fstat(fd).st_size
        nxt = None
        for h, _batch in _iter_batches(fs, fd, size):
            nxt = h.next_offset
        return nxt
    finally:
        fs.close(fd)


def recover_swaps(fs: FileSystem, directory: Path, names: list[str]) -> bool:
    """Start-up, before the segments are opened: finish each interrupted swap (``<B>.log.swap``
    replaces every segment with a base offset in [B, its next offset); its indexes are rebuilt),
    drop index swaps without their log; returns whether anything was done.  ``.cleaned``,
    ``.deleted`` and ``.tmp`` files are left for the Log's stale-file sweep."""
    swaps = sorted(int(n[:-len(LOG_SUFFIX + SWAP_SUFFIX)]) for n in names
                   if n.endswith(LOG_SUFFIX + SWAP_SUFFIX) and n[:-len(LOG_SUFFIX + SWAP_SUFFIX)].isdigit())
    done = False
    for base in swaps:
        swap_path = directory / f"{segment_name(base)}{LOG_SUFFIX}{SWAP_SUFFIX}"
        nxt = _swap_next_offset(fs, swap_path)
        if nxt is None:  # no whole batch: never a committed swap of ours; drop it
            fs.unlink(swap_path, missing_ok=True)
            continue
        for name in names:
            for suffix in _SUFFIXES:
                stem = name[:-len(suffix)]
                if name.endswith(suffix) and stem.isdigit() and base <= int(stem) < nxt:
                    fs.unlink(directory / name, missing_ok=True)
        fs.replace(swap_path, directory / f"{segment_name(base)}{LOG_SUFFIX}")
        log.warning("finished an interrupted compaction swap in %s: segment %d replaces offsets [%d, %d)",
                    directory.name, base, base, nxt)
        done = True
    for name in names:
        if name.endswith(SWAP_SUFFIX) and not name.endswith(LOG_SUFFIX + SWAP_SUFFIX):
            fs.unlink(directory / name, missing_ok=True)
    if done:
        fs.fsync_path(directory)
    return done


def check_keys(data: bytes | bytearray | memoryview, headers: list[BatchHeader]) -> None:
    """Produce path of a compacted topic: raise InvalidRecord when a record has no key (Kafka's
    "Compacted topic cannot accept message without key").  Decompresses each batch once."""
    view = memoryview(data)
    pos = 0
    for h in headers:
        batch = view[pos:pos + h.size]
        pos += h.size
        if h.is_control:
            continue
        try:
            for _s, _e, _o, _t, key, _tomb in _record_spans(_records_block(h, batch), h.records_count):
                if key is None:
                    raise InvalidRecord("Compacted topic cannot accept message without key")
        except (IndexError, ValueError):
            raise CorruptMessage("malformed record in batch") from None
