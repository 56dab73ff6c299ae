"""The log cleaner (strom.storage.cleaner): plan, clean, swap and recovery on real files."""
from __future__ import annotations

import shutil

import pytest

from strom.errors import CorruptMessage, InvalidRecord
from strom.records import compression
from strom.records.batch import (
    CRC_OFFSET, NewRecord, build_batch, build_end_txn_marker, crc32c_of, iter_batches, iter_records, scan_batches,
    validate_batches,
)
from strom.storage import cleaner
from strom.storage.log import Log
from strom.storage.log_config import LogConfig

from ._helpers import T0

pytestmark = pytest.mark.usefixtures("storage_fs")

DAY = 86_400_000


def kv_batch(*pairs, ts=None, compression_codec=0, pid=-1, epoch=-1, seq=-1, transactional=False) -> bytes:
    return build_batch([NewRecord(k, v) for k, v in pairs], timestamp_ms=T0 if ts is None else ts,
                       compression=compression_codec, producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                       transactional=transactional)


def put(log: Log, data: bytes, *, control: bool = False):
    return log.append(data, validate_batches(data, allow_control=control))


def compact_log(tmp_path, clock, fs, **cfg) -> Log:
    settings = dict(cleanup_policy="compact", segment_bytes=600, index_interval_bytes=100,
                    min_cleanable_dirty_ratio=0.0, delete_retention_ms=DAY, retention_ms=-1)
    settings.update(cfg)
    return Log(tmp_path / "c-0", LogConfig(**settings), clock=clock, fs=fs)


def run_clean(log: Log, now: int | None = None) -> cleaner.CleanResult | None:
    """One whole clean on the calling thread: plan, clean, swap, unlink the old files."""
    now = log.clock.now_ms() if now is None else now
    plan = cleaner.plan_clean(log, now, 1 << 20)
    if plan is None:
        return None
    result = cleaner.clean(plan)
    old = cleaner.swap(log, result)
    assert old is not None
    for seg in old:
        seg.delete_files()
    return result


def all_batches(log: Log):
    """(header, batch bytes) of every batch from the log start to the high watermark, as fetched."""
    out = []
    offset = log.log_start_offset
    while offset < log.high_watermark:
        data = log.read(offset, 1 << 20)
        if not data:
            break
        for h, batch in iter_batches(data):
            if h.last_offset >= offset:
                out.append((h, bytes(batch)))
            offset = max(offset, h.next_offset)
    return out


def records(log: Log):
    """Every (non-control) record from the log start to the high watermark, as a consumer reads them."""
    return [r for h, batch in all_batches(log) if not h.is_control for r in iter_records(batch)]


def latest(log: Log) -> dict[bytes, bytes | None]:
    out = {}
    for r in records(log):
        out[r.key] = r.value
    return out


def test_a_clean_keeps_the_last_value_per_key_with_offsets_and_gaps(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs)
    expected = {}
    for i in range(60):
        key = b"k%d" % (i % 7)
        put(log, kv_batch((key, b"v%d" % i), (b"x", b"x%d" % i)))
        expected[key] = b"v%d" % i
        expected[b"x"] = b"x%d" % i
    end = log.log_end_offset
    before = len(log.segments)
    assert before > 3
    result = run_clean(log)
    assert result is not None and result.bytes_written < result.bytes_read
    got = records(log)
    offsets = [r.offset for r in got]
    assert offsets == sorted(set(offsets))  # increasing, none twice
    assert log.log_end_offset == end
    # every key once in the cleaned part; the active segment is not cleaned
    cleaned = [r for r in got if r.offset < log.active.base_offset]
    assert len({r.key for r in cleaned}) == len(cleaned)
    assert latest(log) == expected
    log.first_dirty_offset = 0  # a second pass groups the small cleaned segments (groupSegmentsBySize)
    run_clean(log)
    assert len(log.segments) < before and latest(log) == expected
    offsets = [r.offset for r in records(log)]
    # reopening (clean shutdown and crash) reads the same
    log.close(flush=True)
    for clean in (True, False):
        again = Log(tmp_path / "c-0", log.config, clock=clock, clean=clean, fs=storage_fs)
        assert [r.offset for r in records(again)] == offsets and latest(again) == expected
        again.close()


@pytest.mark.parametrize("codec", [compression.GZIP, compression.SNAPPY, compression.LZ4, compression.ZSTD])
def test_compressed_batches_are_recompressed_with_their_codec(tmp_path, clock, storage_fs, codec):
    log = compact_log(tmp_path, clock, storage_fs)
    for i in range(30):
        put(log, kv_batch((b"a", b"a%d" % i), (b"b%d" % (i % 3), b"b%d" % i), compression_codec=codec))
    run_clean(log)
    kept = [(h, b) for h, b in all_batches(log) if h.records_count]
    assert kept and all(h.compression == codec for h, _ in kept)  # empty batches are stored uncompressed
    assert any(h.records_count < h.last_offset_delta + 1 for h, _ in kept)  # rebuilt batches among them
    joined = b"".join(b for _, b in kept)
    assert scan_batches(joined, check_crc=True)[1] == len(joined)  # CRCs recomputed
    assert latest(log) == {b"a": b"a29", b"b0": b"b27", b"b1": b"b28", b"b2": b"b29"}
    if codec == compression.SNAPPY:  # Java's xerial framing, as clients expect
        assert all(b[61:61 + 8] == compression.XERIAL_MAGIC for _, b in kept)


def test_tombstones_go_after_delete_retention_ms_and_not_before(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs, delete_retention_ms=10_000)
    put(log, kv_batch((b"gone", b"1"), (b"kept", b"1"), ts=clock.now_ms()))
    put(log, kv_batch((b"gone", None), ts=clock.now_ms()))
    for i in range(20):
        put(log, kv_batch((b"filler%d" % i, b"f" * 40), ts=clock.now_ms()))
    run_clean(log)
    assert latest(log)[b"gone"] is None  # the tombstone stays for delete.retention.ms
    assert [r.value for r in records(log) if r.key == b"gone"] == [None]
    clock.advance(9_000)
    log.first_dirty_offset = 0  # force another pass over everything
    run_clean(log)
    assert b"gone" in latest(log)
    clock.advance(2_000)
    log.first_dirty_offset = 0
    run_clean(log)
    assert b"gone" not in latest(log) and latest(log)[b"kept"] == b"1"


def test_keyless_records_are_refused_only_in_compacted_topics(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs)
    for codec in (0, compression.LZ4):
        with pytest.raises(InvalidRecord, match="without key"):
            put(log, kv_batch((b"k", b"v"), (None, b"v"), compression_codec=codec))
    assert log.log_end_offset == 0
    plain = Log(tmp_path / "d-0", LogConfig(), clock=clock, fs=storage_fs)
    put(plain, kv_batch((None, b"v")))
    assert plain.log_end_offset == 1
    plain.close()


def test_the_last_batch_of_each_producer_survives_as_an_empty_batch(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs)
    put(log, kv_batch((b"k", b"old"), pid=7, epoch=0, seq=0))
    put(log, kv_batch((b"k", b"old2"), (b"j", b"x"), pid=7, epoch=0, seq=1))
    for i in range(20):
        put(log, kv_batch((b"k", b"new%d" % i), (b"j", b"y%d" % i), ts=T0))  # no producer id
    run_clean(log)
    batches = list([(h, b) for h, b in all_batches(log)])
    mine = [h for h, _ in batches if h.producer_id == 7]
    assert len(mine) == 1 and mine[0].records_count == 0 and mine[0].base_sequence == 1
    assert mine[0].last_offset_delta == 1
    log.close(flush=True)
    for f in (tmp_path / "c-0").glob("*.snapshot"):
        f.unlink()  # the state must come from the log itself
    again = Log(tmp_path / "c-0", log.config, clock=clock, clean=False, fs=storage_fs)
    entry = again.producer_state.last_entry(7)
    assert entry is not None and entry.last_seq == 2
    # the producer's next batch continues its sequence; a retry of the last one is a duplicate
    assert not put(again, kv_batch((b"k", b"z"), pid=7, epoch=0, seq=3)).duplicate
    again.close()


def test_transactions_aborted_data_goes_and_markers_stay_while_needed(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs, delete_retention_ms=1_000)
    now = clock.now_ms()
    put(log, kv_batch((b"t", b"committed"), pid=1, epoch=0, seq=0, transactional=True, ts=now))
    put(log, build_end_txn_marker(True, producer_id=1, producer_epoch=0, coordinator_epoch=0, timestamp_ms=now),
        control=True)
    put(log, kv_batch((b"t", b"aborted"), (b"u", b"aborted"), pid=2, epoch=0, seq=0, transactional=True, ts=now))
    put(log, build_end_txn_marker(False, producer_id=2, producer_epoch=0, coordinator_epoch=0, timestamp_ms=now),
        control=True)
    put(log, kv_batch((b"open", b"pending"), pid=3, epoch=0, seq=0, transactional=True, ts=now))
    for i in range(15):
        put(log, kv_batch((b"f%d" % i, b"f" * 40), ts=now))
    run_clean(log)
    got = {r.key: r.value for r in records(log)}
    assert got[b"t"] == b"committed" and b"u" not in got and got[b"open"] == b"pending"
    markers = [h for h, _ in [(h, b) for h, b in all_batches(log)] if h.is_control]
    assert [h.producer_id for h in markers] == [1, 2]  # both younger than delete.retention.ms
    # after delete.retention.ms a marker whose transaction kept no record goes (Kafka's rule):
    # producer 1's data is superseded, producer 2's was aborted; their last data batches stay, empty
    put(log, kv_batch((b"t", b"later"), ts=now))
    for i in range(15):
        put(log, kv_batch((b"g%d" % i, b"g" * 40), ts=now))
    clock.advance(2_000)
    log.first_dirty_offset = 0
    run_clean(log)
    batches = [h for h, _ in all_batches(log)]
    assert not [h for h in batches if h.is_control]
    assert [(h.producer_id, h.records_count) for h in batches if h.producer_id in (1, 2)] == [(1, 0), (2, 0)]
    for pid in (1, 2):  # expired producers: nothing needs their last batch any more
        log.producer_state.producers.pop(pid)
    log.first_dirty_offset = 0
    run_clean(log)
    assert not [h for h, _ in all_batches(log) if h.producer_id in (1, 2)]
    assert latest(log)[b"t"] == b"later" and latest(log)[b"open"] == b"pending"


def test_a_log_that_changed_during_the_clean_discards_the_result(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs)
    for i in range(40):
        put(log, kv_batch((b"k%d" % (i % 3), b"v%d" % i)))
    plan = cleaner.plan_clean(log, clock.now_ms(), 1 << 20)
    result = cleaner.clean(plan)
    log.truncate_to(log.segments[1].base_offset + 1)
    assert cleaner.swap(log, result) is None
    assert not [p for p in (tmp_path / "c-0").iterdir() if p.name.endswith(".cleaned")]


def test_nothing_is_due_below_min_cleanable_dirty_ratio_or_inside_min_compaction_lag(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs, min_cleanable_dirty_ratio=0.9)
    for i in range(40):
        put(log, kv_batch((b"k%d" % (i % 3), b"v%d" % i)))
    assert run_clean(log) is not None  # all dirty: ratio 1
    put(log, kv_batch((b"k0", b"w" * 500)))
    put(log, kv_batch((b"k0", b"w" * 10)))
    info = cleaner.cleanable_info(log, clock.now_ms())
    assert 0 < info.dirty_ratio < 0.9 and run_clean(log) is None
    lagged = compact_log(tmp_path / "lag", clock, storage_fs, min_compaction_lag_ms=60_000)
    for i in range(40):
        put(lagged, kv_batch((b"k%d" % (i % 3), b"v%d" % i), ts=clock.now_ms()))
    assert run_clean(lagged) is None
    clock.advance(61_000)
    assert run_clean(lagged) is not None


def test_max_compaction_lag_rolls_the_active_segment(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs, segment_bytes=1 << 20, max_compaction_lag_ms=5_000)
    put(log, kv_batch((b"k", b"1"), ts=clock.now_ms()))
    clock.advance(6_000)
    put(log, kv_batch((b"k", b"2"), ts=clock.now_ms()))
    assert len(log.segments) == 2  # max.compaction.lag.ms < segment.ms: the active segment rolled


@pytest.mark.parametrize("point", ["writing-cleaned", "swap-renamed", "old-deleted"])
def test_a_crash_at_any_point_of_a_clean_leaves_a_consistent_log(tmp_path, clock, storage_fs, monkeypatch, point):
    log = compact_log(tmp_path, clock, storage_fs, segment_bytes=400)
    expected = {}
    for i in range(80):
        key = b"k%d" % (i % 9)
        value = None if i % 17 == 0 else b"v%d" % i
        put(log, kv_batch((key, value)))
        expected[key] = value
    offsets_before = {r.offset: (r.key, r.value) for r in records(log)}

    class Crash(Exception):
        pass

    crashed = tmp_path / "crashed" / "c-0"

    def crash(name):  # kill -9 at this point: the files as they are now are what the next start finds
        if name == point:
            shutil.copytree(tmp_path / "c-0", crashed)
            raise Crash

    monkeypatch.setattr(cleaner, "crash_point", crash)
    plan = cleaner.plan_clean(log, clock.now_ms(), 1 << 20)
    with pytest.raises(Crash):
        cleaner.swap(log, cleaner.clean(plan))
    log.close()
    names = {p.name for p in crashed.iterdir()}
    assert any(n.endswith((".cleaned", ".swap", ".deleted")) for n in names)
    again = Log(crashed, log.config, clock=clock, clean=False, recovery_point=log.log_end_offset, fs=storage_fs)
    got = records(again)
    offsets = [r.offset for r in got]
    assert offsets == sorted(set(offsets))
    assert all(offsets_before[r.offset] == (r.key, r.value) for r in got)  # nothing invented or moved
    assert latest(again) == expected  # no key lost, none resurrected
    assert not [n for n in (p.name for p in crashed.iterdir()) if n.endswith((".cleaned", ".swap", ".deleted"))]
    again.close()


def test_recovery_finishes_a_swap_whose_group_lost_its_tail(tmp_path, clock, storage_fs):
    """A group whose last segment is all superseded still ends where it ended (an empty batch),
    so recovery replaces exactly the old group."""
    log = compact_log(tmp_path, clock, storage_fs, segment_bytes=300)
    for i in range(30):
        put(log, kv_batch((b"k", b"v%d" % i)))
    put(log, kv_batch((b"k", b"last")))
    plan = cleaner.plan_clean(log, clock.now_ms(), 1 << 20)
    result = cleaner.clean(plan)
    for group in result.groups:
        assert group.next_offset == next(r.next_offset for r in plan.segments if r.base_offset == group.old_bases[-1])
    old = cleaner.swap(log, result)
    assert old
    assert latest(log) == {b"k": b"last"}
    assert all_batches(log)[0][0].records_count == 0
    log.close()


def test_the_first_dirty_offset_survives_a_clean_shutdown_only(tmp_path, clock, storage_fs):
    from strom.storage.log_manager import CLEANER_CHECKPOINT, LogManager
    config = LogConfig(cleanup_policy="compact", segment_bytes=600, min_cleanable_dirty_ratio=0.0, retention_ms=-1)
    manager = LogManager([tmp_path], config, clock=clock, fs=storage_fs)
    manager.load()
    log = manager.create("c", 0, config)
    for i in range(40):
        put(log, kv_batch((b"k%d" % (i % 3), b"v%d" % i)))
    run_clean(log)
    cleaned_to = log.first_dirty_offset
    assert cleaned_to > 0
    assert manager.shutdown()
    again = LogManager([tmp_path], config, clock=clock, fs=storage_fs)
    again.load()
    assert again.get("c", 0).first_dirty_offset == cleaned_to
    assert not (tmp_path / CLEANER_CHECKPOINT).exists()  # read once: a crash from here on forgets it
    for the_log in again.logs():
        for seg in the_log.segments:
            seg.drop_descriptors()
    third = LogManager([tmp_path], config, clock=clock, fs=storage_fs)
    third.load()  # after a crash: fully dirty again
    assert third.get("c", 0).first_dirty_offset == 0
    third.shutdown()


def test_a_full_offset_map_cleans_the_dirty_section_a_piece_at_a_time(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs)
    expected = {}
    for i in range(60):
        key = b"k%02d" % (i % 20)
        put(log, kv_batch((key, b"v%d" % i)))
        expected[key] = b"v%d" % i
    planned_end = cleaner.plan_clean(log, clock.now_ms(), 1 << 20).end
    pieces = 0
    while True:
        plan = cleaner.plan_clean(log, clock.now_ms(), 5)  # log.cleaner.dedupe.buffer.size for 5 keys
        if plan is None:
            break
        result = cleaner.clean(plan)
        assert result.end == plan.end or result.map_entries >= 5  # cut short only by a full map
        old = cleaner.swap(log, result)
        for seg in old:
            seg.delete_files()
        pieces += 1
        assert latest(log) == expected
    assert pieces > 1 and log.first_dirty_offset == planned_end


def test_keys_are_checked_in_every_batch_of_a_produce(tmp_path, clock, storage_fs):
    log = compact_log(tmp_path, clock, storage_fs)
    good = kv_batch((b"k", b"v"))
    bad = kv_batch((b"k", b"v"), (None, b"keyless"), compression_codec=compression.ZSTD)
    with pytest.raises(InvalidRecord):
        put(log, good + bad)  # the second batch of the request
    assert log.log_end_offset == 0
    marker = build_end_txn_marker(True, producer_id=1, producer_epoch=0, coordinator_epoch=0, timestamp_ms=T0)
    put(log, marker, control=True)  # control records have keys of their own; never refused
    broken = bytearray(good)
    broken[61] = 0x7F  # a record length running past the batch
    broken[CRC_OFFSET:CRC_OFFSET + 4] = crc32c_of(memoryview(broken)[21:]).to_bytes(4, "big")
    with pytest.raises(CorruptMessage):
        put(log, bytes(broken))
