"""FileRaftLog: the RaftLog contract on both logs (same test bodies), then what only files have:
restart recovery, a torn tail, the quorum-state file, snapshot files, batches of the old stand-in."""
from pathlib import Path

import pytest

from strom.raft.core import QuorumStateData
from strom.raft.file_log import FileRaftLog, QuorumStateFile, snapshot_file_name
from strom.raft.log import MemoryRaftLog
from strom.raft.messages import EpochEndOffset, LeaderChangeRecord, Record, SnapshotId, VotersRecord
from strom.records.batch import build_batch, validate_batches
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.util.clock import VirtualScheduler


def value(i: int) -> tuple[bytes, bytes]:
    return (b"k%d" % i, b"v%d" % i)


@pytest.fixture(params=["memory", "file"])
def new_log(request, tmp_path):
    def make():
        if request.param == "memory":
            return MemoryRaftLog()
        return FileRaftLog(tmp_path / "__cluster_metadata-0", VirtualScheduler(), clean=True)
    return make


def fill(log, *epochs: int) -> None:
    base = log.end_offset
    log.append(tuple(Record(base + i, e, value(base + i)) for i, e in enumerate(epochs)))


# ----------------------------------------------------------------------- the shared contract
def test_end_offset_for_epoch_is_kafkas_leader_epoch_lookup(new_log):
    assert new_log().end_offset_for_epoch(0) == EpochEndOffset(0, 0)
    log = new_log()
    fill(log, 1, 1, 3, 3, 3, 5)
    assert log.end_offset_for_epoch(1) == EpochEndOffset(1, 2)
    assert log.end_offset_for_epoch(2) == EpochEndOffset(1, 2)
    assert log.end_offset_for_epoch(3) == EpochEndOffset(3, 5)
    assert log.end_offset_for_epoch(5) == EpochEndOffset(5, 6)
    assert log.end_offset_for_epoch(9) == EpochEndOffset(5, 6)
    assert log.end_offset_for_epoch(0) == EpochEndOffset(0, 0)
    assert [log.epoch_at(i) for i in range(6)] == [1, 1, 3, 3, 3, 5]
    assert log.last_epoch == 5


def test_append_checks_offsets_and_epochs(new_log):
    log = new_log()
    fill(log, 2, 2)
    with pytest.raises(ValueError):
        log.append((Record(5, 2, value(5)),))
    with pytest.raises(ValueError):
        log.append((Record(2, 1, value(2)),))
    assert log.end_offset == 2


def test_read_gives_back_values_and_control_records(new_log):
    log = new_log()
    fill(log, 1)
    log.append((Record(1, 2, LeaderChangeRecord(3, (1, 2, 3), (2, 3)), control=True),
                Record(2, 2, value(2)), Record(3, 2, VotersRecord((1, 2)), control=True)))
    got = log.read(0, 10)
    assert got == (Record(0, 1, value(0)), Record(1, 2, LeaderChangeRecord(3, (1, 2, 3), (2, 3)), control=True),
                   Record(2, 2, value(2)), Record(3, 2, VotersRecord((1, 2)), control=True))
    assert log.read(2, 1) == got[2:3]
    assert log.read(4, 5) == ()


def test_truncate_drops_records_and_their_epochs(new_log):
    log = new_log()
    fill(log, 1, 1, 3, 3)
    log.truncate_to(2)
    assert log.end_offset == 2 and log.last_epoch == 1
    assert log.end_offset_for_epoch(3) == EpochEndOffset(1, 2)
    fill(log, 4)
    assert log.read(0, 5) == (Record(0, 1, value(0)), Record(1, 1, value(1)), Record(2, 4, value(2)))


def test_truncate_inside_a_batch_keeps_the_records_before_the_offset(new_log):
    log = new_log()
    fill(log, 1, 1, 1, 1)  # one batch in the file log
    log.flush()
    log.truncate_to(2)
    assert log.end_offset == 2
    assert log.read(0, 5) == (Record(0, 1, value(0)), Record(1, 1, value(1)))
    assert log.flushed_end_offset <= 2


def test_flush_moves_the_durable_end(new_log):
    log = new_log()
    fill(log, 1, 1)
    log.flush()
    fill(log, 1, 2)
    assert log.flushed_end_offset == 2 and log.end_offset == 4
    log.flush()
    assert log.flushed_end_offset == 4


def test_snapshot_moves_the_log_start_and_keeps_the_epochs_above_it(new_log):
    log = new_log()
    fill(log, 1, 1, 2, 2, 3)
    log.flush()
    sid = log.create_snapshot(3, b"state")
    assert sid == SnapshotId(3, 2)
    assert log.start_offset == 3 and log.end_offset == 5
    assert log.epoch_at(2) == 2 and log.epoch_at(3) == 2
    assert log.end_offset_for_epoch(2) == EpochEndOffset(2, 4)
    assert log.end_offset_for_epoch(1) == EpochEndOffset(-1, -1)
    assert log.snapshot_bytes(sid) == b"state" and log.snapshot_bytes(SnapshotId(2, 2)) is None
    assert log.latest_snapshot() == sid
    assert log.read(3, 5) == (Record(3, 2, value(3)), Record(4, 3, value(4)))
    assert log.bytes_since_snapshot(5) > 0 and log.bytes_since_snapshot(3) == 0


def test_a_snapshot_covers_only_flushed_records(new_log):
    log = new_log()
    fill(log, 1, 1, 1)
    with pytest.raises(ValueError):
        log.create_snapshot(2, b"")


def test_install_snapshot_replaces_the_whole_log(new_log):
    log = new_log()
    fill(log, 1, 1, 1)
    log.install_snapshot(SnapshotId(10, 4), b"123")
    assert (log.start_offset, log.end_offset, log.flushed_end_offset, log.last_epoch) == (10, 10, 10, 4)
    assert log.end_offset_for_epoch(4) == EpochEndOffset(4, 10)
    log.append((Record(10, 5, value(10)),))
    assert log.end_offset_for_epoch(4) == EpochEndOffset(4, 10)
    assert log.end_offset_for_epoch(5) == EpochEndOffset(5, 11)
    assert log.read(10, 5) == (Record(10, 5, value(10)),)


# ------------------------------------------------------------------------------ files only
def open_log(path: Path, *, clean: bool = True) -> FileRaftLog:
    return FileRaftLog(path, VirtualScheduler(), clean=clean)


def test_a_restart_recovers_records_epochs_and_the_snapshot(tmp_path):
    d = tmp_path / "__cluster_metadata-0"
    log = open_log(d)
    fill(log, 1, 1, 2, 2, 3)
    log.append((Record(5, 3, LeaderChangeRecord(1, (1,), (1,)), control=True),))
    log.flush()
    sid = log.create_snapshot(2, b"voters=1\nstate")
    log.close(flush=True)
    again = open_log(d)
    assert (again.start_offset, again.end_offset, again.flushed_end_offset) == (2, 6, 6)
    assert again.latest_snapshot() == sid == SnapshotId(2, 1)
    assert again.snapshot_bytes(sid) == b"voters=1\nstate"
    assert again.end_offset_for_epoch(2) == EpochEndOffset(2, 4)
    assert again.end_offset_for_epoch(1) == EpochEndOffset(1, 2)
    assert again.read(2, 10)[-1] == Record(5, 3, LeaderChangeRecord(1, (1,), (1,)), control=True)
    assert (d / snapshot_file_name(sid)).exists()


def test_a_torn_tail_is_cut_at_the_last_whole_batch(tmp_path):
    d = tmp_path / "__cluster_metadata-0"
    log = open_log(d)
    fill(log, 1)
    fill(log, 1, 2)
    log.flush()
    log.close()
    segment = d / "00000000000000000000.log"
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])  # the last batch (epoch 2) half written
    again = open_log(d, clean=False)
    assert again.end_offset == 2 and again.last_epoch == 1
    assert again.read(0, 5) == (Record(0, 1, value(0)), Record(1, 1, value(1)))


def test_a_snapshot_with_a_bad_crc_is_ignored(tmp_path):
    d = tmp_path / "__cluster_metadata-0"
    log = open_log(d)
    fill(log, 1, 1, 1)
    log.flush()
    log.create_snapshot(1, b"first")
    sid = log.create_snapshot(2, b"second")
    log.close(flush=True)
    path = d / snapshot_file_name(sid)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    again = open_log(d)
    assert again.latest_snapshot() is None  # the first was deleted when the second was taken
    assert again.read(again.start_offset, 5)[-1] == Record(2, 1, value(2))


def test_batches_of_the_old_single_voter_stand_in_read_as_epoch_0(tmp_path):
    d = tmp_path / "__cluster_metadata-0"
    old = Log(d, LogConfig(segment_bytes=1 << 20, retention_ms=-1, retention_bytes=-1), clock=VirtualScheduler())
    batch = build_batch([(b"a", b"1"), (b"b", b"2")], timestamp_ms=VirtualScheduler.START_MS)  # partitionLeaderEpoch -1, as MetadataLog wrote
    old.append(batch, validate_batches(batch))
    old.close(flush=True)
    log = open_log(d)
    assert log.read(0, 5) == (Record(0, 0, (b"a", b"1")), Record(1, 0, (b"b", b"2")))
    assert log.last_epoch == 0 and log.end_offset_for_epoch(0) == EpochEndOffset(0, 2)
    fill(log, 1)
    assert log.end_offset_for_epoch(0) == EpochEndOffset(0, 2)


def test_quorum_state_file_round_trip(tmp_path):
    f = QuorumStateFile(tmp_path)
    assert f.read() is None
    f.write(QuorumStateData(4, 2, 2), frozenset({1, 2, 3}))
    assert f.read() == QuorumStateData(4, 2, 2)
    assert b'"leaderEpoch":4' in (tmp_path / "quorum-state").read_bytes()
    (tmp_path / "quorum-state").write_text("{nope")
    with pytest.raises(ValueError):
        f.read()
