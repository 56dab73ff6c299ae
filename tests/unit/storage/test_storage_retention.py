"""Retention by time, by size and by log start offset (Kafka's deleteOldSegments)."""
from __future__ import annotations

import dataclasses

import pytest

from strom.errors import OffsetOutOfRange

from ._helpers import T0, append, batch, open_log, values

pytestmark = pytest.mark.usefixtures("storage_fs")


def fill(log, clock, n, size=100, step_ms=0):
    for _ in range(n):
        append(log, batch(b"r" * size, ts=clock.now_ms()))
        clock.advance(step_ms)


def test_retention_by_bytes_keeps_at_least_retention_bytes(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, retention_bytes=2500)
    fill(log, clock, 40)
    total = log.size_bytes
    doomed = log.segments_to_delete(clock.now_ms())
    assert doomed and log.active not in doomed
    assert total - sum(s.size for s in doomed) >= 2500
    assert total - sum(s.size for s in doomed) - log.segments[len(doomed)].size < 2500  # no more than needed
    removed = log.remove_segments(doomed)
    assert all(p.name.endswith(".deleted") for p in log.dir.iterdir() if p.name.startswith(
        f"{doomed[0].base_offset:020d}"))
    for seg in removed:
        seg.delete_files()
    assert not list(log.dir.glob("*.deleted"))
    assert log.log_start_offset == log.segments[0].base_offset > 0
    with pytest.raises(OffsetOutOfRange):
        log.read(0, 100)
    assert len(values(log, log.log_start_offset)) == 40 - log.log_start_offset
    assert log.segments_to_delete(clock.now_ms()) == []


def test_retention_by_time_uses_the_largest_timestamp(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, retention_ms=10_000)
    fill(log, clock, 20, step_ms=1000)  # about 5 batches per segment
    first, second = log.segments[0], log.segments[1]
    # at now, the first segment's newest batch is older than 10 s, the second one's not yet
    clock_now = first.max_timestamp + 10_001
    doomed = log.segments_to_delete(clock_now)
    assert doomed == [first]
    assert log.segments_to_delete(second.max_timestamp + 10_000) == [first]  # not strictly older yet
    assert log.segments_to_delete(second.max_timestamp + 10_001) == [first, second]
    log.remove_segments(doomed)
    assert log.log_start_offset == log.segments[0].base_offset


def test_everything_expired_rolls_the_active_segment_first(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, retention_ms=10_000)
    fill(log, clock, 20)
    clock.advance(20_000)
    doomed = log.segments_to_delete(clock.now_ms())
    assert log.active not in doomed and log.active.size == 0 and log.active.base_offset == 20
    log.remove_segments(doomed)
    assert log.log_start_offset == log.log_end_offset == 20
    assert log.read(20, 100) == b""
    assert append(log, batch(b"new", ts=clock.now_ms())).first_offset == 20
    log.close()
    again = open_log(tmp_path, clock, segment_bytes=1000, retention_ms=10_000)
    assert again.log_start_offset == 20 and values(again, 20) == [b"new"]


def test_retention_never_passes_the_high_watermark(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, retention_ms=1000)
    fill(log, clock, 20)
    clock.advance(5000)
    log.high_watermark = log.segments[1].base_offset + 1
    doomed = log.segments_to_delete(clock.now_ms())
    assert doomed == [log.segments[0]]


def test_no_retention_when_unlimited_or_compacted(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, retention_ms=-1, retention_bytes=-1)
    fill(log, clock, 20)
    clock.advance(10**12)
    assert log.segments_to_delete(clock.now_ms()) == []
    compact = open_log(tmp_path, clock, "c-0", segment_bytes=1000, retention_ms=1)
    fill(compact, clock, 20)  # keyless records: written before the topic became compacted
    compact.update_config(dataclasses.replace(compact.config, cleanup_policy="compact"))
    clock.advance(10_000)
    assert compact.segments_to_delete(clock.now_ms()) == []


def test_log_start_offset_deletes_whole_segments_below_it(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, retention_ms=-1)
    fill(log, clock, 20)
    third = log.segments[2].base_offset
    log.increment_log_start_offset(third + 1)
    with pytest.raises(OffsetOutOfRange):
        log.read(third, 100)
    doomed = log.segments_to_delete(clock.now_ms())
    assert [s.base_offset for s in doomed] == [s.base_offset for s in log.segments[:2]]
    log.remove_segments(doomed)
    assert log.log_start_offset == third + 1 and log.segments[0].base_offset == third
    with pytest.raises(OffsetOutOfRange):
        log.increment_log_start_offset(log.log_end_offset + 1)


def test_empty_log_has_nothing_to_delete(tmp_path, clock):
    log = open_log(tmp_path, clock, retention_ms=0, retention_bytes=0)
    clock.advance(10_000)
    assert log.segments_to_delete(clock.now_ms()) == []
    assert T0 < clock.now_ms()
