"""Admin requests that must fail do so with Kafka's error codes, and changed settings take effect.

Complements test_admin.py; one shared broker, unique topic names.
"""
from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic,
)

from conftest import unique

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def admin(shared_broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": shared_broker.bootstrap})


def error_of(fut) -> str:
    with pytest.raises(KafkaException) as exc:
        fut.result(10)
    return exc.value.args[0].name()


def topic_configs(admin: AdminClient, topic: str) -> dict:
    key = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([key])[key].result(10)


def make(admin: AdminClient, partitions: int = 1, config: dict | None = None) -> str:
    name = unique("adm")
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(10)
    return name


@pytest.mark.parametrize("partitions,config,error", [
    (0, {}, "INVALID_PARTITIONS"),
    (1, {"retention.ms": "-5"}, "INVALID_CONFIG"),  # at least -1
    (1, {"no.such.setting": "1"}, "INVALID_CONFIG"),
    (1, {"segment.bytes": "16384"}, "INVALID_CONFIG"),  # below Kafka 4's minimum of 1 MiB
    (1, {"cleanup.policy": "shred"}, "INVALID_CONFIG"),
])
def test_create_topic_rejects_bad_requests(admin, partitions, config, error):
    name = unique("bad")
    assert error_of(admin.create_topics([NewTopic(name, partitions, 1, config=config)])[name]) == error
    assert name not in admin.list_topics(timeout=5).topics


@pytest.mark.parametrize("name", ["x" * 250, ".", "..", "has space", "ümlaut"])
def test_create_topic_rejects_bad_names(admin, name):
    fut = admin.create_topics([NewTopic(name, 1, 1)])[name]
    assert error_of(fut) == "TOPIC_EXCEPTION"  # INVALID_TOPIC_EXCEPTION, code 17


def test_default_partitions_and_replication(admin, shared_broker):
    name = unique("dflt")
    admin.create_topics([NewTopic(name)])[name].result(10)  # -1/-1: the broker's defaults
    md = admin.list_topics(name, timeout=5).topics[name]
    assert len(md.partitions) == 1 and md.partitions[0].replicas == [1]


def test_validate_only_on_an_existing_topic_reports_it(admin):
    name = make(admin)
    assert error_of(admin.create_topics([NewTopic(name, 1, 1)], validate_only=True)[name]) == "TOPIC_ALREADY_EXISTS"


def test_unknown_topic_errors(admin):
    name = unique("ghost")
    assert error_of(admin.delete_topics([name])[name]) == "UNKNOWN_TOPIC_OR_PART"
    assert error_of(admin.create_partitions([NewPartitions(name, 3)])[name]) == "UNKNOWN_TOPIC_OR_PART"
    key = ConfigResource(ConfigResource.Type.TOPIC, name)
    assert error_of(admin.describe_configs([key])[key]) == "UNKNOWN_TOPIC_OR_PART"


def test_create_partitions_validate_only_and_same_count(admin):
    name = make(admin, 2)
    admin.create_partitions([NewPartitions(name, 4)], validate_only=True)[name].result(10)
    assert len(admin.list_topics(name, timeout=5).topics[name].partitions) == 2
    assert error_of(admin.create_partitions([NewPartitions(name, 2)])[name]) == "INVALID_PARTITIONS"


def test_new_partitions_are_usable(admin, shared_broker):
    name = make(admin, 1)
    admin.create_partitions([NewPartitions(name, 3)])[name].result(10)
    p = Producer({"bootstrap.servers": shared_broker.bootstrap, "topic.metadata.refresh.interval.ms": 500})
    delivered = []
    for part in range(3):
        p.produce(name, value=b"x", partition=part, on_delivery=lambda err, msg: delivered.append((err, msg)))
    assert p.flush(15) == 0
    assert sorted((err, m.partition(), m.offset()) for err, m in delivered) == [(None, 0, 0), (None, 1, 0), (None, 2, 0)]


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")
def test_alter_configs_replaces_the_whole_set(admin):
    name = make(admin, config={"retention.ms": "123456", "max.message.bytes": "50000"})
    resource = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"retention.bytes": "999999"})
    admin.alter_configs([resource])[resource].result(10)
    res = topic_configs(admin, name)
    assert res["retention.bytes"].value == "999999" and res["retention.bytes"].source == 1
    assert res["retention.ms"].value != "123456" and res["retention.ms"].source != 1  # back to the default
    assert res["max.message.bytes"].source != 1


def test_incremental_delete_and_subtract(admin):
    name = make(admin, config={"retention.ms": "123456", "leader.replication.throttled.replicas": "0:1,1:1"})
    resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("leader.replication.throttled.replicas", "1:1", incremental_operation=AlterConfigOpType.SUBTRACT)])
    admin.incremental_alter_configs([resource])[resource].result(10)
    res = topic_configs(admin, name)
    assert res["retention.ms"].value == "604800000" and res["retention.ms"].source != 1
    assert res["leader.replication.throttled.replicas"].value == "0:1"


def test_validate_only_alter_changes_nothing(admin):
    name = make(admin, config={"retention.ms": "123456"})
    resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource], validate_only=True)[resource].result(10)
    assert topic_configs(admin, name)["retention.ms"].value == "123456"


def test_max_message_bytes_change_takes_effect_on_produce(admin, shared_broker):
    name = make(admin, config={"max.message.bytes": "100000"})
    p = Producer({"bootstrap.servers": shared_broker.bootstrap, "message.timeout.ms": 5000, "retries": 0})
    results: list = []
    p.produce(name, value=b"a" * 50_000, on_delivery=lambda err, msg: results.append(err))
    p.flush(10)
    assert results == [None]
    resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("max.message.bytes", "10000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(10)
    p.produce(name, value=b"b" * 50_000, on_delivery=lambda err, msg: results.append(err))
    p.flush(10)
    assert results[1] is not None and results[1].code() == KafkaError.MSG_SIZE_TOO_LARGE


def test_kafka_python_admin_errors_and_partitions(shared_broker):
    from kafka.admin import ConfigResource as KCR, ConfigResourceType, KafkaAdminClient, NewPartitions as KNP
    from kafka.admin import NewTopic as KNewTopic
    from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
    admin = KafkaAdminClient(bootstrap_servers=shared_broker.bootstrap)
    try:
        name = unique("kpa")
        admin.create_topics([KNewTopic(name, 2, 1, topic_configs={"retention.ms": "7777777"})])
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([KNewTopic(name, 2, 1)], raise_errors=True)
        admin.create_partitions({name: KNP(4)})
        [desc] = [t for t in admin.describe_topics([name]) if t["name"] == name]
        assert len(desc["partitions"]) == 4 and desc["error_code"] == 0
        res = admin.describe_configs([KCR(ConfigResourceType.TOPIC, name)])["topic"][name]  # modified ones only
        assert res["retention.ms"]["value"] == "7777777"
        assert res["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        cluster = admin.describe_cluster()
        assert [b["broker_id"] for b in cluster["brokers"]] == [1] and cluster["controller_id"] == 1, cluster
        admin.delete_topics([name])
        assert name not in admin.list_topics()
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.delete_topics([name], raise_errors=True)
    finally:
        admin.close()


def test_partitions_beyond_the_open_file_limit_are_refused_up_front(strom_factory):
    """Each partition may keep 3 files open; a broker with 1,024 descriptors holds at most
    (1024 - 768) // 3 = 85 partitions, 50 of them __consumer_offsets.  Beyond that, creation fails
    with INVALID_PARTITIONS instead of half-creating partitions it cannot open."""
    import resource
    broker = strom_factory(limits={resource.RLIMIT_NOFILE: 1024})
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    too_many = a.create_topics([NewTopic("too-many", 40, 1)])["too-many"]
    with pytest.raises(KafkaException) as refused:
        too_many.result(10)
    assert refused.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    assert "open-file limit" in refused.value.args[0].str()
    a.create_topics([NewTopic("fits", 30, 1)])["fits"].result(10)
    grow = a.create_partitions([NewPartitions("fits", 40)])["fits"]
    with pytest.raises(KafkaException) as refused:
        grow.result(10)
    assert refused.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    assert "too-many" not in a.list_topics(timeout=10).topics
    assert len(a.list_topics(timeout=10).topics["fits"].partitions) == 30
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for part in range(30):
        p.produce("fits", b"x", partition=part)
    assert p.flush(10) == 0
