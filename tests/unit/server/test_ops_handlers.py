"""Operations APIs (DescribeLogDirs, AlterReplicaLogDirs, DescribeTopicPartitions,
ListConfigResources) against a real Controller, ReplicaManager and LogManager on a temp dir,
without sockets.

Requests are built in each served version through the codec and responses are built and
encoded in that version, so a field the schema cannot carry fails here.  The responses are
also read back by kafka-python's ``kafka.protocol`` (an independent codec) where it matters.
"""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from kafka.protocol import admin as kp

from strom.config import BrokerConfig
from strom.controller.client import LocalControllerClient
from strom.controller.controller import Controller
from strom.controller.metadata_log import MetadataLog
from strom.metadata.cache import MetadataCache
from strom.errors import ErrorCode
from strom.protocol import codec
from strom.protocol.codec import RequestHeader
from strom.records.batch import NewRecord, build_batch, validate_batches
from strom.replication.replica_manager import ReplicaManager
from strom.server.context import BrokerServices, RequestContext
from strom.server.registry import HANDLERS
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.util.clock import VirtualScheduler

from ..controller._cluster import CLUSTER, register

ALTER_REPLICA_LOG_DIRS, DESCRIBE_LOG_DIRS, LIST_CONFIG_RESOURCES, DESCRIBE_TOPIC_PARTITIONS = 34, 35, 74, 75
TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP = 2, 4, 8, 16, 32


class Node:
    """Node 1: controller, log manager and replica manager wired as ``strom.node`` wires them."""

    def __init__(self, tmp: Path) -> None:
        clock = VirtualScheduler()
        self.config = BrokerConfig.load(overrides=["num.partitions=1"], env={})
        self.controller = Controller(MetadataLog(tmp / "meta", clock, clean=True), self.config, node_id=1,
                                     scheduler=clock, cluster_id=CLUSTER)
        self.controller.load()
        self.metadata = MetadataCache(1, self.config)
        self.controller.add_listener(self.metadata.replay)
        asyncio.run(register(self.controller, 1))
        self.data_dir = (tmp / "data").resolve()
        self.logs = LogManager([self.data_dir], LogConfig.from_props(self.config.topic_defaults()), clock=clock)
        self.logs.load()
        self.replicas = ReplicaManager(self.logs, 1, clock)
        self.services = BrokerServices(node_id=1, cluster_id="c", host="127.0.0.1", port=19092, config=self.config,
                                       controller=LocalControllerClient(self.controller), replicas=self.replicas,
                                       clock=clock, metadata=self.metadata)

    def call(self, api_key: int, version: int, request: dict[str, Any]) -> dict[str, Any]:
        req = codec.build(codec.request_type(api_key, version), request)
        ctx = RequestContext(RequestHeader(api_key, version, 7, "test"), None, self.services)  # type: ignore[arg-type]
        result = asyncio.run(HANDLERS[api_key].handle(ctx, req))
        response = codec.build_response(api_key, version, result)
        self.last_frame = codec.encode_response(7, response, api_key=api_key, version=version)
        return codec.to_dict(response)

    def create_topic(self, name: str, partitions: int = 1, *, host: bool = True) -> None:
        [result] = asyncio.run(self.controller.create_topics([{
            "name": name, "num_partitions": partitions, "replication_factor": 1, "assignments": [], "configs": {}}]))
        assert result.error_code == ErrorCode.NONE, result
        if host:
            topic = self.controller.image.topics[name]
            for p in topic.partitions.values():
                self.replicas.ensure_partition(name, topic.topic_id, p.partition, self.logs.default_config,
                                               leader_id=p.leader, leader_epoch=p.leader_epoch)

    def produce(self, topic: str, partition: int, *values: bytes) -> int:
        now = self.replicas.clock.now_ms()
        data = build_batch([NewRecord(None, v) for v in values], timestamp_ms=now)
        part = self.replicas.get(topic, partition)
        assert part is not None
        part.append(data, validate_batches(data), now)
        return len(data)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def versions(api_key: int) -> range:
    lo, hi = HANDLERS[api_key].VERSIONS
    return range(lo, hi + 1)


def test_advertised_versions_are_kafka_4_2s():
    assert {k: HANDLERS[k].VERSIONS for k in (34, 35, 74, 75)} == {34: (1, 2), 35: (1, 4), 74: (0, 1), 75: (0, 0)}


# ---------------------------------------------------------------- DescribeLogDirs
@pytest.mark.parametrize("version", versions(DESCRIBE_LOG_DIRS))
def test_describe_log_dirs_reports_each_partitions_size_and_the_disk(node: Node, version: int):
    node.create_topic("alpha", 2)
    node.create_topic("beta", 1)
    written = node.produce("alpha", 1, b"x" * 100, b"y" * 50)
    out = node.call(DESCRIBE_LOG_DIRS, version, {"topics": None})
    [result] = out["results"]
    assert result["error_code"] == ErrorCode.NONE
    assert result["log_dir"] == str(node.data_dir)
    sizes = {(t["name"], p["partition_index"]): p["partition_size"] for t in result["topics"] for p in t["partitions"]}
    assert sizes == {("alpha", 0): 0, ("alpha", 1): written, ("beta", 0): 0}
    lags = {p["offset_lag"] for t in result["topics"] for p in t["partitions"]}
    assert lags == {0}
    if version >= 4:
        usage = shutil.disk_usage(node.data_dir)
        assert result["total_bytes"] == usage.total
        assert 0 < result["usable_bytes"] <= usage.total
    else:
        assert "total_bytes" not in result


def test_describe_log_dirs_keeps_only_the_named_hosted_partitions(node: Node):
    node.create_topic("alpha", 3)
    node.create_topic("beta", 1)
    out = node.call(DESCRIBE_LOG_DIRS, 4, {"topics": [{"topic": "alpha", "partitions": [0, 2, 9]},
                                                      {"topic": "missing", "partitions": [0]}]})
    [result] = out["results"]
    assert [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in result["topics"]] == [
        ("alpha", [0, 2])]
    assert node.call(DESCRIBE_LOG_DIRS, 4, {"topics": []})["results"][0]["topics"] == []


def test_describe_log_dirs_reads_in_kafka_python(node: Node):
    node.create_topic("alpha", 1)
    node.produce("alpha", 0, b"v")
    node.call(DESCRIBE_LOG_DIRS, 4, {"topics": None})
    frame = node.last_frame[4:]
    decoded = kp.DescribeLogDirsResponse.decode(frame[5:], version=4)  # correlation id and empty tagged fields
    [result] = decoded.results
    assert result.log_dir == str(node.data_dir) and result.total_bytes > 0
    assert result.topics[0].name == "alpha" and result.topics[0].partitions[0].partition_size > 0


def test_an_unreadable_log_dir_is_a_storage_error(node: Node):
    node.create_topic("alpha", 1)
    shutil.rmtree(node.data_dir)
    [result] = node.call(DESCRIBE_LOG_DIRS, 4, {"topics": None})["results"]
    assert result["error_code"] == ErrorCode.KAFKA_STORAGE_ERROR
    assert result["topics"] == [] and result["total_bytes"] == -1


# ---------------------------------------------------------------- AlterReplicaLogDirs
@pytest.mark.parametrize("version", versions(ALTER_REPLICA_LOG_DIRS))
def test_alter_replica_log_dirs_answers_each_partition_by_kafkas_rules(node: Node, version: int):
    node.create_topic("hosted", 2)
    node.create_topic("elsewhere", 1, host=False)
    here = str(node.data_dir)
    out = node.call(ALTER_REPLICA_LOG_DIRS, version, {"dirs": [
        {"path": here, "topics": [{"name": "hosted", "partitions": [0, 1, 7]},
                                  {"name": "elsewhere", "partitions": [0]},
                                  {"name": "missing", "partitions": [0]}]},
        {"path": "/no/such/dir", "topics": [{"name": "other", "partitions": [3]}]}]})
    got = {(t["topic_name"], p["partition_index"]): p["error_code"] for t in out["results"] for p in t["partitions"]}
    assert got == {("hosted", 0): ErrorCode.NONE, ("hosted", 1): ErrorCode.NONE,
                   ("hosted", 7): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                   ("elsewhere", 0): ErrorCode.NOT_LEADER_OR_FOLLOWER,
                   ("missing", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                   ("other", 3): ErrorCode.LOG_DIR_NOT_FOUND}


def test_alter_replica_log_dirs_answers_a_partition_once_for_its_last_path(node: Node):
    node.create_topic("hosted", 1)
    out = node.call(ALTER_REPLICA_LOG_DIRS, 2, {"dirs": [
        {"path": str(node.data_dir), "topics": [{"name": "hosted", "partitions": [0]}]},
        {"path": str(node.data_dir) + "/", "topics": [{"name": "hosted", "partitions": [0]}]}]})
    assert out["results"] == [{"topic_name": "hosted", "partitions": [
        {"partition_index": 0, "error_code": ErrorCode.LOG_DIR_NOT_FOUND}]}]


# ---------------------------------------------------------------- DescribeTopicPartitions
def describe_partitions(node: Node, topics: list[str], limit: int = 2000,
                        cursor: tuple[str, int] | None = None) -> dict[str, Any]:
    return node.call(DESCRIBE_TOPIC_PARTITIONS, 0, {
        "topics": [{"name": t} for t in topics], "response_partition_limit": limit,
        "cursor": None if cursor is None else {"topic_name": cursor[0], "partition_index": cursor[1]}})


def pages(out: dict[str, Any]) -> list[tuple[str, list[int]]]:
    return [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in out["topics"]]


def test_describe_topic_partitions_describes_named_topics_in_name_order(node: Node):
    node.create_topic("beta", 2)
    node.create_topic("alpha", 1)
    out = describe_partitions(node, ["beta", "nope", "alpha"])
    assert pages(out) == [("alpha", [0]), ("beta", [0, 1]), ("nope", [])]
    assert [t["error_code"] for t in out["topics"]] == [0, 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    p = out["topics"][1]["partitions"][1]
    assert (p["leader_id"], p["replica_nodes"], p["isr_nodes"], p["offline_replicas"]) == (1, [1], [1], [])
    assert p["eligible_leader_replicas"] == [] and p["last_known_elr"] == []
    assert out["topics"][1]["topic_id"] == node.controller.image.topics["beta"].topic_id
    assert out["next_cursor"] is None


def test_describe_topic_partitions_pages_through_every_topic_with_the_cursor(node: Node):
    node.create_topic("alpha", 3)
    node.create_topic("beta", 2)
    seen: list[tuple[str, int]] = []
    cursor = None
    for _ in range(10):
        out = describe_partitions(node, [], limit=2, cursor=cursor)
        seen += [(name, i) for name, idx in pages(out) for i in idx]
        if out["next_cursor"] is None:
            break
        cursor = (out["next_cursor"]["topic_name"], out["next_cursor"]["partition_index"])
    assert seen == [("alpha", 0), ("alpha", 1), ("alpha", 2), ("beta", 0), ("beta", 1)]
    first = describe_partitions(node, ["alpha", "beta"], limit=2)
    assert first["next_cursor"] == {"topic_name": "alpha", "partition_index": 2}
    exact = describe_partitions(node, ["alpha", "beta"], limit=3)
    assert pages(exact) == [("alpha", [0, 1, 2])]
    assert exact["next_cursor"] == {"topic_name": "beta", "partition_index": 0}


def test_describe_topic_partitions_limit_is_at_least_one(node: Node):
    node.create_topic("alpha", 2)
    out = describe_partitions(node, ["alpha"], limit=0)
    assert pages(out) == [("alpha", [0])] and out["next_cursor"]["partition_index"] == 1


def test_a_cursor_outside_the_named_topics_is_invalid(node: Node):
    node.create_topic("alpha", 1)
    out = describe_partitions(node, ["alpha"], cursor=("zeta", 0))
    assert [(t["name"], t["error_code"]) for t in out["topics"]] == [("alpha", ErrorCode.INVALID_REQUEST)]


# ---------------------------------------------------------------- ListConfigResources
def test_list_config_resources_v1_lists_topics_and_this_broker(node: Node):
    node.create_topic("alpha", 1)
    node.create_topic("beta", 1)
    out = node.call(LIST_CONFIG_RESOURCES, 1, {"resource_types": []})
    assert out["error_code"] == ErrorCode.NONE
    got = {(r["resource_type"], r["resource_name"]) for r in out["config_resources"]}
    assert {(TOPIC, "alpha"), (TOPIC, "beta"), (BROKER, "1")} <= got
    assert {t for t, _ in got} == {TOPIC, BROKER}
    only_brokers = node.call(LIST_CONFIG_RESOURCES, 1, {"resource_types": [BROKER, GROUP, CLIENT_METRICS]})
    assert only_brokers["config_resources"] == [{"resource_name": "1", "resource_type": BROKER}]


@pytest.mark.parametrize("resource_type", [BROKER_LOGGER, 99])
def test_list_config_resources_refuses_a_type_it_does_not_support(node: Node, resource_type: int):
    out = node.call(LIST_CONFIG_RESOURCES, 1, {"resource_types": [TOPIC, resource_type]})
    assert out["error_code"] == ErrorCode.UNSUPPORTED_VERSION and out["config_resources"] == []


def test_list_config_resources_v0_lists_client_metrics_only(node: Node):
    node.create_topic("alpha", 1)
    out = node.call(LIST_CONFIG_RESOURCES, 0, {})
    assert out["error_code"] == ErrorCode.NONE and out["config_resources"] == []


# ---------------------------------------------------------------- kafka-python as the oracle
def kp_frame(request: Any, version: int) -> bytes:
    request.API_VERSION = version
    request.with_header(correlation_id=7, client_id="test")
    return bytes(request.encode(version=version, header=True))


def through_kafka_python(node: Node, request: Any, response_cls: Any, version: int) -> Any:
    """kafka-python encodes the request, Strom's codec decodes it, the handler answers, and
    kafka-python decodes the encoded answer."""
    frame = kp_frame(request, version)
    header, offset = codec.parse_request_header(frame)
    decoded = codec.decode_request(header.api_key, version, frame, offset)
    ctx = RequestContext(header, None, node.services)  # type: ignore[arg-type]
    result = asyncio.run(HANDLERS[header.api_key].handle(ctx, decoded))
    response = codec.build_response(header.api_key, version, result)
    out = codec.encode_response(header.correlation_id, response, api_key=header.api_key, version=version)
    assert out[4:8] == (7).to_bytes(4, "big")
    body = 9 if type(response).__flexible__ else 8  # size, correlation id (, empty tagged fields)
    return response_cls.decode(out[body:], version=version)


@pytest.mark.parametrize("version", versions(DESCRIBE_LOG_DIRS))
def test_kafka_python_describe_log_dirs(node: Node, version: int):
    node.create_topic("alpha", 2)
    T = kp.DescribeLogDirsRequest.DescribableLogDirTopic
    got = through_kafka_python(node, kp.DescribeLogDirsRequest(topics=[T(topic="alpha", partitions=[1])]),
                               kp.DescribeLogDirsResponse, version)
    [result] = got.results
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in result.topics] == [("alpha", [1])]


@pytest.mark.parametrize("version", versions(ALTER_REPLICA_LOG_DIRS))
def test_kafka_python_alter_replica_log_dirs(node: Node, version: int):
    node.create_topic("alpha", 1)
    D = kp.AlterReplicaLogDirsRequest.AlterReplicaLogDir
    got = through_kafka_python(node, kp.AlterReplicaLogDirsRequest(dirs=[
        D(path=str(node.data_dir), topics=[D.AlterReplicaLogDirTopic(name="alpha", partitions=[0])])]),
        kp.AlterReplicaLogDirsResponse, version)
    assert [(t.topic_name, [(p.partition_index, p.error_code) for p in t.partitions]) for t in got.results] == [
        ("alpha", [(0, 0)])]


def test_kafka_python_describe_topic_partitions(node: Node):
    node.create_topic("alpha", 3)
    R = kp.DescribeTopicPartitionsRequest
    got = through_kafka_python(node, R(topics=[R.TopicRequest(name="alpha")], response_partition_limit=1,
                                       cursor=R.Cursor(topic_name="alpha", partition_index=1)),
                               kp.DescribeTopicPartitionsResponse, 0)
    assert [p.partition_index for p in got.topics[0].partitions] == [1]
    assert (got.next_cursor.topic_name, got.next_cursor.partition_index) == ("alpha", 2)


@pytest.mark.parametrize("version", versions(LIST_CONFIG_RESOURCES))
def test_kafka_python_list_config_resources(node: Node, version: int):
    node.create_topic("alpha", 1)
    request = kp.ListConfigResourcesRequest(resource_types=[TOPIC]) if version else kp.ListConfigResourcesRequest()
    got = through_kafka_python(node, request, kp.ListConfigResourcesResponse, version)
    assert got.error_code == 0
    assert [(r.resource_name, r.resource_type) for r in got.config_resources] == ([("alpha", TOPIC)] if version else [])
