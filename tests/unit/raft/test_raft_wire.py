"""strom.raft.wire: every translated KRaft message survives Kafka's bytes in every version the
codec has (fields a version lacks come back as their defaults), and messages for another topic
are refused."""
import uuid
from dataclasses import replace

import pytest

from strom.errors import ErrorCode
from strom.protocol import codec
from strom.raft import messages as m
from strom.raft.wire import API_KEYS, FETCH_MIN_VERSION, request_from_kio, request_to_kio, response_from_kio, response_to_kio

REQUESTS = [
    m.FetchRequest(cluster_id="c", replica_id=2, max_wait_ms=500, current_leader_epoch=5, fetch_offset=40,
                   last_fetched_epoch=4, log_start_offset=10),
    m.VoteRequest(cluster_id="c", voter_id=2, candidate_epoch=5, candidate_id=1, last_offset_epoch=4,
                  last_offset=99, pre_vote=True),
    m.BeginQuorumEpochRequest(cluster_id="c", voter_id=3, leader_epoch=5, leader_id=1),
    m.EndQuorumEpochRequest(cluster_id="c", leader_epoch=5, leader_id=1, preferred_successors=(3, 2)),
    m.DescribeQuorumRequest(),
    m.FetchSnapshotRequest(cluster_id="c", replica_id=2, current_leader_epoch=5,
                           snapshot_id=m.SnapshotId(100, 4), position=4096, max_bytes=1 << 20),
]

RESPONSES = [
    m.FetchResponse(high_watermark=42, log_start_offset=10, current_leader=m.LeaderIdAndEpoch(1, 5),
                    records=(m.Record(40, 4, (b"k", b"v")), m.Record(41, 5, m.LeaderChangeRecord(1, (1, 2, 3), (1, 2)),
                                                                     control=True),
                             m.Record(42, 5, (None, b"x")), m.Record(43, 5, (b"y", None)))),
    m.FetchResponse(diverging_epoch=m.EpochEndOffset(3, 30), current_leader=m.LeaderIdAndEpoch(1, 5)),
    m.FetchResponse(snapshot_id=m.SnapshotId(100, 4), current_leader=m.LeaderIdAndEpoch(1, 5)),
    m.FetchResponse(error_code=ErrorCode.FENCED_LEADER_EPOCH, current_leader=m.LeaderIdAndEpoch(2, 6)),
    m.VoteResponse(leader_id=1, leader_epoch=5, vote_granted=True),
    m.VoteResponse(error_code=ErrorCode.INCONSISTENT_CLUSTER_ID, leader_epoch=5),
    m.BeginQuorumEpochResponse(error_code=ErrorCode.FENCED_LEADER_EPOCH, leader_id=2, leader_epoch=6),
    m.EndQuorumEpochResponse(leader_id=1, leader_epoch=5),
    m.DescribeQuorumResponse(leader_id=1, leader_epoch=5, high_watermark=77,
                             current_voters=(m.ReplicaState(replica_id=1, log_end_offset=80, last_fetch_timestamp=10,
                                                            last_caught_up_timestamp=9),),
                             observers=(m.ReplicaState(replica_id=4, log_end_offset=70),)),
    m.DescribeQuorumResponse(error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER, leader_id=2, leader_epoch=5),
    m.FetchSnapshotResponse(snapshot_id=m.SnapshotId(100, 4), current_leader=m.LeaderIdAndEpoch(1, 5),
                            size=9000, position=4096, unaligned_records=b"\x00chunk"),
    m.FetchSnapshotResponse(error_code=ErrorCode.SNAPSHOT_NOT_FOUND, current_leader=m.LeaderIdAndEpoch(1, 5)),
]


def versions(message) -> range:
    low, high = codec.supported_range(API_KEYS[type(message)])
    if isinstance(message, (m.FetchRequest, m.FetchResponse)):
        low = FETCH_MIN_VERSION
    return range(low, high + 1)


def expected(message, version: int):
    """What a version can carry: Vote v0 has no voter_id or pre_vote, BeginQuorumEpoch v0 no
    voter_id, DescribeQuorum v0 no timestamps."""
    if isinstance(message, m.VoteRequest) and version == 0:
        return replace(message, voter_id=-1, pre_vote=False)
    if isinstance(message, m.VoteRequest) and version == 1:
        return replace(message, pre_vote=False)
    if isinstance(message, m.BeginQuorumEpochRequest) and version == 0:
        return replace(message, voter_id=-1)
    if isinstance(message, m.DescribeQuorumResponse) and version == 0:
        strip = lambda rs: tuple(replace(r, last_fetch_timestamp=-1, last_caught_up_timestamp=-1) for r in rs)  # noqa: E731
        return replace(message, current_voters=strip(message.current_voters), observers=strip(message.observers))
    return message


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_requests_survive_the_wire_in_every_version(request_):
    api_key = API_KEYS[type(request_)]
    for version in versions(request_):
        frame = codec.encode_request(api_key, version, 7, "strom", request_to_kio(request_, version))[4:]
        header, offset = codec.parse_request_header(frame)
        assert (header.api_key, header.api_version, header.correlation_id) == (api_key, version, 7)
        decoded = codec.decode_request(api_key, version, frame, offset)
        assert request_from_kio(api_key, decoded) == expected(request_, version), version


@pytest.mark.parametrize("response", RESPONSES, ids=lambda r: f"{type(r).__name__}-{r.error_code.name}")
def test_responses_survive_the_wire_in_every_version(response):
    api_key = API_KEYS[type(response)]
    for version in versions(response):
        frame = codec.encode_response(9, response_to_kio(response, version), api_key=api_key, version=version)
        correlation_id, decoded = codec.decode_response(api_key, version, frame[4:])
        assert correlation_id == 9
        assert response_from_kio(api_key, decoded) == expected(response, version), version


def test_a_request_for_another_topic_or_partition_is_refused():
    vote = codec.build(codec.request_type(52, 0), {"cluster_id": "c", "topics": [
        {"topic_name": "orders", "partitions": [{"partition_index": 0}]}]})
    with pytest.raises(ValueError):
        request_from_kio(52, vote)
    describe = codec.build(codec.request_type(55, 0), {"topics": [
        {"topic_name": "__cluster_metadata", "partitions": [{"partition_index": 1}]}]})
    with pytest.raises(ValueError):
        request_from_kio(55, describe)
    with pytest.raises(ValueError):
        request_from_kio(55, codec.build(codec.request_type(55, 0), {"topics": []}))


def test_fetch_below_v12_and_a_fetch_of_another_topic_are_refused():
    fetch = m.FetchRequest(cluster_id="c", replica_id=2, max_wait_ms=500, current_leader_epoch=5, fetch_offset=0,
                           last_fetched_epoch=0)
    with pytest.raises(ValueError):
        request_to_kio(fetch, 11)
    other = codec.build(codec.request_type(1, 13), {"replica_id": 2, "max_wait": 500, "topics": [
        {"topic_id": uuid.uuid4(), "partitions": [{"partition": 0, "fetch_offset": 0}]}]})
    with pytest.raises(ValueError):
        request_from_kio(1, other)
