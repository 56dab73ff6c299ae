"""Log: the segments of one partition — appends, reads, recovery, retention, flushing.

Directory ``<topic>-<partition>/`` (Kafka's layout) holds the segments
``<20-digit base offset>.log`` with their ``.index`` and ``.timeindex`` (see
segment.py and index.py for the file formats) and the producer-state
snapshots ``<20-digit offset>.snapshot`` (see producer_state.py) and the
``leader-epoch-checkpoint`` (see leader_epoch.py).

Appending assigns offsets: each batch gets the next offsets by patching its
base offset, and as leader (``leader_epoch`` given) its partitionLeaderEpoch
is set to the partition's leader epoch — both outside the CRC, written as a
16-byte prefix before the received bytes from offset 16 on, so nothing is
copied.  Nothing else in a batch changes, except the timestamp fields for
LogAppendTime topics and a re-encoding when the topic's ``compression.type``
is not ``producer``.  The first batch of a newer epoch adds an entry to the
leader-epoch cache.  Validation on append
(Kafka's LogValidator): CreateTime timestamps must lie within
``message.timestamp.before.max.ms`` / ``after.max.ms`` of now, and a client
batch must not claim LogAppendTime (INVALID_TIMESTAMP, the whole append
refused; see ``_check_timestamps``: the header decides unless before.max.ms
is set, then each record's timestamp is read); then the idempotent-producer
checks.  One pwrite per append.

Rolling (Kafka's LogSegment.shouldRoll): a new active segment starts at the
log end offset when the incoming batches would push the active segment past
``segment.bytes``, when the incoming max timestamp is ``segment.ms`` or more
past the first batch's timestamp (time since creation when the segment has no
timestamps), when an index is full, or when an offset would not fit the
indexes' int32 relative offsets.  A producer snapshot is written at each roll.

Write failures (disk full, I/O errors): an append whose ``.log`` write or roll
fails raises KafkaStorageError and changes nothing (a short write is cut off
again); index writes never fail an append (see index.py); a producer snapshot
that cannot be written is skipped with a warning (the state is replayed from
the log instead).  Reads keep working, and appends succeed again once space
is freed (retention deletes whole segments).

Opening: segments before the recovery point are trusted (indexes
sanity-checked, rebuilt when missing or corrupt); after an unclean shutdown
(``clean=False``) the segment holding the recovery point and every later one
are re-validated batch by batch (CRC-32C), a torn or corrupt tail is cut off,
later segments are dropped, and the producer state is rebuilt from the newest
snapshot at or below the log end by replaying batch headers.  The leader-epoch
cache is read from its checkpoint; entries from the first re-validated segment
on are re-derived from the batch headers, and entries beyond the log end or
before the log start are dropped (a missing or malformed checkpoint is rebuilt
from every batch header).

Truncation (``truncate_to``, the follower's primitive) removes whole batches
from the end across segments and indexes, drops the leader-epoch entries and
producer snapshots beyond the new end and rebuilds the producer state; moving
the log start (retention, DeleteRecords) truncates the leader-epoch cache from
the start.  Both only mark the checkpoint changed: it is written by the next
flush, the next ``write_leader_epoch_checkpoint`` or at close (recovery does
not need it sooner, see leader_epoch.py).

Compaction (``cleanup.policy`` with compact; the cleaner is strom.storage.cleaner):
an append to a compacted log refuses a record without a key (InvalidRecord,
nothing written; only these logs pay for the per-record look), the active
segment rolls after the smaller of ``segment.ms`` and ``max.compaction.lag.ms``,
segments may have offset gaps and batches whose records are fewer than their
offset range (recovery accepts increasing offsets), ``first_dirty_offset``
marks what the cleaner has done, ``replace_cleaned_segments`` is its swap, and
opening a log first finishes a compaction swap a crash interrupted
(``cleaner.recover_swaps``).

Every file call goes through the Log's FileSystem (strom.storage.files; the
real one by default), which it hands to its segments, indexes, producer-state
snapshots and leader-epoch checkpoint.

Threading: every method runs on the event-loop thread, except the closure
returned by ``flush_plan`` (worker: it only fsyncs and closes descriptors
duplicated for it on the loop, so a concurrent roll, retention or close
cannot affect it) and ``Segment.delete_files`` (worker: unlinks paths renamed
on the loop by ``remove_segments``).  The directory left by ``delete`` is
removed by the caller on a worker.

Simplifications relative to Kafka: no segment.jitter.ms; the first dirty offset starts at 0
unless the LogManager restores it from a clean shutdown's cleaner-offset-checkpoint; a read returns
batches from one segment at a time; the high watermark is owned here until the
replication layer takes it over (it follows the log end offset on append);
transactions are tracked by the producer state (see producer_state.py):
``last_stable_offset`` is the high watermark while no transaction is open
(nothing is computed per append then), and each ABORT marker adds an entry to
its segment's ``.txnindex`` (see txn_index.py) for read_committed fetches.
Markers are appended like any batch, with ``allow_control`` headers, by the
transaction coordinator only.
"""
from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from strom.errors import InvalidTimestamp, KafkaStorageError, OffsetOutOfRange
from strom.records import compression
from strom.records.batch import (
    BROKER_PREFIX_SIZE, CONTROL_ABORT, LOG_APPEND_TIME, NO_TIMESTAMP, TIMESTAMP_TYPE_BIT, BatchHeader, NewRecord,
    broker_prefix_bytes, build_batch, control_record_type, decode_batch, patch_base_offset,
    patch_partition_leader_epoch, record_timestamps, set_log_append_time, validate_batches,
)
from strom.storage.cleaner import check_keys, recover_swaps
from strom.storage.files import OS_FS, FileSystem
from strom.storage.leader_epoch import LEADER_EPOCH_CHECKPOINT, LeaderEpochFileCache
from strom.storage.log_config import LONG_MAX, LogConfig
from strom.storage.producer_state import ProducerStateManager
from strom.storage.segment import (
    DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, Segment,
)
from strom.storage.txn_index import TXN_INDEX_SUFFIX, AbortedTxn
from strom.util.clock import Clock
from strom.util.throttle import LogThrottle

log = logging.getLogger(__name__)

_STALE_SUFFIXES = (DELETED_SUFFIX, ".tmp", ".cleaned", ".swap")
DELETE_DIR_SUFFIX = "-delete"


@dataclass
class AppendResult:
    first_offset: int
    last_offset: int
    log_append_time: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int
    duplicate: bool = False


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """``<topic>-<partition>`` -> (topic, partition); None for anything else."""
    topic, sep, part = name.rpartition("-")
    if not sep or not topic or not part.isdigit():
        return None
    return topic, int(part)


_CODECS = {"uncompressed": compression.NONE, "gzip": compression.GZIP, "snappy": compression.SNAPPY,
           "lz4": compression.LZ4, "zstd": compression.ZSTD}


def _recompress(data: bytes | bytearray | memoryview, headers: list[BatchHeader], codec: int
                ) -> tuple[bytes, list[BatchHeader]]:
    """Re-encode every (non-control) batch with ``codec``, keeping offsets deltas, timestamps,
    headers and producer fields (topic compression.type other than ``producer``)."""
    out = []
    pos = 0
    view = memoryview(data)
    for h in headers:
        raw = view[pos:pos + h.size]
        pos += h.size
        if h.is_control or h.compression == codec:
            out.append(bytes(raw))
            continue
        _, records = decode_batch(raw)
        out.append(build_batch([NewRecord(r.key, r.value, r.headers, r.timestamp) for r in records],
                               compression=codec, producer_id=h.producer_id,
                               producer_epoch=h.producer_epoch, base_sequence=h.base_sequence,
                               transactional=h.is_transactional, partition_leader_epoch=h.partition_leader_epoch))
    new = b"".join(out)
    return new, validate_batches(new, allow_control=True)


def _check_timestamps(data: bytes | bytearray | memoryview, headers: list[BatchHeader], now: int,
                      config: LogConfig, *, client: bool) -> None:
    """Kafka's LogValidator timestamp rules; raises InvalidTimestamp.

    A ``client`` (leader) append of a batch marked LogAppendTime is refused (only the broker sets
    that type).  Under
    CreateTime every record's timestamp (NO_TIMESTAMP excepted) must lie in [now -
    ``message.timestamp.before.max.ms``, now + ``message.timestamp.after.max.ms``].  The header
    decides without reading records: its max timestamp (trusted, as the clients write it) against
    the upper bound; with before.max.ms at its default (unlimited) there is no lower bound; a max
    timestamp below the lower bound fails the whole batch.  Only when a finite lower bound lies at
    or below the max are the records' timestamps read (a record may precede the first one)."""
    before, after = config.message_timestamp_before_max_ms, config.message_timestamp_after_max_ms
    create_time = not config.log_append_time
    lo, hi = now - before, now + after
    pos = 0
    for h in headers:
        start, pos = pos, pos + h.size
        if h.timestamp_type == LOG_APPEND_TIME and client:
            raise InvalidTimestamp("a producer must not set the timestamp type LogAppendTime")
        if not create_time or h.max_timestamp == NO_TIMESTAMP or h.timestamp_type == LOG_APPEND_TIME:
            continue
        if h.max_timestamp > hi or (before < LONG_MAX and h.max_timestamp < lo):
            raise InvalidTimestamp(f"timestamp {h.max_timestamp} is out of range: it must lie within "
                                   f"[{lo}, {hi}] (message.timestamp.before/after.max.ms around {now})")
        if before < LONG_MAX and not h.is_control:
            for ts in record_timestamps(memoryview(data)[start:pos]):
                if ts != NO_TIMESTAMP and not lo <= ts <= hi:
                    raise InvalidTimestamp(f"timestamp {ts} is out of range: it must lie within "
                                           f"[{lo}, {hi}] (message.timestamp.before/after.max.ms around {now})")


def _is_abort_marker(batch: bytes | bytearray | memoryview) -> bool:
    """Whether a control batch is an ABORT transaction marker (decodes its one small record)."""
    records = decode_batch(batch)[1]
    return bool(records) and control_record_type(records[0]) == CONTROL_ABORT


class Log:
    def __init__(self, directory: Path, config: LogConfig, *, clock: Clock, clean: bool = True,
                 recovery_point: int = 0, log_start_offset: int | None = None, fs: FileSystem = OS_FS) -> None:
        self.dir = Path(directory)
        self.fs = fs
        parsed = parse_partition_dir(self.dir.name)
        self.topic, self.partition = parsed if parsed else (self.dir.name, 0)
        self.config = config
        self.clock = clock
        self._segments: list[Segment] = []
        self._bases: list[int] = []
        self.producer_state = ProducerStateManager(self.dir, config.producer_id_expiration_ms, fs=fs)
        self.leader_epoch_cache = LeaderEpochFileCache(self.dir / LEADER_EPOCH_CHECKPOINT, fs=fs)
        self.recovery_point = recovery_point
        self.unflushed_messages = 0
        self.last_flush_ms = clock.now_ms()
        self.recovered_segments = 0  # segments the last open had to re-validate (tests, metrics)
        self.truncated_bytes = 0  # bytes the last open cut off: torn tails and the segments after them
        self._write_errors = LogThrottle()  # appends refused with KafkaStorageError since the log was opened
        self._dir_dirty = False  # a file was created since the last flush: fsync the directory too
        self.first_dirty_offset = 0  # compaction: offsets below it were cleaned (see cleaner.py)
        self.last_clean = None  # compaction: the CleanResult of the last clean (cleaner.py), None before
        fs.makedirs(self.dir)
        self._load(clean, log_start_offset)
        self._high_watermark = self.log_end_offset

    _aborted_count = 0  # entries in the segments' transaction indexes (0: read_committed skips the lookup)

    # ------------------------------------------------------------------ loading and recovery
    def _new_segment(self, base_offset: int) -> Segment:
        seg = Segment(self.dir, base_offset, index_max_bytes=self.config.segment_index_bytes,
                      index_interval_bytes=self.config.index_interval_bytes, created_ms=self.clock.now_ms(),
                      fs=self.fs)
        self._segments.append(seg)
        self._bases.append(base_offset)
        self._dir_dirty = True
        return seg

    def _load(self, clean: bool, log_start_offset: int | None) -> None:
        bases = []
        stems = set()
        fs = self.fs
        names = fs.listdir(self.dir)
        if recover_swaps(fs, self.dir, names):  # an interrupted compaction swap: finish it first
            names = fs.listdir(self.dir)
        for name in names:
            if name.endswith(_STALE_SUFFIXES):
                fs.unlink(self.dir / name, missing_ok=True)
            elif name.endswith(LOG_SUFFIX) and name[:-len(LOG_SUFFIX)].isdigit():
                bases.append(int(name[:-len(LOG_SUFFIX)]))
                stems.add(name[:-len(LOG_SUFFIX)])
        txn_indexes = {name[:-len(TXN_INDEX_SUFFIX)] for name in names if name.endswith(TXN_INDEX_SUFFIX)}
        for name in names:  # indexes without a log file (Kafka drops them)
            for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX):
                if name.endswith(suffix) and name[:-len(suffix)] not in stems:
                    fs.unlink(self.dir / name, missing_ok=True)
        bases.sort()
        # after a crash the segment holding the recovery point and every later one are re-validated
        first_dirty = len(bases) if clean else max(bisect.bisect_right(bases, self.recovery_point) - 1, 0)
        recover_from = bases[first_dirty] if first_dirty < len(bases) else None
        truncated = False
        for i, base in enumerate(bases):
            seg = self._new_segment(base)
            if truncated:  # everything after a corrupt batch is discarded, like Kafka
                self._segments.pop()
                self._bases.pop()
                self.truncated_bytes += seg.size
                seg.close()
                for path in seg.paths():
                    fs.unlink(path, missing_ok=True)
                continue
            if i >= first_dirty:
                self.recovered_segments += 1
            if seg.log_path.name[:-len(LOG_SUFFIX)] in txn_indexes:
                seg.txn_index.load()
            cut = seg.load(recover=i >= first_dirty)
            self.truncated_bytes += cut
            truncated = cut > 0
        if not self._segments:
            self._new_segment(log_start_offset or 0)
        for seg in self._segments[:-1]:
            seg.mark_inactive()
        self._dir_dirty = False
        first = self._segments[0].base_offset
        start = first if log_start_offset is None else max(first, log_start_offset)
        self.log_start_offset = min(start, self.log_end_offset)
        self.recovery_point = self.log_end_offset if clean else min(self.recovery_point, self.log_end_offset)
        self._rebuild_producer_state()
        self._load_leader_epochs(recover_from)

    def _load_leader_epochs(self, recover_from: int | None) -> None:
        """The checkpoint, with the entries from ``recover_from`` (first re-validated segment) on
        re-derived from batch headers; all of them re-derived when the file is missing or
        malformed.  Written back at once when that changed anything and the log has data."""
        cache = self.leader_epoch_cache
        stored = cache.read_file()
        if stored is None:
            cache.replace_all([])
            recover_from = self._segments[0].base_offset
        else:
            cache.replace_all(stored)
            cache.mark_written()
        if recover_from is not None:
            cache.truncate_from_end(recover_from)
            for seg in self._segments:
                if seg.base_offset < recover_from:
                    continue
                for _pos, h in seg.iter_headers():
                    if h.partition_leader_epoch > cache.latest_epoch:
                        cache.assign(h.partition_leader_epoch, h.base_offset)
        cache.truncate_from_end(self.log_end_offset)
        cache.truncate_from_start(self.log_start_offset)
        if cache.dirty:
            if self.size_bytes:
                self.write_leader_epoch_checkpoint()
            elif stored is None and not cache.entries:  # a new, empty log gets its file with its first epoch
                cache.mark_written()

    def _rebuild_producer_state(self) -> None:
        """Newest snapshot at or below the log end, then replay the batch headers after it; the
        transaction-index entries of markers from there on are re-derived by the replay."""
        start = self.producer_state.load_snapshot(self.log_end_offset)
        for seg in self._segments:
            if seg.next_offset <= start:
                continue
            seg.txn_index.truncate_to(start)
            pos = seg.translate_offset(start)[0] if start > seg.base_offset else 0
            for bpos, h in seg.iter_headers(pos):
                if h.base_offset >= start:
                    self._track_producer(h, seg, lambda p=bpos, n=h.size, s=seg: s.read(p, n))
        self._count_aborted()

    def _track_producer(self, h: BatchHeader, seg: Segment, batch_bytes: Callable[[], bytes | memoryview]) -> None:
        """Producer-state update for one stored batch; an ABORT marker that ended a transaction
        adds its entry to ``seg``'s transaction index."""
        ended = self.producer_state.update(h)
        if ended is not None and _is_abort_marker(batch_bytes()):
            lso = self.producer_state.first_unstable_offset()
            seg.txn_index.append(AbortedTxn(ended[0], ended[1], h.base_offset,
                                            h.next_offset if lso is None else min(lso, h.next_offset)))
            self._aborted_count += 1

    def _save_txn_indexes(self) -> None:
        """Write transaction indexes a failed write left unsaved; if that fails, drop the producer
        snapshots so the next start replays the whole log (which rebuilds the indexes)."""
        for seg in self._segments:
            if seg.txn_index.unsaved:
                try:
                    seg.txn_index.save()
                except OSError as exc:
                    log.warning("could not write %s (%s); the next start rebuilds it from the log",
                                seg.txn_index.path, exc)
                    self.producer_state.delete_all_snapshots()

    def _count_aborted(self) -> None:
        self._aborted_count = sum(len(seg.txn_index.entries) for seg in self._segments)

    # ------------------------------------------------------------------ properties
    @property
    def write_errors(self) -> int:
        """Appends refused with KafkaStorageError since the log was opened."""
        return self._write_errors.count

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The segments, oldest first (read-only view; the last is the active one)."""
        return tuple(self._segments)

    @property
    def active(self) -> Segment:
        return self._segments[-1]

    @property
    def log_end_offset(self) -> int:
        """The next offset to assign."""
        return self._segments[-1].next_offset

    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @high_watermark.setter
    def high_watermark(self, value: int) -> None:
        self._high_watermark = max(self.log_start_offset, min(value, self.log_end_offset))

    @property
    def last_stable_offset(self) -> int:
        """Kafka's LSO: the first offset of the oldest open transaction, capped by the high
        watermark; the high watermark itself while no transaction is open."""
        first = self.producer_state.first_unstable_offset()
        hw = self._high_watermark
        return hw if first is None or first > hw else max(first, self.log_start_offset)

    def aborted_transactions(self, fetch_offset: int, upper_offset: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping [fetch_offset, upper_offset) (read_committed fetch)."""
        if not self._aborted_count:
            return []
        out: list[AbortedTxn] = []
        for seg in self._segments[self._segment_index(fetch_offset):]:
            if seg.txn_index.entries:
                out += seg.txn_index.collect(fetch_offset, upper_offset)
        return out

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    def epoch_for_offset(self, offset: int) -> int:
        """Leader epoch of the record at ``offset`` (-1 when unknown), from the leader-epoch cache."""
        return self.leader_epoch_cache.epoch_for_offset(offset)

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """Kafka's OffsetForLeaderEpoch answer: (epoch, end offset); see LeaderEpochFileCache.end_offset_for."""
        return self.leader_epoch_cache.end_offset_for(epoch, self.log_end_offset)

    def write_leader_epoch_checkpoint(self) -> None:
        """Write the leader-epoch checkpoint now if it changed (calling thread; failures are logged
        and leave it marked changed, so the next flush or close tries again)."""
        try:
            self.leader_epoch_cache.write_checkpoint()
        except OSError as exc:
            log.warning("could not write the leader-epoch checkpoint of %s-%d (%s); will retry",
                        self.topic, self.partition, exc)

    def update_config(self, config: LogConfig) -> None:
        """Swap in a new config (takes effect at the next append / roll / retention check)."""
        self.config = config
        self.producer_state.expiration_ms = config.producer_id_expiration_ms

    # ------------------------------------------------------------------ append
    def append(self, data: bytes | bytearray | memoryview, headers: list[BatchHeader], *,
               now_ms: int | None = None, leader_epoch: int | None = None) -> AppendResult:
        """Append batches checked by ``validate_batches`` (``headers`` are its result for ``data``).

        ``leader_epoch``: as leader, the partition's epoch, stamped into every batch; None keeps
        the batches' own partitionLeaderEpoch (follower appends, the metadata log).

        Raises InvalidTimestamp, InvalidProducerEpoch, OutOfOrderSequence, KafkaStorageError.
        A duplicate (idempotent retry) writes nothing and returns the original offsets.
        """
        now = self.clock.now_ms() if now_ms is None else now_ms
        config = self.config
        log_append = config.log_append_time
        _check_timestamps(data, headers, now, config, client=leader_epoch is not None)
        if config.compact:  # Kafka refuses keyless records in compacted topics (per-record check)
            check_keys(data, headers)
        target = _CODECS.get(config.compression_type)
        if target is not None and any(h.compression != target and not h.is_control for h in headers):
            data, headers = _recompress(data, headers, target)
        dup = self.producer_state.check_batches(headers)
        if dup is not None:
            return AppendResult(dup.first_offset, dup.last_offset, -1, self.log_start_offset, True)
        # Offsets and the leader epoch are assigned by writing each batch's first 16 bytes (outside
        # the CRC) anew; the rest goes out as received.  LogAppendTime changes CRC-covered fields:
        # that copies.
        buf = bytearray(data) if log_append else None
        view = memoryview(data)
        pieces: list[bytes | memoryview] = []
        offset = first = self.log_end_offset
        placed: list[tuple[int, BatchHeader]] = []
        pos = 0
        max_ts = -1
        for h in headers:
            epoch = h.partition_leader_epoch if leader_epoch is None else leader_epoch
            if buf is not None:
                patch_base_offset(buf, pos, offset)
                patch_partition_leader_epoch(buf, pos, epoch)
                set_log_append_time(buf, pos, now)
                h = h._replace(max_timestamp=now, attributes=h.attributes | TIMESTAMP_TYPE_BIT)
            else:
                pieces += (broker_prefix_bytes(offset, h.batch_length, epoch),
                           view[pos + BROKER_PREFIX_SIZE:pos + h.size])
            # the header as stored (``_make`` of a tuple: a third of the cost of ``_replace``)
            placed.append((pos, BatchHeader._make((offset, h.batch_length, epoch) + h[3:])))
            offset += h.last_offset_delta + 1
            pos += h.size
            max_ts = max(max_ts, h.max_timestamp)
        try:
            self._maybe_roll(pos, max_ts, offset - 1, now)
            self.active.append(buf if buf is not None else pieces, placed)
        except OSError as exc:
            if self._write_errors.tick(now):
                log.error("append to %s-%d failed: %s (%d failed append(s) so far; producers get "
                          "KAFKA_STORAGE_ERROR; logged at most once a minute)",
                          self.topic, self.partition, exc, self._write_errors.count)
            raise KafkaStorageError(f"write to {self.topic}-{self.partition} failed: {exc}") from exc
        cache = self.leader_epoch_cache
        seg = self.active
        for bpos, h in placed:
            if h.is_control:
                self._track_producer(h, seg, lambda p=bpos, n=h.size: view[p:p + n] if buf is None else buf[p:p + n])
            else:
                self.producer_state.update(h)
            if h.partition_leader_epoch != cache.latest_epoch:
                cache.assign(h.partition_leader_epoch, h.base_offset)
        self.unflushed_messages += offset - first
        self._high_watermark = self.log_end_offset
        return AppendResult(first, offset - 1, now if log_append else -1, self.log_start_offset)

    def _maybe_roll(self, incoming_bytes: int, incoming_max_ts: int, last_offset: int, now: int) -> None:
        seg = self.active
        if seg.size == 0:
            return
        config = self.config
        if (seg.size > config.segment_bytes - incoming_bytes
                or seg.time_waited_for_roll(now, incoming_max_ts) > config.max_segment_ms
                or seg.is_full_index or not seg.offset_fits(last_offset)):
            self.roll()

    def roll(self, now_ms: int | None = None) -> Segment:
        """Start a new active segment at the log end offset (snapshotting producer state);
        a no-op when the active segment is empty."""
        if self.active.size == 0:
            return self.active
        end = self.log_end_offset
        previous = self.active
        seg = self._new_segment(end)  # raises before anything changed when the files cannot be created
        previous.on_inactive()
        self._write_producer_snapshot(end)
        return seg

    def _write_producer_snapshot(self, offset: int) -> None:
        """A snapshot only saves replaying batch headers at the next start: failing to write one
        is logged, not raised."""
        try:
            self.producer_state.write_snapshot(offset)
        except OSError as exc:
            log.warning("could not write the producer-state snapshot of %s-%d at offset %d (%s); it "
                        "will be rebuilt from the log", self.topic, self.partition, offset, exc)

    # ------------------------------------------------------------------ read
    def _segment_index(self, offset: int) -> int:
        return max(bisect.bisect_right(self._bases, offset) - 1, 0)

    def read(self, fetch_offset: int, max_bytes: int, *, max_offset: int | None = None,
             min_one_batch: bool = True) -> bytes:
        """Whole batches from the one holding ``fetch_offset``: at most ``max_bytes`` (but at least
        the first batch when ``min_one_batch``), none at or beyond ``max_offset`` (exclusive;
        default the high watermark).  One pread, from one segment.  b"" at the end.
        Raises OffsetOutOfRange outside [log_start_offset, log_end_offset]."""
        if fetch_offset < self.log_start_offset or fetch_offset > self.log_end_offset:
            raise OffsetOutOfRange(f"offset {fetch_offset} is outside [{self.log_start_offset}, "
                                   f"{self.log_end_offset}] of {self.topic}-{self.partition}")
        limit = self._high_watermark if max_offset is None else max_offset
        if fetch_offset >= limit:
            return b""
        for seg in self._segments[self._segment_index(fetch_offset):]:
            if seg.base_offset >= limit:
                return b""
            data = seg.read_batches(fetch_offset, max_bytes, limit, min_one_batch=min_one_batch)
            if data is not None:
                return data
        return b""

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with a timestamp >= ``timestamp`` below the high
        watermark (ListOffsets by time; decodes the one batch that holds it), or None."""
        lso, hw = self.log_start_offset, self._high_watermark
        for seg in self._segments:
            if seg.max_timestamp < timestamp:
                continue
            found = seg.find_timestamp(timestamp, lso)
            while found is not None:
                pos, h = found
                if h.base_offset >= hw:
                    return None
                for r in decode_batch(seg.read(pos, h.size))[1]:
                    if r.timestamp >= timestamp and lso <= r.offset < hw:
                        return r.offset, r.timestamp
                found = seg.find_timestamp(timestamp, h.next_offset)
        return None

    def batch_timestamp(self, offset: int) -> int | None:
        """Timestamp of the batch holding ``offset``: its first timestamp (CreateTime) or its append
        time (LogAppendTime); None outside [log start, log end) or when the batch has none (-1).
        One offset-index lookup and a header walk of at most a few KiB; nothing is decompressed
        (consumer lag in seconds; exact to one batch)."""
        if not self.log_start_offset <= offset < self.log_end_offset:
            return None
        for seg in self._segments[self._segment_index(offset):]:
            found = seg.translate_offset(offset)
            if found is not None:
                h = found[1]
                ts = h.max_timestamp if h.timestamp_type == LOG_APPEND_TIME else h.base_timestamp
                return ts if ts >= 0 else None
        return None

    def max_timestamp(self) -> tuple[int, int]:
        """(offset, timestamp) of the first record with the largest timestamp at or above the log
        start offset (ListOffsets MAX_TIMESTAMP); (-1, -1) when the log has none.  Records
        below the start (DeleteRecords) do not count: Kafka would still name them, but a reader
        sent there only gets OFFSET_OUT_OF_RANGE.  Segments answer from their in-memory maximum,
        except the one holding the start when that maximum's batch begins below it: then its batch
        headers from the start on (and the records of the batch holding the start) decide."""
        lso = self.log_start_offset
        best: tuple[int, Segment, int] | None = None  # (timestamp, segment, last offset of its batch)
        for seg in self._segments:
            if seg.max_timestamp < 0 or seg.next_offset <= lso:
                continue
            ts, last = seg.max_timestamp, seg.offset_of_max_timestamp
            holder = seg.translate_offset(last) if seg.base_offset < lso <= last else None
            if seg.base_offset < lso and (last < lso or holder is None or holder[1].base_offset < lso):
                # the batch of that maximum begins below the start: the largest from the start on
                ts, last = -1, -1
                found = seg.translate_offset(lso)
                if found is not None:
                    for pos, h in seg.iter_headers(found[0]):
                        top = h.max_timestamp
                        if h.base_offset < lso and h.timestamp_type != LOG_APPEND_TIME:
                            # the batch holding the start: only its records from the start count
                            top = max((r.timestamp for r in decode_batch(seg.read(pos, h.size))[1]
                                       if r.offset >= lso), default=-1)
                        if top > ts:
                            ts, last = top, h.last_offset
            if ts >= 0 and (best is None or ts > best[0]):
                best = (ts, seg, last)
        if best is None:
            return -1, -1
        _, seg, last = best
        found = seg.translate_offset(last)
        if found is None:
            return -1, -1
        pos, h = found
        records = [r for r in decode_batch(seg.read(pos, h.size))[1] if r.offset >= lso]
        if not records:
            return -1, -1
        if h.timestamp_type == LOG_APPEND_TIME:
            return records[0].offset, h.max_timestamp
        top = max(records, key=lambda r: r.timestamp)  # first of the largest
        return top.offset, top.timestamp

    # ------------------------------------------------------------------ flushing
    def needs_flush(self, now_ms: int) -> bool:
        """Whether flush.messages or flush.ms says the unflushed appends are due for an fsync."""
        if self.unflushed_messages <= 0:
            return False
        return (self.unflushed_messages >= self.config.flush_messages
                or now_ms - self.last_flush_ms >= self.config.flush_ms)

    def flush_plan(self, up_to: int | None = None) -> Callable[[], int] | None:
        """Loop thread: capture what to fsync; None when nothing is unflushed.

        Contract: the returned closure runs on a worker thread; it touches no Log state, only
        file descriptors duplicated for it here (each segment holding offsets at or beyond the
        recovery point, and the directory when files were created), which it fsyncs and closes,
        and the leader-epoch checkpoint captured here when it changed, which it writes first (a
        thread-safe plan; so the recovery point never passes an epoch entry that is not on
        disk).  It returns the offset now durable: pass that to ``flush_done`` on the loop.  If
        it raises, the descriptors are closed and the recovery point stays where it was."""
        end = self.log_end_offset if up_to is None else min(up_to, self.log_end_offset)
        epochs = self.leader_epoch_cache.checkpoint_plan()
        if end <= self.recovery_point and not self._dir_dirty and epochs is None:
            if up_to is None:
                self.unflushed_messages = 0
            return None
        fds: list[int] = []
        try:
            for seg in self._segments:
                if seg.next_offset > self.recovery_point and seg.base_offset < end:
                    fds += seg.sync_fds()
            if self._dir_dirty:
                fds.append(self.fs.open(self.dir, os.O_RDONLY))
        except OSError:
            for fd in fds:
                self.fs.close(fd)
            raise
        self._dir_dirty = False
        if up_to is None or end >= self.log_end_offset:
            self.unflushed_messages = 0
        self.last_flush_ms = self.clock.now_ms()

        fs = self.fs

        def fsync_all() -> int:
            try:
                if epochs is not None:
                    epochs()
                for fd in fds:
                    fs.fsync(fd)
            finally:
                for fd in fds:
                    fs.close(fd)
            return end
        return fsync_all

    def flush_done(self, offset: int) -> None:
        """Loop thread: the data below ``offset`` is durable; advance the recovery point."""
        self.recovery_point = min(max(self.recovery_point, offset), self.log_end_offset)

    def flush(self, up_to: int | None = None) -> None:
        """Fsync now, on the calling thread (shutdown, tests, the metadata log)."""
        plan = self.flush_plan(up_to)
        if plan is not None:
            self.flush_done(plan())

    def sync_all(self) -> None:
        """``flush()``; kept for callers that run it on a worker while they hold off appends."""
        self.flush()

    # ------------------------------------------------------------------ retention
    def increment_log_start_offset(self, offset: int) -> bool:
        """DeleteRecords: move the log start offset up to ``offset`` (0 <= offset <= high
        watermark; raises OffsetOutOfRange and changes nothing otherwise); returns whether it
        moved.  Reads below it answer OffsetOutOfRange at once; the leader-epoch cache is
        truncated from the start; whole segments below it go at the next ``segments_to_delete``.
        The new start is durable only once the caller writes the log-start-offset checkpoint
        (LogManager.log_start_checkpoint_plan)."""
        if offset < 0 or offset > self._high_watermark:
            raise OffsetOutOfRange(f"cannot move the log start offset of {self.topic}-{self.partition} to "
                                   f"{offset}: it must lie within [0, {self._high_watermark}] (the high watermark)")
        if offset <= self.log_start_offset:
            return False
        self.log_start_offset = offset
        self.leader_epoch_cache.truncate_from_start(offset)
        return True

    def segments_to_delete(self, now_ms: int) -> list[Segment]:
        """Oldest whole segments that may go (Kafka's deleteOldSegments): older than retention.ms
        (largest timestamp), or while the log stays at least retention.bytes without them (both
        only with cleanup.policy delete), or entirely below the log start offset.  Never data at
        or above the high watermark nor an empty active segment; when every segment qualifies the
        active one is rolled first (as Kafka does) so that it can go too."""
        config = self.config
        deletes = "delete" in config.cleanup_policy
        retention_ms = config.retention_ms if deletes else -1
        diff = self.size_bytes - config.retention_bytes if deletes and config.retention_bytes >= 0 else None
        doomed: list[Segment] = []
        segs = self._segments
        for i, seg in enumerate(segs):
            last = i == len(segs) - 1
            upper = self.log_end_offset if last else segs[i + 1].base_offset
            if (last and seg.size == 0) or upper > self._high_watermark:
                break
            by_time = retention_ms >= 0 and now_ms - seg.largest_timestamp > retention_ms
            by_size = diff is not None and diff - seg.size >= 0
            by_start = not last and upper <= self.log_start_offset
            if not (by_time or by_size or by_start):
                break
            doomed.append(seg)
            if diff is not None:
                diff -= seg.size
        if doomed and doomed[-1] is self.active:
            self.roll(now_ms)
        return doomed

    def remove_segments(self, segments: list[Segment]) -> list[Segment]:
        """Loop thread: drop segments from the log, advance the log start offset, rename their
        files ``*.deleted``; returns the removed segments, whose ``delete_files`` the caller runs on
        a worker after file.delete.delay.ms."""
        removed = []
        for seg in segments:
            if seg is self.active or seg not in self._segments:
                continue
            i = self._segments.index(seg)
            del self._segments[i], self._bases[i]
            seg.mark_deleted()
            removed.append(seg)
        if removed:
            self.log_start_offset = max(self.log_start_offset, self._segments[0].base_offset)
            self._high_watermark = max(self._high_watermark, self.log_start_offset)
            self.recovery_point = max(self.recovery_point, self.log_start_offset)
            self.leader_epoch_cache.truncate_from_start(self.log_start_offset)
            self._count_aborted()
        return removed

    # ------------------------------------------------------------------ compaction (see cleaner.py)
    def open_cleaned_segment(self, base_offset: int) -> Segment:
        """Loop thread: open a segment the cleaner just renamed into place (not yet in the log)."""
        seg = Segment(self.dir, base_offset, index_max_bytes=self.config.segment_index_bytes,
                      index_interval_bytes=self.config.index_interval_bytes, created_ms=self.clock.now_ms(),
                      fs=self.fs)
        seg.load(recover=False)
        seg.mark_inactive()
        return seg

    def replace_cleaned_segments(self, old: list[Segment], new: list[Segment], first_dirty: int) -> None:
        """Loop thread: the cleaner's swap — ``new`` (cleaned, covering the offsets of ``old``) take
        the place of ``old`` (already renamed ``*.deleted``); offsets below ``first_dirty`` are clean."""
        gone = {id(s) for s in old}
        kept = [s for s in self._segments if id(s) not in gone]
        self._segments = sorted(kept + new, key=lambda s: s.base_offset)
        self._bases = [s.base_offset for s in self._segments]
        self.first_dirty_offset = max(self.first_dirty_offset, first_dirty)
        self._dir_dirty = True

    def expire_producers(self, now_ms: int) -> int:
        return self.producer_state.expire(now_ms)

    # ------------------------------------------------------------------ truncation and lifecycle
    def _drop_segment_files(self, seg: Segment) -> None:
        seg.close()
        for p in seg.paths():
            self.fs.unlink(p, missing_ok=True)

    def truncate_to(self, offset: int) -> None:
        """Remove the batch holding ``offset`` and everything after it (follower truncation,
        Kafka's truncateTo; offsets are batch boundaries in practice): whole segments beyond it,
        the tail of the segment holding it and their index entries, leader-epoch entries and
        producer snapshots beyond the new end (the producer state is rebuilt).  Below the first
        segment this becomes ``truncate_fully_and_start_at(offset)``."""
        if offset >= self.log_end_offset:
            return
        if offset < self._segments[0].base_offset:
            self.truncate_fully_and_start_at(offset)
            return
        while len(self._segments) > 1 and self.active.base_offset >= offset:
            self._drop_segment_files(self._segments.pop())
            self._bases.pop()
        self.active.truncate_to(offset)
        end = self.log_end_offset
        self.first_dirty_offset = min(self.first_dirty_offset, end)
        self.active.txn_index.truncate_to(end)
        self.log_start_offset = min(self.log_start_offset, end)
        self._high_watermark = min(self._high_watermark, end)
        self.recovery_point = min(self.recovery_point, end)
        self.leader_epoch_cache.truncate_from_end(end)
        self.producer_state.truncate_snapshots_after(end)
        self._rebuild_producer_state()

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete every segment and restart the log empty at ``offset``."""
        for seg in self._segments:
            self._drop_segment_files(seg)
        self._segments, self._bases = [], []
        self.producer_state.delete_all_snapshots()
        self.producer_state.producers = {}
        self.producer_state.ongoing = {}
        self._aborted_count = 0
        self.leader_epoch_cache.clear()
        self._new_segment(offset)
        self.log_start_offset = self._high_watermark = self.recovery_point = self.first_dirty_offset = offset
        self.unflushed_messages = 0

    def close(self, *, flush: bool = False) -> None:
        """Write a producer snapshot and the leader-epoch checkpoint and close every segment (final
        time-index entries); with ``flush`` (clean shutdown) fsync everything unflushed, the active
        segment's indexes included (an unwritable checkpoint then raises: the shutdown is unclean)."""
        if not self._segments or self.active.closed:
            return
        try:
            if self.producer_state.latest_snapshot_offset() != self.log_end_offset:  # Kafka: only when it moved
                self._write_producer_snapshot(self.log_end_offset)
            self._save_txn_indexes()
            if flush:
                self.leader_epoch_cache.write_checkpoint()
            else:
                self.write_leader_epoch_checkpoint()
            if flush:
                self.active.on_inactive()
                self.flush()
                self.active.fsync()
        finally:
            for seg in self._segments:
                seg.close()

    def delete(self) -> Path:
        """Loop thread: close and rename the directory to ``<topic>-<partition>.<hex>-delete``;
        the caller removes the returned path on a worker thread (shutil.rmtree)."""
        for seg in self._segments:
            seg.close()
        target = self.dir.with_name(f"{self.dir.name}.{os.urandom(16).hex()}{DELETE_DIR_SUFFIX}")
        self.fs.replace(self.dir, target)
        return target

    def __repr__(self) -> str:
        return (f"Log({self.topic}-{self.partition}, [{self.log_start_offset}, {self.log_end_offset}), "
                f"{len(self._segments)} segment(s))")
