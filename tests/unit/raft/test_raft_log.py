"""MemoryRaftLog: offsets, epochs, truncation, the durable part, snapshots."""
import pytest

from strom.raft.log import MemoryRaftLog
from strom.raft.messages import EpochEndOffset, Record, SnapshotId


def log_with(*epochs: int) -> MemoryRaftLog:
    log = MemoryRaftLog()
    log.append(tuple(Record(i, e, f"v{i}") for i, e in enumerate(epochs)))
    return log


def test_end_offset_for_epoch_is_kafkas_leader_epoch_lookup():
    log = log_with(1, 1, 3, 3, 3, 5)
    assert log.end_offset_for_epoch(1) == EpochEndOffset(1, 2)
    assert log.end_offset_for_epoch(2) == EpochEndOffset(1, 2)  # largest epoch <= 2
    assert log.end_offset_for_epoch(3) == EpochEndOffset(3, 5)
    assert log.end_offset_for_epoch(5) == EpochEndOffset(5, 6)
    assert log.end_offset_for_epoch(9) == EpochEndOffset(5, 6)
    assert log.end_offset_for_epoch(0) == EpochEndOffset(0, 0)
    assert MemoryRaftLog().end_offset_for_epoch(0) == EpochEndOffset(0, 0)


def test_append_checks_offsets_and_epochs():
    log = log_with(2, 2)
    with pytest.raises(ValueError):
        log.append((Record(5, 2, "gap"),))
    with pytest.raises(ValueError):
        log.append((Record(2, 1, "older epoch"),))


def test_truncate_drops_records_and_their_epochs():
    log = log_with(1, 1, 3, 3)
    log.truncate_to(2)
    assert log.end_offset == 2 and log.last_epoch == 1
    assert log.end_offset_for_epoch(3) == EpochEndOffset(1, 2)


def test_a_crash_loses_what_was_not_flushed():
    log = log_with(1, 1)
    log.flush()
    log.append((Record(2, 1, "x"), Record(3, 2, "y")))
    assert log.flushed_end_offset == 2
    log.lose_unflushed()
    assert log.end_offset == 2 and log.last_epoch == 1


def test_same_offset_and_epoch_with_a_different_prefix_has_a_different_digest():
    a, b = log_with(1, 1, 2), log_with(1, 1, 2)
    assert a.digest_at(3) == b.digest_at(3)
    c = MemoryRaftLog()
    c.append((Record(0, 1, "v0"), Record(1, 1, "other"), Record(2, 2, "v2")))
    assert c.digest_at(3) != a.digest_at(3)


def test_snapshot_moves_the_log_start_and_keeps_the_epochs_above_it():
    log = log_with(1, 1, 2, 2, 3)
    log.flush()
    digest = log.digest_at(3)
    sid = log.create_snapshot(3, b"state")
    assert sid == SnapshotId(3, 2)
    assert log.start_offset == 3 and log.end_offset == 5 and log.digest_at(3) == digest
    assert log.epoch_at(2) == 2 and log.epoch_at(3) == 2
    assert log.end_offset_for_epoch(2) == EpochEndOffset(2, 4)
    assert log.end_offset_for_epoch(1) == EpochEndOffset(-1, -1)  # below the snapshot: unknown
    assert log.snapshot_bytes(sid) == b"state" and log.snapshot_bytes(SnapshotId(2, 2)) is None
    assert log.bytes_since_snapshot(5) > 0 and log.bytes_since_snapshot(3) == 0


def test_a_snapshot_covers_only_flushed_records():
    log = log_with(1, 1, 1)
    with pytest.raises(ValueError):
        log.create_snapshot(2, b"")


def test_install_snapshot_replaces_the_whole_log():
    log = log_with(1, 1, 1)
    log.install_snapshot(SnapshotId(10, 4), b"123")
    assert (log.start_offset, log.end_offset, log.flushed_end_offset, log.last_epoch) == (10, 10, 10, 4)
    assert log.digest_at(10) == 123
    assert log.end_offset_for_epoch(4) == EpochEndOffset(4, 10)
    log.append((Record(10, 5, "x"),))
    assert log.end_offset_for_epoch(4) == EpochEndOffset(4, 10)
    assert log.end_offset_for_epoch(5) == EpochEndOffset(5, 11)
