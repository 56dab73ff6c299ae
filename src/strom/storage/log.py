"""Log: the segments of one partition, appends, reads, recovery, retention, flushing.

Directory ``<topic>-<partition>/`` holds segments (see segment.py and
index.py for the file formats) and producer-state snapshots (see
producer_state.py).  Offsets are assigned here: each appended batch gets the
next offsets by patching its base offset; nothing else in a batch changes
(except the timestamp fields for LogAppendTime topics).

Threading: every method runs on the event-loop thread, except the closure
returned by ``flush_plan`` and ``Segment.delete_files``, which run on a worker
thread and only touch file descriptors captured on the loop (an fsync racing
with a close fails harmlessly and is retried by the next flush).

Simplifications relative to Kafka: segment.ms counts from the segment's
creation on this broker (Kafka uses the first batch's timestamp); a read
returns batches from one segment at a time.
"""
from __future__ import annotations

import bisect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from strom.errors import OffsetOutOfRange
from strom.records.batch import (
    HEADER_SIZE, BatchHeader, decode_batch, patch_base_offset, read_header, set_log_append_time,
)
from strom.storage.log_config import LogConfig
from strom.storage.producer_state import ProducerStateManager
from strom.storage.segment import Segment
from strom.util.clock import Clock

_STALE_SUFFIXES = (".deleted", ".tmp", ".cleaned", ".swap")


@dataclass
class AppendResult:
    first_offset: int
    last_offset: int
    log_append_time: int
    log_start_offset: int
    duplicate: bool = False


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    topic, sep, part = name.rpartition("-")
    if not sep or not topic or not part.isdigit():
        return None
    return topic, int(part)


class Log:
    def __init__(self, directory: Path, config: LogConfig, *, clock: Clock, clean: bool = True,
                 recovery_point: int = 0, log_start_offset: int | None = None) -> None:
        self.dir = directory
        parsed = parse_partition_dir(directory.name)
        self.topic, self.partition = parsed if parsed else (directory.name, 0)
        self.config = config
        self.clock = clock
        self.segments: list[Segment] = []
        self._bases: list[int] = []
        self.producer_state = ProducerStateManager(directory, config.producer_id_expiration_ms)
        self.recovery_point = recovery_point
        self.unflushed_messages = 0
        self.last_flush_ms = clock.now_ms()
        self.recovered_segments = 0  # how many segments the last open had to rescan (tests, metrics)
        directory.mkdir(parents=True, exist_ok=True)
        self._load(clean, log_start_offset)
        self.high_watermark = self.log_end_offset

    # ------------------------------------------------------------------ loading and recovery
    def _new_segment(self, base_offset: int) -> Segment:
        seg = Segment(self.dir, base_offset, index_max_bytes=self.config.segment_index_bytes,
                      index_interval_bytes=self.config.index_interval_bytes, created_ms=self.clock.now_ms())
        self.segments.append(seg)
        self._bases.append(base_offset)
        return seg

    def _load(self, clean: bool, log_start_offset: int | None) -> None:
        for p in self.dir.iterdir():
            if p.name.endswith(_STALE_SUFFIXES):
                p.unlink(missing_ok=True)
        bases = sorted(int(p.stem) for p in self.dir.glob("*.log") if p.stem.isdigit())
        # the segment holding the recovery point and every later one are rescanned after a crash
        first_dirty = bisect.bisect_right(bases, self.recovery_point) - 1 if not clean else len(bases)
        truncated = False
        for i, base in enumerate(bases):
            seg = self._new_segment(base)
            if truncated:  # everything after a corrupt segment is discarded, like Kafka
                seg.close()
                for path in seg.paths():
                    path.unlink(missing_ok=True)
                self.segments.pop()
                self._bases.pop()
                continue
            if i >= max(first_dirty, 0):
                size_before = seg.size
                seg.load(recover=True)
                self.recovered_segments += 1
                truncated = seg.size < size_before
            else:
                seg.load(recover=False)
        if not self.segments:
            self._new_segment(log_start_offset or 0)
        first = self.segments[0].base_offset
        self.log_start_offset = max(first, log_start_offset if log_start_offset is not None else first)
        if self.log_start_offset > self.log_end_offset:
            self.log_start_offset = self.log_end_offset
        self.recovery_point = min(self.recovery_point, self.log_end_offset) if not clean else self.log_end_offset
        self._rebuild_producer_state()

    def _rebuild_producer_state(self) -> None:
        start = self.producer_state.load_snapshot(self.log_end_offset)
        for seg in self.segments:
            if seg.next_offset <= start:
                continue
            for _pos, h in seg.headers():
                if h.base_offset >= start:
                    self.producer_state.update(h)

    # ------------------------------------------------------------------ properties
    @property
    def active(self) -> Segment:
        return self.segments[-1]

    @property
    def log_end_offset(self) -> int:
        return self.active.next_offset

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    def update_config(self, config: LogConfig) -> None:
        self.config = config
        self.producer_state.expiration_ms = config.producer_id_expiration_ms

    # ------------------------------------------------------------------ append
    def append(self, data: bytes | bytearray | memoryview, headers: list[BatchHeader], *,
               now_ms: int | None = None) -> AppendResult:
        """Append validated batches; see the module docstring.  Duplicates are not written."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        for h in headers:
            if h.producer_id >= 0:
                dup = self.producer_state.check(h)
                if dup is not None:
                    return AppendResult(dup.first_offset, dup.last_offset, -1, self.log_start_offset, True)
        buf = bytearray(data)
        offset = first = self.log_end_offset
        log_append = self.config.log_append_time
        placed: list[tuple[int, BatchHeader]] = []
        pos = 0
        for h in headers:
            patch_base_offset(buf, pos, offset)
            if log_append:
                set_log_append_time(buf, pos, now)
                h = h._replace(max_timestamp=now, attributes=h.attributes | 0x08)
            placed.append((pos, h._replace(base_offset=offset)))
            offset += h.last_offset_delta + 1
            pos += h.size
        self._maybe_roll(len(buf), now)
        self.active.append(buf, placed)
        for _, h in placed:
            self.producer_state.update(h)
        self.unflushed_messages += offset - first
        self.high_watermark = self.log_end_offset
        return AppendResult(first, offset - 1, now if log_append else -1, self.log_start_offset)

    def _maybe_roll(self, incoming: int, now: int) -> None:
        seg = self.active
        if seg.size == 0:
            return
        if (seg.size + incoming > self.config.segment_bytes or now - seg.created_ms > self.config.segment_ms
                or seg.is_full_index):
            self.roll()

    def roll(self) -> Segment:
        """Start a new active segment at the log end offset (snapshotting producer state)."""
        if self.active.size == 0:
            return self.active
        end = self.log_end_offset
        self.producer_state.write_snapshot(end)
        return self._new_segment(end)

    # ------------------------------------------------------------------ read
    def _segment_index(self, offset: int) -> int:
        return max(bisect.bisect_right(self._bases, offset) - 1, 0)

    def read(self, fetch_offset: int, max_bytes: int, *, max_offset: int | None = None,
             min_one_batch: bool = True) -> bytes:
        """Whole batches from the one that holds ``fetch_offset``; see the module docstring."""
        if fetch_offset < self.log_start_offset or fetch_offset > self.log_end_offset:
            raise OffsetOutOfRange(f"offset {fetch_offset} is outside [{self.log_start_offset}, "
                                   f"{self.log_end_offset}] of {self.topic}-{self.partition}")
        limit = self.high_watermark if max_offset is None else max_offset
        if fetch_offset >= limit:
            return b""
        for seg in self.segments[self._segment_index(fetch_offset):]:
            found = seg.find_position(fetch_offset)
            if found is None:
                continue
            pos, first = found
            if first.base_offset >= limit:
                return b""
            if first.size > max_bytes:
                return seg.read(pos, first.size) if min_one_batch else b""
            data = seg.read(pos, max_bytes)
            cut = 0
            while cut + HEADER_SIZE <= len(data):
                h = read_header(data, cut)
                if h.base_offset >= limit or cut + h.size > len(data):
                    break
                cut += h.size
            return data[:cut] if cut < len(data) else data
        return b""

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with a timestamp >= ``timestamp``, below the high watermark."""
        for seg in self.segments:
            if seg.max_timestamp < timestamp:
                continue
            found = seg.find_timestamp(timestamp)
            if found is None:
                continue
            pos, h = found
            if h.base_offset >= self.high_watermark:
                return None
            _, records = decode_batch(seg.read(pos, h.size))
            for r in records:
                if r.timestamp >= timestamp and r.offset >= self.log_start_offset:
                    return r.offset, r.timestamp
        return None

    def max_timestamp(self) -> tuple[int, int]:
        """(offset, timestamp) of the record with the largest timestamp; (-1, -1) when empty."""
        best = None
        for seg in self.segments:
            if seg.size and (best is None or seg.max_timestamp > best.max_timestamp):
                best = seg
        if best is None or best.offset_of_max_timestamp < 0:
            return -1, -1
        found = best.find_position(best.offset_of_max_timestamp)
        if found is None:
            return -1, -1
        pos, h = found
        _, records = decode_batch(best.read(pos, h.size))
        top = max(records, key=lambda r: r.timestamp)
        return top.offset, top.timestamp

    # ------------------------------------------------------------------ flushing
    def needs_flush(self, now_ms: int) -> bool:
        if self.unflushed_messages <= 0:
            return False
        return (self.unflushed_messages >= self.config.flush_messages
                or now_ms - self.last_flush_ms >= self.config.flush_ms)

    def flush_plan(self) -> Callable[[], int] | None:
        """Loop thread: capture what to fsync; the returned closure runs on a worker and returns
        the offset it made durable, to be passed to ``flush_done`` on the loop."""
        if self.unflushed_messages <= 0:
            return None
        end = self.log_end_offset
        segments = [s for s in self.segments if s.next_offset > self.recovery_point or s is self.active]
        self.unflushed_messages = 0
        self.last_flush_ms = self.clock.now_ms()

        def fsync_all() -> int:
            for seg in segments:
                try:
                    seg.fsync()
                except OSError:
                    return self.recovery_point
            return end
        return fsync_all

    def flush_done(self, offset: int) -> None:
        self.recovery_point = max(self.recovery_point, offset)

    def sync_all(self) -> None:
        """Fsync every segment now (metadata log; callers serialise appends around it)."""
        for seg in self.segments:
            seg.fsync()
        self.recovery_point = self.log_end_offset
        self.unflushed_messages = 0

    # ------------------------------------------------------------------ retention
    def segments_to_delete(self, now_ms: int) -> list[Segment]:
        """Whole segments that retention.ms / retention.bytes allow deleting, oldest first.

        An expired active segment is rolled first so it can go too (Kafka does the same)."""
        doomed: list[Segment] = []
        if self.config.retention_ms >= 0:
            for seg in self.segments:
                if seg.size == 0 or now_ms - seg.max_timestamp <= self.config.retention_ms:
                    break
                doomed.append(seg)
            if doomed and doomed[-1] is self.active:
                self.roll()
        if self.config.retention_bytes >= 0:
            excess = self.size_bytes - self.config.retention_bytes
            for seg in self.segments[:-1]:
                if seg in doomed:
                    excess -= seg.size
                    continue
                if excess - seg.size < 0:
                    break
                doomed.append(seg)
                excess -= seg.size
        return doomed

    def remove_segments(self, segments: list[Segment]) -> list[Segment]:
        """Loop thread: drop segments from the log (files renamed ``.deleted``); the caller unlinks
        them on a worker with ``Segment.delete_files`` after file.delete.delay.ms."""
        removed = []
        for seg in segments:
            if seg is self.active or seg not in self.segments:
                continue
            i = self.segments.index(seg)
            del self.segments[i], self._bases[i]
            seg.mark_deleted()
            removed.append(seg)
        if removed:
            self.log_start_offset = max(self.log_start_offset, self.segments[0].base_offset)
        return removed

    # ------------------------------------------------------------------ truncation and lifecycle
    def truncate_to(self, offset: int) -> None:
        """Remove everything at or after ``offset`` (replication: follower truncation)."""
        if offset >= self.log_end_offset:
            return
        while len(self.segments) > 1 and self.active.base_offset >= offset:
            seg = self.segments.pop()
            self._bases.pop()
            seg.close()
            for p in seg.paths():
                p.unlink(missing_ok=True)
        self.active.truncate_to(offset)
        self.high_watermark = min(self.high_watermark, self.log_end_offset)
        self.recovery_point = min(self.recovery_point, self.log_end_offset)
        self.producer_state.truncate_snapshots_after(self.log_end_offset)
        self._rebuild_producer_state()

    def close(self) -> None:
        if not self.segments or self.active.closed:
            return
        try:
            self.producer_state.write_snapshot(self.log_end_offset)
        finally:
            for seg in self.segments:
                seg.close()

    def delete(self) -> Path:
        """Loop thread: close and rename the directory to ``<topic>-<partition>.<hex>-delete``;
        the caller removes the returned path on a worker thread."""
        for seg in self.segments:
            seg.close()
        target = self.dir.with_name(f"{self.dir.name}.{os.urandom(8).hex()}-delete")
        os.replace(self.dir, target)
        return target
