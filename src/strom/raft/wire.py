"""Translation between Kafka's KRaft messages (kio entities, every version the codec has) and
``strom.raft.messages``: Vote (52), BeginQuorumEpoch (53), EndQuorumEpoch (54), DescribeQuorum
(55), FetchSnapshot (59). Sans-io: no sockets, no state.

Kafka's messages address ``topics[].partitions[]``; the quorum has one partition,
``__cluster_metadata-0``, so a request carries exactly that one and a response answers for it.
A message for any other topic or partition, or without one, is ``ValueError`` (the handler
answers INVALID_REQUEST). Errors: ``INCONSISTENT_CLUSTER_ID`` travels in the top-level
``error_code`` (as Kafka puts it), every other error in the partition's; on the way in the
top-level one wins when set. Directory ids and endpoints (KIP-853) are left empty and ignored.

Fetch (1) of ``__cluster_metadata``, versions 12 and up (the first with ``diverging_epoch``,
``current_leader`` and ``snapshot_id``): the topic goes by name up to v12 and by Kafka's
metadata topic id (``METADATA_TOPIC_ID``) from v13; the replica id sits in ``replica_state`` from
v15. The core bounds a fetch by records, Kafka by bytes: a request carries
``partition_max_bytes`` = ``FETCH_MAX_BYTES`` and arrives as the core's default ``max_records``.
Records travel as record batches (``strom.raft.file_log.encode_batches``: the same batches as on
disk, with timestamp 0: the core's records carry none).
"""
from __future__ import annotations

import uuid
from typing import Any

from strom.errors import ErrorCode
from strom.protocol import codec
from strom.raft import messages as m
from strom.raft.file_log import decode_batches, encode_batches

METADATA_TOPIC = "__cluster_metadata"
METADATA_PARTITION = 0
METADATA_TOPIC_ID = uuid.UUID(int=1)  # Kafka's Uuid.METADATA_TOPIC_ID
FETCH_MIN_VERSION = 12
FETCH_MAX_BYTES = 8 << 20

API_KEYS: dict[type, int] = {
    m.FetchRequest: 1, m.FetchResponse: 1,
    m.VoteRequest: 52, m.VoteResponse: 52,
    m.BeginQuorumEpochRequest: 53, m.BeginQuorumEpochResponse: 53,
    m.EndQuorumEpochRequest: 54, m.EndQuorumEpochResponse: 54,
    m.DescribeQuorumRequest: 55, m.DescribeQuorumResponse: 55,
    m.FetchSnapshotRequest: 59, m.FetchSnapshotResponse: 59,
}
"""The Kafka API key of each translated message."""

_TOP_LEVEL = {ErrorCode.INCONSISTENT_CLUSTER_ID}


def _one_partition(data: dict[str, Any], topic_key: str = "topic_name", name_key: str = "partition_index"
                   ) -> dict[str, Any]:
    topics = data.get("topics") or []
    if len(topics) != 1 or topics[0].get(topic_key) != METADATA_TOPIC:
        raise ValueError(f"expected the one topic {METADATA_TOPIC}, got {[t.get(topic_key) for t in topics]}")
    partitions = topics[0].get("partitions") or []
    if len(partitions) != 1 or partitions[0].get(name_key) != METADATA_PARTITION:
        raise ValueError(f"expected the one partition {METADATA_TOPIC}-{METADATA_PARTITION}")
    return partitions[0]


def _topics(partition: dict[str, Any], topic_key: str = "topic_name", name_key: str = "partition_index"
            ) -> list[dict[str, Any]]:
    return [{topic_key: METADATA_TOPIC, "partitions": [{name_key: METADATA_PARTITION, **partition}]}]


def _check_fetch_version(version: int) -> None:
    if version < FETCH_MIN_VERSION:
        raise ValueError(f"Fetch v{version} cannot carry the quorum's fields (v{FETCH_MIN_VERSION}+)")


def _fetch_partition(data: dict[str, Any], topics_key: str, name_key: str) -> dict[str, Any]:
    """The one ``__cluster_metadata-0`` partition of a Fetch request or response (by name or id)."""
    topics = data.get(topics_key) or []
    if len(topics) != 1 or not (topics[0].get("topic") == METADATA_TOPIC
                                or topics[0].get("topic_id") == METADATA_TOPIC_ID):
        raise ValueError(f"expected the one topic {METADATA_TOPIC}")
    partitions = topics[0].get("partitions") or []
    if len(partitions) != 1 or partitions[0].get(name_key) != METADATA_PARTITION:
        raise ValueError(f"expected the one partition {METADATA_TOPIC}-{METADATA_PARTITION}")
    return partitions[0]


def _split_error(error: ErrorCode) -> tuple[ErrorCode, ErrorCode]:
    """(top-level, partition) error codes for ``error``."""
    return (error, ErrorCode.NONE) if error in _TOP_LEVEL else (ErrorCode.NONE, error)


def _join_error(top: Any, partition: Any) -> ErrorCode:
    top, partition = ErrorCode(int(top or 0)), ErrorCode(int(partition or 0))
    return top if top != ErrorCode.NONE else partition


def _leader(data: dict[str, Any] | None) -> m.LeaderIdAndEpoch:
    if not data:
        return m.LeaderIdAndEpoch()
    return m.LeaderIdAndEpoch(int(data["leader_id"]), int(data["leader_epoch"]))


# ---------------------------------------------------------------------------------- requests
def request_to_kio(request: m.Request, version: int) -> Any:
    """The kio request entity of ``request`` at ``version``."""
    api_key = API_KEYS[type(request)]
    cls = codec.request_type(api_key, version)
    if cls is None:
        raise ValueError(f"no codec for api {api_key} v{version}")
    data: dict[str, Any]
    if isinstance(request, m.VoteRequest):
        data = {"cluster_id": request.cluster_id, "voter_id": request.voter_id, "topics": _topics({
            "replica_epoch": request.candidate_epoch, "replica_id": request.candidate_id,
            "last_offset_epoch": request.last_offset_epoch, "last_offset": request.last_offset,
            "pre_vote": request.pre_vote})}
    elif isinstance(request, m.BeginQuorumEpochRequest):
        data = {"cluster_id": request.cluster_id, "voter_id": request.voter_id, "topics": _topics({
            "leader_id": request.leader_id, "leader_epoch": request.leader_epoch})}
    elif isinstance(request, m.EndQuorumEpochRequest):
        data = {"cluster_id": request.cluster_id, "topics": _topics({
            "leader_id": request.leader_id, "leader_epoch": request.leader_epoch,
            "preferred_successors": list(request.preferred_successors),
            "preferred_candidates": [{"candidate_id": c} for c in request.preferred_successors]})}
    elif isinstance(request, m.FetchRequest):
        _check_fetch_version(version)
        data = {"cluster_id": request.cluster_id, "replica_id": request.replica_id,
                "replica_state": {"replica_id": request.replica_id, "replica_epoch": -1},
                "max_wait": request.max_wait_ms, "min_bytes": 0, "max_bytes": FETCH_MAX_BYTES,
                "topics": [{"topic": METADATA_TOPIC, "topic_id": METADATA_TOPIC_ID, "partitions": [{
                    "partition": METADATA_PARTITION, "current_leader_epoch": request.current_leader_epoch,
                    "fetch_offset": request.fetch_offset, "last_fetched_epoch": request.last_fetched_epoch,
                    "log_start_offset": request.log_start_offset, "partition_max_bytes": FETCH_MAX_BYTES}]}]}
    elif isinstance(request, m.DescribeQuorumRequest):
        data = {"topics": _topics({})}
    elif isinstance(request, m.FetchSnapshotRequest):
        data = {"cluster_id": request.cluster_id, "replica_id": request.replica_id,
                "max_bytes": request.max_bytes, "topics": _topics({
                    "current_leader_epoch": request.current_leader_epoch,
                    "snapshot_id": {"end_offset": request.snapshot_id.end_offset,
                                    "epoch": request.snapshot_id.epoch},
                    "position": request.position}, topic_key="name", name_key="partition")}
    else:
        raise TypeError(f"not translated: {type(request).__name__}")
    return codec.build(cls, data)


def request_from_kio(api_key: int, entity: Any) -> m.Request:
    """The raft request in a decoded kio request; ValueError when it is not for the quorum."""
    data = codec.to_dict(entity)
    cluster_id = data.get("cluster_id") or ""
    if api_key == 52:
        p = _one_partition(data)
        return m.VoteRequest(cluster_id=cluster_id, voter_id=int(data.get("voter_id", -1)),
                             candidate_epoch=int(p["replica_epoch"]), candidate_id=int(p["replica_id"]),
                             last_offset_epoch=int(p["last_offset_epoch"]), last_offset=int(p["last_offset"]),
                             pre_vote=bool(p.get("pre_vote", False)))
    if api_key == 53:
        p = _one_partition(data)
        return m.BeginQuorumEpochRequest(cluster_id=cluster_id, voter_id=int(data.get("voter_id", -1)),
                                         leader_epoch=int(p["leader_epoch"]), leader_id=int(p["leader_id"]))
    if api_key == 54:
        p = _one_partition(data)
        if "preferred_candidates" in p:
            successors = tuple(int(c["candidate_id"]) for c in p["preferred_candidates"])
        else:
            successors = tuple(int(s) for s in p.get("preferred_successors") or ())
        return m.EndQuorumEpochRequest(cluster_id=cluster_id, leader_epoch=int(p["leader_epoch"]),
                                       leader_id=int(p["leader_id"]), preferred_successors=successors)
    if api_key == 55:
        _one_partition(data)
        return m.DescribeQuorumRequest()
    if api_key == 1:
        _check_fetch_version(int(type(entity).__version__))
        p = _fetch_partition(data, "topics", "partition")
        replica = (data.get("replica_state") or {}).get("replica_id", data.get("replica_id", -1))
        return m.FetchRequest(cluster_id=cluster_id, replica_id=int(replica),
                              max_wait_ms=codec.millis(data["max_wait"]),
                              current_leader_epoch=int(p["current_leader_epoch"]),
                              fetch_offset=int(p["fetch_offset"]), last_fetched_epoch=int(p["last_fetched_epoch"]),
                              log_start_offset=int(p["log_start_offset"]))
    if api_key == 59:
        p = _one_partition(data, "name", "partition")
        sid = p["snapshot_id"]
        return m.FetchSnapshotRequest(cluster_id=cluster_id, replica_id=int(data["replica_id"]),
                                      current_leader_epoch=int(p["current_leader_epoch"]),
                                      snapshot_id=m.SnapshotId(int(sid["end_offset"]), int(sid["epoch"])),
                                      position=int(p["position"]), max_bytes=int(data["max_bytes"]))
    raise ValueError(f"api {api_key} is not a KRaft request translated here")


# --------------------------------------------------------------------------------- responses
def _replica(state: m.ReplicaState) -> dict[str, Any]:
    return {"replica_id": state.replica_id, "log_end_offset": state.log_end_offset,
            "last_fetch_timestamp": state.last_fetch_timestamp,
            "last_caught_up_timestamp": state.last_caught_up_timestamp}


def response_to_kio(response: m.Response, version: int) -> Any:
    """The kio response entity of ``response`` at ``version``."""
    api_key = API_KEYS[type(response)]
    cls = codec.response_type(api_key, version)
    top, part = _split_error(response.error_code)
    data: dict[str, Any]
    if isinstance(response, m.VoteResponse):
        data = {"error_code": top, "topics": _topics({
            "error_code": part, "leader_id": response.leader_id, "leader_epoch": response.leader_epoch,
            "vote_granted": response.vote_granted})}
    elif isinstance(response, (m.BeginQuorumEpochResponse, m.EndQuorumEpochResponse)):
        data = {"error_code": top, "topics": _topics({
            "error_code": part, "leader_id": response.leader_id, "leader_epoch": response.leader_epoch})}
    elif isinstance(response, m.FetchResponse):
        _check_fetch_version(version)
        div = response.diverging_epoch or m.EpochEndOffset(-1, -1)
        sid = response.snapshot_id or m.SnapshotId(-1, -1)
        data = {"error_code": top, "responses": [{"topic": METADATA_TOPIC, "topic_id": METADATA_TOPIC_ID, "partitions": [{
            "partition_index": METADATA_PARTITION, "error_code": part, "high_watermark": response.high_watermark,
            "last_stable_offset": response.high_watermark, "log_start_offset": response.log_start_offset,
            "diverging_epoch": {"epoch": div.epoch, "end_offset": div.end_offset},
            "current_leader": {"leader_id": response.current_leader.leader_id,
                               "leader_epoch": response.current_leader.leader_epoch},
            "snapshot_id": {"end_offset": sid.end_offset, "epoch": sid.epoch},
            "preferred_read_replica": -1,
            "records": encode_batches(response.records, 0)}]}]}
    elif isinstance(response, m.DescribeQuorumResponse):
        data = {"error_code": top, "error_message": response.error_message if top else None, "topics": _topics({
            "error_code": part, "error_message": None if top else response.error_message,
            "leader_id": response.leader_id, "leader_epoch": response.leader_epoch,
            "high_watermark": response.high_watermark,
            "current_voters": [_replica(r) for r in response.current_voters],
            "observers": [_replica(r) for r in response.observers]})}
    elif isinstance(response, m.FetchSnapshotResponse):
        sid = response.snapshot_id or m.SnapshotId(-1, -1)
        data = {"error_code": top, "topics": _topics({
            "error_code": part, "snapshot_id": {"end_offset": sid.end_offset, "epoch": sid.epoch},
            "current_leader": {"leader_id": response.current_leader.leader_id,
                               "leader_epoch": response.current_leader.leader_epoch},
            "size": response.size, "position": response.position,
            "unaligned_records": response.unaligned_records}, topic_key="name", name_key="index")}
    else:
        raise TypeError(f"not translated: {type(response).__name__}")
    return codec.build(cls, data)


def _replica_from(data: dict[str, Any]) -> m.ReplicaState:
    return m.ReplicaState(replica_id=int(data["replica_id"]), log_end_offset=int(data["log_end_offset"]),
                          last_fetch_timestamp=codec.millis(data.get("last_fetch_timestamp", -1)),
                          last_caught_up_timestamp=codec.millis(data.get("last_caught_up_timestamp", -1)))


def response_from_kio(api_key: int, entity: Any) -> m.Response:
    """The raft response in a decoded kio response; ValueError when it is not for the quorum."""
    data = codec.to_dict(entity)
    if api_key == 52:
        p = _one_partition(data)
        return m.VoteResponse(error_code=_join_error(data.get("error_code"), p["error_code"]),
                              leader_id=int(p["leader_id"]), leader_epoch=int(p["leader_epoch"]),
                              vote_granted=bool(p["vote_granted"]))
    if api_key in (53, 54):
        p = _one_partition(data)
        cls = m.BeginQuorumEpochResponse if api_key == 53 else m.EndQuorumEpochResponse
        return cls(error_code=_join_error(data.get("error_code"), p["error_code"]),
                   leader_id=int(p["leader_id"]), leader_epoch=int(p["leader_epoch"]))
    if api_key == 1:
        _check_fetch_version(int(type(entity).__version__))
        top = ErrorCode(int(data.get("error_code") or 0))
        if top != ErrorCode.NONE:
            return m.FetchResponse(error_code=top)
        p = _fetch_partition(data, "responses", "partition_index")
        div, sid = p.get("diverging_epoch") or {}, p.get("snapshot_id") or {}
        return m.FetchResponse(
            error_code=ErrorCode(int(p["error_code"])), high_watermark=int(p["high_watermark"]),
            log_start_offset=int(p["log_start_offset"]),
            diverging_epoch=m.EpochEndOffset(int(div["epoch"]), int(div["end_offset"]))
            if int(div.get("epoch", -1)) >= 0 else None,
            current_leader=_leader(p.get("current_leader")),
            snapshot_id=m.SnapshotId(int(sid["end_offset"]), int(sid["epoch"]))
            if int(sid.get("end_offset", -1)) >= 0 else None,
            records=tuple(decode_batches(p.get("records") or b"")))
    if api_key == 55:
        top = ErrorCode(int(data.get("error_code") or 0))
        if top != ErrorCode.NONE:
            return m.DescribeQuorumResponse(error_code=top, error_message=data.get("error_message"))
        p = _one_partition(data)
        return m.DescribeQuorumResponse(
            error_code=ErrorCode(int(p["error_code"])), error_message=p.get("error_message"),
            leader_id=int(p["leader_id"]), leader_epoch=int(p["leader_epoch"]),
            high_watermark=int(p["high_watermark"]),
            current_voters=tuple(_replica_from(r) for r in p["current_voters"]),
            observers=tuple(_replica_from(r) for r in p["observers"]))
    if api_key == 59:
        top = ErrorCode(int(data.get("error_code") or 0))
        if top != ErrorCode.NONE:
            return m.FetchSnapshotResponse(error_code=top)
        p = _one_partition(data, "name", "index")
        sid = p["snapshot_id"]
        snapshot_id = None if int(sid["end_offset"]) < 0 else m.SnapshotId(int(sid["end_offset"]), int(sid["epoch"]))
        return m.FetchSnapshotResponse(
            error_code=ErrorCode(int(p["error_code"])), snapshot_id=snapshot_id,
            current_leader=_leader(p.get("current_leader")), size=int(p["size"]), position=int(p["position"]),
            unaligned_records=bytes(p["unaligned_records"] or b""))
    raise ValueError(f"api {api_key} is not a KRaft response translated here")
