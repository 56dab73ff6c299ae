"""Bad transactional requests over raw sockets get Kafka's error codes, and the broker serves on.

Requests are encoded with kafka-python's independent codec (``kafka.protocol.old``): EndTxn with no
transaction, EndTxn and AddPartitionsToTxn with a stale epoch or another producer id, TxnOffsetCommit
for a group the transaction did not add, a transactional produce to a partition it did not add, an
over-long transactional id and an out-of-range transaction timeout."""
from __future__ import annotations

import struct

import pytest
from kafka.protocol.old.add_offsets_to_txn import AddOffsetsToTxnRequest_v0, AddOffsetsToTxnResponse_v0
from kafka.protocol.old.add_partitions_to_txn import AddPartitionsToTxnRequest_v0, AddPartitionsToTxnResponse_v0
from kafka.protocol.old.end_txn import EndTxnRequest_v0, EndTxnRequest_v2, EndTxnResponse_v0, EndTxnResponse_v2
from kafka.protocol.old.init_producer_id import InitProducerIdRequest_v0, InitProducerIdResponse_v0
from kafka.protocol.old.produce import ProduceRequest_v3, ProduceResponse_v3
from kafka.protocol.old.txn_offset_commit import TxnOffsetCommitRequest_v0, TxnOffsetCommitResponse_v0
from kafka.protocol.producer import InitProducerIdRequest, InitProducerIdResponse
from kafka.record.default_records import DefaultRecordBatchBuilder

from conftest import unique
from test_bad_input import connect, frame, header_v1, recv_frame
from test_transactions import create_topic, read

pytestmark = pytest.mark.timeout(60)

INIT_PRODUCER_ID, ADD_PARTITIONS, ADD_OFFSETS, END_TXN, TXN_OFFSET_COMMIT, PRODUCE = 22, 24, 25, 26, 28, 0
INVALID_REQUEST, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING = 42, 47, 48, 49
INVALID_TRANSACTION_TIMEOUT, PRODUCER_FENCED = 50, 90


def call(broker, api_key: int, version: int, request, response_type):
    with connect(broker) as s:
        s.sendall(frame(header_v1(api_key, version, 11) + request.encode()))
        body = recv_frame(s)
    assert struct.unpack(">i", body[:4])[0] == 11
    return response_type.decode(body[4:])


def init(broker, tid: str, timeout_ms: int = 60000):
    r = call(broker, INIT_PRODUCER_ID, 0, InitProducerIdRequest_v0(transactional_id=tid,
                                                                    transaction_timeout_ms=timeout_ms),
             InitProducerIdResponse_v0)
    return r.error_code, r.producer_id, r.producer_epoch


def end(broker, tid, pid, epoch, commit=True, version=0):
    req_type, resp_type = ((EndTxnRequest_v0, EndTxnResponse_v0) if version == 0
                           else (EndTxnRequest_v2, EndTxnResponse_v2))
    return call(broker, END_TXN, version, req_type(transactional_id=tid, producer_id=pid, producer_epoch=epoch,
                                                    committed=commit), resp_type).error_code


def add_partitions(broker, tid, pid, epoch, topic, partitions=(0,)):
    r = call(broker, ADD_PARTITIONS, 0, AddPartitionsToTxnRequest_v0(
        transactional_id=tid, producer_id=pid, producer_epoch=epoch, topics=[(topic, list(partitions))]),
        AddPartitionsToTxnResponse_v0)
    return {(t, p): code for t, parts in r.results for p, code in parts}


def txn_produce(broker, tid, pid, epoch, topic, seq=0):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=1, producer_id=pid,
                                  producer_epoch=epoch, base_sequence=seq, batch_size=1 << 20)
    b.append(0, timestamp=None, key=None, value=b"v", headers=[])
    req = ProduceRequest_v3(transactional_id=tid, acks=1, timeout_ms=5000,
                            topic_data=[(topic, [(0, bytes(b.build()))])])
    r = call(broker, PRODUCE, 3, req, ProduceResponse_v3)
    [(_, [(_, code, *_)])] = r.responses
    return code


def test_end_txn_without_a_transaction(broker):
    tid = unique("tid")
    code, pid, epoch = init(broker, tid)
    assert code == 0
    assert end(broker, tid, pid, epoch) == INVALID_TXN_STATE
    assert end(broker, unique("unknown"), pid, epoch) == INVALID_PRODUCER_ID_MAPPING


def test_stale_epochs_and_foreign_producer_ids(broker):
    topic = unique("t")
    create_topic(broker.bootstrap, topic)
    tid = unique("tid")
    _, pid, old = init(broker, tid)
    _, pid2, new = init(broker, tid)
    assert (pid2, new) == (pid, old + 1)
    assert add_partitions(broker, tid, pid, old, topic) == {(topic, 0): INVALID_PRODUCER_EPOCH}  # v0: no FENCED yet
    assert add_partitions(broker, tid, pid + 1, new, topic) == {(topic, 0): INVALID_PRODUCER_ID_MAPPING}
    assert end(broker, tid, pid, old) == INVALID_PRODUCER_EPOCH
    assert end(broker, tid, pid, old, version=2) == PRODUCER_FENCED
    assert add_partitions(broker, tid, pid, new, topic) == {(topic, 0): 0}
    assert txn_produce(broker, tid, pid, old, topic) == INVALID_PRODUCER_EPOCH
    assert txn_produce(broker, tid, pid, new, topic) == 0
    assert end(broker, tid, pid, new, commit=True) == 0
    assert end(broker, tid, pid, new, commit=True) == 0  # a retry of a finished commit
    assert end(broker, tid, pid, new, commit=False) == INVALID_TXN_STATE  # the other outcome
    assert read(broker.bootstrap, topic, "read_committed") == [b"v"]


def test_writes_outside_the_transaction_are_refused(broker):
    topic, other = unique("t"), unique("other")
    create_topic(broker.bootstrap, topic)
    create_topic(broker.bootstrap, other)
    tid = unique("tid")
    _, pid, epoch = init(broker, tid)
    assert add_partitions(broker, tid, pid, epoch, topic) == {(topic, 0): 0}
    assert txn_produce(broker, tid, pid, epoch, other) == INVALID_TXN_STATE  # partition not added
    r = call(broker, TXN_OFFSET_COMMIT, 0, TxnOffsetCommitRequest_v0(
        transactional_id=tid, group_id="never-added", producer_id=pid, producer_epoch=epoch,
        topics=[(topic, [(0, 5, "")])]), TxnOffsetCommitResponse_v0)
    assert r.topics == [(topic, [(0, INVALID_TXN_STATE)])]
    r = call(broker, ADD_OFFSETS, 0, AddOffsetsToTxnRequest_v0(transactional_id=tid, producer_id=pid,
                                                               producer_epoch=epoch, group_id="g"),
             AddOffsetsToTxnResponse_v0)
    assert r.error_code == 0
    r = call(broker, TXN_OFFSET_COMMIT, 0, TxnOffsetCommitRequest_v0(
        transactional_id=tid, group_id="g", producer_id=pid, producer_epoch=epoch,
        topics=[(topic, [(0, 5, "")]), (unique("missing"), [(0, 1, "")])]), TxnOffsetCommitResponse_v0)
    assert sorted(code for _, parts in r.topics for _, code in parts) == [0, 3]  # UNKNOWN_TOPIC_OR_PARTITION
    # a partition of a topic that does not exist: nothing is added
    codes = add_partitions(broker, tid, pid, epoch, unique("missing"))
    assert list(codes.values()) == [3]


def init_v4(broker, tid: str) -> int:
    """InitProducerId v4 (flexible: a compact string may exceed 32767 bytes); returns the error code."""
    body = InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=60000, producer_id=-1,
                                 producer_epoch=-1).encode(version=4)
    with connect(broker) as s:
        s.sendall(frame(header_v1(INIT_PRODUCER_ID, 4, 12) + b"\x00" + bytes(body)))  # header v2: no tags
        reply = recv_frame(s)
    assert struct.unpack(">i", reply[:4])[0] == 12 and reply[4] == 0  # response header v1
    return InitProducerIdResponse.decode(reply[5:], version=4).error_code


def test_bad_init_producer_id(broker):
    assert init_v4(broker, "x" * 40000) == INVALID_REQUEST  # over the 32767 bytes of a record key's string
    assert init_v4(broker, unique("fine")) == 0
    # above transaction.max.timeout.ms
    assert init(broker, unique("tid"), timeout_ms=900_001)[0] == INVALID_TRANSACTION_TIMEOUT
    assert init(broker, unique("tid"), timeout_ms=0)[0] == INVALID_TRANSACTION_TIMEOUT
    assert init(broker, "")[0] == INVALID_REQUEST
