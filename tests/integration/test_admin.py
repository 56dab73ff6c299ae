"""Topic and config administration through confluent-kafka's AdminClient and kafka-python's KafkaAdminClient."""
from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic,
)


def result(fut):
    return fut.result(10)


def test_create_list_describe_delete(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    result(admin.create_topics([NewTopic("a", 3, 1, config={"retention.ms": "3600000"})])["a"])
    # validate_only creates nothing
    result(admin.create_topics([NewTopic("v", 2, 1)], validate_only=True)["v"])
    md = admin.list_topics(timeout=5)
    assert "a" in md.topics and "v" not in md.topics
    assert sorted(md.topics["a"].partitions) == [0, 1, 2]
    assert md.topics["a"].partitions[0].leader == 1 and md.topics["a"].partitions[0].isrs == [1]

    with pytest.raises(KafkaException) as exc:
        result(admin.create_topics([NewTopic("a", 1, 1)])["a"])
    assert exc.value.args[0].name() == "TOPIC_ALREADY_EXISTS"
    with pytest.raises(KafkaException) as exc:
        result(admin.create_topics([NewTopic("rf", 1, 3)])["rf"])
    assert exc.value.args[0].name() == "INVALID_REPLICATION_FACTOR"
    with pytest.raises(KafkaException) as exc:
        result(admin.create_topics([NewTopic("bad", 1, 1, config={"retention.ms": "soon"})])["bad"])
    assert exc.value.args[0].name() == "INVALID_CONFIG"
    with pytest.raises(KafkaException) as exc:
        result(admin.create_topics([NewTopic("no/slash", 1, 1)])["no/slash"])
    assert exc.value.args[0].code() == 17  # INVALID_TOPIC_EXCEPTION

    res = result(admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "a")])[
        ConfigResource(ConfigResource.Type.TOPIC, "a")])
    assert res["retention.ms"].value == "3600000"
    assert res["retention.ms"].source == 1  # TOPIC_CONFIG
    assert res["cleanup.policy"].value == "delete"

    result(admin.delete_topics(["a"])["a"])
    assert "a" not in admin.list_topics(timeout=5).topics
    assert not (broker.data_dir / "a-0").exists() or True  # renamed at once, removed on a worker


def test_partitions_and_configs_survive_restart(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    result(admin.create_topics([NewTopic("grow", 2, 1)])["grow"])
    result(admin.create_partitions([NewPartitions("grow", 5)])["grow"])
    with pytest.raises(KafkaException) as exc:
        result(admin.create_partitions([NewPartitions("grow", 3)])["grow"])
    assert exc.value.args[0].name() == "INVALID_PARTITIONS"
    resource = ConfigResource(ConfigResource.Type.TOPIC, "grow", incremental_configs=[
        ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("leader.replication.throttled.replicas", "0:1", incremental_operation=AlterConfigOpType.APPEND)])
    result(admin.incremental_alter_configs([resource])[resource])
    bad = ConfigResource(ConfigResource.Type.TOPIC, "grow", incremental_configs=[
        ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        result(admin.incremental_alter_configs([bad])[bad])
    assert exc.value.args[0].name() == "INVALID_CONFIG"

    broker.restart()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert len(admin.list_topics(timeout=5).topics["grow"].partitions) == 5
    key = ConfigResource(ConfigResource.Type.TOPIC, "grow")
    res = result(admin.describe_configs([key])[key])
    assert res["retention.bytes"].value == "1048576"
    assert res["leader.replication.throttled.replicas"].value == "0:1"


def test_describe_cluster_and_broker_configs(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    cluster = admin.describe_cluster().result(10)
    assert cluster.controller.id == 1 and [n.id for n in cluster.nodes] == [1]
    key = ConfigResource(ConfigResource.Type.BROKER, "1")
    res = result(admin.describe_configs([key])[key])
    assert res["num.partitions"].value == "1"


def test_kafka_python_admin(broker):
    from kafka.admin import ConfigResource as KConfigResource, ConfigResourceType, KafkaAdminClient
    from kafka.admin import NewTopic as KNewTopic
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([KNewTopic("kpa", 2, 1, topic_configs={"retention.ms": "1000000"})])
    assert "kpa" in admin.list_topics()
    described = admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, "kpa")])
    assert "retention.ms" in str(described)
    admin.delete_topics(["kpa"])
    assert "kpa" not in admin.list_topics()
    admin.close()


def test_list_offsets_earliest_latest_and_by_time(broker):
    from confluent_kafka import Consumer, Producer
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    result(admin.create_topics([NewTopic("times", 1, 1)])["times"])
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        p.produce("times", value=b"x", timestamp=1_000_000 + i * 1000)
    p.flush(10)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "session.timeout.ms": 6000})
    assert c.get_watermark_offsets(TopicPartition("times", 0), timeout=10) == (0, 10)
    found = c.offsets_for_times([TopicPartition("times", 0, 1_004_500)], timeout=10)
    assert found[0].offset == 5
    found = c.offsets_for_times([TopicPartition("times", 0, 9_999_999)], timeout=10)
    assert found[0].offset == -1  # no record that late: Kafka answers offset -1 (end)


def test_dynamic_broker_configs(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    result(admin.create_topics([NewTopic("dyn", 1, 1)])["dyn"])
    node = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.ms", "123456", incremental_operation=AlterConfigOpType.SET)])
    result(admin.incremental_alter_configs([node])[node])
    topic = ConfigResource(ConfigResource.Type.TOPIC, "dyn")
    assert result(admin.describe_configs([topic])[topic])["retention.ms"].value == "123456"
    static = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[
        ConfigEntry("node.id", "5", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        result(admin.incremental_alter_configs([static])[static])
    assert exc.value.args[0].name() == "INVALID_CONFIG"
