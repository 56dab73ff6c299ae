"""Write failures (disk full, I/O errors): what fails, what keeps working, what the next start sees.

Failures are injected through the storage layer's file-system seam: a FaultyFileSystem whose
chosen calls fail with ENOSPC or EIO (or write short), the way a full disk or a failing device
fails them.  tests/integration/test_disk_full.py does the same end to end with a real file-size
limit on a broker process.
"""
from __future__ import annotations

import errno
import logging
import os

import pytest

from strom.errors import KafkaStorageError
from strom.storage.faults import FaultyFileSystem
from strom.storage.leader_epoch import LEADER_EPOCH_CHECKPOINT, EpochEntry
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import CLEAN_SHUTDOWN, LogManager

from ._helpers import T0, append, batch, open_log, values


@pytest.fixture
def fs() -> FaultyFileSystem:
    return FaultyFileSystem()


def value(i: int) -> bytes:
    return b"%03d" % i + b"v" * 100


def index_files(log) -> list[str]:
    return sorted(p.name for p in log.dir.iterdir() if p.suffix in (".index", ".timeindex"))


def test_index_write_failure_does_not_fail_appends_and_the_next_start_rebuilds_it(tmp_path, clock, fs, caplog):
    log = open_log(tmp_path, clock, index_interval_bytes=200, fs=fs)
    for i in range(10):
        append(log, batch(value(i), ts=T0 + i))
    assert index_files(log) == ["00000000000000000000.index", "00000000000000000000.timeindex"]
    fault = fs.fail("write", path="index")  # .index and .timeindex
    for i in range(10, 40):
        append(log, batch(value(i), ts=T0 + i))
    assert log.log_end_offset == 40
    assert index_files(log) == []  # a stale file would be trusted by the next start: removed
    assert any("index is kept in memory" in m for m in caplog.messages)
    assert values(log) == [value(i) for i in range(40)]
    assert values(log, 25)[0] == value(25)  # lookups use the in-memory entries
    assert log.offset_for_timestamp(T0 + 30)[0] == 30
    assert fault.fired >= 2
    fs.heal()
    log.close(flush=True)

    reopened = open_log(tmp_path, clock, index_interval_bytes=200)
    assert values(reopened) == [value(i) for i in range(40)]
    assert index_files(reopened) == ["00000000000000000000.index", "00000000000000000000.timeindex"]
    assert reopened.active.index.entries > 5


def test_rebuilt_index_that_cannot_be_written_stays_in_memory(tmp_path, clock, fs):
    log = open_log(tmp_path, clock, index_interval_bytes=200, fs=fs)
    for i in range(20):
        append(log, batch(value(i)))
    for seg in log.segments:
        seg.drop_descriptors()  # a crash
    fs.fail("replace")  # no file can be replaced: the rebuilt indexes stay in memory
    recovered = open_log(tmp_path, clock, index_interval_bytes=200, clean=False, fs=fs)
    assert recovered.recovered_segments == 1
    assert values(recovered) == [value(i) for i in range(20)]
    assert values(recovered, 13)[0] == value(13)
    assert not any(p.name.endswith(".tmp") for p in recovered.dir.iterdir())
    assert index_files(recovered) == []
    append(recovered, batch(value(20)))  # appends go on, the index stays in memory
    assert values(recovered, 20) == [value(20)]


@pytest.mark.parametrize("how", ["failing", "short"])
def test_log_write_failure_is_a_storage_error_that_changes_nothing(tmp_path, clock, fs, how):
    log = open_log(tmp_path, clock, fs=fs)
    append(log, batch(value(0)), leader_epoch=1)
    size = log.active.size
    if how == "failing":
        fs.fail("pwrite", "pwritev", path=".log")
    else:
        fs.short_write("pwrite", "pwritev")
    with pytest.raises(KafkaStorageError):
        append(log, batch(value(1)), leader_epoch=2)
    assert log.write_errors == 1
    assert log.log_end_offset == 1 and log.active.size == size
    assert os.path.getsize(log.active.log_path) == size  # a short write is cut off again
    assert log.leader_epoch_cache.entries == (EpochEntry(1, 0),)  # the failed batch started no epoch
    fs.heal()
    assert append(log, batch(value(2)), leader_epoch=2).first_offset == 1
    assert values(log) == [value(0), value(2)]
    assert log.leader_epoch_cache.entries == (EpochEntry(1, 0), EpochEntry(2, 1))


def test_failed_roll_leaves_the_active_segment_as_it_was(tmp_path, clock, fs):
    log = open_log(tmp_path, clock, segment_bytes=400, fs=fs)
    for i in range(3):
        append(log, batch(value(i)))
    segments = len(log.segments)
    fs.fail("open", path=".log")  # no new segment file can be created
    with pytest.raises(KafkaStorageError):
        for i in range(3, 10):
            append(log, batch(value(i)))
    fs.heal()
    assert len(log.segments) == segments
    end = log.log_end_offset
    assert append(log, batch(b"after")).first_offset == end
    assert values(log)[-1] == b"after"


def test_roll_goes_on_when_the_producer_snapshot_cannot_be_written(tmp_path, clock, fs, caplog):
    log = open_log(tmp_path, clock, segment_bytes=400, fs=fs)
    fs.fail("replace", path=".snapshot")
    for i in range(10):
        append(log, batch(value(i), pid=7, epoch=0, seq=i))
    assert len(log.segments) > 2
    assert any("producer-state snapshot" in m for m in caplog.messages)
    assert not any(p.name.endswith((".snapshot", ".tmp")) for p in log.dir.iterdir())
    fs.heal()
    for seg in log.segments:
        seg.drop_descriptors()
    reopened = open_log(tmp_path, clock, segment_bytes=400, clean=False, fs=fs)
    # the producer state comes back from the log itself: a retry of the last batch is a duplicate
    assert append(reopened, batch(value(9), pid=7, epoch=0, seq=9)).duplicate


def test_shutdown_with_a_log_that_cannot_be_flushed_is_unclean(tmp_path, clock, fs, caplog):
    mgr = LogManager([tmp_path], LogConfig(), clock=clock, fs=fs)
    mgr.load()
    good, bad = mgr.create("good", 0, LogConfig()), mgr.create("bad", 0, LogConfig())
    append(good, batch(b"g"))
    append(bad, batch(b"b"))
    fs.fail("fsync", error=errno.EIO, path="bad-0")
    with caplog.at_level(logging.WARNING):
        assert mgr.shutdown() is False
    assert not (tmp_path / CLEAN_SHUTDOWN).exists()
    assert good.active.closed and bad.active.closed
    assert any("could not flush bad-0" in m for m in caplog.messages)
    fs.heal()

    again = LogManager([tmp_path], LogConfig(), clock=clock, fs=fs)
    again.load()
    assert not again.was_clean
    assert values(again.get("good", 0)) == [b"g"] and values(again.get("bad", 0)) == [b"b"]


def test_shutdown_that_cannot_write_its_checkpoints_is_unclean(tmp_path, clock, fs):
    mgr = LogManager([tmp_path], LogConfig(), clock=clock, fs=fs)
    mgr.load()
    append(mgr.create("t", 0, LogConfig()), batch(b"x"))
    fs.fail("replace", path="recovery-point-offset-checkpoint")
    assert mgr.shutdown() is False
    assert not (tmp_path / CLEAN_SHUTDOWN).exists()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_leader_epoch_checkpoint_that_cannot_be_written_holds_the_recovery_point_back(tmp_path, clock, fs, caplog):
    log = open_log(tmp_path, clock, fs=fs)
    append(log, batch(b"a"), leader_epoch=3)
    fault = fs.fail("replace", path=LEADER_EPOCH_CHECKPOINT)
    with pytest.raises(OSError):
        log.flush()
    assert log.recovery_point == 0  # an epoch entry not on disk must stay above the recovery point
    assert log.leader_epoch_cache.dirty and fault.fired == 1
    assert not (log.dir / LEADER_EPOCH_CHECKPOINT).exists()
    assert not any(p.name.endswith(".tmp") for p in log.dir.iterdir())
    log.write_leader_epoch_checkpoint()  # best effort: logged, still marked changed
    assert any("could not write the leader-epoch checkpoint" in m for m in caplog.messages)
    fs.heal()
    log.flush()
    assert log.recovery_point == 1 and (log.dir / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n1\n3 0\n"


def test_fsync_failure_leaves_the_recovery_point_and_the_next_flush_retries(tmp_path, clock, fs):
    log = open_log(tmp_path, clock, fs=fs)
    append(log, batch(b"a"))
    fs.fail("fsync", error=errno.EIO, times=1)
    with pytest.raises(OSError):
        log.flush()
    assert log.recovery_point == 0
    append(log, batch(b"b"))
    log.flush()
    assert log.recovery_point == 2


def test_recovery_on_a_full_disk_still_opens_the_log(tmp_path, clock, fs, caplog):
    log = open_log(tmp_path, clock, index_interval_bytes=100, fs=fs)
    for i in range(10):
        append(log, batch(value(i)), leader_epoch=i // 5)
    for seg in log.segments:
        seg.drop_descriptors()  # a crash before any checkpoint was written
    fs.fail("write", "pwrite", "pwritev")  # nothing can be written any more
    recovered = open_log(tmp_path, clock, index_interval_bytes=100, clean=False, fs=fs)
    assert values(recovered) == [value(i) for i in range(10)]
    assert recovered.leader_epoch_cache.entries == (EpochEntry(0, 0), EpochEntry(1, 5))
    assert recovered.leader_epoch_cache.dirty  # written once there is room again
    with pytest.raises(KafkaStorageError):
        append(recovered, batch(b"no room"), leader_epoch=1)
    fs.heal()
    append(recovered, batch(b"room"), leader_epoch=1)
    recovered.close(flush=True)
    assert (recovered.dir / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n2\n0 0\n1 5\n"
