"""Admin handlers (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, CreatePartitions,
DescribeCluster) against a real single-node Controller on a temp dir, without sockets; handlers read
the broker's MetadataCache (fed by the controller's commits) and write through LocalControllerClient.

Every test builds the request in each served version from a dict (``codec.build``), runs the
handler, and builds and encodes the response in that version, so a field-name slip or a value
the schema cannot carry fails here rather than in a client.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from strom.config import BROKER_CONFIGS, BrokerConfig
from strom.controller.client import LocalControllerClient
from strom.controller.controller import Controller
from strom.controller.metadata_log import MetadataLog
from strom.errors import ErrorCode, KafkaError
from strom.metadata.cache import MetadataCache
from strom.metadata.records import ConfigRecord
from strom.metadata.records import BrokerEndpoint
from strom.protocol import codec
from strom.protocol.codec import RequestHeader
from strom.server.context import BrokerServices, RequestContext
from strom.server.registry import HANDLERS
from strom.util.clock import FakeClock

from ..controller._cluster import register

TOPIC, BROKER, BROKER_LOGGER = 2, 4, 8
DESCRIBE_CONFIGS, ALTER_CONFIGS, CREATE_PARTITIONS, INCREMENTAL_ALTER, DESCRIBE_CLUSTER = 32, 33, 37, 44, 60
CREATE_TOPICS = 19


class Node:
    """A controller and BrokerServices for node 1, and a ``call`` that goes through the codec."""

    def __init__(self, data_dir: Path, overrides: tuple[str, ...] = ()) -> None:
        clock = FakeClock()
        config = BrokerConfig.load(overrides=["num.partitions=1", *overrides], env={})
        self.controller = Controller(MetadataLog(data_dir, clock, clean=True), config, node_id=1, scheduler=clock,
                                     cluster_id="test-cluster")
        self.controller.load()
        self.metadata = MetadataCache(1, config)
        self.metadata.set_active_controller(1)
        self.controller.add_listener(self.metadata.replay)
        # the node's broker, registered and unfenced
        asyncio.run(register(self.controller, 1, rack="r1", endpoints=[BrokerEndpoint("PLAINTEXT", "127.0.0.1", 19092)]))
        self.services = BrokerServices(node_id=1, cluster_id="test-cluster", host="127.0.0.1", port=19092,
                                       config=config, controller=LocalControllerClient(self.controller),
                                       replicas=None,  # type: ignore[arg-type]
                                       clock=clock, metadata=self.metadata)

    def call(self, api_key: int, version: int, request: dict[str, Any]) -> dict[str, Any]:
        req = codec.build(codec.request_type(api_key, version), request)
        ctx = RequestContext(RequestHeader(api_key, version, 7, "test"), None, self.services)  # type: ignore[arg-type]
        result = asyncio.run(HANDLERS[api_key].handle(ctx, req))
        response = codec.build_response(api_key, version, result)
        frame = codec.encode_response(7, response, api_key=api_key, version=version)
        assert frame[4:8] == (7).to_bytes(4, "big")
        return codec.to_dict(response)

    def create_topic(self, name: str, partitions: int = 1, configs: dict[str, str] | None = None) -> None:
        [result] = asyncio.run(self.controller.create_topics([{
            "name": name, "num_partitions": partitions, "replication_factor": 1, "assignments": [],
            "configs": configs or {}}]))
        assert result.error_code == ErrorCode.NONE, result


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def versions(api_key: int) -> range:
    lo, hi = HANDLERS[api_key].VERSIONS
    return range(lo, hi + 1)


def configs_of(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result["configs"]}


def describe(node: Node, version: int, resources: list[tuple[int, str, list[str] | None]],
             **flags: bool) -> list[dict[str, Any]]:
    return node.call(DESCRIBE_CONFIGS, version, {
        "resources": [{"resource_type": t, "resource_name": n, "configuration_keys": k} for t, n, k in resources],
        **flags})["results"]


# ---------------------------------------------------------------- DescribeConfigs
@pytest.mark.parametrize("version", versions(DESCRIBE_CONFIGS))
def test_describe_topic_all_some_and_errors(node: Node, version: int) -> None:
    node.create_topic("t", configs={"retention.ms": "1000"})
    every, some, empty, missing, illegal, logger = describe(node, version, [
        (TOPIC, "t", None), (TOPIC, "t", ["retention.ms", "cleanup.policy"]), (TOPIC, "t", []),
        (TOPIC, "nope", None), (TOPIC, "bad/name", None), (BROKER_LOGGER, "1", None)])
    assert every["error_code"] == ErrorCode.NONE
    cfg = configs_of(every)
    assert cfg["retention.ms"]["value"] == "1000" and cfg["retention.ms"]["config_source"] == 1
    assert cfg["cleanup.policy"]["value"] == "delete" and cfg["cleanup.policy"]["config_source"] == 5
    assert "internal.segment.bytes" not in cfg  # internal configs are not listed
    assert sorted(configs_of(some)) == ["cleanup.policy", "retention.ms"]
    assert configs_of(empty) == cfg  # an empty key list means all, as in Kafka
    assert missing["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION and missing["configs"] == []
    assert illegal["error_code"] == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert logger["error_code"] == ErrorCode.INVALID_REQUEST and logger["error_message"]


@pytest.mark.parametrize("version", versions(DESCRIBE_CONFIGS))
def test_describe_synonyms_and_documentation(node: Node, version: int) -> None:
    node.create_topic("t", configs={"retention.ms": "1000"})
    [plain] = describe(node, version, [(TOPIC, "t", ["retention.ms"])])
    assert configs_of(plain)["retention.ms"]["synonyms"] == []
    [rich] = describe(node, version, [(TOPIC, "t", ["retention.ms", "cleanup.policy"])],
                      include_synonyms=True, include_documentation=True)
    cfg = configs_of(rich)
    assert cfg["retention.ms"]["synonyms"][0] == {"name": "retention.ms", "value": "1000", "source": 1}
    assert cfg["cleanup.policy"]["synonyms"]  # at least the config itself
    if version >= 3:
        assert cfg["cleanup.policy"]["config_type"] == 7  # LIST
        assert cfg["cleanup.policy"]["documentation"]


@pytest.mark.parametrize("version", versions(DESCRIBE_CONFIGS))
def test_describe_broker(node: Node, version: int) -> None:
    asyncio.run(node.controller.alter_broker_configs("", {"log.retention.ms": "5000"}, replace=False))
    mine, default, other, garbage = describe(node, version, [
        (BROKER, "1", None), (BROKER, "", None), (BROKER, "2", None), (BROKER, "x", None)])
    assert configs_of(mine)["num.partitions"]["value"] == "1"
    assert configs_of(mine)["num.partitions"]["config_source"] == 4  # STATIC_BROKER_CONFIG
    assert configs_of(mine)["log.retention.ms"]["config_source"] == 3
    assert {c["name"]: (c["value"], c["config_source"]) for c in default["configs"]} == {
        "log.retention.ms": ("5000", 3)}
    assert other["error_code"] == garbage["error_code"] == ErrorCode.INVALID_REQUEST


def synonyms_of(config: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    return [(s["name"], s["value"], s["source"]) for s in config["synonyms"]]


@pytest.mark.parametrize("version", versions(DESCRIBE_CONFIGS))
def test_describe_broker_sources_and_synonyms_as_kafka_lists_them(tmp_path: Path, version: int) -> None:
    """Synonyms level by level (this node's dynamic, cluster dynamic, start-up, table default), each
    level in synonym order, leading entries of other names dropped; the source is the first one's."""
    node = Node(tmp_path, ("log.retention.hours=24", "log.retention.minutes=90",
                           "advertised.listeners=PLAINTEXT://127.0.0.1:19092"))
    asyncio.run(node.controller.alter_broker_configs("", {"log.retention.ms": "5000"}, replace=False))
    asyncio.run(node.controller.alter_broker_configs("1", {"log.retention.ms": "6000"}, replace=False))
    node.create_topic("t", configs={"retention.ms": "1000"})
    mine, default, topic = describe(node, version, [(BROKER, "1", None), (BROKER, "", None), (TOPIC, "t", None)],
                                    include_synonyms=True)
    cfg = configs_of(mine)
    assert synonyms_of(cfg["log.retention.ms"]) == [
        ("log.retention.ms", "6000", 2), ("log.retention.ms", "5000", 3), ("log.retention.minutes", "90", 4),
        ("log.retention.hours", "24", 4), ("log.retention.hours", "168", 5)]
    assert (cfg["log.retention.ms"]["value"], cfg["log.retention.ms"]["config_source"]) == ("6000", 2)
    assert synonyms_of(cfg["log.retention.minutes"]) == [
        ("log.retention.minutes", "90", 4), ("log.retention.hours", "24", 4), ("log.retention.hours", "168", 5)]
    assert synonyms_of(cfg["log.retention.hours"]) == [("log.retention.hours", "24", 4),
                                                       ("log.retention.hours", "168", 5)]
    assert (cfg["log.retention.hours"]["value"], cfg["log.retention.hours"]["config_source"]) == ("24", 4)
    listeners = cfg["advertised.listeners"]
    assert (listeners["value"], listeners["config_source"], listeners["read_only"], listeners["is_sensitive"]) == (
        "PLAINTEXT://127.0.0.1:19092", 4, True, False)
    assert synonyms_of(listeners) == [("advertised.listeners", "PLAINTEXT://127.0.0.1:19092", 4)]
    assert synonyms_of(cfg["num.partitions"]) == [("num.partitions", "1", 4), ("num.partitions", "1", 5)]
    assert synonyms_of(cfg["log.segment.bytes"]) == [("log.segment.bytes", "1073741824", 5)]
    for unset in ("log.roll.ms", "log.flush.interval.ms"):  # null default; the hours/scheduler default is dropped
        assert (cfg[unset]["value"], cfg[unset]["config_source"], cfg[unset]["synonyms"]) == (None, 5, [])
    assert synonyms_of(cfg["log.roll.hours"]) == [("log.roll.hours", "168", 5)]
    # resource "": the cluster-wide dynamic defaults only, with only their cluster-wide synonyms
    assert [(c["name"], c["value"], c["config_source"], c["read_only"], synonyms_of(c)) for c in default["configs"]] == [
        ("log.retention.ms", "5000", 3, False, [("log.retention.ms", "5000", 3)])]
    # a topic config: its override, then the synonyms of its first broker synonym
    tcfg = configs_of(topic)
    assert synonyms_of(tcfg["retention.ms"])[:3] == [
        ("retention.ms", "1000", 1), ("log.retention.ms", "6000", 2), ("log.retention.ms", "5000", 3)]
    assert synonyms_of(tcfg["cleanup.policy"]) == [("log.cleanup.policy", "delete", 5)]
    assert (tcfg["segment.ms"]["value"], tcfg["segment.ms"]["config_source"], tcfg["segment.ms"]["synonyms"]) == (
        "604800000", 5, [])
    [plain] = describe(node, version, [(BROKER, "1", None)])
    assert all(c["synonyms"] == [] for c in plain["configs"])


def test_describe_topic_with_only_a_lower_synonym_set_is_default_as_in_kafka(tmp_path: Path) -> None:
    """Kafka drops the leading synonyms not named like the first broker synonym: with only
    log.retention.hours given, retention.ms is DEFAULT_CONFIG with no synonyms (its value still 1 day)."""
    node = Node(tmp_path, ("log.retention.hours=24",))
    node.create_topic("t")
    [res] = describe(node, 4, [(TOPIC, "t", ["retention.ms"])], include_synonyms=True)
    assert [(c["value"], c["config_source"], c["synonyms"]) for c in res["configs"]] == [("86400000", 5, [])]


def test_read_only_is_what_alter_configs_refuses(node: Node) -> None:
    """One source of truth: every broker config DescribeConfigs calls read-only is refused by
    AlterConfigs for this node and for the cluster default, and every other one is accepted."""
    [res] = describe(node, 4, [(BROKER, "1", list(BROKER_CONFIGS))])
    assert {c["name"] for c in res["configs"]} == set(BROKER_CONFIGS)
    for config in res["configs"]:
        for target in ("1", ""):
            change = {config["name"]: config["value"]}
            try:
                asyncio.run(node.controller.alter_broker_configs(target, change, replace=False, validate_only=True))
                refused = False
            except KafkaError as exc:
                assert exc.code == ErrorCode.INVALID_CONFIG and "dynamically" in exc.message, exc
                refused = True
            assert refused == config["read_only"], config["name"]
    read_only = {c["name"] for c in res["configs"] if c["read_only"]}
    assert {"advertised.listeners", "listeners", "node.id", "process.roles", "log.dirs", "log.retention.hours",
            "log.retention.check.interval.ms", "controller.quorum.voters"} <= read_only
    assert not {"log.retention.ms", "max.connections", "max.connections.per.ip", "min.insync.replicas"} & read_only


def test_stored_read_only_broker_config_is_ignored(node: Node) -> None:
    """A read-only setting stored as dynamic (by an older Strom) neither shows nor takes effect,
    as Kafka ignores non-dynamic settings when it loads dynamic configs."""
    asyncio.run(node.controller._commit([ConfigRecord(BROKER, "", "log.retention.hours", "1")]))
    node.create_topic("t")
    topic, default, mine = describe(node, 4, [(TOPIC, "t", ["retention.ms"]), (BROKER, "", None),
                                              (BROKER, "1", ["log.retention.hours"])])
    assert topic["configs"][0]["value"] == "604800000"
    assert default["configs"] == []
    assert (mine["configs"][0]["value"], mine["configs"][0]["config_source"]) == ("168", 5)


def test_describe_sensitive_values_are_null(node: Node) -> None:
    [res] = describe(node, 4, [(BROKER, "1", None)], include_synonyms=True)
    sensitive = [c for c in res["configs"] if c["is_sensitive"]]
    assert all(c["value"] is None and all(s["value"] is None for s in c["synonyms"]) for c in sensitive)


# ---------------------------------------------------------------- AlterConfigs
@pytest.mark.parametrize("version", versions(ALTER_CONFIGS))
def test_alter_configs_replaces_every_override(node: Node, version: int) -> None:
    node.create_topic("t", configs={"retention.ms": "1000", "retention.bytes": "2000"})

    def alter(resources: list[tuple[int, str, dict[str, str | None]]], validate_only: bool = False) -> list:
        return node.call(ALTER_CONFIGS, version, {"validate_only": validate_only, "resources": [
            {"resource_type": t, "resource_name": n, "configs": [{"name": k, "value": v} for k, v in c.items()]}
            for t, n, c in resources]})["responses"]

    [ok] = alter([(TOPIC, "t", {"segment.ms": "60000"})], validate_only=True)
    assert ok["error_code"] == ErrorCode.NONE and node.controller.topic("t").configs["retention.ms"] == "1000"
    [ok] = alter([(TOPIC, "t", {"segment.ms": "60000"})])
    assert ok["error_code"] == ErrorCode.NONE
    assert dict(node.controller.topic("t").configs) == {"segment.ms": "60000"}

    bad_value, unknown, missing, logger, null = alter([
        (TOPIC, "t", {"retention.ms": "soon"}), (TOPIC, "t2", {"retention.ms": "1"}),
        (TOPIC, "nope", {"retention.ms": "1"}), (BROKER_LOGGER, "1", {"kafka": "DEBUG"}),
        (BROKER, "1", {"log.retention.ms": None})])
    assert bad_value["error_code"] == ErrorCode.INVALID_CONFIG and bad_value["error_message"]
    assert unknown["error_code"] == missing["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert logger["error_code"] == null["error_code"] == ErrorCode.INVALID_REQUEST
    first, second = alter([(TOPIC, "t", {"retention.ms": "1"}), (TOPIC, "t", {"retention.ms": "2"})])
    assert first["error_code"] == second["error_code"] == ErrorCode.INVALID_REQUEST
    assert dict(node.controller.topic("t").configs) == {"segment.ms": "60000"}

    [ok] = alter([(BROKER, "1", {"log.retention.ms": "7000"})])
    assert ok["error_code"] == ErrorCode.NONE
    assert node.controller.image.broker_configs["1"] == {"log.retention.ms": "7000"}


# ---------------------------------------------------------------- IncrementalAlterConfigs
@pytest.mark.parametrize("version", versions(INCREMENTAL_ALTER))
def test_incremental_set_delete_append_subtract(node: Node, version: int) -> None:
    THROTTLED = "leader.replication.throttled.replicas"  # a list-typed topic config
    node.create_topic("t", configs={"retention.ms": "1000"})

    def alter(name: str, ops: list[tuple[str, int, str | None]], resource_type: int = TOPIC) -> dict:
        [res] = node.call(INCREMENTAL_ALTER, version, {"validate_only": False, "resources": [
            {"resource_type": resource_type, "resource_name": name,
             "configs": [{"name": k, "config_operation": op, "value": v} for k, op, v in ops]}]})["responses"]
        return res

    assert alter("t", [("retention.bytes", 0, "5000"), (THROTTLED, 2, "0:1,1:1")])["error_code"] == 0
    assert dict(node.controller.topic("t").configs) == {
        "retention.ms": "1000", "retention.bytes": "5000", THROTTLED: "0:1,1:1"}
    assert alter("t", [(THROTTLED, 2, "1:1")])["error_code"] == 0  # no duplicate
    assert node.controller.topic("t").configs[THROTTLED] == "0:1,1:1"
    assert alter("t", [(THROTTLED, 3, "0:1"), ("retention.ms", 1, None)])["error_code"] == 0
    assert dict(node.controller.topic("t").configs) == {"retention.bytes": "5000", THROTTLED: "1:1"}

    assert alter("t", [("retention.ms", 2, "5")])["error_code"] == ErrorCode.INVALID_CONFIG  # not a list
    assert alter("t", [("no.such", 0, "5")])["error_code"] == ErrorCode.INVALID_CONFIG
    assert alter("t", [("retention.ms", 0, "1"), ("retention.ms", 1, None)])["error_code"] == ErrorCode.INVALID_REQUEST
    assert alter("t", [("retention.ms", 0, None)])["error_code"] == ErrorCode.INVALID_REQUEST
    assert alter("t", [("retention.ms", 9, "1")])["error_code"] == ErrorCode.INVALID_REQUEST
    assert alter("nope", [("retention.ms", 0, "1")])["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert alter("1", [("kafka", 0, "DEBUG")], BROKER_LOGGER)["error_code"] == ErrorCode.INVALID_REQUEST
    assert dict(node.controller.topic("t").configs) == {"retention.bytes": "5000", THROTTLED: "1:1"}

    assert alter("1", [("log.retention.ms", 0, "9000")], BROKER)["error_code"] == 0
    assert alter("2", [("log.retention.ms", 0, "9000")], BROKER)["error_code"] == ErrorCode.INVALID_REQUEST
    assert node.controller.image.broker_configs["1"] == {"log.retention.ms": "9000"}


def test_incremental_validate_only_changes_nothing(node: Node) -> None:
    node.create_topic("t")
    [res] = node.call(INCREMENTAL_ALTER, 1, {"validate_only": True, "resources": [
        {"resource_type": TOPIC, "resource_name": "t",
         "configs": [{"name": "retention.ms", "config_operation": 0, "value": "5"}]}]})["responses"]
    assert res["error_code"] == ErrorCode.NONE and dict(node.controller.topic("t").configs) == {}


# ---------------------------------------------------------------- CreatePartitions
@pytest.mark.parametrize("version", versions(CREATE_PARTITIONS))
def test_create_partitions(node: Node, version: int) -> None:
    node.create_topic("t", partitions=2)
    node.create_topic("u", partitions=1)

    def grow(topics: list[tuple[str, int, list[list[int]] | None]], validate_only: bool = False) -> list:
        return node.call(CREATE_PARTITIONS, version, {"timeout": 5000, "validate_only": validate_only, "topics": [
            {"name": n, "count": c, "assignments": None if a is None else [{"broker_ids": r} for r in a]}
            for n, c, a in topics]})["results"]

    [ok] = grow([("t", 4, None)], validate_only=True)
    assert ok["error_code"] == ErrorCode.NONE and len(node.controller.topic("t").partitions) == 2
    ok, manual = grow([("t", 4, None), ("u", 2, [[1]])])
    assert ok["error_code"] == manual["error_code"] == ErrorCode.NONE
    assert len(node.controller.topic("t").partitions) == 4 and len(node.controller.topic("u").partitions) == 2

    lower, same, missing = grow([("t", 3, None), ("u", 2, None), ("nope", 3, None)])
    [bad_assign] = grow([("u", 3, [[7]])])
    assert lower["error_code"] == same["error_code"] == ErrorCode.INVALID_PARTITIONS and lower["error_message"]
    assert missing["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert bad_assign["error_code"] == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    first, second = grow([("t", 9, None), ("t", 9, None)])
    assert first["error_code"] == second["error_code"] == ErrorCode.INVALID_REQUEST
    assert len(node.controller.topic("t").partitions) == 4


# ---------------------------------------------------------------- DescribeCluster
@pytest.mark.parametrize("version", versions(DESCRIBE_CLUSTER))
def test_describe_cluster(node: Node, version: int) -> None:
    request: dict[str, Any] = {"include_cluster_authorized_operations": True, "include_fenced_brokers": True}
    res = node.call(DESCRIBE_CLUSTER, version, request)
    assert res["error_code"] == ErrorCode.NONE and res["cluster_id"] == "test-cluster" and res["controller_id"] == 1
    brokers = [(b["broker_id"], b["host"], b["port"], b["rack"]) for b in res["brokers"]]
    assert brokers == [(1, "127.0.0.1", 19092, "r1")]
    assert res["cluster_authorized_operations"] == -2147483648
    if version >= 2:
        assert res["brokers"][0]["is_fenced"] is False
    # a registered but fenced broker shows only when v2 asks for fenced brokers
    if 2 not in node.metadata.image.brokers:
        asyncio.run(register(node.controller, 2, rack="r2", unfence=False))
    with_fenced = node.call(DESCRIBE_CLUSTER, version, request)
    shown = {b["broker_id"]: b.get("is_fenced") for b in with_fenced["brokers"]}
    assert shown == ({1: False, 2: True} if version >= 2 else {1: None})
    without = node.call(DESCRIBE_CLUSTER, version, {**request, "include_fenced_brokers": False})
    assert [b["broker_id"] for b in without["brokers"]] == [1]
    if version >= 1:
        controllers = node.call(DESCRIBE_CLUSTER, version, {**request, "endpoint_type": 2})
        assert controllers["endpoint_type"] == 2 and [b["broker_id"] for b in controllers["brokers"]] == [1]
        wrong = node.call(DESCRIBE_CLUSTER, version, {**request, "endpoint_type": 3})
        assert wrong["error_code"] == ErrorCode.UNSUPPORTED_ENDPOINT_TYPE and wrong["brokers"] == []


@pytest.mark.parametrize("value", ["compact", "compact,delete", "delete,compact"])
def test_compaction_is_accepted(node: Node, value: str) -> None:
    """cleanup.policy=compact (alone or with delete) is accepted at CreateTopics, AlterConfigs and
    IncrementalAlterConfigs, and as the dynamic broker default."""
    [created] = node.call(CREATE_TOPICS, 7, {"timeout_ms": 1000, "validate_only": False, "topics": [
        {"name": "c", "num_partitions": 1, "replication_factor": 1, "assignments": [],
         "configs": [{"name": "cleanup.policy", "value": value}]}]})["topics"]
    assert created["error_code"] == ErrorCode.NONE
    assert node.controller.topic("c").configs["cleanup.policy"] == value
    node.create_topic("t")
    [res] = node.call(INCREMENTAL_ALTER, 1, {"validate_only": False, "resources": [
        {"resource_type": TOPIC, "resource_name": "t",
         "configs": [{"name": "cleanup.policy", "config_operation": 0, "value": value}]}]})["responses"]
    assert res["error_code"] == ErrorCode.NONE
    [res] = node.call(ALTER_CONFIGS, 2, {"validate_only": False, "resources": [
        {"resource_type": TOPIC, "resource_name": "t", "configs": [{"name": "cleanup.policy", "value": value}]}]}
    )["responses"]
    assert res["error_code"] == ErrorCode.NONE
    [res] = node.call(INCREMENTAL_ALTER, 1, {"validate_only": False, "resources": [
        {"resource_type": BROKER, "resource_name": "",
         "configs": [{"name": "log.cleanup.policy", "config_operation": 0, "value": value}]}]})["responses"]
    assert res["error_code"] == ErrorCode.NONE


@pytest.mark.parametrize("op, value", [(0, "bogus"), (0, "compact,bogus"), (2, "bogus")])
def test_a_bogus_cleanup_policy_is_refused_and_changes_nothing(node: Node, op: int, value: str) -> None:
    """cleanup.policy=bogus is INVALID_CONFIG (Kafka's ValidList) everywhere and changes nothing."""
    [created] = node.call(CREATE_TOPICS, 7, {"timeout_ms": 1000, "validate_only": False, "topics": [
        {"name": "c", "num_partitions": 1, "replication_factor": 1, "assignments": [],
         "configs": [{"name": "cleanup.policy", "value": value}]}]})["topics"]
    assert created["error_code"] == ErrorCode.INVALID_CONFIG and "bogus" in created["error_message"]
    assert node.controller.topic("c") is None
    node.create_topic("t")
    [res] = node.call(INCREMENTAL_ALTER, 1, {"validate_only": False, "resources": [
        {"resource_type": TOPIC, "resource_name": "t",
         "configs": [{"name": "cleanup.policy", "config_operation": op, "value": value}]}]})["responses"]
    assert res["error_code"] == ErrorCode.INVALID_CONFIG and "bogus" in res["error_message"]
    [res] = node.call(ALTER_CONFIGS, 2, {"validate_only": False, "resources": [
        {"resource_type": TOPIC, "resource_name": "t", "configs": [{"name": "cleanup.policy", "value": value}]}]}
    )["responses"]
    assert res["error_code"] == ErrorCode.INVALID_CONFIG and "bogus" in res["error_message"]
    assert "cleanup.policy" not in node.controller.topic("t").configs
