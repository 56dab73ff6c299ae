"""TransactionCoordinator driven directly over an in-memory partition writer on a virtual clock:
the state table, InitProducerId/AddPartitions/EndTxn in every state, fencing, time-outs,
expiration, and recovery of prepared transactions by replaying the log."""
from __future__ import annotations

import asyncio
import itertools

import pytest

from strom.coordinator.txn import records as rec
from strom.coordinator.txn.coordinator import TRANSACTION_STATE_TOPIC, TransactionCoordinator, TxnConfig
from strom.coordinator.txn.state import (
    VALID_PREVIOUS, IllegalTransition, TransactionMetadata, TxnState, can_transition,
)
from strom.errors import ErrorCode, KafkaError
from strom.util.clock import VirtualScheduler

pytestmark = pytest.mark.timeout(10)
S = TxnState
E = ErrorCode


class MemoryWriter:
    """PartitionWriter over in-memory lists; ``fail`` makes the next appends raise."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, int], list] = {}

    def append(self, topic, partition, records, *, producer_id=-1, producer_epoch=-1, transactional=False):
        log = self.logs.setdefault((topic, partition), [])
        txn = (producer_id, producer_epoch, None) if transactional else None
        for k, v in records:
            log.append((len(log), k, v, txn))
        return len(log) - 1

    def append_marker(self, topic, partition, *, producer_id, producer_epoch, coordinator_epoch, commit):
        log = self.logs.setdefault((topic, partition), [])
        log.append((len(log), None, None, (producer_id, producer_epoch, commit)))
        return len(log) - 1

    def read_all(self, topic, partition):
        return list(self.logs.get((topic, partition), []))

    def partitions(self, topic):
        return sorted(p for t, p in self.logs if t == topic)


class Markers:
    def __init__(self) -> None:
        self.written: list[tuple[str, int, int, int, bool]] = []
        self.fail: ErrorCode | None = None

    async def write(self, topic, partition, *, producer_id, producer_epoch, coordinator_epoch, commit):
        if self.fail is not None:
            raise KafkaError("marker write failed", self.fail)
        self.written.append((topic, partition, producer_id, producer_epoch, commit))


def make(writer: MemoryWriter | None = None, **config) -> tuple[TransactionCoordinator, Markers, VirtualScheduler]:
    clock = VirtualScheduler()
    ids = itertools.count(1000)

    async def allocate() -> int:
        return next(ids)

    markers = Markers()
    coord = TransactionCoordinator(writer or MemoryWriter(), TxnConfig(num_partitions=5, **config), clock, allocate,
                                   markers)
    return coord, markers, clock


def run(coro):
    return asyncio.run(coro)


def code_of(coro) -> ErrorCode:
    with pytest.raises(KafkaError) as exc:
        run(coro)
    return exc.value.code


def test_the_state_table_walk():
    """Every (from, to) pair is allowed exactly when the table lists it, and ``transition`` enforces it."""
    meta = TransactionMetadata("t", 1, 0, 1000, S.EMPTY)
    for target in TxnState:
        for current in TxnState:
            allowed = current in VALID_PREVIOUS[target]
            assert can_transition(current, target) == allowed
            m = TransactionMetadata("t", 1, 0, 1000, current)
            if allowed:
                assert m.transition(target).state is target
            else:
                with pytest.raises(IllegalTransition):
                    m.transition(target)
    # the paths the coordinator takes
    commit = meta.transition(S.ONGOING).transition(S.PREPARE_COMMIT).transition(S.COMPLETE_COMMIT)
    fence = meta.transition(S.ONGOING).transition(S.PREPARE_EPOCH_FENCE).transition(S.PREPARE_ABORT)
    assert fence.transition(S.COMPLETE_ABORT).transition(S.DEAD).state is S.DEAD
    assert commit.transition(S.EMPTY).state is S.EMPTY
    assert not can_transition(S.DEAD, S.EMPTY)


def test_records_round_trip():
    meta = TransactionMetadata("tid", 5, 3, 60000, S.ONGOING, frozenset({("a", 1), ("b", 0)}), 5, 2, 10, 20)
    assert rec.decode(rec.key("tid"), rec.value(meta)) == ("tid", meta)
    assert rec.decode(rec.key("tid"), None) == ("tid", None)


def test_a_transaction_commits_with_markers_in_every_partition():
    coord, markers, _ = make()

    async def body():
        pid, epoch = await coord.init_producer_id("t", 60000)
        assert (pid, epoch) == (1000, 0)
        await coord.add_partitions("t", pid, epoch, [("a", 0), ("a", 1)])
        await coord.add_partitions("t", pid, epoch, [("__consumer_offsets", 3)])
        assert coord.verify("t", pid, epoch, "a", 1) is E.NONE
        assert coord.verify("t", pid, epoch, "b", 0) is E.INVALID_TXN_STATE
        assert coord.verify("t", pid, epoch + 1, "a", 1) is E.INVALID_PRODUCER_EPOCH
        await coord.end_txn("t", pid, epoch, commit=True)
        assert coord.txns["t"].state is S.COMPLETE_COMMIT and not coord.txns["t"].partitions
        await coord.end_txn("t", pid, epoch, commit=True)  # a retry
        return pid

    pid = run(body())
    assert sorted(markers.written) == [("__consumer_offsets", 3, pid, 0, True), ("a", 0, pid, 0, True),
                                       ("a", 1, pid, 0, True)]
    assert code_of(coord.end_txn("t", pid, 0, commit=False)) is E.INVALID_TXN_STATE


def test_errors_of_bad_requests():
    coord, _, _ = make(max_timeout_ms=1000)
    assert code_of(coord.init_producer_id("t", 5000)) is E.INVALID_TRANSACTION_TIMEOUT
    assert code_of(coord.init_producer_id("", 500)) is E.INVALID_REQUEST
    assert code_of(coord.init_producer_id("x" * 40000, 500)) is E.INVALID_REQUEST
    pid, epoch = run(coord.init_producer_id("t", 500))
    assert code_of(coord.end_txn("t", pid, epoch, commit=True)) is E.INVALID_TXN_STATE  # nothing open
    assert code_of(coord.add_partitions("t", pid + 1, epoch, [("a", 0)])) is E.INVALID_PRODUCER_ID_MAPPING
    assert code_of(coord.add_partitions("nope", pid, epoch, [("a", 0)])) is E.INVALID_PRODUCER_ID_MAPPING
    assert code_of(coord.add_partitions("t", pid, epoch - 1, [("a", 0)])) is E.PRODUCER_FENCED
    assert code_of(coord.end_txn("t", pid, epoch + 1, commit=True)) is E.PRODUCER_FENCED


def test_a_new_producer_fences_the_open_transaction():
    coord, markers, _ = make()

    async def body():
        pid, e0 = await coord.init_producer_id("t", 60000)
        await coord.add_partitions("t", pid, e0, [("a", 0)])
        pid2, e2 = await coord.init_producer_id("t", 60000)  # the new instance
        return pid, e0, pid2, e2

    pid, e0, pid2, e2 = run(body())
    assert pid2 == pid and e2 == e0 + 2
    assert markers.written == [("a", 0, pid, e0 + 1, False)]  # aborted at the fenced epoch
    assert coord.txns["t"].state is S.EMPTY
    assert code_of(coord.add_partitions("t", pid, e0, [("a", 0)])) is E.PRODUCER_FENCED
    assert code_of(coord.end_txn("t", pid, e0, commit=True)) is E.PRODUCER_FENCED


def test_kip_360_epoch_bump_and_its_retry():
    coord, _, _ = make()
    pid, e0 = run(coord.init_producer_id("t", 60000))
    assert run(coord.init_producer_id("t", 60000, pid, e0)) == (pid, e0 + 1)
    assert run(coord.init_producer_id("t", 60000, pid, e0)) == (pid, e0 + 1)  # retried: same answer
    assert code_of(coord.init_producer_id("t", 60000, pid, e0 + 5)) is E.PRODUCER_FENCED


def test_the_epoch_wraps_to_a_new_producer_id():
    coord, _, _ = make()
    pid, _ = run(coord.init_producer_id("t", 60000))
    meta = coord.txns["t"]
    coord.txns["t"] = TransactionMetadata("t", pid, 32766, meta.timeout_ms, S.EMPTY)
    new_pid, epoch = run(coord.init_producer_id("t", 60000))
    assert new_pid != pid and epoch == 0


def test_a_timed_out_transaction_is_fenced_and_aborted():
    coord, markers, clock = make()

    async def body():
        pid, epoch = await coord.init_producer_id("t", 1000)
        await coord.add_partitions("t", pid, epoch, [("a", 0)])
        assert await coord.abort_timed_out() == 0
        clock.advance(1001)
        assert await coord.abort_timed_out() == 1
        return pid, epoch

    pid, epoch = run(body())
    assert coord.txns["t"].state is S.COMPLETE_ABORT and coord.txns["t"].producer_epoch == epoch + 1
    assert markers.written == [("a", 0, pid, epoch + 1, False)]
    assert code_of(coord.end_txn("t", pid, epoch, commit=True)) is E.PRODUCER_FENCED


def test_idle_ids_expire_with_a_tombstone():
    writer = MemoryWriter()
    coord, _, clock = make(writer, id_expiration_ms=5000)

    async def body():
        await coord.init_producer_id("idle", 1000)
        pid, epoch = await coord.init_producer_id("busy", 1000)
        await coord.add_partitions("busy", pid, epoch, [("a", 0)])
        clock.advance(5000)
        return await coord.expire_ids()

    assert run(body()) == 1
    assert "idle" not in coord.txns and "busy" in coord.txns  # an open transaction does not expire
    partition = coord.partition_for("idle")
    assert writer.logs[(TRANSACTION_STATE_TOPIC, partition)][-1][1:3] == (rec.key("idle"), None)
    assert code_of(coord.add_partitions("idle", 1000, 0, [("a", 0)])) is E.INVALID_PRODUCER_ID_MAPPING


def test_a_prepared_transaction_is_completed_after_a_restart():
    writer = MemoryWriter()
    coord, markers, _ = make(writer)
    pid, epoch = run(coord.init_producer_id("t", 60000))
    run(coord.add_partitions("t", pid, epoch, [("a", 0), ("b", 2)]))
    markers.fail = E.KAFKA_STORAGE_ERROR  # the broker dies while writing markers
    assert code_of(coord.end_txn("t", pid, epoch, commit=True)) is E.KAFKA_STORAGE_ERROR
    assert coord.txns["t"].state is S.PREPARE_COMMIT
    restarted, markers2, _ = make(writer)
    assert restarted.load() > 0
    assert restarted.txns["t"].state is S.PREPARE_COMMIT
    assert code_of(restarted.add_partitions("t", pid, epoch, [("a", 0)])) is E.CONCURRENT_TRANSACTIONS
    assert run(restarted.complete_pending()) == 1
    assert restarted.txns["t"].state is S.COMPLETE_COMMIT
    assert sorted(markers2.written) == [("a", 0, pid, epoch, True), ("b", 2, pid, epoch, True)]
    run(restarted.end_txn("t", pid, epoch, commit=True))  # the client's retry of EndTxn succeeds


def test_a_marker_for_a_deleted_partition_is_skipped():
    coord, markers, _ = make()
    pid, epoch = run(coord.init_producer_id("t", 60000))
    run(coord.add_partitions("t", pid, epoch, [("gone", 0)]))
    markers.fail = E.UNKNOWN_TOPIC_OR_PARTITION
    run(coord.end_txn("t", pid, epoch, commit=False))
    assert coord.txns["t"].state is S.COMPLETE_ABORT


def test_list_and_describe():
    coord, _, clock = make()
    pid, epoch = run(coord.init_producer_id("a-1", 60000))
    run(coord.init_producer_id("b-1", 60000))
    run(coord.add_partitions("a-1", pid, epoch, [("x", 0)]))
    clock.advance(100)
    found, unknown = coord.list_transactions(["Ongoing", "Bogus"])
    assert [m.transactional_id for m in found] == ["a-1"] and unknown == ["Bogus"]
    assert [m.transactional_id for m in coord.list_transactions(pattern="^b")[0]] == ["b-1"]
    assert [m.transactional_id for m in coord.list_transactions(min_duration_ms=50)[0]] == ["a-1"]
    assert coord.list_transactions(min_duration_ms=500)[0] == []
    assert coord.describe("a-1").partitions == frozenset({("x", 0)})
    with pytest.raises(KafkaError) as exc:
        coord.describe("zzz")
    assert exc.value.code is E.TRANSACTIONAL_ID_NOT_FOUND
