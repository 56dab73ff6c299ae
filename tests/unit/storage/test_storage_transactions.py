"""Transactions in one partition log: ongoing transactions in the producer state, the last stable
offset, the aborted-transaction index (.txnindex, Kafka's format) and their recovery."""
from __future__ import annotations

import struct

import pytest

from strom.errors import InvalidProducerEpoch
from strom.records.batch import NewRecord, build_batch, build_end_txn_marker, validate_batches
from strom.storage.txn_index import ENTRY, AbortedTxn

from ._helpers import T0, open_log

pytestmark = pytest.mark.usefixtures("storage_fs")


def txn_batch(*values: bytes, pid: int, epoch: int = 0, seq: int = 0) -> bytes:
    return build_batch([NewRecord(None, v) for v in values], producer_id=pid, producer_epoch=epoch,
                       base_sequence=seq, transactional=True, timestamp_ms=T0)


def plain(*values: bytes) -> bytes:
    return build_batch([NewRecord(None, v) for v in values], timestamp_ms=T0)


def marker(commit: bool, pid: int, epoch: int = 0) -> bytes:
    return build_end_txn_marker(commit, producer_id=pid, producer_epoch=epoch, coordinator_epoch=0, timestamp_ms=T0)


def put(log, data: bytes, *, control: bool = False):
    return log.append(data, validate_batches(data, allow_control=control), now_ms=T0)


def test_lso_is_the_high_watermark_without_transactions(tmp_path, clock):
    log = open_log(tmp_path, clock)
    put(log, plain(b"a", b"b"))
    assert log.last_stable_offset == log.high_watermark == 2
    assert log.aborted_transactions(0, 2) == []


def test_lso_stops_at_the_oldest_open_transaction(tmp_path, clock):
    log = open_log(tmp_path, clock)
    put(log, plain(b"a"))                       # 0
    put(log, txn_batch(b"t1", pid=7))           # 1: pid 7 opens
    put(log, txn_batch(b"t2", pid=8))           # 2: pid 8 opens
    put(log, plain(b"b"))                       # 3
    assert log.last_stable_offset == 1
    put(log, marker(True, 7), control=True)     # 4: pid 7 commits
    assert log.last_stable_offset == 2
    put(log, txn_batch(b"t3", pid=7, seq=1))    # 5: pid 7 opens again
    put(log, marker(False, 8), control=True)    # 6: pid 8 aborts
    assert log.last_stable_offset == 5
    assert log.aborted_transactions(0, 7) == [AbortedTxn(8, 2, 6, 5)]
    put(log, marker(False, 7), control=True)    # 7
    assert log.last_stable_offset == log.high_watermark == 8
    assert log.aborted_transactions(3, 8) == [AbortedTxn(8, 2, 6, 5), AbortedTxn(7, 5, 7, 8)]
    assert log.aborted_transactions(7, 8) == [AbortedTxn(7, 5, 7, 8)]
    assert log.aborted_transactions(0, 2) == []  # the aborted transactions start at 2 and 5
    # the file holds Kafka's 34-byte entries
    [txn_index] = [p for p in log.dir.iterdir() if p.suffix == ".txnindex"]
    raw = txn_index.read_bytes()
    assert len(raw) == 2 * ENTRY.size == 68
    assert struct.unpack(">hqqqq", raw[:34]) == (0, 8, 2, 6, 5)


def test_a_marker_with_an_older_epoch_is_refused_and_a_newer_one_fences(tmp_path, clock):
    log = open_log(tmp_path, clock)
    put(log, txn_batch(b"t", pid=3, epoch=2))
    with pytest.raises(InvalidProducerEpoch):
        put(log, marker(False, 3, epoch=1), control=True)
    put(log, marker(False, 3, epoch=3), control=True)  # the coordinator fenced epoch 2
    assert log.last_stable_offset == 2
    with pytest.raises(InvalidProducerEpoch):
        put(log, txn_batch(b"zombie", pid=3, epoch=2, seq=1))


def test_open_transactions_and_the_index_survive_a_clean_restart(tmp_path, clock):
    log = open_log(tmp_path, clock)
    put(log, txn_batch(b"x", pid=1))
    put(log, marker(False, 1), control=True)
    put(log, txn_batch(b"y", pid=2))
    log.close(flush=True)
    log = open_log(tmp_path, clock)
    assert log.last_stable_offset == 2
    assert log.aborted_transactions(0, 3) == [AbortedTxn(1, 0, 1, 2)]
    put(log, marker(True, 2), control=True)
    assert log.last_stable_offset == 4


def test_the_index_is_rebuilt_after_a_crash(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=200)
    put(log, txn_batch(b"x" * 50, pid=1))
    put(log, plain(b"p" * 60))
    put(log, txn_batch(b"y" * 50, pid=2))
    put(log, marker(False, 1), control=True)
    put(log, plain(b"q" * 60))
    for seg in log.segments:  # a crash: nothing written at close, the snapshots and indexes gone
        seg.drop_descriptors()
    for p in list(log.dir.iterdir()):
        if p.suffix in (".snapshot", ".txnindex"):
            p.unlink()
    log = open_log(tmp_path, clock, clean=False, segment_bytes=200)
    assert log.last_stable_offset == 2  # pid 2 is still open
    assert log.aborted_transactions(0, 5) == [AbortedTxn(1, 0, 3, 2)]


def test_truncation_drops_index_entries_beyond_the_end(tmp_path, clock):
    log = open_log(tmp_path, clock)
    put(log, txn_batch(b"x", pid=1))
    put(log, marker(False, 1), control=True)
    assert log.aborted_transactions(0, 2)
    log.truncate_to(1)
    assert log.aborted_transactions(0, 2) == []
    assert log.last_stable_offset == 0  # the transaction is open again


def test_producers_with_an_open_transaction_do_not_expire(tmp_path, clock):
    log = open_log(tmp_path, clock)
    put(log, txn_batch(b"x", pid=1))
    put(log, plain(b"y"))
    assert log.expire_producers(T0 + 10**12) == 0
    put(log, marker(True, 1), control=True)
    assert log.expire_producers(T0 + 10**12) == 1


def test_a_failed_index_write_never_fails_the_marker_and_is_saved_at_close(tmp_path, clock):
    from strom.storage.faults import FaultyFileSystem
    fs = FaultyFileSystem()
    log = open_log(tmp_path, clock, fs=fs)
    put(log, txn_batch(b"x", pid=1))
    fault = fs.fail("open", path=".txnindex")
    put(log, marker(False, 1), control=True)  # the marker is in the log; the index write failed
    assert log.aborted_transactions(0, 2) == [AbortedTxn(1, 0, 1, 2)]
    fs.heal(fault)
    log.close(flush=True)
    log = open_log(tmp_path, clock, fs=fs)
    assert log.aborted_transactions(0, 2) == [AbortedTxn(1, 0, 1, 2)]


def test_an_index_that_cannot_be_saved_is_rebuilt_at_the_next_start(tmp_path, clock):
    from strom.storage.faults import FaultyFileSystem
    fs = FaultyFileSystem()
    log = open_log(tmp_path, clock, fs=fs)
    put(log, txn_batch(b"x", pid=1))
    fs.fail("open", "replace", path=".txnindex")
    put(log, marker(False, 1), control=True)
    log.close(flush=True)  # cannot write the index: the producer snapshots go instead
    fs.heal()
    assert not [p for p in log.dir.iterdir() if p.suffix == ".txnindex"]
    log = open_log(tmp_path, clock, fs=fs)
    assert log.aborted_transactions(0, 2) == [AbortedTxn(1, 0, 1, 2)]
