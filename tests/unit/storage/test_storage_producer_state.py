"""Idempotent-producer rules (Kafka's ProducerAppendInfo) and snapshots."""
from __future__ import annotations

import json

import pytest

from strom.errors import InvalidProducerEpoch, OutOfOrderSequence
from strom.records.batch import INT32_MAX, read_header
from strom.storage.producer_state import ProducerStateManager

from ._helpers import T0, append, batch, open_log


def hdr(pid=1, epoch=0, seq=0, n=1, offset=0, ts=T0):
    return read_header(batch(*[b"x"] * n, pid=pid, epoch=epoch, seq=seq, ts=ts))._replace(base_offset=offset)


def written(psm, *headers):
    for h in headers:
        assert psm.check(h) is None
        psm.update(h)


def test_sequence_rules(tmp_path):
    psm = ProducerStateManager(tmp_path)
    assert psm.check(hdr(seq=17)) is None  # unknown producer: any sequence
    written(psm, hdr(seq=0, n=2, offset=0), hdr(seq=2, n=3, offset=2))
    with pytest.raises(OutOfOrderSequence):
        psm.check(hdr(seq=6))  # gap
    with pytest.raises(OutOfOrderSequence):
        psm.check(hdr(seq=3))  # overlaps but is no cached batch
    dup = psm.check(hdr(seq=2, n=3))
    assert (dup.first_offset, dup.last_offset) == (2, 4)
    with pytest.raises(InvalidProducerEpoch):
        psm.check(hdr(epoch=-1 + 0, seq=5)._replace(producer_epoch=-1))
    with pytest.raises(OutOfOrderSequence):
        psm.check(hdr(epoch=1, seq=5))  # a new epoch starts at 0
    written(psm, hdr(epoch=1, seq=0, offset=5))
    with pytest.raises(InvalidProducerEpoch):
        psm.check(hdr(epoch=0, seq=5))
    assert psm.check(hdr(epoch=1, seq=0)) is not None  # duplicate in the new epoch
    assert psm.check(hdr(pid=-1, seq=-1)) is None  # no producer id: no checks


def test_only_the_last_five_batches_are_duplicates(tmp_path):
    psm = ProducerStateManager(tmp_path)
    written(psm, *[hdr(seq=i, offset=i) for i in range(7)])
    assert psm.check(hdr(seq=2)) is not None and psm.check(hdr(seq=6)).first_offset == 6
    with pytest.raises(OutOfOrderSequence):
        psm.check(hdr(seq=1))  # evicted: no longer recognised


def test_sequence_wraps_at_int32_max(tmp_path):
    psm = ProducerStateManager(tmp_path)
    written(psm, hdr(seq=INT32_MAX - 1, n=2, offset=0))
    assert psm.last_entry(1).last_seq == INT32_MAX
    written(psm, hdr(seq=0, offset=2))
    wrap = hdr(seq=INT32_MAX, n=3, offset=3)  # INT32_MAX, 0, 1
    assert wrap.last_sequence == 1


def test_unknown_epoch_accepts_any_first_sequence_on_bump(tmp_path):
    psm = ProducerStateManager(tmp_path)
    written(psm, hdr(epoch=-1, seq=4)._replace(producer_epoch=-1))
    assert psm.check(hdr(epoch=0, seq=9)) is None


def test_several_batches_of_one_append_are_checked_in_order(tmp_path):
    psm = ProducerStateManager(tmp_path)
    written(psm, hdr(seq=0, offset=0))
    assert psm.check_batches([hdr(seq=1), hdr(seq=2, n=2), hdr(pid=2, seq=50), hdr(pid=2, seq=51)]) is None
    with pytest.raises(OutOfOrderSequence):
        psm.check_batches([hdr(seq=1), hdr(seq=3)])
    assert psm.check_batches([hdr(seq=0)]).first_offset == 0


def test_expiration(tmp_path):
    psm = ProducerStateManager(tmp_path, expiration_ms=1000)
    written(psm, hdr(pid=1, ts=T0), hdr(pid=2, ts=T0 + 500))
    assert psm.expire(T0 + 999) == 0
    assert psm.expire(T0 + 1000) == 1 and set(psm.producers) == {2}
    assert psm.check(hdr(pid=1, seq=77)) is None  # forgotten: any sequence again


def test_snapshot_round_trip_crc_and_retention(tmp_path):
    psm = ProducerStateManager(tmp_path)
    written(psm, hdr(pid=1, seq=0, n=2, offset=0), hdr(pid=5, epoch=3, seq=10, offset=2))
    path = psm.write_snapshot(3)
    assert path.name == "00000000000000000003.snapshot"
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["offset"] == 3
    other = ProducerStateManager(tmp_path)
    assert other.load_snapshot(10) == 3
    assert other.last_entry(5).epoch == 3 and other.last_entry(1).last_seq == 1
    assert other.check(hdr(pid=1, seq=0, n=2)).first_offset == 0
    psm.write_snapshot(7)
    psm.write_snapshot(9)
    assert [o for o, _ in psm.snapshot_files()] == [7, 9]  # the two newest are kept
    assert other.load_snapshot(8) == 7 and [o for o, _ in psm.snapshot_files()] == [7]  # above: deleted
    doc = json.loads((tmp_path / "00000000000000000007.snapshot").read_text())
    doc["producers"][0]["epoch"] = 42  # tampered: CRC mismatch
    (tmp_path / "00000000000000000007.snapshot").write_text(json.dumps(doc))
    assert other.load_snapshot(100) == 0 and other.producers == {}
    assert psm.snapshot_files() == []


def test_log_level_duplicates_and_reopen(tmp_path, clock):
    log = open_log(tmp_path, clock)
    first = append(log, batch(b"a", b"b", pid=7, epoch=0, seq=0))
    dup = append(log, batch(b"a", b"b", pid=7, epoch=0, seq=0))
    assert dup.duplicate and (dup.first_offset, dup.last_offset) == (first.first_offset, first.last_offset)
    assert log.log_end_offset == 2 and log.unflushed_messages == 2
    with pytest.raises(OutOfOrderSequence):
        append(log, batch(b"c", pid=7, epoch=0, seq=5))
    append(log, batch(b"c", pid=7, epoch=0, seq=2))
    append(log, batch(b"d", pid=7, epoch=1, seq=0))
    with pytest.raises(InvalidProducerEpoch):
        append(log, batch(b"e", pid=7, epoch=0, seq=3))
    append(log, batch(b"f", pid=8, epoch=0, seq=41))
    log.close()
    reopened = open_log(tmp_path, clock)  # state comes back from the close snapshot
    assert append(reopened, batch(b"d", pid=7, epoch=1, seq=0)).duplicate
    with pytest.raises(OutOfOrderSequence):
        append(reopened, batch(b"g", pid=8, epoch=0, seq=40))
    assert reopened.log_end_offset == 5


def test_log_expire_producers(tmp_path, clock):
    log = open_log(tmp_path, clock, producer_id_expiration_ms=1000)
    append(log, batch(b"a", pid=3, epoch=0, seq=0, ts=clock.now_ms()))
    log.close()
    clock.advance(5000)
    again = open_log(tmp_path, clock, producer_id_expiration_ms=1000)
    assert again.producer_state.last_entry(3) is not None  # loading never expires (the broker's timer does)
    assert again.expire_producers(clock.now_ms()) == 1
    assert again.producer_state.last_entry(3) is None
