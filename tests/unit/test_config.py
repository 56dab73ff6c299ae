"""strom.config: tables, typing, properties files, environment mapping, precedence, validation."""
from __future__ import annotations

from pathlib import Path

import pytest

from strom.config import (
    BROKER_CONFIGS,
    DYNAMIC_BROKER_CONFIGS,
    LONG_MAX,
    TOPIC_CONFIGS,
    BrokerConfig,
    ConfigDef,
    ConfigError,
    Listener,
    OneOf,
    Password,
    QuorumVoter,
    Range,
    broker_config_synonyms,
    describe_broker_config,
    describe_topic_config,
    effective_segment_bytes,
    parse_listener,
    parse_properties,
    property_name_from_env,
    read_properties,
    validate_topic_configs,
)


def load(*overrides: str, env: dict[str, str] | None = None, properties_file: Path | None = None) -> BrokerConfig:
    return BrokerConfig.load(properties_file=properties_file, overrides=overrides, env=env or {})


# ---------------------------------------------------------------------------- tables
def test_every_definition_default_passes_its_own_validation() -> None:
    for table in (BROKER_CONFIGS, TOPIC_CONFIGS):
        for name, defn in table.items():
            assert defn.name == name
            assert defn.parse(defn.default) == defn.default or defn.type == "password"


def test_every_topic_synonym_is_a_broker_setting() -> None:
    for defn in TOPIC_CONFIGS.values():
        for synonym in defn.synonyms:
            assert synonym in BROKER_CONFIGS, (defn.name, synonym)


def test_brief_defaults() -> None:
    c = load()
    expected = {
        "node.id": 1, "process.roles": ["broker", "controller"], "listeners": ["PLAINTEXT://localhost:9092"],
        "advertised.listeners": None, "log.dir": "./data", "log.dirs": None, "num.partitions": 1,
        "default.replication.factor": 1, "min.insync.replicas": 1, "auto.create.topics.enable": True,
        "delete.topic.enable": True, "log.segment.bytes": 1073741824, "log.roll.hours": 168,
        "log.retention.hours": 168, "log.retention.bytes": -1, "log.retention.check.interval.ms": 300000,
        "log.segment.delete.delay.ms": 60000, "log.flush.interval.messages": LONG_MAX,
        "log.flush.scheduler.interval.ms": LONG_MAX, "log.index.interval.bytes": 4096,
        "log.index.size.max.bytes": 10485760, "log.message.timestamp.type": "CreateTime",
        "log.cleanup.policy": ["delete"], "message.max.bytes": 1048588, "socket.request.max.bytes": 104857600,
        "max.connections": 2147483647, "connections.max.idle.ms": 600000, "offsets.topic.num.partitions": 50,
        "offsets.topic.replication.factor": 1, "offsets.retention.minutes": 10080,
        "group.initial.rebalance.delay.ms": 3000, "group.min.session.timeout.ms": 6000,
        "group.max.session.timeout.ms": 1800000, "transaction.state.log.num.partitions": 50,
        "producer.id.expiration.ms": 86400000, "unclean.leader.election.enable": False,
        "replica.lag.time.max.ms": 30000, "strom.http.port": None, "compression.type": "producer",
        "controller.quorum.voters": [], "controller.quorum.bootstrap.servers": [],
    }
    for name, value in expected.items():
        assert c[name] == value, name


def test_strom_only_settings_have_the_strom_prefix() -> None:
    for name, defn in BROKER_CONFIGS.items():
        if "Strom-only" in defn.note:
            assert name.startswith("strom."), name


def test_differing_defaults_are_marked() -> None:
    assert BROKER_CONFIGS["log.dir"].default_differs
    assert BROKER_CONFIGS["log.dir"].kafka_default == "/tmp/kafka-logs"
    assert BROKER_CONFIGS["offsets.topic.replication.factor"].kafka_default == 3
    assert BROKER_CONFIGS["num.io.threads"].support == "ignored"
    assert BROKER_CONFIGS["num.network.threads"].support == "ignored"


def test_config_def_rejects_unknown_type() -> None:
    with pytest.raises(ValueError):
        ConfigDef("x", "float", 1.0, "doc")


# ---------------------------------------------------------------------------- typing
@pytest.mark.parametrize(("name", "text", "value"), [
    ("num.partitions", " 12 ", 12),
    ("num.partitions", "+3", 3),
    ("log.retention.bytes", "-1", -1),
    ("log.retention.ms", "9223372036854775807", LONG_MAX),
    ("auto.create.topics.enable", "FALSE", False),
    ("auto.create.topics.enable", "True", True),
    ("log.cleaner.min.cleanable.ratio", "0.25", 0.25),
    ("log.cleaner.min.cleanable.ratio", "1", 1.0),
    ("log.cleanup.policy", " compact , delete ", ["compact", "delete"]),
    ("controller.quorum.voters", "", []),
    ("log.message.timestamp.type", " LogAppendTime ", "LogAppendTime"),
    ("offsets.topic.replication.factor", "3", 3),
    ("group.consumer.migration.policy", "UPGRADE", "UPGRADE"),
])
def test_values_are_typed(name: str, text: str, value: object) -> None:
    assert load(f"{name}={text}")[name] == value


@pytest.mark.parametrize(("name", "text", "reason"), [
    ("num.partitions", "abc", "whole number"),
    ("num.partitions", "1.5", "whole number"),
    ("num.partitions", "1_000", "whole number"),
    ("num.partitions", "0", "at least 1"),
    ("num.partitions", "2147483648", "out of range"),
    ("offsets.topic.replication.factor", "40000", "out of range"),
    ("log.retention.ms", "9223372036854775808", "out of range"),
    ("auto.create.topics.enable", "yes", "true or false"),
    ("log.cleaner.min.cleanable.ratio", "1.5", "between 0 and 1"),
    ("log.cleaner.min.cleanable.ratio", "nan", "number"),
    ("log.cleanup.policy", "delete,forever", "not one of"),
    ("log.message.timestamp.type", "createtime", "not one of"),
    ("compression.type", "brotli", "not one of"),
    ("log.segment.bytes", "1048575", "at least 1048576"),
    ("listeners", "localhost:9092", "NAME://host:port"),
    ("listeners", "PLAINTEXT://localhost:99999", "out of range"),
    ("process.roles", "broker,zookeeper", "not one of"),
    ("process.roles", "", "must contain"),
    ("controller.quorum.voters", "1@localhost", "id@host:port"),
    ("controller.quorum.voters", "x@localhost:9093", "id@host:port"),
    ("strom.http.port", "70000", "between 0 and 65535"),
    ("log.dirs", "/a,/a", "twice"),
    ("node.id", "-1", "at least 0"),
    ("group.consumer.migration.policy", "sideways", "not one of"),
])
def test_invalid_values_name_setting_source_and_reason(name: str, text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(f"{name}={text}")
    message = str(info.value)
    assert f"'{name}'" in message
    assert "(from --override)" in message
    assert reason in message
    assert info.value.setting == name
    assert info.value.source == "--override"


def test_config_error_carries_setting_source_and_message() -> None:
    with pytest.raises(ConfigError) as info:
        load("num.partitions=x")
    assert info.value.setting == "num.partitions"
    assert info.value.source == "--override"
    assert info.value.message == str(info.value)


def test_empty_value_of_a_nullable_number_means_unset() -> None:
    c = load("log.retention.ms=", "log.retention.hours=1")
    assert c["log.retention.ms"] == 3_600_000


def test_password_is_hidden() -> None:
    secret = Password("s3cret")
    assert str(secret) == repr(secret) == "[hidden]"
    assert secret.value == "s3cret"
    assert Password("a") == Password("a")


def test_validators_describe_themselves() -> None:
    assert str(Range(1, None)) == "[1,...]"
    assert str(Range(0, 1)) == "[0,...,1]"
    assert str(OneOf(("a", "b"))) == "[a, b]"
    OneOf(("Delete",), case_sensitive=False)("delete")


# ---------------------------------------------------------------------------- unknown names
def test_unknown_override_names_the_setting_and_source() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'foo\.bar' \(from --override\)"):
        load("foo.bar=1")


def test_unknown_name_suggests_a_close_match() -> None:
    with pytest.raises(ConfigError, match="did you mean 'log.retention.ms'"):
        load("log.retention.msec=1")


def test_topic_name_given_to_the_broker_points_to_the_broker_synonym() -> None:
    with pytest.raises(ConfigError, match="broker-wide default is 'log.retention.ms'"):
        load("retention.ms=1")


def test_override_without_equals_is_an_error() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        load("num.partitions")


def test_override_value_may_contain_equals() -> None:
    assert load("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,A=B:SSL")["listener.security.protocol.map"] == [
        "PLAINTEXT:PLAINTEXT", "A=B:SSL"]


# ---------------------------------------------------------------------------- properties files
def test_parse_properties_java_syntax() -> None:
    text = (
        "# comment\n"
        "! also a comment\n"
        "   \n"
        "a=1\n"
        "b : 2\n"
        "c 3\n"
        "d\t=\t4  \n"
        "e=\n"
        "f\n"
        "g = x = y\n"
        "long = one, \\\n"
        "       two, \\\n"
        "   three\n"
        "key\\ with\\:seps = v\n"
        "uni=\\u00e9\\t\\n\n"
        "# comment ending in backslash \\\n"
        "h=after\n"
        "i=ends with even backslashes\\\\\n"
        "j=k\r\n"
        "l=m\r"
        "n=o"
    )
    entries = parse_properties(text)
    got = {k: v for k, v, _ in entries}
    assert got == {
        "a": "1", "b": "2", "c": "3", "d": "4  ", "e": "", "f": "", "g": "x = y",
        "long": "one, two, three", "key with:seps": "v", "uni": "é\t\n", "h": "after",
        "i": "ends with even backslashes\\", "j": "k", "l": "m", "n": "o",
    }
    assert [line for k, _, line in entries if k in ("a", "long", "h")] == [4, 11, 17]


def test_continuation_line_starting_with_hash_is_not_a_comment() -> None:
    assert parse_properties("a=x\\\n#y\n") == [("a", "x#y", 1)]


def test_properties_last_occurrence_wins(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=2\nnum.partitions=5\n")
    assert read_properties(path) == {"num.partitions": "5"}
    assert load(properties_file=path)["num.partitions"] == 5


def test_kafka_default_server_properties_load(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text(
        "process.roles=broker,controller\n"
        "node.id=1\n"
        "controller.quorum.bootstrap.servers=localhost:9093\n"
        "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n"
        "inter.broker.listener.name=PLAINTEXT\n"
        "advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093\n"
        "controller.listener.names=CONTROLLER\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n"
        "num.network.threads=3\n"
        "num.io.threads=8\n"
        "socket.send.buffer.bytes=102400\n"
        "socket.receive.buffer.bytes=102400\n"
        "socket.request.max.bytes=104857600\n"
        "log.dirs=/tmp/kraft-combined-logs\n"
        "num.partitions=1\n"
        "num.recovery.threads.per.data.dir=1\n"
        "offsets.topic.replication.factor=1\n"
        "share.coordinator.state.topic.replication.factor=1\n"
        "share.coordinator.state.topic.min.isr=1\n"
        "transaction.state.log.replication.factor=1\n"
        "transaction.state.log.min.isr=1\n"
        "log.retention.hours=168\n"
        "log.segment.bytes=1073741824\n"
        "log.retention.check.interval.ms=300000\n"
    )
    c = load(properties_file=path)
    assert c.listeners == [Listener("PLAINTEXT", "", 9092), Listener("CONTROLLER", "", 9093)]
    assert c.controller_listeners == [Listener("CONTROLLER", "", 9093)]
    assert c.broker_listeners == [Listener("PLAINTEXT", "", 9092)]
    assert c.advertised_listeners == [Listener("PLAINTEXT", "localhost", 9092),
                                      Listener("CONTROLLER", "localhost", 9093)]
    assert c.data_dirs == [Path("/tmp/kraft-combined-logs")]
    assert c.quorum_bootstrap_servers == [("localhost", 9093)]
    assert c.inter_broker_listener_name == "PLAINTEXT"
    assert c.security_protocol("controller") == "PLAINTEXT"
    c.check_implemented()  # Kafka's own development file is served (the controller listener is not bound)


def test_error_in_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("# header\nnum.partitions=1\nlog.retention.hours=soon\n")
    with pytest.raises(ConfigError, match=r"'log.retention.hours' \(from server.properties line 3\)"):
        load(properties_file=path)


def test_unknown_name_in_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broker.properties"
    path.write_text("zookeeper.connect=localhost:2181\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'zookeeper.connect' \(from broker.properties line 1\)"):
        load(properties_file=path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read properties file"):
        load(properties_file=tmp_path / "nope.properties")


def test_latin1_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_bytes("log.dir=/data/caf\u00e9\n".encode("latin-1"))
    assert load(properties_file=path)["log.dir"] == "/data/caf\u00e9"


# ---------------------------------------------------------------------------- environment
@pytest.mark.parametrize(("var", "name"), [
    ("KAFKA_LOG_RETENTION_MS", "log.retention.ms"),
    ("KAFKA_NODE_ID", "node.id"),
    ("KAFKA_ADVERTISED_LISTENERS", "advertised.listeners"),
    ("STROM_NUM_PARTITIONS", "num.partitions"),
    ("KAFKA_SOME__UNDERSCORE", "some_underscore"),
    ("KAFKA_SOME___DASH", "some-dash"),
    ("KAFKA_A___B__C_D", "a-b_c.d"),
    ("STROM_HTTP_PORT", "strom.http.port"),
    ("STROM_STROM_HTTP_PORT", "strom.http.port"),
    ("KAFKA_STROM_HTTP_PORT", "strom.http.port"),
    ("KAFKA_HEAP_OPTS", None),
    ("KAFKA_OPTS", None),
    ("KAFKA_JMX_OPTS", None),
    ("KAFKA_LOG4J_OPTS", None),
    ("KAFKA_JVM_PERFORMANCE_OPTS", None),
    ("KAFKA_GC_LOG_OPTS", None),
    ("KAFKA_DEBUG", None),
    ("KAFKA_VERSION", None),
    ("KAFKA_HOME", None),
    ("STROM_BENCH_HOME", None),
    ("STROM_BOOTSTRAP_SERVERS", None),
    ("STROM_LOG_LEVEL", None),
    ("STROM_TEST_ANYTHING", None),
    ("KAFKA_", None),
    ("PATH", None),
    ("kafka_node_id", None),
])
def test_env_mapping(var: str, name: str | None) -> None:
    assert property_name_from_env(var) == name


def test_env_sets_values_and_ignores_non_config_variables() -> None:
    env = {
        "KAFKA_NUM_PARTITIONS": "3", "STROM_LOG_DIRS": "/d1,/d2", "KAFKA_HEAP_OPTS": "-Xmx1G",
        "KAFKA_OPTS": "-Dx", "STROM_TEST_PORT": "whatever", "HOME": "/root", "STROM_HTTP_PORT": "8080",
    }
    c = load(env=env)
    assert c["num.partitions"] == 3
    assert c.data_dirs == [Path("/d1"), Path("/d2")]
    assert c.http_port == 8080
    assert c.origin("num.partitions") == "environment variable KAFKA_NUM_PARTITIONS"


def test_unknown_env_setting_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'zookeeper.connect' "
                                          r"\(from environment variable KAFKA_ZOOKEEPER_CONNECT\)"):
        load(env={"KAFKA_ZOOKEEPER_CONNECT": "zk:2181"})


def test_invalid_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"'num.partitions' \(from environment variable STROM_NUM_PARTITIONS\)"):
        load(env={"STROM_NUM_PARTITIONS": "many"})


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STROM_NUM_PARTITIONS", "7")
    assert BrokerConfig.load()["num.partitions"] == 7
    assert BrokerConfig.load(env={})["num.partitions"] == 1


# ---------------------------------------------------------------------------- precedence
def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=2\ndefault.replication.factor=2\nmin.insync.replicas=2\nnode.id=2\n")
    env = {"KAFKA_DEFAULT_REPLICATION_FACTOR": "3", "KAFKA_MIN_INSYNC_REPLICAS": "3",
           "STROM_MIN_INSYNC_REPLICAS": "4", "KAFKA_NODE_ID": "3"}
    c = load("node.id=5", env=env, properties_file=path)
    assert c["num.partitions"] == 2  # file
    assert c["default.replication.factor"] == 3  # env beats file
    assert c["min.insync.replicas"] == 4  # STROM_ beats KAFKA_
    assert c["node.id"] == 5  # override beats env
    assert c["num.io.threads"] == 8  # default
    assert c.origin("num.partitions") == "server.properties line 1"
    assert c.origin("node.id") == "--override"
    assert c.origin("num.io.threads") is None


def test_text_prints_values_as_kafka_does() -> None:
    c = load("log.cleanup.policy=compact,delete", "auto.create.topics.enable=FALSE")
    assert c.text("log.cleanup.policy") == "compact,delete"
    assert c.text("auto.create.topics.enable") == "false"
    assert c.text("log.cleaner.min.cleanable.ratio") == "0.5"
    assert c.text("advertised.listeners") == ""
    assert "num.partitions" not in repr(c)


def test_later_override_wins() -> None:
    assert load("num.partitions=2", "num.partitions=3")["num.partitions"] == 3


def test_explicit_lists_only_what_the_user_set() -> None:
    c = load("num.partitions=4", "log.retention.hours=1")
    assert c.explicit() == {"num.partitions": 4, "log.retention.hours": 1}
    assert c.is_explicit("num.partitions")
    assert not c.is_explicit("log.retention.ms")


def test_items_cover_every_setting() -> None:
    c = load()
    assert dict(c.items()).keys() == BROKER_CONFIGS.keys()
    assert c.get("no.such.setting", "x") == "x"
    assert "num.partitions" in c
    with pytest.raises(KeyError, match="did you mean"):
        c["num.partition"]


def test_with_overrides_returns_a_new_config() -> None:
    c = load("num.partitions=2")
    d = c.with_overrides(log_retention_ms=1000, **{"log.dirs": ["/x,y"]})
    assert c["log.retention.ms"] == 7 * 24 * 3_600_000
    assert d["log.retention.ms"] == 1000
    assert d["num.partitions"] == 2
    assert d.data_dirs == [Path("/x,y")]
    with pytest.raises(ConfigError):
        c.with_overrides(num_partitions="none")
    with pytest.raises(ConfigError):
        c.with_overrides(num_partitions=True)
    assert c == load("num.partitions=2")


# ---------------------------------------------------------------------------- derived settings
@pytest.mark.parametrize(("overrides", "expected"), [
    ((), 168 * 3_600_000),
    (("log.retention.hours=1",), 3_600_000),
    (("log.retention.minutes=5", "log.retention.hours=1"), 300_000),
    (("log.retention.ms=1234", "log.retention.minutes=5", "log.retention.hours=1"), 1234),
    (("log.retention.ms=-1",), -1),
    (("log.retention.ms=-5",), -1),
    (("log.retention.hours=-1",), -1),
    (("log.retention.minutes=-1", "log.retention.hours=5"), -1),
])
def test_retention_ms_beats_minutes_beats_hours(overrides: tuple[str, ...], expected: int) -> None:
    c = load(*overrides)
    assert c["log.retention.ms"] == expected
    assert c.topic_defaults()["retention.ms"] == expected


def test_roll_jitter_and_flush_are_derived() -> None:
    c = load("log.roll.hours=2", "log.roll.jitter.hours=1", "log.flush.scheduler.interval.ms=500")
    assert c["log.roll.ms"] == 7_200_000
    assert c["log.roll.jitter.ms"] == 3_600_000
    assert c["log.flush.interval.ms"] == 500
    d = load("log.roll.ms=10", "log.roll.hours=2", "log.roll.jitter.ms=3", "log.flush.interval.ms=20")
    assert (d["log.roll.ms"], d["log.roll.jitter.ms"], d["log.flush.interval.ms"]) == (10, 3, 20)
    assert d.topic_defaults()["segment.ms"] == 10
    assert d.topic_defaults()["segment.jitter.ms"] == 3
    assert d.topic_defaults()["flush.ms"] == 20


def test_broker_id_is_a_fallback_for_node_id() -> None:
    assert load("broker.id=7")["node.id"] == 7
    assert load("broker.id=7", "node.id=7").node_id == 7
    with pytest.raises(ConfigError, match="must equal node.id"):
        load("broker.id=7", "node.id=8")


def test_topic_defaults_follow_broker_settings() -> None:
    c = load("log.segment.bytes=2097152", "message.max.bytes=100", "log.cleanup.policy=compact",
             "min.insync.replicas=2", "compression.type=zstd", "log.cleaner.delete.retention.ms=5",
             "log.segment.delete.delay.ms=6", "log.message.timestamp.type=LogAppendTime",
             "strom.internal.segment.bytes=1024")
    d = c.topic_defaults()
    assert d.keys() == TOPIC_CONFIGS.keys()
    assert d["segment.bytes"] == 2097152
    assert d["max.message.bytes"] == 100
    assert d["cleanup.policy"] == ["compact"]
    assert d["min.insync.replicas"] == 2
    assert d["compression.type"] == "zstd"
    assert d["delete.retention.ms"] == 5
    assert d["file.delete.delay.ms"] == 6
    assert d["message.timestamp.type"] == "LogAppendTime"
    assert d["internal.segment.bytes"] == 1024
    assert d["remote.storage.enable"] is False
    assert effective_segment_bytes(d) == 1024
    assert c.topic_default_source("segment.bytes") == "log.segment.bytes"
    assert c.topic_default_source("retention.ms") is None


def test_topic_defaults_of_default_broker_match_kafka_topic_defaults() -> None:
    d = load().topic_defaults()
    for name, defn in TOPIC_CONFIGS.items():
        assert d[name] == defn.default, name


def test_topic_defaults_are_copies() -> None:
    c = load()
    c.topic_defaults()["cleanup.policy"].append("compact")
    assert c.topic_defaults()["cleanup.policy"] == ["delete"]


# ---------------------------------------------------------------------------- listeners
@pytest.mark.parametrize(("text", "listener"), [
    ("PLAINTEXT://localhost:9092", Listener("PLAINTEXT", "localhost", 9092)),
    ("plaintext://127.0.0.1:0", Listener("PLAINTEXT", "127.0.0.1", 0)),
    ("PLAINTEXT://:9092", Listener("PLAINTEXT", "", 9092)),
    ("PLAINTEXT://0.0.0.0:9092", Listener("PLAINTEXT", "0.0.0.0", 9092)),
    ("SASL_SSL://[::1]:9093", Listener("SASL_SSL", "::1", 9093)),
    ("INTERNAL://broker-1.example.com:19092", Listener("INTERNAL", "broker-1.example.com", 19092)),
])
def test_parse_listener(text: str, listener: Listener) -> None:
    assert parse_listener(text) == listener


def test_listener_str_round_trips() -> None:
    for text in ("PLAINTEXT://localhost:9092", "SSL://[::1]:9093", "PLAINTEXT://:0"):
        assert str(parse_listener(text)) == text


@pytest.mark.parametrize("text", ["localhost:9092", "PLAINTEXT://localhost", "PLAINTEXT://host:port",
                                  "://host:1", "PLAINTEXT://host:-1"])
def test_parse_listener_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listener(text)


def test_listeners_and_advertised_listeners() -> None:
    c = load("listeners=PLAINTEXT://localhost:0,INTERNAL://127.0.0.1:0",
             "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT")
    assert c.listeners == [Listener("PLAINTEXT", "localhost", 0), Listener("INTERNAL", "127.0.0.1", 0)]
    assert c.advertised_listeners == c.listeners
    d = c.with_overrides(**{"advertised.listeners": "PLAINTEXT://public.example:9092"})
    assert d.advertised_listeners == [Listener("PLAINTEXT", "public.example", 9092)]


def test_wildcard_listener_advertises_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("strom.config.socket.getfqdn", lambda: "myhost.example")
    c = load("listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://:9093", "controller.listener.names=CONTROLLER",
             "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT")
    assert c.advertised_listeners == [Listener("PLAINTEXT", "myhost.example", 9092)]


@pytest.mark.parametrize(("overrides", "setting"), [
    (("listeners=PLAINTEXT://a:1,PLAINTEXT://b:2",), "listeners"),
    (("listeners=EXTERNAL://a:1",), "listeners"),  # not in the protocol map
    (("advertised.listeners=OTHER://a:1",), "advertised.listeners"),
    (("advertised.listeners=PLAINTEXT://0.0.0.0:9092",), "advertised.listeners"),
    (("inter.broker.listener.name=OTHER",), "inter.broker.listener.name"),
    (("controller.listener.names=CONTROLLER",), "controller.listener.names"),
    (("process.roles=broker", "listeners=PLAINTEXT://a:1,CONTROLLER://a:2", "controller.listener.names=CONTROLLER",
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"), "controller.listener.names"),
    (("controller.quorum.voters=1@a:1,1@b:2",), "controller.quorum.voters"),
    (("group.min.session.timeout.ms=10", "group.max.session.timeout.ms=5"), "group.min.session.timeout.ms"),
    (("listener.security.protocol.map=PLAINTEXT:TLS",), "listener.security.protocol.map"),
])
def test_cross_setting_rules(overrides: tuple[str, ...], setting: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(*overrides)
    assert f"'{setting}'" in str(info.value)
    assert info.value.setting == setting


def test_quorum_voters() -> None:
    c = load("controller.quorum.voters=1@localhost:9093,2@[::1]:9094")
    assert c.quorum_voters == [QuorumVoter(1, "localhost", 9093), QuorumVoter(2, "::1", 9094)]


def test_data_dirs() -> None:
    assert load().data_dirs == [Path("data")]
    assert load("log.dir=/var/strom").data_dirs == [Path("/var/strom")]
    assert load("log.dir=/var/strom", "log.dirs=/a, /b").data_dirs == [Path("/a"), Path("/b")]
    assert load("log.dir=~/strom").data_dirs == [Path("~/strom").expanduser()]


def test_security_protocol_lookup() -> None:
    c = load()
    assert c.security_protocol("PLAINTEXT") == "PLAINTEXT"
    with pytest.raises(ConfigError, match="listener.security.protocol.map"):
        c.security_protocol("NOPE")


# ---------------------------------------------------------------------------- topic configs
def test_validate_topic_configs_types_values() -> None:
    typed = validate_topic_configs({"retention.ms": "1000", "cleanup.policy": "compact,delete",
                                    "min.cleanable.dirty.ratio": "0.1", "preallocate": "true",
                                    "segment.bytes": "1048576", "max.message.bytes": 100, "flush.ms": None})
    assert typed == {"retention.ms": 1000, "cleanup.policy": ["compact", "delete"],
                     "min.cleanable.dirty.ratio": 0.1, "preallocate": True, "segment.bytes": 1048576,
                     "max.message.bytes": 100, "flush.ms": None}


@pytest.mark.parametrize(("props", "fragment"), [
    ({"retention.mss": "1"}, "unknown topic setting 'retention.mss'; did you mean 'retention.ms'"),
    ({"log.retention.ms": "1"}, "the topic setting is 'retention.ms'"),
    ({"retention.ms": "-2"}, "'retention.ms'"),
    ({"segment.bytes": "1024"}, "'segment.bytes'"),
    ({"cleanup.policy": "forever"}, "'cleanup.policy'"),
    ({"remote.storage.enable": "true"}, "tiered storage"),
    ({"min.insync.replicas": "0"}, "'min.insync.replicas'"),
    ({"message.timestamp.type": "Now"}, "'message.timestamp.type'"),
    ({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, "'max.compaction.lag.ms'"),
    ({"internal.segment.bytes": "10"}, "'internal.segment.bytes'"),
])
def test_validate_topic_configs_rejects(props: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_topic_configs(props)
    assert fragment in str(info.value)


def test_tiny_segments_for_tests_use_internal_segment_bytes() -> None:
    typed = validate_topic_configs({"internal.segment.bytes": "1024"})
    assert effective_segment_bytes({**load().topic_defaults(), **typed}) == 1024
    assert effective_segment_bytes(load().topic_defaults()) == 1073741824
    assert TOPIC_CONFIGS["internal.segment.bytes"].internal


# Kafka 4's dynamic broker settings (DynamicBrokerConfig.AllDynamicConfigs) among the ones Strom defines,
# read off Kafka's sources: the first server synonym of every topic setting (ServerTopicConfigSynonyms),
# DynamicThreadPool, DynamicListenerConfig/SocketServer, DynamicProducerStateManagerConfig. Written out
# so that a change to the table shows up here as a decision, not by accident.
KAFKA_DYNAMIC = {
    "log.segment.bytes", "log.roll.ms", "log.roll.jitter.ms", "log.index.size.max.bytes",
    "log.flush.interval.messages", "log.flush.interval.ms", "log.retention.bytes", "log.retention.ms",
    "message.max.bytes", "log.index.interval.bytes", "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", "log.segment.delete.delay.ms",
    "log.cleaner.min.cleanable.ratio", "log.cleanup.policy", "unclean.leader.election.enable",
    "min.insync.replicas", "compression.type", "compression.gzip.level", "compression.lz4.level",
    "compression.zstd.level", "log.preallocate", "log.message.timestamp.type",
    "log.message.timestamp.before.max.ms", "log.message.timestamp.after.max.ms", "log.local.retention.ms",
    "log.local.retention.bytes",
    "num.io.threads", "num.recovery.threads.per.data.dir",
    "num.network.threads", "max.connections", "max.connections.per.ip",
    "producer.id.expiration.ms",
}
# Kafka says per-broker; a running Strom node cannot rebind its sockets (docs/compatibility.md).
KAFKA_DYNAMIC_STROM_READ_ONLY = {"listeners", "listener.security.protocol.map"}
STROM_ONLY_DYNAMIC = {"strom.internal.segment.bytes"}  # the broker default of internal.segment.bytes


def test_dynamic_broker_settings_follow_kafka() -> None:
    assert DYNAMIC_BROKER_CONFIGS == KAFKA_DYNAMIC | STROM_ONLY_DYNAMIC
    assert not KAFKA_DYNAMIC_STROM_READ_ONLY & DYNAMIC_BROKER_CONFIGS
    for name, defn in BROKER_CONFIGS.items():
        assert defn.update_mode == ("cluster-wide" if name in DYNAMIC_BROKER_CONFIGS else "read-only"), name
    for read_only in ("advertised.listeners", "log.retention.hours", "log.retention.minutes", "log.roll.hours",
                      "log.flush.scheduler.interval.ms", "log.retention.check.interval.ms", "node.id",
                      "log.dirs", "process.roles", "controller.quorum.voters", "num.partitions"):
        assert BROKER_CONFIGS[read_only].update_mode == "read-only"
    with pytest.raises(ValueError, match="update mode"):
        ConfigDef("x", "int", 1, "doc", update_mode="per-node")


def test_broker_config_synonyms_as_kafka_lists_them() -> None:
    retention = ("log.retention.ms", "log.retention.minutes", "log.retention.hours")
    assert all(broker_config_synonyms(name) == retention for name in retention)
    assert broker_config_synonyms("log.roll.hours") == ("log.roll.ms", "log.roll.hours")
    assert broker_config_synonyms("log.roll.jitter.ms") == ("log.roll.jitter.ms", "log.roll.jitter.hours")
    assert broker_config_synonyms("log.flush.interval.ms") == ("log.flush.interval.ms",
                                                               "log.flush.scheduler.interval.ms")
    assert broker_config_synonyms("log.flush.scheduler.interval.ms") == ("log.flush.scheduler.interval.ms",)
    assert broker_config_synonyms("advertised.listeners") == ("advertised.listeners",)
    for defn in TOPIC_CONFIGS.values():  # a topic default resolves through the same chain DescribeConfigs lists
        if defn.synonyms:
            assert broker_config_synonyms(defn.synonyms[0]) == defn.synonyms, defn.name


def test_describe_configs() -> None:
    assert describe_topic_config("retention.ms").synonyms == (
        "log.retention.ms", "log.retention.minutes", "log.retention.hours")
    assert describe_topic_config("segment.ms").synonyms == ("log.roll.ms", "log.roll.hours")
    assert describe_topic_config("max.message.bytes").synonyms == ("message.max.bytes",)
    assert describe_broker_config("num.io.threads").support == "ignored"
    with pytest.raises(ConfigError, match="unknown topic setting 'nope'"):
        describe_topic_config("nope")
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        describe_broker_config("nope")


def test_topic_table_has_the_kafka_names_of_the_brief() -> None:
    for name in ("cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
                 "flush.messages", "flush.ms", "index.interval.bytes", "max.message.bytes",
                 "message.timestamp.type", "message.timestamp.before.max.ms", "message.timestamp.after.max.ms",
                 "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "max.compaction.lag.ms",
                 "min.insync.replicas", "preallocate", "retention.bytes", "retention.ms", "segment.bytes",
                 "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
                 "local.retention.ms", "local.retention.bytes", "remote.storage.enable"):
        assert name in TOPIC_CONFIGS, name


# ---------------------------------------------------------------- settings Strom cannot serve yet
@pytest.mark.parametrize("overrides, setting", [
    (("listeners=SSL://localhost:9093",), "listeners"),
    (("listeners=PLAINTEXT://:9092,SASL_PLAINTEXT://:9093",), "listeners"),
    (("listeners=A://:9092", "listener.security.protocol.map=A:SSL"), "listeners"),
    (("listeners=A://:9092,B://:9093", "listener.security.protocol.map=A:PLAINTEXT,B:PLAINTEXT"), "listeners"),
    (("process.roles=controller",), "process.roles"),
    (("controller.quorum.voters=1@localhost:9093,2@localhost:9094",), "controller.quorum.voters"),
    (("controller.quorum.voters=2@localhost:9093",), "controller.quorum.voters"),
    (("log.dirs=/a,/b",), "log.dirs"),
])
def test_check_implemented_refuses_what_strom_cannot_serve_yet(overrides, setting) -> None:
    config = load(*overrides)  # valid for Kafka ...
    with pytest.raises(ConfigError) as exc:
        config.check_implemented()  # ... but not served by Strom yet
    assert exc.value.setting == setting and "(from --override)" in str(exc.value)
    assert BROKER_CONFIGS[setting].support != "yes"  # and the reference does not call it honoured


@pytest.mark.parametrize("overrides", [
    (), ("controller.quorum.voters=1@localhost:9093",), ("log.cleanup.policy=delete",),
    ("listeners=PLAINTEXT://:9092,CONTROLLER://:9093", "controller.listener.names=CONTROLLER",
     "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"),
    ("listeners=CLIENT://:9092", "listener.security.protocol.map=CLIENT:PLAINTEXT"),
    ("strom.http.port=9644",), ("strom.http.port=0", "strom.http.host="),
])
def test_check_implemented_accepts_what_strom_serves(overrides) -> None:
    load(*overrides).check_implemented()


def test_compaction_is_accepted() -> None:
    from strom.config import check_topic_configs_implemented
    for value in ("compact", "compact,delete", " delete , compact", ["compact"]):
        check_topic_configs_implemented({"cleanup.policy": value})
    check_topic_configs_implemented({"log.cleanup.policy": "compact"})
    load("log.cleanup.policy=compact,delete").check_implemented()
    with pytest.raises(ConfigError, match="bogus"):
        load("log.cleanup.policy=bogus")
