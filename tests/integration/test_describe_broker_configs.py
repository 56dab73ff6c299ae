"""DescribeConfigs of a BROKER resource as Kafka 4 reports it, seen through real clients: the source
of a setting given at start-up, read_only for what cannot change at runtime, synonyms in Kafka's order."""
from __future__ import annotations

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

pytestmark = pytest.mark.timeout(60)

# port 0 in advertised.listeners: the node advertises the port it bound (see conftest: --listen 127.0.0.1:0)
STARTUP = {"advertised.listeners": "PLAINTEXT://127.0.0.1:0", "log.retention.hours": 24}


def test_kafka_python_sees_startup_settings_as_static_and_read_only(strom_factory):
    from kafka.admin import ConfigResource as KResource, ConfigResourceType, KafkaAdminClient
    broker = strom_factory(STARTUP)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        resource = KResource(ConfigResourceType.BROKER, 1)
        every = admin.describe_configs([resource], config_filter="all")["broker"]["1"]
        listeners = every["advertised.listeners"]
        assert listeners["config_source"] == "STATIC_BROKER_CONFIG"
        assert listeners["read_only"] is True and listeners["is_sensitive"] is False
        assert listeners["synonyms"] == [] and listeners["config_type"] == "LIST"
        assert listeners["value"] == "PLAINTEXT://127.0.0.1:0"
        assert every["listeners"]["config_source"] == "STATIC_BROKER_CONFIG"  # from --listen
        assert every["log.retention.ms"]["read_only"] is False
        assert every["log.retention.ms"]["config_source"] == "DEFAULT_CONFIG"
        assert every["num.partitions"]["config_source"] == "DEFAULT_CONFIG"
        # 'dynamic' keeps only what AlterConfigs accepts; each of those is accepted, the others are not
        dynamic = admin.describe_configs([resource], config_filter="dynamic")["broker"]["1"]
        assert "log.retention.ms" in dynamic and "max.connections" in dynamic
        assert not {"advertised.listeners", "log.retention.hours", "node.id"} & set(dynamic)
        with_synonyms = admin.describe_configs([KResource(ConfigResourceType.BROKER, 1, {"log.retention.hours": None})],
                                               include_synonyms=True, config_filter="all")["broker"]["1"]
        assert [(s["name"], s["value"], s["source"]) for s in with_synonyms["log.retention.hours"]["synonyms"]] == [
            ("log.retention.hours", "24", "STATIC_BROKER_CONFIG"), ("log.retention.hours", "168", "DEFAULT_CONFIG")]
    finally:
        admin.close()


def test_confluent_synonyms_in_kafka_order_and_read_only_refused(strom_factory):
    broker = strom_factory(STARTUP)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    node = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.ms", "5000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([node])[node].result(10)
    key = ConfigResource(ConfigResource.Type.BROKER, "1")
    configs = admin.describe_configs([key])[key].result(10)  # librdkafka asks for synonyms
    hours = configs["log.retention.hours"]
    assert (hours.value, hours.source, hours.is_read_only, hours.is_default) == (
        "24", ConfigSource.STATIC_BROKER_CONFIG.value, True, False)
    # librdkafka keys synonyms by name (a later entry of the same name replaces the earlier one's
    # value), so only the order of first appearance and the last entry per name can be seen here
    assert list(hours.synonyms) == ["log.retention.hours"]
    ms = configs["log.retention.ms"]
    assert (ms.value, ms.source, ms.is_read_only) == ("5000", ConfigSource.DYNAMIC_BROKER_CONFIG.value, False)
    assert list(ms.synonyms) == ["log.retention.ms", "log.retention.hours"]
    assert ms.synonyms["log.retention.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    # hours came twice, start-up (24) before the table default (168), which is the one kept
    assert (ms.synonyms["log.retention.hours"].value, ms.synonyms["log.retention.hours"].source) == (
        "168", ConfigSource.DEFAULT_CONFIG.value)
    listeners = configs["advertised.listeners"]
    assert (listeners.source, listeners.is_read_only) == (ConfigSource.STATIC_BROKER_CONFIG.value, True)
    static = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.hours", "1", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        admin.incremental_alter_configs([static])[static].result(10)
    assert exc.value.args[0].name() == "INVALID_CONFIG"
