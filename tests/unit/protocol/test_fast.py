"""The hand-written Produce response encoder writes exactly the generic codec's bytes."""
import uuid

from hypothesis import given, settings, strategies as st

from strom.protocol import codec
from strom.protocol.fast import PartitionResult, encode_produce_response

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
