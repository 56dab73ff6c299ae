"""The partition log on real files: appends, reads, rolls, recovery, retention, producer state."""
from __future__ import annotations

import os

import pytest

from strom.errors import CorruptMessage, InvalidProducerEpoch, InvalidRecord, OffsetOutOfRange, OutOfOrderSequence
from strom.records.batch import NewRecord, build_batch, iter_records, validate_batches
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.util.clock import FakeClock


def batch(*values: bytes, pid: int = -1, epoch: int = -1, seq: int = -1, ts: int | None = None) -> bytes:
    return build_batch([NewRecord(None, v) for v in values], producer_id=pid, producer_epoch=epoch,
                       base_sequence=seq, timestamp_ms=ts)


def append(log: Log, data: bytes):
    return log.append(data, validate_batches(data))


def values(log: Log, offset: int = 0) -> list[bytes]:
    out = []
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20)
        recs = list(iter_records(data))
        out += [r.value for r in recs if r.offset >= offset]
        offset = recs[-1].offset + 1
    return out


@pytest.fixture
def clock():
    return FakeClock()


def open_log(tmp_path, clock, **cfg) -> Log:
    return Log(tmp_path / "t-0", LogConfig(**cfg), clock=clock)


def test_offsets_are_assigned_and_reads_return_whole_batches(tmp_path, clock):
    log = open_log(tmp_path, clock)
    assert append(log, batch(b"a", b"b")).first_offset == 0
    r = append(log, batch(b"c"))
    assert (r.first_offset, r.last_offset) == (2, 2)
    assert log.log_end_offset == 3
    assert values(log) == [b"a", b"b", b"c"]
    # reading from the middle of a batch returns that whole batch
    assert [r.offset for r in iter_records(log.read(1, 1 << 20))][0] == 0
    assert log.read(3, 100) == b""
    with pytest.raises(OffsetOutOfRange):
        log.read(4, 100)


def test_max_bytes_is_honoured_but_one_batch_always_fits(tmp_path, clock):
    log = open_log(tmp_path, clock)
    for i in range(10):
        append(log, batch(b"x" * 100))
    one = len(batch(b"x" * 100))
    assert len(log.read(0, one * 3 + 10)) == one * 3
    assert len(log.read(0, 10)) == one  # min one batch
    assert log.read(0, 10, min_one_batch=False) == b""


def test_roll_by_size_and_by_time(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, segment_ms=60_000)
    for _ in range(20):
        append(log, batch(b"y" * 100))
    assert len(log.segments) > 2
    assert all(s.size <= 1000 for s in log.segments)
    n = len(log.segments)
    clock.advance(61_000)
    append(log, batch(b"z"))
    assert len(log.segments) == n + 1
    assert sorted(p.name for p in log.dir.glob("*.log"))[0] == "00000000000000000000.log"
    assert values(log)[-1] == b"z"


def test_clean_reopen_does_not_rescan_and_crash_reopen_truncates_torn_tail(tmp_path, clock):
    mgr = LogManager([tmp_path], LogConfig(), clock=clock)
    mgr.load()
    log = mgr.create("t", 0, LogConfig(segment_bytes=2000))
    for i in range(30):
        append(log, batch(str(i).encode() * 50))
    mgr.shutdown()

    mgr = LogManager([tmp_path], LogConfig(), clock=clock)
    mgr.load()
    log = mgr.get("t", 0)
    assert mgr.was_clean and log.recovered_segments == 0
    assert log.log_end_offset == 30
    # crash: no marker; tear the last batch and drop an index
    for l in mgr.logs():
        l.close()
    active = sorted((tmp_path / "t-0").glob("*.log"))[-1]
    size = active.stat().st_size
    with open(active, "r+b") as f:
        f.truncate(size - 7)
    os.remove(sorted((tmp_path / "t-0").glob("*.index"))[0])
    mgr = LogManager([tmp_path], LogConfig(), clock=clock)
    mgr.load()
    log = mgr.get("t", 0)
    assert not mgr.was_clean and log.recovered_segments >= 1
    assert log.log_end_offset == 29
    assert values(log) == [str(i).encode() * 50 for i in range(29)]
    assert append(log, batch(b"next")).first_offset == 29


def test_retention_by_bytes_and_time(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, retention_bytes=2500)
    for _ in range(40):
        append(log, batch(b"r" * 100, ts=clock.now_ms()))
    doomed = log.segments_to_delete(clock.now_ms())
    assert doomed and log.active not in doomed
    removed = log.remove_segments(doomed)
    for seg in removed:
        seg.delete_files()
    assert log.size_bytes - log.active.size <= 2500
    assert log.log_start_offset == log.segments[0].base_offset > 0
    with pytest.raises(OffsetOutOfRange):
        log.read(0, 100)

    log2 = Log(tmp_path / "u-0", LogConfig(segment_bytes=1000, retention_ms=10_000), clock=clock)
    for _ in range(20):
        append(log2, batch(b"o" * 100, ts=clock.now_ms()))
    clock.advance(20_000)
    doomed = log2.segments_to_delete(clock.now_ms())
    log2.remove_segments(doomed)
    assert log2.log_start_offset == log2.log_end_offset == 20


def test_producer_state_duplicates_sequences_and_epochs(tmp_path, clock):
    log = open_log(tmp_path, clock)
    first = append(log, batch(b"a", b"b", pid=7, epoch=0, seq=0))
    dup = append(log, batch(b"a", b"b", pid=7, epoch=0, seq=0))
    assert dup.duplicate and dup.first_offset == first.first_offset and log.log_end_offset == 2
    with pytest.raises(OutOfOrderSequence):
        append(log, batch(b"c", pid=7, epoch=0, seq=5))
    append(log, batch(b"c", pid=7, epoch=0, seq=2))
    with pytest.raises(OutOfOrderSequence):  # a new epoch must start at 0
        append(log, batch(b"d", pid=7, epoch=1, seq=3))
    append(log, batch(b"d", pid=7, epoch=1, seq=0))
    with pytest.raises(InvalidProducerEpoch):
        append(log, batch(b"e", pid=7, epoch=0, seq=3))
    # unknown producer: any sequence is accepted
    append(log, batch(b"f", pid=8, epoch=0, seq=41))
    log.close()
    reopened = open_log(tmp_path, clock)  # state comes back from the snapshot
    assert append(reopened, batch(b"d", pid=7, epoch=1, seq=0)).duplicate
    with pytest.raises(OutOfOrderSequence):
        append(reopened, batch(b"g", pid=8, epoch=0, seq=40))


def test_validation_rejects_bad_batches():
    good = bytearray(batch(b"v"))
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 1
    with pytest.raises(CorruptMessage):
        validate_batches(bytes(bad_crc))
    with pytest.raises(CorruptMessage):
        validate_batches(bytes(good[:-3]))
    old = bytearray(good)
    old[16] = 1
    with pytest.raises(InvalidRecord):
        validate_batches(bytes(old))
    with pytest.raises(InvalidRecord):
        validate_batches(b"")


def test_timestamps_lookup_and_log_append_time(tmp_path, clock):
    log = open_log(tmp_path, clock)
    for i in range(10):
        append(log, batch(b"t", ts=1000 + i * 10))
    assert log.offset_for_timestamp(1045) == (5, 1050)
    assert log.offset_for_timestamp(5000) is None
    assert log.max_timestamp() == (9, 1090)
    lat = Log(tmp_path / "lat-0", LogConfig(message_timestamp_type="LogAppendTime"), clock=clock)
    r = append(lat, batch(b"x", ts=5))
    assert r.log_append_time == clock.now_ms()
    rec = next(iter_records(lat.read(0, 1000)))
    assert rec.timestamp == clock.now_ms()
    validate_batches(lat.read(0, 1000))  # CRC was recomputed


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
    timed = Log(tmp_path / "f-0", LogConfig(flush_ms=1000), clock=clock)
    append(timed, batch(b"x"))
    assert not timed.needs_flush(clock.now_ms())
    clock.advance(1500)
    assert timed.needs_flush(clock.now_ms())
