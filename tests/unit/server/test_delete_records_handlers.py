"""DeleteRecords and ListOffsets answer per partition with Kafka's codes, against a real
Controller, ReplicaManager and LogManager (the ``Node`` of test_ops_handlers), in every served
version: unknown partitions, partitions not led here, bad offsets, fenced epochs, duplicates."""
from __future__ import annotations

from pathlib import Path

import pytest

from strom.errors import ErrorCode
from strom.storage.log_manager import LOG_START_CHECKPOINT, read_checkpoint

from .test_ops_handlers import Node

DELETE_RECORDS, LIST_OFFSETS = 21, 2


def delete(node: Node, version: int, topic: str, offsets: dict[int, int]) -> dict[int, tuple[int, int]]:
    resp = node.call(DELETE_RECORDS, version, {"timeout": 1000, "topics": [
        {"name": topic, "partitions": [{"partition_index": p, "offset": o} for p, o in offsets.items()]}]})
    [t] = resp["topics"]
    return {p["partition_index"]: (p["error_code"], p["low_watermark"]) for p in t["partitions"]}


@pytest.mark.parametrize("version", [0, 1, 2])
def test_delete_records_per_partition_codes(tmp_path: Path, version: int):
    node = Node(tmp_path)
    node.create_topic("t", 3)
    node.create_topic("elsewhere", 1, host=False)
    for p in range(3):
        node.produce("t", p, b"a", b"b", b"c", b"d")
    node.replicas.get("t", 2).leader_id = 2  # as if the metadata image moved its leadership away
    assert delete(node, version, "t", {0: 2, 1: 5, 2: 1, 7: 0}) == {
        0: (ErrorCode.NONE, 2), 1: (ErrorCode.OFFSET_OUT_OF_RANGE, -1),
        2: (ErrorCode.NOT_LEADER_OR_FOLLOWER, -1), 7: (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)}
    assert delete(node, version, "t", {1: -2}) == {1: (ErrorCode.OFFSET_OUT_OF_RANGE, -1)}
    assert delete(node, version, "t", {1: -1}) == {1: (ErrorCode.NONE, 4)}
    assert delete(node, version, "elsewhere", {0: 0}) == {0: (ErrorCode.NOT_LEADER_OR_FOLLOWER, -1)}
    assert delete(node, version, "nope", {0: 0}) == {0: (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)}
    assert [node.replicas.get("t", p).log_start_offset for p in range(3)] == [2, 4, 0]
    assert read_checkpoint(node.data_dir / LOG_START_CHECKPOINT)[("t", 0)] == 2


def list_offsets(node: Node, version: int, topic: str, specs: list[tuple[int, int, int]]) -> list[tuple]:
    """specs: (partition, timestamp, current_leader_epoch) -> [(partition, error, offset, epoch)]."""
    resp = node.call(LIST_OFFSETS, version, {"replica_id": -1, "isolation_level": 0, "timeout": 1000, "topics": [
        {"name": topic, "partitions": [{"partition_index": p, "timestamp": ts, "current_leader_epoch": e}
                                       for p, ts, e in specs]}]})
    [t] = resp["topics"]
    return [(p["partition_index"], p["error_code"], p["offset"], p["leader_epoch"]) for p in t["partitions"]]


def test_list_offsets_checks_and_specs_per_version(tmp_path: Path):
    node = Node(tmp_path)
    node.create_topic("t", 2)
    node.create_topic("elsewhere", 1, host=False)
    node.produce("t", 0, b"a", b"b", b"c")
    epoch = node.replicas.get("t", 0).leader_epoch
    assert delete(node, 2, "t", {0: 1}) == {0: (ErrorCode.NONE, 1)}
    answers = [list_offsets(node, 11, "t", [(0, spec, e)])[0] for spec, e in
               [(-2, -1), (-4, -1), (-5, -1), (-6, -1), (-1, epoch)]]
    assert answers == [(0, 0, 1, epoch), (0, 0, 1, epoch), (0, 0, -1, -1), (0, 0, -1, -1), (0, 0, 3, epoch)]
    # each spec from the version Kafka accepts it; unknown negative specs never
    assert [r[1] for r in list_offsets(node, 6, "t", [(0, -3, -1)])] == [ErrorCode.UNSUPPORTED_VERSION]
    assert [r[1] for r in list_offsets(node, 7, "t", [(0, -3, -1)])] == [ErrorCode.NONE]
    assert [r[1] for r in list_offsets(node, 8, "t", [(0, -5, -1)])] == [ErrorCode.UNSUPPORTED_VERSION]
    assert [r[1] for r in list_offsets(node, 10, "t", [(0, -6, -1)])] == [ErrorCode.UNSUPPORTED_VERSION]
    assert [r[1] for r in list_offsets(node, 11, "t", [(0, -7, -1)])] == [ErrorCode.UNSUPPORTED_VERSION]
    # epochs (v4+), leadership, existence, duplicates
    assert [r[1] for r in list_offsets(node, 9, "t", [(0, -1, epoch + 1)])] == [ErrorCode.UNKNOWN_LEADER_EPOCH]
    node.replicas.get("t", 0).leader_epoch = epoch + 2
    assert [r[1] for r in list_offsets(node, 9, "t", [(0, -1, epoch + 1)])] == [ErrorCode.FENCED_LEADER_EPOCH]
    node.replicas.get("t", 1).leader_id = 2
    assert [r[1] for r in list_offsets(node, 9, "t", [(1, -1, -1)])] == [ErrorCode.NOT_LEADER_OR_FOLLOWER]
    assert [r[1] for r in list_offsets(node, 9, "elsewhere", [(0, -1, -1)])] == [ErrorCode.NOT_LEADER_OR_FOLLOWER]
    assert [r[1] for r in list_offsets(node, 9, "t", [(5, -1, -1)])] == [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    assert [r[1] for r in list_offsets(node, 9, "t", [(0, -1, -1), (0, -2, -1)])] == [ErrorCode.INVALID_REQUEST] * 2
