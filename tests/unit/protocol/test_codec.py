"""The kio-backed codec checked against kafka-python's independent implementation (the oracle)."""
import pytest
from kafka.protocol.metadata.api_versions import ApiVersionsResponse as KpApiVersionsResponse
from kafka.protocol.metadata.metadata import MetadataRequest as KpMetadataRequest
from kafka.protocol.metadata.metadata import MetadataResponse as KpMetadataResponse

from strom.errors import ErrorCode
from strom.protocol import codec


def kp_request_frame(request, version, correlation_id=7, client_id="test"):
    request.API_VERSION = version
    request.with_header(correlation_id=correlation_id, client_id=client_id)
    return bytes(request.encode(version=version, header=True))


def kp_metadata_request(version):
    Topic = KpMetadataRequest.MetadataRequestTopic
    return KpMetadataRequest(topics=[Topic(name="alpha"), Topic(name="beta")], allow_auto_topic_creation=True)


@pytest.mark.parametrize("version", [0, 1, 4, 9, 10, 12, 13])
def test_decodes_kafka_python_metadata_request(version):
    frame = kp_request_frame(kp_metadata_request(version), version)
    header, offset = codec.parse_request_header(frame)
    assert (header.api_key, header.api_version, header.correlation_id, header.client_id) == (3, version, 7, "test")
    decoded = codec.decode_request(3, version, frame, offset)
    assert [t.name for t in decoded.topics] == ["alpha", "beta"]


@pytest.mark.parametrize("version", [0, 3, 4])
def test_api_versions_response_reads_in_kafka_python(version):
    resp = codec.build_response(18, version, {"error_code": 0, "api_keys": [
        {"api_key": 0, "min_version": 0, "max_version": 13}, {"api_key": 3, "min_version": 0, "max_version": 13}]})
    frame = codec.encode_response(5, resp, api_key=18, version=version)
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert int.from_bytes(frame[4:8], "big") == 5
    # ApiVersions responses always have header v0: the body starts right after the correlation id
    parsed = KpApiVersionsResponse.decode(frame[8:], version=version)
    assert parsed.error_code == 0
    assert [(k.api_key, k.min_version, k.max_version) for k in parsed.api_keys] == [(0, 0, 13), (3, 0, 13)]


@pytest.mark.parametrize("version", [1, 9, 12])
def test_metadata_response_reads_in_kafka_python(version):
    import uuid
    tid = uuid.uuid4()
    resp = codec.build_response(3, version, {
        "brokers": [{"node_id": 1, "host": "localhost", "port": 9092}], "cluster_id": "c1", "controller_id": 1,
        "topics": [{"error_code": 0, "name": "t", "topic_id": tid, "partitions": [
            {"error_code": 0, "partition_index": 0, "leader_id": 1, "leader_epoch": 0,
             "replica_nodes": [1], "isr_nodes": [1]}]}]})
    frame = codec.encode_response(9, resp, api_key=3, version=version)
    header_len = 4 + 4 + (1 if version >= 9 else 0)
    parsed = KpMetadataResponse.decode(frame[header_len:], version=version)
    assert parsed.brokers[0].host == "localhost" and parsed.brokers[0].port == 9092
    assert parsed.topics[0].name == "t"
    assert parsed.topics[0].partitions[0].leader_id == 1


def test_build_fills_defaults_and_converts():
    resp = codec.build_response(0, 9, {"responses": [{"name": "t", "partition_responses": [
        {"index": 0, "error_code": 3, "base_offset": 5, "log_append_time": -1}]}]})
    part = resp.responses[0].partition_responses[0]
    assert part.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert part.log_append_time is None and part.log_start_offset == -1
    frame = codec.encode_response(1, resp, api_key=0, version=9)
    from kio.serial import entity_reader
    back, _ = entity_reader(type(resp))(frame, 9)  # 4 size + 4 correlation id + 1 tagged-field byte
    assert back == resp


def test_truncated_request_is_a_decode_error():
    frame = kp_request_frame(kp_metadata_request(4), 4)
    header, offset = codec.parse_request_header(frame)
    with pytest.raises(codec.DecodeError):
        codec.decode_request(3, 4, frame[:-3], offset)


def test_garbage_header_is_a_decode_error():
    with pytest.raises(codec.DecodeError):
        codec.parse_request_header(b"\x00\x03")


def test_every_served_response_builds_from_an_empty_dict():
    """Defaults exist for every field of every version we serve, so handlers can omit fields."""
    from strom.server.registry import HANDLERS
    for key, module in HANDLERS.items():
        lo, hi = module.VERSIONS
        for version in range(lo, hi + 1):
            resp = codec.build_response(key, version, {})
            codec.encode_response(1, resp, api_key=key, version=version)


def test_nullable_nested_arrays_are_built():
    resp = codec.build_response(19, 7, {"topics": [{"name": "t", "error_code": 0, "configs": [
        {"name": "retention.ms", "value": "1", "read_only": False, "config_source": 5, "is_sensitive": False}]}]})
    assert resp.topics[0].configs[0].name == "retention.ms"
    resp = codec.build_response(19, 7, {"topics": [{"name": "t", "error_code": 0, "configs": None}]})
    assert resp.topics[0].configs is None


# ----------------------------------------------------------------------------- the client's direction
@pytest.mark.parametrize("version", [0, 4, 9, 12])
def test_encoded_requests_equal_kafka_pythons(version):
    frame = codec.encode_request(3, version, 7, "test", {"topics": [{"name": "alpha"}, {"name": "beta"}],
                                                        "allow_auto_topic_creation": True})
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert frame[4:] == kp_request_frame(kp_metadata_request(version), version)


@pytest.mark.parametrize("version", [1, 9, 12])
def test_decoded_responses_equal_what_was_encoded(version):
    resp = codec.build_response(3, version, {
        "brokers": [{"node_id": 1, "host": "localhost", "port": 9092}], "cluster_id": "c1", "controller_id": 1,
        "topics": []})
    frame = codec.encode_response(9, resp, api_key=3, version=version)
    assert codec.decode_response(3, version, frame[4:]) == (9, resp)
    with pytest.raises(codec.DecodeError):
        codec.decode_response(3, version, frame[4:-3])
    with pytest.raises(codec.DecodeError):
        codec.decode_response(3, version, b"\x00\x00")
