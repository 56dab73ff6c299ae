"""Leader epochs: stamping on append, the leader-epoch cache (Kafka's LeaderEpochFileCache semantics),
its ``leader-epoch-checkpoint`` file, recovery and truncation."""
from __future__ import annotations

import os
import struct

import pytest

from strom.records.batch import (
    CRC_OFFSET, PARTITION_LEADER_EPOCH_OFFSET, crc32c_of, iter_batches, read_header, validate_batches,
)
from strom.storage.files import OsFileSystem
from strom.storage.leader_epoch import (
    LEADER_EPOCH_CHECKPOINT, EpochEntry, LeaderEpochFileCache, format_checkpoint, parse_checkpoint,
)

from ._helpers import T0, append, batch, open_log, values

pytestmark = pytest.mark.usefixtures("storage_fs")
E = EpochEntry


def stored_epochs(log) -> list[tuple[int, int]]:
    """(base offset, partitionLeaderEpoch) of every batch, read from the raw segment files."""
    out = []
    for seg in log.segments:
        data = seg.log_path.read_bytes()
        pos = 0
        while pos < len(data):
            h = read_header(data, pos)
            (raw_epoch,) = struct.unpack_from(">i", data, pos + PARTITION_LEADER_EPOCH_OFFSET)
            assert raw_epoch == h.partition_leader_epoch
            # the stamp is outside the CRC: the stored batch still verifies
            assert crc32c_of(data[pos + CRC_OFFSET + 4:pos + h.size]) == h.crc
            out.append((h.base_offset, h.partition_leader_epoch))
            pos += h.size
    return out


def checkpoint_text(log) -> str:
    return (log.dir / LEADER_EPOCH_CHECKPOINT).read_text()


def crash(log):
    for seg in log.segments:
        seg.drop_descriptors()


# ---------------------------------------------------------------------- the cache alone
def cache_with(tmp_path, *entries) -> LeaderEpochFileCache:
    cache = LeaderEpochFileCache(tmp_path / LEADER_EPOCH_CHECKPOINT)
    for epoch, start in entries:
        cache.assign(epoch, start)
    return cache


def test_assign_keeps_the_first_offset_of_each_newer_epoch(tmp_path):
    cache = cache_with(tmp_path, (0, 0), (0, 5), (2, 10), (2, 12), (5, 20))
    assert cache.entries == (E(0, 0), E(2, 10), E(5, 20))
    assert cache.latest_epoch == 5
    assert not cache.assign(5, 30) and not cache.assign(-1, 40) and not cache.assign(6, -1)


def test_assign_drops_conflicting_entries(tmp_path):
    cache = cache_with(tmp_path, (1, 0), (2, 10), (3, 20))
    assert cache.assign(2, 15)  # an older epoch again: entries with epoch >= 2 or start >= 15 go
    assert cache.entries == (E(1, 0), E(2, 15))
    assert cache.assign(2, 12)  # the same epoch at an earlier offset replaces it
    assert cache.entries == (E(1, 0), E(2, 12))
    assert cache.assign(4, 5)  # a newer epoch at an earlier offset drops what starts at or after it
    assert cache.entries == (E(1, 0), E(4, 5))


def test_epoch_for_offset(tmp_path):
    cache = cache_with(tmp_path, (1, 5), (3, 10), (4, 20))
    assert [cache.epoch_for_offset(o) for o in (0, 4, 5, 9, 10, 19, 20, 1000)] == [-1, -1, 1, 1, 3, 3, 4, 4]
    assert cache_with(tmp_path).epoch_for_offset(0) == -1


@pytest.mark.parametrize("epoch, expected", [
    (-1, (-1, -1)),   # undefined epoch
    (0, (0, 5)),      # below every known epoch: the requested epoch ends where the first starts
    (1, (1, 10)),
    (2, (1, 10)),     # unknown epoch between two: the floor epoch and the next start
    (3, (3, 20)),
    (4, (4, 100)),    # the latest epoch ends at the log end offset
    (5, (-1, -1)),    # beyond the latest
])
def test_end_offset_for_has_offset_for_leader_epoch_semantics(tmp_path, epoch, expected):
    cache = cache_with(tmp_path, (1, 5), (3, 10), (4, 20))
    assert cache.end_offset_for(epoch, 100) == expected
    assert cache_with(tmp_path).end_offset_for(3, 100) == (-1, -1)


def test_truncate_from_end_and_start(tmp_path):
    cache = cache_with(tmp_path, (1, 0), (2, 10), (3, 20), (4, 30))
    cache.truncate_from_end(30)
    assert cache.entries == (E(1, 0), E(2, 10), E(3, 20))
    cache.truncate_from_end(21)
    assert cache.entries == (E(1, 0), E(2, 10), E(3, 20))
    cache.truncate_from_start(15)  # the newest entry before the new start now starts there
    assert cache.entries == (E(2, 15), E(3, 20))
    cache.truncate_from_start(20)
    assert cache.entries == (E(3, 20),)
    cache.truncate_from_start(5)
    assert cache.entries == (E(3, 20),)
    cache.truncate_from_end(0)
    assert cache.entries == ()


def test_checkpoint_format_is_kafkas(tmp_path):
    cache = cache_with(tmp_path, (0, 0), (3, 1200))
    assert cache.dirty
    cache.write_checkpoint()
    assert not cache.dirty
    assert cache.path.read_text() == "0\n2\n0 0\n3 1200\n"
    assert parse_checkpoint(cache.path.read_text()) == [E(0, 0), E(3, 1200)]
    assert format_checkpoint([]) == b"0\n0\n"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


@pytest.mark.parametrize("text", ["", "1\n0\n", "0\n2\n0 0\n", "0\n1\nx y\n", "0\n2\n3 0\n2 5\n", "0\n2\n1 5\n2 4\n",
                                  "0\n1\n-1 0\n"])
def test_malformed_checkpoints_are_refused(text):
    with pytest.raises(ValueError):
        parse_checkpoint(text)


def test_plans_write_in_any_order_and_an_older_one_never_overwrites_a_newer(tmp_path):
    cache = cache_with(tmp_path, (1, 0))
    old = cache.checkpoint_plan()
    cache.assign(2, 10)
    new = cache.checkpoint_plan()
    assert old is not None and new is not None
    new()
    old()  # stale: skipped
    assert cache.path.read_text() == "0\n2\n1 0\n2 10\n"
    assert cache.checkpoint_plan() is None


# ---------------------------------------------------------------------- stamping on append
def test_leader_append_stamps_the_epoch_into_every_stored_batch(tmp_path, clock):
    log = open_log(tmp_path, clock)
    client = batch(b"a", b"b") + batch(b"c")  # clients send partitionLeaderEpoch -1
    assert [h.partition_leader_epoch for h in validate_batches(client)] == [-1, -1]
    append(log, client, leader_epoch=0)
    append(log, batch(b"d"), leader_epoch=0)
    append(log, batch(b"e"), leader_epoch=3)
    assert stored_epochs(log) == [(0, 0), (2, 0), (3, 0), (4, 3)]
    assert log.leader_epoch_cache.entries == (E(0, 0), E(3, 4))
    assert [h.partition_leader_epoch for h, _ in iter_batches(log.read(0, 1 << 20))] == [0, 0, 0, 3]
    assert values(log) == [b"a", b"b", b"c", b"d", b"e"]
    assert log.epoch_for_offset(3) == 0 and log.epoch_for_offset(4) == 3
    assert log.end_offset_for_epoch(0) == (0, 4) and log.end_offset_for_epoch(3) == (3, 5)


class SpyFileSystem(OsFileSystem):
    def __init__(self):
        self.pwritevs = []

    def pwritev(self, fd, buffers, offset):
        self.pwritevs.append(buffers)
        return os.pwritev(fd, buffers, offset)


def test_leader_epoch_is_stamped_with_one_pwritev_and_no_copy(tmp_path, clock):
    fs = SpyFileSystem()
    log = open_log(tmp_path, clock, fs=fs)
    append(log, batch(b"warm"), leader_epoch=1)
    calls = fs.pwritevs
    calls.clear()
    data = batch(b"x" * 1000)
    append(log, data, leader_epoch=2)
    (pieces,) = calls
    assert [len(p) for p in pieces] == [16, len(data) - 16]
    assert isinstance(pieces[1], memoryview) and pieces[1].obj is data  # the received bytes, not a copy
    assert stored_epochs(log)[-1] == (1, 2)


def test_log_append_time_and_recompression_are_stamped_too(tmp_path, clock):
    lat = open_log(tmp_path, clock, name="lat-0", message_timestamp_type="LogAppendTime")
    append(lat, batch(b"a"), leader_epoch=7)
    assert stored_epochs(lat) == [(0, 7)]
    zstd = open_log(tmp_path, clock, name="z-0", compression_type="zstd")
    append(zstd, batch(b"a", b"b"), leader_epoch=4)
    assert stored_epochs(zstd) == [(0, 4)]
    assert values(zstd) == [b"a", b"b"]


def test_without_a_leader_epoch_the_batch_keeps_its_own(tmp_path, clock):
    log = open_log(tmp_path, clock)
    append(log, batch(b"a"))  # the metadata log, and later follower appends
    assert stored_epochs(log) == [(0, -1)] and log.leader_epoch_cache.entries == ()
    from strom.records.batch import NewRecord, build_batch
    follower = build_batch([NewRecord(None, b"f")], partition_leader_epoch=6, timestamp_ms=T0)
    append(log, follower)
    assert stored_epochs(log) == [(0, -1), (1, 6)] and log.leader_epoch_cache.entries == (E(6, 1),)


# ---------------------------------------------------------------------- the checkpoint through the log
def test_checkpoint_is_written_at_flush_and_close_and_read_back(tmp_path, clock):
    log = open_log(tmp_path, clock)
    assert not (log.dir / LEADER_EPOCH_CHECKPOINT).exists()  # a new, empty log: written with its first epoch
    append(log, batch(b"a"), leader_epoch=0)
    append(log, batch(b"b"), leader_epoch=2)
    log.flush()
    assert checkpoint_text(log) == "0\n2\n0 0\n2 1\n"
    append(log, batch(b"c"), leader_epoch=5)
    log.close(flush=True)
    assert checkpoint_text(log) == "0\n3\n0 0\n2 1\n5 2\n"
    reopened = open_log(tmp_path, clock)
    assert reopened.leader_epoch_cache.entries == (E(0, 0), E(2, 1), E(5, 2))
    assert not reopened.leader_epoch_cache.dirty


def test_flush_plan_writes_the_checkpoint_before_the_recovery_point_moves(tmp_path, clock):
    log = open_log(tmp_path, clock)
    append(log, batch(b"a"), leader_epoch=1)
    plan = log.flush_plan()
    assert not (log.dir / LEADER_EPOCH_CHECKPOINT).exists()
    log.flush_done(plan())
    assert checkpoint_text(log) == "0\n1\n1 0\n" and log.recovery_point == 1
    assert log.flush_plan() is None  # nothing changed since


def test_crash_before_the_checkpoint_is_written_rederives_epochs_from_batch_headers(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=400)
    for i in range(6):
        append(log, batch(b"%02d" % i + b"x" * 100), leader_epoch=1)
    log.flush()  # checkpoint (1, 0) on disk, recovery point 6
    for i in range(6, 12):
        append(log, batch(b"%02d" % i + b"x" * 100), leader_epoch=2 if i < 9 else 4)
    rp = log.recovery_point
    crash(log)
    assert checkpoint_text(log) == "0\n1\n1 0\n"
    recovered = open_log(tmp_path, clock, segment_bytes=400, clean=False, recovery_point=rp)
    assert recovered.leader_epoch_cache.entries == (E(1, 0), E(2, 6), E(4, 9))
    assert checkpoint_text(recovered) == "0\n3\n1 0\n2 6\n4 9\n"  # written back at once


def test_torn_tail_drops_the_epochs_beyond_the_log_end(tmp_path, clock):
    log = open_log(tmp_path, clock)
    append(log, batch(b"a"), leader_epoch=1)
    append(log, batch(b"b"), leader_epoch=3)
    log.write_leader_epoch_checkpoint()
    assert checkpoint_text(log) == "0\n2\n1 0\n3 1\n"
    crash(log)
    path = log.active.log_path
    os.truncate(path, path.stat().st_size - 5)  # the epoch-3 batch is torn
    recovered = open_log(tmp_path, clock, clean=False)
    assert recovered.log_end_offset == 1
    assert recovered.leader_epoch_cache.entries == (E(1, 0),)
    assert checkpoint_text(recovered) == "0\n1\n1 0\n"


@pytest.mark.parametrize("damage", ["missing", "malformed"])
def test_missing_or_malformed_checkpoint_is_rebuilt_from_every_batch_header(tmp_path, clock, damage):
    log = open_log(tmp_path, clock, segment_bytes=300)
    for i, epoch in enumerate([0, 0, 1, 1, 1, 4, 4]):
        append(log, batch(b"%02d" % i + b"y" * 100), leader_epoch=epoch)
    log.close(flush=True)
    assert len(log.segments) > 2
    path = log.dir / LEADER_EPOCH_CHECKPOINT
    if damage == "missing":
        path.unlink()
    else:
        path.write_text("0\n5\n1 2\n")
    reopened = open_log(tmp_path, clock, segment_bytes=300)
    assert reopened.leader_epoch_cache.entries == (E(0, 0), E(1, 2), E(4, 5))
    assert path.read_text() == "0\n3\n0 0\n1 2\n4 5\n"


def test_an_existing_log_without_epochs_gets_an_empty_checkpoint_once(tmp_path, clock):
    log = open_log(tmp_path, clock)
    append(log, batch(b"old"))  # written before epochs existed: -1
    log.close(flush=True)
    (log.dir / LEADER_EPOCH_CHECKPOINT).unlink(missing_ok=True)  # (a log created empty has none yet)
    reopened = open_log(tmp_path, clock)  # rebuilt from the headers: no epoch, but a file from now on
    assert checkpoint_text(reopened) == "0\n0\n"
    assert reopened.epoch_for_offset(0) == -1


# ---------------------------------------------------------------------- truncation and retention
def test_truncate_to_drops_epochs_indexes_and_producer_state_across_segments(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=400, index_interval_bytes=100)
    for i in range(12):
        append(log, batch(b"%02d" % i + b"z" * 100, pid=9, epoch=0, seq=i), leader_epoch=i // 4)
    assert log.leader_epoch_cache.entries == (E(0, 0), E(1, 4), E(2, 8))
    segments = len(log.segments)
    log.truncate_to(6)
    assert log.log_end_offset == 6 and len(log.segments) < segments
    assert log.leader_epoch_cache.entries == (E(0, 0), E(1, 4))
    assert values(log) == [b"%02d" % i + b"z" * 100 for i in range(6)]
    assert all(seg.index.last_entry() is None or seg.index.last_entry()[0] < 6 for seg in log.segments)
    # the producer state forgot the truncated batches: sequence 6 is next, and is not a duplicate
    assert not append(log, batch(b"again", pid=9, epoch=0, seq=6), leader_epoch=3).duplicate
    assert log.leader_epoch_cache.entries == (E(0, 0), E(1, 4), E(3, 6))
    log.truncate_to(4)
    assert log.end_offset_for_epoch(0) == (0, 4)  # the latest epoch ends at the new log end
    assert log.end_offset_for_epoch(1) == (-1, -1)  # epoch 1 is gone: beyond the latest
    log.close(flush=True)
    assert checkpoint_text(log) == "0\n1\n0 0\n"
    reopened = open_log(tmp_path, clock, segment_bytes=400, index_interval_bytes=100)
    assert reopened.leader_epoch_cache.entries == (E(0, 0),) and reopened.log_end_offset == 4


def test_truncate_then_crash_with_a_stale_checkpoint_recovers_the_right_epochs(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=400)
    for i in range(8):
        append(log, batch(b"%02d" % i + b"w" * 100), leader_epoch=1 if i < 4 else 3)
    log.flush()
    assert checkpoint_text(log) == "0\n2\n1 0\n3 4\n"
    log.truncate_to(2)  # a follower truncates; the checkpoint is not rewritten yet
    for i in range(2, 9):
        append(log, batch(b"%02d" % i + b"n" * 100), leader_epoch=5)
    rp = log.recovery_point
    crash(log)
    recovered = open_log(tmp_path, clock, segment_bytes=400, clean=False, recovery_point=rp)
    assert recovered.leader_epoch_cache.entries == (E(1, 0), E(5, 2))


def test_truncate_fully_clears_the_epochs(tmp_path, clock):
    log = open_log(tmp_path, clock)
    append(log, batch(b"a"), leader_epoch=1)
    log.truncate_fully_and_start_at(50)
    assert log.leader_epoch_cache.entries == () and log.log_end_offset == 50
    append(log, batch(b"b"), leader_epoch=2)
    assert log.leader_epoch_cache.entries == (E(2, 50),)


def test_moving_the_log_start_truncates_the_epochs_from_the_start(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=300, retention_ms=-1)
    for i in range(9):
        append(log, batch(b"%02d" % i + b"r" * 100), leader_epoch=i // 3)
    assert log.leader_epoch_cache.entries == (E(0, 0), E(1, 3), E(2, 6))
    log.increment_log_start_offset(4)
    assert log.leader_epoch_cache.entries == (E(1, 4), E(2, 6))
    for seg in log.remove_segments(log.segments_to_delete(clock.now_ms())):
        seg.delete_files()
    assert log.log_start_offset >= 4
    assert log.leader_epoch_cache.earliest_entry().start_offset == log.log_start_offset
    log.close(flush=True)
    reopened = open_log(tmp_path, clock, segment_bytes=300, retention_ms=-1)
    assert reopened.leader_epoch_cache.entries[0] == E(1, reopened.log_start_offset)


def test_an_empty_log_writes_no_checkpoint_until_its_first_epoch(tmp_path, clock):
    log = open_log(tmp_path, clock)
    log.close(flush=True)  # e.g. the 50 __consumer_offsets partitions: no file, no fsync
    assert not (log.dir / LEADER_EPOCH_CHECKPOINT).exists()
    reopened = open_log(tmp_path, clock)
    append(reopened, batch(b"a"), leader_epoch=2)
    reopened.close(flush=True)
    assert checkpoint_text(reopened) == "0\n1\n2 0\n"


def test_truncating_everything_rewrites_the_checkpoint_empty(tmp_path, clock):
    log = open_log(tmp_path, clock)
    append(log, batch(b"a"), leader_epoch=2)
    log.flush()
    log.truncate_fully_and_start_at(10)
    log.close(flush=True)
    assert checkpoint_text(log) == "0\n0\n"  # a stale entry would claim epoch 2 for offset 10
    assert open_log(tmp_path, clock).epoch_for_offset(10) == -1
