"""Wire-level guarantees checked with raw sockets and kafka-python's independent codec.

Responses come back in request order on a pipelined connection and acks=0
produces get none; per-partition produce errors carry Kafka's codes; the
broker assigns offsets itself whatever base offset a client wrote; Metadata
auto-creates only when asked; ListOffsets answers per partition.
"""
from __future__ import annotations

import struct

import pytest
from kafka.protocol.old.api_versions import ApiVersionsRequest_v0, ApiVersionsResponse_v0
from kafka.protocol.old.list_offsets import ListOffsetsRequest_v5, ListOffsetsResponse_v5
from kafka.protocol.old.metadata import MetadataRequest_v5, MetadataResponse_v5
from kafka.protocol.old.produce import ProduceRequest_v8, ProduceResponse_v8

from conftest import unique
from test_bad_input import connect, consume, create_topic, frame, header_v1, produce_raw, record_batch, recv_frame

pytestmark = pytest.mark.timeout(60)

UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUIRED_ACKS, LEADER_NOT_AVAILABLE = 3, 21, 5


def encode(req, correlation_id: int) -> bytes:
    return frame(header_v1(req.API_KEY, req.API_VERSION, correlation_id) + req.encode())


def call(broker, req, response_cls):
    with connect(broker) as s:
        s.sendall(encode(req, 5))
        body = recv_frame(s)
    assert struct.unpack(">i", body[:4])[0] == 5
    return response_cls.decode(body[4:])


def produce_v8(topic: str, records: bytes, acks: int = -1, partition: int = 0):
    return ProduceRequest_v8(transactional_id=None, acks=acks, timeout_ms=5000,
                             topic_data=[(topic, [(partition, bytes(records))])])


def list_offsets_v5(topic: str, timestamps: dict[int, int]):
    return ListOffsetsRequest_v5(replica_id=-1, isolation_level=0,
                                 topics=[(topic, [(p, -1, ts) for p, ts in timestamps.items()])])


def metadata_v5(topics, auto_create: bool):
    return MetadataRequest_v5(topics=topics, allow_auto_topic_creation=auto_create)


def test_pipelined_requests_are_answered_in_order_and_acks0_gets_no_response(shared_broker):
    topic = unique("pipe")
    create_topic(shared_broker, topic)
    requests = [
        (1, ApiVersionsRequest_v0(), ApiVersionsResponse_v0),
        (2, metadata_v5([topic], False), MetadataResponse_v5),
        (3, produce_v8(topic, record_batch([b"a", b"b"])), ProduceResponse_v8),
        (4, produce_v8(topic, record_batch([b"c"]), acks=0), None),
        (5, list_offsets_v5(topic, {0: -1}), ListOffsetsResponse_v5),
        (6, produce_v8(topic, record_batch([b"d"]), acks=1), ProduceResponse_v8),
        (7, ApiVersionsRequest_v0(), ApiVersionsResponse_v0),
    ]
    with connect(shared_broker) as s:
        s.sendall(b"".join(encode(req, cid) for cid, req, _ in requests))  # all at once
        answers = {}
        for cid, _, cls in [r for r in requests if r[2] is not None]:
            body = recv_frame(s)
            got = struct.unpack(">i", body[:4])[0]
            assert got == cid, f"expected the response to request {cid}, got {got}"
            answers[cid] = cls.decode(body[4:])
    produced = answers[3].responses[0][1][0]
    assert produced[1] == 0 and produced[2] == 0  # error, base offset
    latest = answers[5].topics[0][1][0]
    assert latest[1] == 0 and latest[3] == 3  # acks=0's record was appended before ListOffsets ran
    assert answers[6].responses[0][1][0][2] == 3
    assert [m.value() for m in consume(shared_broker.bootstrap, topic, 4)] == [b"a", b"b", b"c", b"d"]


def test_produce_response_fields(shared_broker):
    topic = unique("resp")
    create_topic(shared_broker, topic)
    resp = call(shared_broker, produce_v8(topic, record_batch([b"x"] * 5)), ProduceResponse_v8)
    [(name, [part])] = resp.responses
    index, error, base_offset, log_append_time, log_start_offset, *_ = part
    assert (name, index, error, base_offset, log_start_offset) == (topic, 0, 0, 0, 0)
    assert log_append_time == -1  # CreateTime topic
    resp = call(shared_broker, produce_v8(topic, record_batch([b"y"])), ProduceResponse_v8)
    assert resp.responses[0][1][0][2] == 5


def test_broker_assigns_offsets_whatever_base_offset_the_client_wrote(shared_broker):
    topic = unique("base")
    create_topic(shared_broker, topic)
    batch = record_batch([b"p", b"q"])
    batch[0:8] = struct.pack(">q", 1_000_000)  # not covered by the CRC
    assert produce_raw(shared_broker, topic, batch) == (0, 0)
    assert produce_raw(shared_broker, topic, record_batch([b"r"])) == (0, 2)
    got = consume(shared_broker.bootstrap, topic, 3)
    assert [(m.offset(), m.value()) for m in got] == [(0, b"p"), (1, b"q"), (2, b"r")]


def test_produce_partition_errors(shared_broker):
    topic = unique("perr")
    create_topic(shared_broker, topic)
    bad_partition = call(shared_broker, produce_v8(topic, record_batch([b"x"]), partition=7), ProduceResponse_v8)
    assert bad_partition.responses[0][1][0][1] == UNKNOWN_TOPIC_OR_PARTITION
    ghost = unique("ghost")
    no_topic = call(shared_broker, produce_v8(ghost, record_batch([b"x"])), ProduceResponse_v8)
    # Apache Kafka answers UNKNOWN_TOPIC_OR_PARTITION (only Metadata auto-creates); Strom's produce
    # handler auto-creates by design (see its docstring).  Either way nothing is half-done:
    error = no_topic.responses[0][1][0][1]
    md = call(shared_broker, metadata_v5([ghost], False), MetadataResponse_v5)
    if error == UNKNOWN_TOPIC_OR_PARTITION:
        assert md.topics[0][0] == UNKNOWN_TOPIC_OR_PARTITION
    else:
        assert error == 0 and md.topics[0][0] == 0
        assert [m.value() for m in consume(shared_broker.bootstrap, ghost, 1)] == [b"x"]
    bad_acks = call(shared_broker, produce_v8(topic, record_batch([b"x"]), acks=2), ProduceResponse_v8)
    assert bad_acks.responses[0][1][0][1] == INVALID_REQUIRED_ACKS


def test_metadata_auto_creates_only_when_allowed(shared_broker):
    topic = unique("meta")
    md = call(shared_broker, metadata_v5([topic], False), MetadataResponse_v5)
    assert [(t[0], t[1]) for t in md.topics] == [(UNKNOWN_TOPIC_OR_PARTITION, topic)]
    md = call(shared_broker, metadata_v5([topic], True), MetadataResponse_v5)
    assert md.topics[0][1] == topic and md.topics[0][0] in (0, LEADER_NOT_AVAILABLE)
    md = call(shared_broker, metadata_v5([topic], False), MetadataResponse_v5)
    [(error, name, internal, partitions)] = md.topics
    assert (error, name, internal) == (0, topic, False)
    assert [(p[0], p[1], p[2], p[3], p[4]) for p in partitions] == [(0, 0, 1, [1], [1])]
    [(node_id, host, port, _rack)] = md.brokers
    assert (node_id, host, port) == (1, "127.0.0.1", shared_broker.port)
    assert md.controller_id == 1 and md.cluster_id


def test_list_offsets_per_partition(shared_broker):
    topic = unique("lo")
    create_topic(shared_broker, topic)
    for i in range(3):
        assert produce_raw(shared_broker, topic, record_batch([b"%d" % i, b"%d" % i], timestamp=10_000 * (i + 1)))[0] == 0
    resp = call(shared_broker, list_offsets_v5(topic, {0: -2, 1: -1}), ListOffsetsResponse_v5)
    [(_, parts)] = resp.topics
    by_index = {p[0]: p for p in parts}
    assert by_index[0][1:4] == (0, -1, 0)  # earliest: error 0, timestamp -1, offset 0
    assert by_index[1][1] == UNKNOWN_TOPIC_OR_PARTITION
    latest = call(shared_broker, list_offsets_v5(topic, {0: -1}), ListOffsetsResponse_v5).topics[0][1][0]
    assert latest[1:4] == (0, -1, 6)
    by_time = call(shared_broker, list_offsets_v5(topic, {0: 20_001}), ListOffsetsResponse_v5).topics[0][1][0]
    assert by_time[1:4] == (0, 20_001, 3)  # the first record with timestamp >= 20001 is offset 3 (ts 20001)
    too_late = call(shared_broker, list_offsets_v5(topic, {0: 99_999}), ListOffsetsResponse_v5).topics[0][1][0]
    assert too_late[1:4] == (0, -1, -1)


@pytest.mark.parametrize("version", [10, 11])
def test_metadata_v10_v11_take_topics_by_name_only(shared_broker, version):
    """Kafka: topic ids in Metadata requests are supported from v12; before, a null name or a topic
    id gets INVALID_REQUEST for every topic, null names answered as "" (the field cannot be null)."""
    import uuid

    from kafka.protocol.metadata.metadata import MetadataRequest, MetadataResponse
    Topic = MetadataRequest.MetadataRequestTopic
    request = MetadataRequest(topics=[Topic(topic_id=uuid.uuid4(), name=None), Topic(name="named")],
                              allow_auto_topic_creation=False)
    request.API_VERSION = version
    request.with_header(correlation_id=5, client_id="raw-test")
    with connect(shared_broker) as s:
        s.sendall(frame(bytes(request.encode(version=version, header=True))))
        body = recv_frame(s)
    assert struct.unpack(">i", body[:4])[0] == 5
    response = MetadataResponse.decode(body[5:], version=version)  # header v1: correlation id, tagged fields
    assert [(t.name, t.error_code) for t in response.topics] == [("", 42), ("named", 42)]
