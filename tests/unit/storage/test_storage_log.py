"""The partition log on real files: offsets, reads, rolls, timestamps, flushing, truncation."""
from __future__ import annotations

import os

import pytest

from strom.errors import InvalidTimestamp, OffsetOutOfRange
from strom.records import compression
from strom.records.batch import (
    NewRecord, build_batch, iter_records, read_header, set_log_append_time, validate_batches,
)
from strom.storage.faults import FaultyFileSystem
from strom.storage.log import Log, parse_partition_dir
from strom.storage.log_config import LogConfig

from ._helpers import T0, append, batch, open_log, values

pytestmark = pytest.mark.usefixtures("storage_fs")


def test_offsets_are_assigned_and_reads_return_whole_batches(tmp_path, clock):
    log = open_log(tmp_path, clock)
    assert (log.topic, log.partition) == ("t", 0)
    r = append(log, batch(b"a", b"b"))
    assert (r.first_offset, r.last_offset, r.log_append_time, r.log_start_offset, r.duplicate) == (0, 1, -1, 0, False)
    r = append(log, batch(b"c"))
    assert (r.first_offset, r.last_offset) == (2, 2)
    assert log.log_end_offset == log.high_watermark == 3
    assert values(log) == [b"a", b"b", b"c"]
    # reading from the middle of a batch returns that whole batch
    assert [r.offset for r in iter_records(log.read(1, 1 << 20))] == [0, 1, 2]
    assert log.read(3, 100) == b""
    with pytest.raises(OffsetOutOfRange):
        log.read(4, 100)
    with pytest.raises(OffsetOutOfRange):
        log.read(-1, 100)


def test_several_batches_in_one_append_get_consecutive_offsets(tmp_path, clock):
    log = open_log(tmp_path, clock)
    data = batch(b"a", b"b") + batch(b"c") + batch(b"d", b"e", b"f")
    r = append(log, data)
    assert (r.first_offset, r.last_offset) == (0, 5)
    assert [h.base_offset for h in validate_batches(log.read(0, 1 << 20))] == [0, 2, 3]


def test_max_bytes_is_honoured_but_one_batch_always_fits(tmp_path, clock):
    log = open_log(tmp_path, clock, index_interval_bytes=200)
    for _ in range(30):
        append(log, batch(b"x" * 100))
    one = len(batch(b"x" * 100))
    for n in (1, 2, 3, 7, 20):
        assert len(log.read(0, one * n + 10)) == one * n
        assert len(log.read(5, one * n)) == one * n
    assert len(log.read(0, 10)) == one  # min one batch
    assert log.read(0, 10, min_one_batch=False) == b""


def test_max_offset_and_high_watermark_limit_reads(tmp_path, clock):
    log = open_log(tmp_path, clock)
    for i in range(10):
        append(log, batch(str(i).encode()))
    got = [r.offset for r in iter_records(log.read(0, 1 << 20, max_offset=4))]
    assert got == [0, 1, 2, 3]
    assert log.read(4, 1 << 20, max_offset=4) == b""
    log.high_watermark = 6
    assert [r.offset for r in iter_records(log.read(0, 1 << 20))] == list(range(6))
    assert log.read(6, 1 << 20) == b""  # not an error: between HW and LEO
    log.high_watermark = 1000  # clamped to the log end
    assert log.high_watermark == 10


def test_reads_cross_segment_boundaries_one_segment_at_a_time(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000)
    for i in range(30):
        append(log, batch(b"%03d" % i + b"x" * 100))
    assert len(log.segments) > 3
    assert values(log) == [b"%03d" % i + b"x" * 100 for i in range(30)]
    second = log.segments[1]
    data = log.read(second.base_offset - 1, 1 << 20)
    assert validate_batches(data)[-1].next_offset == second.base_offset  # stops at the boundary
    assert read_header(log.read(second.base_offset, 1 << 20)).base_offset == second.base_offset


def test_roll_by_size_by_time_and_by_full_index(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, segment_ms=60_000)
    for _ in range(20):
        append(log, batch(b"y" * 100, ts=clock.now_ms()))
    assert len(log.segments) > 2
    assert all(0 < s.size <= 1000 for s in log.segments)
    assert [s.base_offset for s in log.segments] == sorted(s.base_offset for s in log.segments)
    n = len(log.segments)
    clock.advance(61_000)
    append(log, batch(b"z", ts=clock.now_ms()))  # the first batch of the segment is 61 s older
    assert len(log.segments) == n + 1 and log.active.base_offset == 20
    append(log, batch(b"z2", ts=clock.now_ms()))
    assert len(log.segments) == n + 1
    assert sorted(p.name for p in log.dir.glob("*.log"))[0] == "00000000000000000000.log"
    assert values(log)[-2:] == [b"z", b"z2"]
    # a full index rolls too (the time index holds segment_index_bytes // 12 entries)
    small = open_log(tmp_path, clock, "s-0", segment_index_bytes=24, index_interval_bytes=1)
    for i in range(12):
        append(small, batch(b"q", ts=T0 + i))
    assert len(small.segments) > 2
    assert all(s.time_index.entries <= 3 for s in small.segments)


def test_oversized_batch_gets_a_segment_of_its_own(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=500)
    append(log, batch(b"small"))
    append(log, batch(b"L" * 2000))
    append(log, batch(b"small"))
    assert [s.next_offset - s.base_offset for s in log.segments] == [1, 1, 1]
    assert values(log) == [b"small", b"L" * 2000, b"small"]


def test_offset_for_timestamp_is_record_precise(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, index_interval_bytes=100)
    for i in range(30):
        recs = [NewRecord(None, b"r" * 50, (), T0 + i * 100 + j * 10) for j in range(3)]
        append(log, build_batch(recs))
    assert len(log.segments) > 2
    assert log.offset_for_timestamp(T0 + 1015) == (32, T0 + 1020)  # third record of batch 10
    assert log.offset_for_timestamp(T0 + 1010) == (31, T0 + 1010)
    assert log.offset_for_timestamp(0) == (0, T0)
    assert log.offset_for_timestamp(T0 + 2920) == (89, T0 + 2920)
    assert log.offset_for_timestamp(T0 + 2921) is None
    log.high_watermark = 60
    assert log.offset_for_timestamp(T0 + 2500) is None  # beyond the high watermark
    log.high_watermark = log.log_end_offset
    assert log.max_timestamp() == (89, T0 + 2920)


def test_max_timestamp_picks_the_first_record_with_the_largest_timestamp(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=600)
    assert log.max_timestamp() == (-1, -1)
    append(log, batch(b"a", ts=T0 + 5))
    append(log, build_batch([NewRecord(None, b"x", (), T0 + 1), NewRecord(None, b"y", (), T0 + 50),
                             NewRecord(None, b"z", (), T0 + 50)]))
    for _ in range(10):
        append(log, batch(b"p" * 100, ts=T0 + 20))
    assert log.max_timestamp() == (2, T0 + 50)
    log.close()
    again = open_log(tmp_path, clock)
    assert again.max_timestamp() == (2, T0 + 50)


def test_log_append_time(tmp_path, clock):
    lat = open_log(tmp_path, clock, "lat-0", message_timestamp_type="LogAppendTime")
    r = append(lat, batch(b"x", b"y", ts=5))
    assert r.log_append_time == clock.now_ms()
    h = validate_batches(lat.read(0, 1000))[0]  # CRC was recomputed
    assert h.timestamp_type == 1 and h.max_timestamp == clock.now_ms()
    assert [rec.timestamp for rec in iter_records(lat.read(0, 1000))] == [clock.now_ms()] * 2
    assert lat.max_timestamp() == (0, clock.now_ms())


def test_create_time_window_is_enforced(tmp_path, clock):
    log = open_log(tmp_path, clock, message_timestamp_after_max_ms=1000, message_timestamp_before_max_ms=5000)
    append(log, batch(b"ok", ts=clock.now_ms() + 1000))
    with pytest.raises(InvalidTimestamp):
        append(log, batch(b"future", ts=clock.now_ms() + 1001))
    with pytest.raises(InvalidTimestamp):
        append(log, batch(b"past", ts=clock.now_ms() - 5001))
    assert log.log_end_offset == 1


def test_topic_compression_type_reencodes(tmp_path, clock):
    log = open_log(tmp_path, clock, compression_type="zstd")
    append(log, batch(b"a" * 500, b"b"))
    h = validate_batches(log.read(0, 1 << 20))[0]
    assert h.compression == compression.ZSTD
    assert [r.value for r in iter_records(log.read(0, 1 << 20))] == [b"a" * 500, b"b"]
    keep = open_log(tmp_path, clock, "k-0")
    append(keep, batch(b"c", compression=compression.GZIP))
    assert validate_batches(keep.read(0, 1 << 20))[0].compression == compression.GZIP


def test_flush_policy_and_plan(tmp_path, clock):
    log = open_log(tmp_path, clock, flush_messages=3)
    append(log, batch(b"1"))
    assert not log.needs_flush(clock.now_ms())
    append(log, batch(b"2", b"3"))
    assert log.needs_flush(clock.now_ms())
    plan = log.flush_plan()
    append(log, batch(b"4"))  # arrives while the worker fsyncs: covered by the next flush
    log.flush_done(plan())
    assert log.recovery_point == 3 and log.unflushed_messages == 1
    log.flush()
    assert log.recovery_point == 4 and log.unflushed_messages == 0 and log.flush_plan() is None
    timed = open_log(tmp_path, clock, "f-0", flush_ms=1000)
    append(timed, batch(b"x"))
    assert not timed.needs_flush(clock.now_ms())
    clock.advance(1500)
    assert timed.needs_flush(clock.now_ms())


def test_flush_plan_survives_a_concurrent_roll_and_close(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=500)
    for _ in range(5):
        append(log, batch(b"x" * 200))
    plan = log.flush_plan()
    log.close()  # the worker's descriptors are its own
    assert plan() == 5


def test_truncate_to(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000)
    for i in range(30):
        append(log, batch(b"%02d" % i + b"t" * 100, pid=1, epoch=0, seq=i))
    log.truncate_to(17)
    assert log.log_end_offset == 17 == log.high_watermark
    assert values(log) == [b"%02d" % i + b"t" * 100 for i in range(17)]
    assert log.active.base_offset <= 17 and len(list(log.dir.glob("*.log"))) == len(log.segments)
    assert log.producer_state.last_entry(1).last_seq == 16  # producer state follows the truncation
    assert append(log, batch(b"again", pid=1, epoch=0, seq=17)).first_offset == 17
    log.truncate_to(1000)  # beyond the end: nothing to do
    assert log.log_end_offset == 18


def test_truncate_fully_and_start_at(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000)
    for _ in range(20):
        append(log, batch(b"t" * 100))
    log.truncate_fully_and_start_at(500)
    assert log.log_start_offset == log.log_end_offset == log.high_watermark == 500
    assert [p.name for p in log.dir.glob("*.log")] == ["00000000000000000500.log"]
    assert append(log, batch(b"x")).first_offset == 500
    log.close()
    assert open_log(tmp_path, clock).log_start_offset == 500


def test_delete_renames_the_directory(tmp_path, clock):
    log = open_log(tmp_path, clock)
    append(log, batch(b"x"))
    target = log.delete()
    assert not (tmp_path / "t-0").exists()
    assert target.parent == tmp_path and target.name.startswith("t-0.") and target.name.endswith("-delete")
    assert (target / "00000000000000000000.log").exists()


def test_update_config_and_partition_dir_names(tmp_path, clock):
    log = Log(tmp_path / "my-topic-12", LogConfig(), clock=clock)
    assert (log.topic, log.partition) == ("my-topic", 12)
    log.update_config(LogConfig(segment_bytes=600))
    for _ in range(10):
        append(log, batch(b"u" * 100))
    assert len(log.segments) > 1
    assert parse_partition_dir("a-b-3") == ("a-b", 3)
    assert parse_partition_dir("nodash") is None and parse_partition_dir("x-y") is None


def test_log_config_from_kafka_names():
    cfg = LogConfig.from_props({"segment.bytes": 1234, "retention.ms": -1, "message.timestamp.type": "LogAppendTime",
                                "cleanup.policy": ["compact", "delete"], "unknown.setting": 1,
                                "max.message.bytes": 99, "producer.id.expiration.ms": 5})
    assert cfg.segment_bytes == 1234 and cfg.retention_ms == -1 and cfg.log_append_time
    assert cfg.cleanup_policy == "compact,delete" and cfg.max_message_bytes == 99
    assert cfg.producer_id_expiration_ms == 5
    assert LogConfig.from_props({"internal.segment.bytes": 100, "segment.bytes": 1 << 20}).segment_bytes == 100
    assert LogConfig().segment_bytes == 1073741824 and LogConfig().flush_messages == 2**63 - 1


def test_one_write_per_append_and_no_descriptor_leaks(tmp_path, clock):
    fs = FaultyFileSystem()  # no faults: it counts the calls
    log = open_log(tmp_path, clock, index_interval_bytes=1 << 20, fs=fs)
    append(log, batch(b"warm"), leader_epoch=0)
    before = dict(fs.calls)
    data = batch(b"a", b"b") + batch(b"c") + batch(b"d" * 1000)
    append(log, data, leader_epoch=0)
    assert {op: n - before.get(op, 0) for op, n in fs.calls.items() if n != before.get(op, 0)} == {"pwritev": 1}
    stored = [(r.offset, r.value) for r in iter_records(log.read(1, 1 << 20))]
    assert stored == [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d" * 1000)]
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        append(log, batch(b"x"))
        plan = log.flush_plan()
        log.flush_done(plan())
    assert len(os.listdir("/proc/self/fd")) == fds


def test_relative_offset_overflow_rolls(tmp_path, clock):
    log = open_log(tmp_path, clock)
    append(log, batch(b"a"))
    seg = log.active
    assert seg.offset_fits(seg.base_offset + 2**31 - 1) and not seg.offset_fits(seg.base_offset + 2**31)
    log._maybe_roll(100, T0, seg.base_offset + 2**31 - 1, clock.now_ms())
    assert len(log.segments) == 1
    log._maybe_roll(100, T0, seg.base_offset + 2**31, clock.now_ms())  # would not fit the int32 index
    assert len(log.segments) == 2 and log.active.base_offset == 1


def test_inactive_segments_share_a_bounded_pool_of_descriptors(tmp_path, clock, monkeypatch):
    from strom.storage import segment as segment_module
    monkeypatch.setattr(segment_module, "MAX_OPEN_INACTIVE", 3)
    fds_before = len(os.listdir("/proc/self/fd"))
    log = open_log(tmp_path, clock, segment_bytes=300)
    for i in range(40):
        append(log, batch(b"%03d" % i + b"z" * 200))
    assert len(log.segments) >= 20
    open_now = len(os.listdir("/proc/self/fd")) - fds_before
    assert open_now <= 3 + 3, f"{open_now} descriptors for {len(log.segments)} segments"
    # every old segment still reads (its descriptor is reopened on demand)
    assert [v[:3] for v in values(log)] == [b"%03d" % i for i in range(40)]
    log.close()
    reopened = open_log(tmp_path, clock, segment_bytes=300)
    assert len(os.listdir("/proc/self/fd")) - fds_before <= 3 + 3
    assert [v[:3] for v in values(reopened)] == [b"%03d" % i for i in range(40)]
    reopened.close()


def test_before_max_ms_checks_every_record_even_out_of_order_in_a_batch(tmp_path, clock):
    """The first record is recent, a later one too old: the header alone cannot tell; the records
    are read and the whole append is refused."""
    log = open_log(tmp_path, clock, message_timestamp_before_max_ms=5000)
    now = clock.now_ms()
    mixed = build_batch([NewRecord(None, b"new", timestamp=now), NewRecord(None, b"old", timestamp=now - 5001)],
                        timestamp_ms=now)
    with pytest.raises(InvalidTimestamp):
        append(log, mixed)
    too_old = build_batch([NewRecord(None, b"old", timestamp=now - 6000)], timestamp_ms=now - 6000)
    with pytest.raises(InvalidTimestamp):
        append(log, too_old)
    fine = build_batch([NewRecord(None, b"a", timestamp=now), NewRecord(None, b"b", timestamp=now - 5000)],
                       timestamp_ms=now, compression=compression.GZIP)
    append(log, fine)
    assert log.log_end_offset == 2 and values(log) == [b"a", b"b"]
    # the default (no lower bound) never reads the records: an ancient record is accepted
    free = open_log(tmp_path, clock, "free-0")
    append(free, build_batch([NewRecord(None, b"x", timestamp=now), NewRecord(None, b"y", timestamp=1)],
                             timestamp_ms=now))
    assert free.log_end_offset == 2


def test_a_client_batch_claiming_log_append_time_is_refused(tmp_path, clock):
    log = open_log(tmp_path, clock)
    data = bytearray(batch(b"x", ts=clock.now_ms()))
    set_log_append_time(data, 0, clock.now_ms())
    with pytest.raises(InvalidTimestamp):
        append(log, bytes(data), leader_epoch=0)
    assert log.log_end_offset == 0
    append(log, bytes(data))  # a replicated or internal append keeps the leader's stamp
    assert log.log_end_offset == 1


def test_max_timestamp_ignores_records_below_the_log_start(tmp_path, clock):
    log = open_log(tmp_path, clock)
    for ts in (T0 + 9, T0 + 5, T0 + 7, T0 + 7, T0 + 6):
        append(log, batch(b"v", ts=ts))
    assert log.max_timestamp() == (0, T0 + 9)
    log.increment_log_start_offset(1)
    assert log.max_timestamp() == (2, T0 + 7)
    log.increment_log_start_offset(5)
    assert log.max_timestamp() == (-1, -1)


def test_increment_log_start_offset_bounds_and_epochs(tmp_path, clock):
    log = open_log(tmp_path, clock)
    for epoch in (1, 1, 2, 3):
        append(log, batch(b"v"), leader_epoch=epoch)
    with pytest.raises(OffsetOutOfRange):
        log.increment_log_start_offset(-1)
    with pytest.raises(OffsetOutOfRange):
        log.increment_log_start_offset(5)
    assert log.log_start_offset == 0
    assert log.increment_log_start_offset(3) is True
    assert log.increment_log_start_offset(2) is False  # never backwards
    assert log.log_start_offset == 3
    assert [(e.epoch, e.start_offset) for e in log.leader_epoch_cache.entries] == [(3, 3)]
    with pytest.raises(OffsetOutOfRange):
        log.read(2, 100)
    assert [r.offset for r in iter_records(log.read(3, 100))] == [3]
    log.close()
    again = Log(log.dir, LogConfig(), clock=clock, log_start_offset=3)
    assert again.log_start_offset == 3 and [e.epoch for e in again.leader_epoch_cache.entries] == [3]


def test_max_timestamp_when_the_start_falls_inside_a_batch(tmp_path, clock):
    """The batch holding the new start carried the largest timestamp in a record now deleted: the
    answer is the largest timestamp of what is left, in whichever batch."""
    log = open_log(tmp_path, clock)
    append(log, build_batch([NewRecord(None, b"a", timestamp=T0 + 90), NewRecord(None, b"b", timestamp=T0 + 10)],
                            timestamp_ms=T0 + 90))
    append(log, batch(b"c", ts=T0 + 50))
    log.increment_log_start_offset(1)
    assert log.max_timestamp() == (2, T0 + 50)
