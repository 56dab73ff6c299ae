"""The hand-written FetchResponse encoder writes the generic codec's bytes, without copying records."""
import pytest
from hypothesis import given, settings, strategies as st

from strom.protocol import codec
from strom.protocol.fast_fetch import FetchPartition, encode_fetch_response

offset = st.one_of(st.just(-1), st.integers(0, 2**62))
aborted = st.one_of(st.none(), st.lists(st.tuples(st.integers(-1, 2**62), offset), max_size=3))
records = st.one_of(st.just(b""), st.binary(min_size=1, max_size=200),
                    st.binary(min_size=1, max_size=200).map(memoryview))
partition = st.builds(FetchPartition, st.integers(0, 2**31 - 1), st.sampled_from([0, 1, 3, 6, 100]),
                      offset, offset, offset, records, aborted, st.sampled_from([-1, 0, 7]))
topic = st.tuples(st.text(min_size=1, max_size=20), st.one_of(st.none(), st.uuids()),
                  st.lists(partition, max_size=4))


def _generic(correlation_id: int, version: int, topics, throttle: int, error_code: int, session_id: int) -> bytes:
    def part(p: FetchPartition) -> dict:
        return {"partition_index": p.index, "error_code": p.error_code, "high_watermark": p.high_watermark,
                "last_stable_offset": p.last_stable_offset, "log_start_offset": p.log_start_offset,
                "aborted_transactions": None if p.aborted_transactions is None else
                [{"producer_id": pid, "first_offset": first} for pid, first in p.aborted_transactions],
                "preferred_read_replica": p.preferred_read_replica, "records": bytes(p.records)}

    data = {"throttle_time": throttle, "error_code": error_code, "session_id": session_id,
            "responses": [{"topic": name, "topic_id": tid, "partitions": [part(p) for p in parts]}
                          for name, tid, parts in topics]}
    return codec.encode_response(correlation_id, codec.build_response(1, version, data), api_key=1, version=version)


@pytest.mark.parametrize("version", range(4, 19))
@settings(max_examples=20, deadline=None)
@given(correlation_id=st.integers(-2**31, 2**31 - 1), topics=st.lists(topic, max_size=3),
       throttle=st.integers(0, 10_000), error_code=st.sampled_from([0, 70]), session_id=st.integers(0, 2**31 - 1))
def test_fetch_response_bytes_equal_the_codec(version, correlation_id, topics, throttle, error_code, session_id):
    fast = encode_fetch_response(correlation_id, version, topics, throttle_time_ms=throttle,
                                 error_code=error_code, session_id=session_id)
    assert b"".join(map(bytes, fast)) == _generic(correlation_id, version, topics, throttle, error_code, session_id)


@pytest.mark.parametrize("version", [4, 11, 12, 13, 18])
def test_partitions_as_the_handler_builds_them(version):
    # error partitions leave aborted_transactions / preferred_read_replica to their defaults (an empty array)
    codec_data = {"throttle_time": 0, "error_code": 0, "session_id": 0, "responses": [{
        "topic": "t", "topic_id": None, "partitions": [
            {"partition_index": 0, "error_code": 3, "high_watermark": -1, "last_stable_offset": -1,
             "log_start_offset": -1, "records": b""},
            {"partition_index": 1, "error_code": 0, "high_watermark": 5, "last_stable_offset": 5,
             "log_start_offset": 0, "aborted_transactions": None, "preferred_read_replica": -1,
             "records": b"\x01" * 70}]}]}
    generic = codec.encode_response(9, codec.build_response(1, version, codec_data), api_key=1, version=version)
    fast = encode_fetch_response(9, version, [("t", None, [FetchPartition(0, 3, -1, -1, -1, b""),
                                                           FetchPartition(1, 0, 5, 5, 0, b"\x01" * 70, None)])])
    assert b"".join(fast) == generic


@pytest.mark.parametrize("version", [4, 12, 18])
def test_records_are_passed_through_uncopied(version):
    big = bytes(range(256)) * 4096  # 1 MiB
    view = memoryview(bytearray(b"x" * 1000))
    topics = [("t", None, [FetchPartition(i, 0, 10, 10, 0, b"", None) for i in range(500)]
               + [FetchPartition(500, 0, 10, 10, 0, big, None), FetchPartition(501, 0, 10, 10, 0, view, [(1, 2)])])]
    out = encode_fetch_response(1, version, topics)
    assert any(b is big for b in out) and any(b is view for b in out)
    assert len(out) == 5  # prefix, big, fields between, view, trailer: the empty partitions are packed together
    frame = b"".join(map(bytes, out))
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4


def test_unsupported_versions_are_refused():
    for version in (3, 19):
        with pytest.raises(ValueError, match="not supported"):
            encode_fetch_response(0, version, [])
