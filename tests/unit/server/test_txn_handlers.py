"""The transaction APIs in every served version, without sockets: kafka-python's ``kafka.protocol``
(an independent codec) encodes each request and decodes each answer, Strom's codec and handlers
sit between, over a real Controller, ReplicaManager, group and transaction coordinators."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kafka.protocol import admin as kpa
from kafka.protocol import producer as kpp

from strom.coordinator.group.coordinator import OFFSETS_TOPIC, GroupConfig, GroupCoordinator
from strom.coordinator.txn.coordinator import TRANSACTION_STATE_TOPIC, TransactionCoordinator, TxnConfig
from strom.coordinator.txn.markers import LocalMarkerWriter
from strom.errors import ErrorCode
from strom.records.batch import NewRecord, build_batch, validate_batches
from strom.replication.writer import LocalPartitionWriter
from strom.server.registry import HANDLERS

from .test_ops_handlers import Node, through_kafka_python

INIT_PRODUCER_ID, ADD_PARTITIONS, ADD_OFFSETS, END_TXN, WRITE_MARKERS, TXN_OFFSET_COMMIT = 22, 24, 25, 26, 27, 28
DESCRIBE_PRODUCERS, DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS = 61, 65, 66
E = ErrorCode


class TxnNode(Node):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.create_topic(OFFSETS_TOPIC, 3)
        self.create_topic(TRANSACTION_STATE_TOPIC, 3)
        self.create_topic("t", 2)
        writer = LocalPartitionWriter(self.replicas)
        clock = self.replicas.clock
        self.groups = GroupCoordinator(writer, GroupConfig(num_partitions=3), clock, self.metadata, lambda c: c.close())
        self.markers = LocalMarkerWriter(writer, self.groups)
        self.txns = TransactionCoordinator(writer, TxnConfig(num_partitions=3), clock,
                                           self.services.controller.allocate_producer_id, self.markers)
        self.services.groups, self.services.transactions, self.services.markers = self.groups, self.txns, self.markers


@pytest.fixture
def node(tmp_path: Path) -> TxnNode:
    return TxnNode(tmp_path)


def versions(api_key: int) -> list[int]:
    lo, hi = HANDLERS[api_key].VERSIONS
    return list(range(lo, hi + 1))


def fenced(version: int, since: int) -> int:
    return E.PRODUCER_FENCED if version >= since else E.INVALID_PRODUCER_EPOCH


def test_advertised_versions():
    assert {k: HANDLERS[k].VERSIONS for k in (22, 24, 25, 26, 27, 28, 61, 65, 66)} == {
        22: (0, 6), 24: (0, 3), 25: (0, 4), 26: (0, 4), 27: (1, 2), 28: (0, 4), 61: (0, 0), 65: (0, 0), 66: (0, 2)}


def init(node: TxnNode, tid: str, version: int = 0) -> tuple[int, int, int]:
    got = through_kafka_python(node, kpp.InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=60000,
                                                               producer_id=-1, producer_epoch=-1),
                               kpp.InitProducerIdResponse, version)
    return got.error_code, got.producer_id, got.producer_epoch


@pytest.mark.parametrize("version", versions(INIT_PRODUCER_ID))
def test_init_producer_id_bumps_the_epoch(node: TxnNode, version: int):
    code, pid, epoch = init(node, "tid", version)
    assert (code, epoch) == (0, 0)
    assert init(node, "tid", version) == (0, pid, 1)
    assert init(node, "", version)[0] == E.INVALID_REQUEST


@pytest.mark.parametrize("version", versions(ADD_PARTITIONS))
def test_add_partitions_to_txn(node: TxnNode, version: int):
    _, pid, epoch = init(node, "tid")
    T = kpp.AddPartitionsToTxnRequest.AddPartitionsToTxnTopic

    def add(topics, epoch=epoch):
        got = through_kafka_python(node, kpp.AddPartitionsToTxnRequest(
            v3_and_below_transactional_id="tid", v3_and_below_producer_id=pid, v3_and_below_producer_epoch=epoch,
            v3_and_below_topics=[T(name=n, partitions=ps) for n, ps in topics]), kpp.AddPartitionsToTxnResponse,
            version)
        return {(t.name, p.partition_index): p.partition_error_code
                for t in got.results_by_topic_v3_and_below for p in t.results_by_partition}

    assert add([("t", [0, 1])]) == {("t", 0): 0, ("t", 1): 0}
    assert add([("t", [0])], epoch=epoch + 1) == {("t", 0): fenced(version, 2)}
    assert add([("t", [0]), ("nope", [0])]) == {("t", 0): E.OPERATION_NOT_ATTEMPTED,
                                                ("nope", 0): E.UNKNOWN_TOPIC_OR_PARTITION}
    assert node.txns.txns["tid"].partitions == frozenset({("t", 0), ("t", 1)})


@pytest.mark.parametrize("version", versions(ADD_OFFSETS))
def test_add_offsets_to_txn(node: TxnNode, version: int):
    _, pid, epoch = init(node, "tid")

    def add(group, epoch=epoch):
        return through_kafka_python(node, kpp.AddOffsetsToTxnRequest(
            transactional_id="tid", producer_id=pid, producer_epoch=epoch, group_id=group),
            kpp.AddOffsetsToTxnResponse, version).error_code

    assert add("g") == 0
    assert add("g", epoch + 1) == fenced(version, 2)
    assert node.txns.txns["tid"].partitions == frozenset({(OFFSETS_TOPIC, node.groups.partition_for("g"))})


@pytest.mark.parametrize("version", versions(TXN_OFFSET_COMMIT))
def test_txn_offset_commit_takes_effect_at_the_commit(node: TxnNode, version: int):
    _, pid, epoch = init(node, "tid")
    asyncio.run(node.txns.add_partitions("tid", pid, epoch, [(OFFSETS_TOPIC, node.groups.partition_for("g"))]))
    Topic = kpp.TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic
    P = Topic.TxnOffsetCommitRequestPartition

    def commit(group, epoch=epoch):
        got = through_kafka_python(node, kpp.TxnOffsetCommitRequest(
            transactional_id="tid", group_id=group, producer_id=pid, producer_epoch=epoch, generation_id=-1,
            member_id="", group_instance_id=None,
            topics=[Topic(name="t", partitions=[P(partition_index=1, committed_offset=5, committed_leader_epoch=-1,
                                                  committed_metadata="m")])]),
            kpp.TxnOffsetCommitResponse, version)
        return [(t.name, [(p.partition_index, p.error_code) for p in t.partitions]) for t in got.topics]

    assert commit("other") == [("t", [(1, E.INVALID_TXN_STATE)])]  # not added to the transaction
    assert commit("g", epoch + 1) == [("t", [(1, fenced(version, 3))])]
    assert commit("g") == [("t", [(1, 0)])]
    assert node.groups.fetch_offsets("g", [("t", 1)])[("t", 1)] is None
    end = through_kafka_python(node, kpp.EndTxnRequest(transactional_id="tid", producer_id=pid, producer_epoch=epoch,
                                                       committed=True), kpp.EndTxnResponse, 0)
    assert end.error_code == 0
    assert node.groups.fetch_offsets("g", [("t", 1)])[("t", 1)].offset == 5


@pytest.mark.parametrize("version", versions(END_TXN))
def test_end_txn(node: TxnNode, version: int):
    _, pid, epoch = init(node, "tid")

    def end(commit, epoch=epoch):
        return through_kafka_python(node, kpp.EndTxnRequest(transactional_id="tid", producer_id=pid,
                                                            producer_epoch=epoch, committed=commit),
                                    kpp.EndTxnResponse, version).error_code

    assert end(True) == E.INVALID_TXN_STATE  # nothing open
    asyncio.run(node.txns.add_partitions("tid", pid, epoch, [("t", 0)]))
    assert end(True, epoch - 1) == fenced(version, 2)
    assert end(False) == 0
    assert end(False) == 0  # retried
    assert end(True) == E.INVALID_TXN_STATE
    assert node.replicas.get("t", 0).log.log_end_offset == 1  # the ABORT marker


@pytest.mark.parametrize("version", versions(WRITE_MARKERS))
def test_write_txn_markers(node: TxnNode, version: int):
    part = node.replicas.get("t", 0)
    data = build_batch([NewRecord(None, b"v")], producer_id=77, producer_epoch=0, base_sequence=0, transactional=True,
                       timestamp_ms=node.replicas.clock.now_ms())
    part.append(data, validate_batches(data), node.replicas.clock.now_ms())
    assert part.last_stable_offset == 0
    M = kpp.WriteTxnMarkersRequest.WritableTxnMarker
    got = through_kafka_python(node, kpp.WriteTxnMarkersRequest(markers=[M(
        producer_id=77, producer_epoch=0, transaction_result=False, coordinator_epoch=0,
        topics=[M.WritableTxnMarkerTopic(name="t", partition_indexes=[0]),
                M.WritableTxnMarkerTopic(name="nope", partition_indexes=[0])])]),
        kpp.WriteTxnMarkersResponse, version)
    assert [(t.name, [(p.partition_index, p.error_code) for p in t.partitions]) for m in got.markers
            for t in m.topics] == [("t", [(0, 0)]), ("nope", [(0, E.UNKNOWN_TOPIC_OR_PARTITION)])]
    assert part.last_stable_offset == 2
    assert [(a.producer_id, a.first_offset) for a in part.log.aborted_transactions(0, 2)] == [(77, 0)]


def test_describe_and_list_transactions_and_producers(node: TxnNode):
    _, pid, epoch = init(node, "tid-a")
    init(node, "tid-b")
    asyncio.run(node.txns.add_partitions("tid-a", pid, epoch, [("t", 1)]))
    data = build_batch([NewRecord(None, b"v")], producer_id=pid, producer_epoch=epoch, base_sequence=0,
                       transactional=True, timestamp_ms=node.replicas.clock.now_ms())
    node.replicas.get("t", 1).append(data, validate_batches(data), node.replicas.clock.now_ms())

    got = through_kafka_python(node, kpa.DescribeTransactionsRequest(transactional_ids=["tid-a", "zzz"]),
                               kpa.DescribeTransactionsResponse, 0)
    a, z = got.transaction_states
    assert (a.error_code, a.transaction_state, a.producer_id, a.producer_epoch) == (0, "Ongoing", pid, epoch)
    assert [(t.topic, list(t.partitions)) for t in a.topics] == [("t", [1])]
    assert z.error_code == E.TRANSACTIONAL_ID_NOT_FOUND and z.transaction_start_time_ms == 0
    assert a.transaction_start_time_ms == node.txns.txns["tid-a"].txn_start_ms > 0

    for version in versions(LIST_TRANSACTIONS):
        req = kpa.ListTransactionsRequest(state_filters=["Ongoing", "Nope"], producer_id_filters=[])
        if version >= 1:
            req.duration_filter = -1
        got = through_kafka_python(node, req, kpa.ListTransactionsResponse, version)
        assert [(s.transactional_id, s.transaction_state) for s in got.transaction_states] == [("tid-a", "Ongoing")]
        assert list(got.unknown_state_filters) == ["Nope"]

    got = through_kafka_python(node, kpa.DescribeProducersRequest(topics=[
        kpa.DescribeProducersRequest.TopicRequest(name="t", partition_indexes=[1, 9])]),
        kpa.DescribeProducersResponse, 0)
    [topic] = got.topics
    found, missing = topic.partitions
    assert missing.error_code == E.UNKNOWN_TOPIC_OR_PARTITION
    [producer] = found.active_producers
    assert (producer.producer_id, producer.producer_epoch, producer.last_sequence,
            producer.current_txn_start_offset) == (pid, epoch, 0, 0)
