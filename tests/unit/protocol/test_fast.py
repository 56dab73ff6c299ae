"""The hand-written Produce codecs agree with the generic codec: response bytes, decoded requests."""
import io
import uuid

import pytest
from hypothesis import given, settings, strategies as st
from kio.serial import entity_writer

from strom.protocol import codec
from strom.protocol.fast import PartitionResult, decode_produce_request, encode_produce_response

partition = st.builds(PartitionResult, st.integers(0, 2**31 - 1), st.sampled_from([0, 2, 3, 10, 47]),
                      st.integers(-1, 2**40), st.integers(-1, 2**41), st.integers(-1, 2**40),
                      st.one_of(st.none(), st.text(max_size=20)))
topic = st.tuples(st.text(min_size=1, max_size=30), st.uuids(), st.lists(partition, max_size=4))


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 13), st.integers(-2**31, 2**31 - 1), st.lists(topic, max_size=3), st.integers(0, 1000))
def test_produce_response_bytes_equal_the_codec(version, correlation_id, topics, throttle):
    generic = codec.encode_response(correlation_id, codec.build_response(0, version, {
        "responses": [{"name": name, "topic_id": tid, "partition_responses": [
            {"index": p.index, "error_code": p.error_code, "base_offset": p.base_offset,
             "log_append_time": p.log_append_time, "log_start_offset": p.log_start_offset,
             "error_message": p.error_message} for p in parts]} for name, tid, parts in topics],
        "throttle_time": throttle}), api_key=0, version=version)
    fast = encode_produce_response(correlation_id, version, topics, throttle)
    assert fast == generic


# ----------------------------------------------------------------------------- ProduceRequest decoder
records = st.one_of(st.none(), st.binary(max_size=300))
produce_partition = st.fixed_dictionaries({"index": st.integers(0, 2**31 - 1), "records": records})
produce_topic = st.fixed_dictionaries({
    "name": st.text(min_size=1, max_size=20),
    "topic_id": st.one_of(st.uuids(), st.just(uuid.UUID(int=0))),
    "partition_data": st.lists(produce_partition, max_size=4)})


def _encode_produce_request(version: int, data: dict) -> bytes:
    cls = codec.request_type(0, version)
    buf = io.BytesIO()
    buf.write(b"header")  # the body starts at an offset, as in a frame
    entity_writer(cls)(buf, codec.build(cls, data))
    return buf.getvalue()


def _plain(request) -> dict:
    """The decoded request as comparable values (records as bytes, names only where the version has them)."""
    version13 = not hasattr(request.topic_data[0], "name") if request.topic_data else False
    return {"transactional_id": request.transactional_id, "acks": request.acks, "timeout": request.timeout,
            "topic_data": [{"key": t.topic_id if version13 or t.name is None else t.name,
                            "partitions": [(p.index, None if p.records is None else bytes(p.records))
                                           for p in t.partition_data]} for t in request.topic_data]}


@settings(max_examples=80, deadline=None)
@given(st.integers(3, 13), st.one_of(st.none(), st.text(max_size=12)), st.sampled_from([0, 1, -1]),
       st.integers(0, 2**31 - 1), st.lists(produce_topic, max_size=3))
def test_produce_request_decodes_like_the_codec(version, transactional_id, acks, timeout, topics):
    frame = _encode_produce_request(version, {"transactional_id": transactional_id, "acks": acks,
                                              "timeout": timeout, "topic_data": topics})
    generic = codec.decode_request(0, version, frame, 6)
    fast = decode_produce_request(version, frame, 6)
    assert _plain(fast) == _plain(generic)
    for t in fast.topic_data:  # record sets are views of the frame, not copies
        for p in t.partition_data:
            assert p.records is None or (isinstance(p.records, memoryview) and p.records.readonly)


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 13), st.lists(produce_topic, min_size=1, max_size=2), st.data())
def test_truncated_produce_request_is_a_decode_error(version, topics, data):
    frame = _encode_produce_request(version, {"transactional_id": None, "acks": 1, "timeout": 100,
                                              "topic_data": topics})
    cut = data.draw(st.integers(6, len(frame) - 1))
    with pytest.raises(codec.DecodeError):
        decode_produce_request(version, frame[:cut], 6)


def test_huge_counts_are_refused_before_allocating():
    # v3 body: null transactional id, acks, timeout, then a topic count of 2^31-1 with 4 bytes left
    body = b"\xff\xff" + b"\x00\x01" + b"\x00\x00\x03\xe8" + b"\x7f\xff\xff\xff" + b"\x00\x01t\x00"
    with pytest.raises(codec.DecodeError, match="cannot fit"):
        decode_produce_request(3, body, 0)
