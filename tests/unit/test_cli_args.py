"""The ``strom`` command without a broker: argument parsing, config building, output formats,
error reporting. Admin/producer/consumer clients are replaced by small fakes."""
from __future__ import annotations

import io
import json
import sys
import types
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, KafkaException

from strom.cli import _common, consume, produce, serve, topic
from strom.cli.main import build_parser, main
from strom.config import BrokerConfig, Listener

from ._futures import done


check_reachable = _common.check_reachable  # the real one, for its own test


@pytest.fixture(autouse=True)
def no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fakes stand in for the broker: skip main()'s TCP probe of the bootstrap addresses."""
    monkeypatch.setattr(_common, "check_reachable", lambda bootstrap: None)


def parse(*argv: str) -> Any:
    return build_parser().parse_args(list(argv))


# ---------------------------------------------------------------------------- top level
def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "topic", "produce", "consume"):
        assert command in out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: strom" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("strom ")


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_topic_needs_a_verb() -> None:
    with pytest.raises(SystemExit) as info:
        main(["topic"])
    assert info.value.code == 2


# ---------------------------------------------------------------------------- serve
def test_serve_flags_build_the_config(tmp_path: Path) -> None:
    args = parse("serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d,1"),
                 "--override", "num.partitions=3", "--log-level", "DEBUG")
    config = serve.build_config(args, env={})
    assert config.listeners == [Listener("PLAINTEXT", "127.0.0.1", 0)]
    assert config.data_dirs == [tmp_path / "d,1"]
    assert config["num.partitions"] == 3
    assert args.log_level == "debug"


def test_serve_explicit_flags_beat_overrides(tmp_path: Path) -> None:
    args = parse("serve", "--override", "listeners=PLAINTEXT://a:1", "--listen", "b:2",
                 "--override", "log.dirs=/x", "--data-dir", str(tmp_path))
    config = serve.build_config(args, env={})
    assert config.listeners == [Listener("PLAINTEXT", "b", 2)]
    assert config.data_dirs == [tmp_path]


def test_serve_ipv6_and_wildcard_listen() -> None:
    assert serve.build_config(parse("serve", "--listen", "[::1]:9092"), env={}).listeners == [
        Listener("PLAINTEXT", "::1", 9092)]
    assert serve.build_config(parse("serve", "--listen", ":9092"), env={}).listeners == [
        Listener("PLAINTEXT", "", 9092)]


@pytest.mark.parametrize("value", ["localhost", "localhost:http", "localhost:70000", ""])
def test_serve_rejects_bad_listen(value: str) -> None:
    with pytest.raises(SystemExit) as info:
        parse("serve", "--listen", value)
    assert info.value.code == 2


def test_serve_reads_the_properties_file(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=4\nlog.retention.hours=1\n")
    for argv in (["serve", str(path)], ["serve", "--config", str(path)]):
        config = serve.build_config(parse(*argv, "--override", "log.retention.hours=2"), env={})
        assert config["num.partitions"] == 4
        assert config["log.retention.ms"] == 2 * 3_600_000


def test_serve_env_sits_between_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=4\ndefault.replication.factor=1\n")
    args = parse("serve", str(path), "--override", "default.replication.factor=3")
    config = serve.build_config(args, env={"KAFKA_NUM_PARTITIONS": "5", "KAFKA_DEFAULT_REPLICATION_FACTOR": "2"})
    assert config["num.partitions"] == 5
    assert config["default.replication.factor"] == 3


@pytest.fixture
def fake_node(monkeypatch: pytest.MonkeyPatch) -> list[BrokerConfig]:
    seen: list[BrokerConfig] = []
    module = types.ModuleType("strom.node")

    def run(config: BrokerConfig) -> int:
        seen.append(config)
        return 3

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "strom.node", module)
    import strom

    monkeypatch.setattr(strom, "node", module, raising=False)
    for name in list(k for k in __import__("os").environ if k.startswith(("KAFKA_", "STROM_"))):
        monkeypatch.delenv(name)
    monkeypatch.setattr(serve, "configure_logging", lambda level, fmt="text": None)
    return seen


def test_serve_runs_the_node_and_returns_its_status(fake_node: list[BrokerConfig], tmp_path: Path) -> None:
    assert main(["serve", "--listen", "localhost:0", "--data-dir", str(tmp_path)]) == 3
    assert fake_node[0].listeners == [Listener("PLAINTEXT", "localhost", 0)]


def test_serve_config_error_is_one_line_and_exit_2(fake_node: list[BrokerConfig],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--override", "log.retention.hourz=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("strom serve: error: unknown setting 'log.retention.hourz' (from --override)")
    assert fake_node == []


def test_serve_bad_env_is_a_config_error(fake_node: list[BrokerConfig], monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KAFKA_NUM_PARTITIONS", "lots")
    assert main(["serve"]) == 2
    assert "environment variable KAFKA_NUM_PARTITIONS" in capsys.readouterr().err


def test_serve_two_different_files_is_an_error(fake_node: list[BrokerConfig], tmp_path: Path) -> None:
    assert main(["serve", str(tmp_path / "a"), "--config", str(tmp_path / "b")]) == 2


def test_serve_missing_file_is_a_config_error(fake_node: list[BrokerConfig], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--config", str(tmp_path / "missing.properties")]) == 2
    assert "cannot read properties file" in capsys.readouterr().err


# ---------------------------------------------------------------------------- shared client flags
def test_bootstrap_default_env_and_flag() -> None:
    args = parse("topic", "list")
    assert _common.bootstrap_servers(args, env={}) == "localhost:9092"
    assert _common.bootstrap_servers(args, env={"STROM_BOOTSTRAP_SERVERS": "h:1"}) == "h:1"
    args = parse("topic", "list", "--bootstrap-server", "b:2")
    assert _common.bootstrap_servers(args, env={"STROM_BOOTSTRAP_SERVERS": "h:1"}) == "b:2"


def test_client_config_layers(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("client.id=from-file\nlinger.ms=7\n")
    args = parse("produce", "--topic", "t", "--producer.config", str(path), "-X", "linger.ms=9",
                 "--producer-property", "batch.size=10", "--acks", "1", "--compression", "zstd")
    conf = produce.producer_config(args)
    assert conf["client.id"] == "from-file"
    assert conf["linger.ms"] == "9"
    assert conf["batch.size"] == "10"
    assert conf["acks"] == "1"
    assert conf["compression.type"] == "zstd"
    assert conf["message.timeout.ms"] == 120000


def test_librdkafka_logs_are_quiet_unless_asked() -> None:
    assert _common.client_config(parse("topic", "list"), env={})["log_level"] == 2
    assert _common.client_config(parse("topic", "list", "-X", "log_level=7"), env={})["log_level"] == "7"


def test_missing_command_config_is_a_usage_error(tmp_path: Path) -> None:
    args = parse("topic", "list", "--command-config", str(tmp_path / "nope"))
    with pytest.raises(_common.CliError) as info:
        _common.client_config(args)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("flag", ["-X", "--producer-property"])
def test_client_property_needs_key_value(flag: str) -> None:
    with pytest.raises(SystemExit):
        parse("produce", "--topic", "t", flag, "novalue")


def test_kafka_error_names() -> None:
    assert _common.kafka_error_name(KafkaError(3)) == "UNKNOWN_TOPIC_OR_PARTITION"
    assert _common.kafka_error_name(KafkaError(36)) == "TOPIC_ALREADY_EXISTS"
    assert _common.kafka_error_name(KafkaError(KafkaError._TRANSPORT)) == "_TRANSPORT"
    error = _common.from_kafka(KafkaException(KafkaError(36, "Topic 't' already exists.")))
    assert str(error) == "TOPIC_ALREADY_EXISTS: Topic 't' already exists."


def test_colour_only_on_a_terminal_without_no_color() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert _common.use_colour(Tty(), env={})
    assert not _common.use_colour(Tty(), env={"NO_COLOR": ""})
    assert not _common.use_colour(io.StringIO(), env={})


@pytest.mark.parametrize(("text", "expected"), [("\\t", "\t"), (":", ":"), ("\\x01", "\x01"), ("::", "::")])
def test_separator_escapes(text: str, expected: str) -> None:
    assert _common.unescape_separator(text) == expected


# ---------------------------------------------------------------------------- topic
def test_topic_create_args() -> None:
    args = parse("topic", "create", "--topic", "t", "--partitions", "3", "--replication-factor", "1",
                 "--config", "retention.ms=1000", "--config", "cleanup.policy=compact", "--if-not-exists")
    assert (args.topic, args.partitions, args.replication_factor) == ("t", 3, 1)
    assert args.config == [("retention.ms", "1000"), ("cleanup.policy", "compact")]
    assert args.if_not_exists
    assert args.func is topic.run_create


@pytest.mark.parametrize("argv", [
    ["topic", "create"],
    ["topic", "create", "--topic", "t", "--partitions", "0"],
    ["topic", "create", "--topic", "t", "--partitions", "x"],
    ["topic", "create", "--topic", "t", "--config", "noequals"],
    ["topic", "list", "--format", "yaml"],
    ["topic", "delete"],
    ["topic", "alter"],
])
def test_topic_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2


def test_topic_alter_needs_a_change(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topic", "alter", "--topic", "t"]) == 2
    assert "nothing to alter" in capsys.readouterr().err



def _node(node_id: int) -> Any:
    return types.SimpleNamespace(id=node_id)


class FakeAdmin:
    """Just enough of confluent_kafka.admin.AdminClient."""

    def __init__(self, topics: dict[str, int], error: KafkaError | None = None) -> None:
        self.topics = topics
        self.error = error
        self.configs_error: KafkaError | None = None
        self.calls: list[tuple[str, Any]] = []

    def list_topics(self, timeout: float) -> Any:
        if self.error is not None:
            raise KafkaException(self.error)
        parts = {name: types.SimpleNamespace(partitions={
            p: types.SimpleNamespace(replicas=[1]) for p in range(n)}) for name, n in self.topics.items()}
        return types.SimpleNamespace(topics=parts)

    def describe_topics(self, collection: Any, request_timeout: float) -> dict[str, Future]:
        out = {}
        for name in collection.topic_names:
            if name not in self.topics:
                out[name] = done(error=KafkaError(3, f"Topic {name} not found"))
                continue
            partitions = [types.SimpleNamespace(id=p, leader=_node(1) if p else None, replicas=[_node(1), _node(2)],
                                                isr=[_node(1)]) for p in range(self.topics[name])]
            out[name] = done(types.SimpleNamespace(name=name, topic_id="AAAAAAAAAAAAAAAAAAAAAQ",
                                                    is_internal=name.startswith("__"), partitions=partitions))
        return out

    def describe_configs(self, resources: list[Any], request_timeout: float) -> dict[Any, Future]:
        from confluent_kafka.admin import ConfigSource

        if self.configs_error is not None:
            return {r: done(error=self.configs_error) for r in resources}

        def entry(value: str, source: ConfigSource, default: bool = False, sensitive: bool = False) -> Any:
            return types.SimpleNamespace(value=value, source=source, is_default=default, is_sensitive=sensitive)

        return {r: done({
            "retention.ms": entry("1000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
            "segment.bytes": entry("1073741824", ConfigSource.DEFAULT_CONFIG, default=True),
            "min.insync.replicas": entry("2", ConfigSource.STATIC_BROKER_CONFIG),
        }) for r in resources}

    def create_topics(self, new: list[Any], **kwargs: Any) -> dict[str, Future]:
        self.calls.append(("create_topics", new))
        return {t.topic: done(error=self.error) for t in new}

    def delete_topics(self, names: list[str], **kwargs: Any) -> dict[str, Future]:
        self.calls.append(("delete_topics", names))
        return {n: done(error=None if n in self.topics else KafkaError(3, "unknown topic")) for n in names}

    def create_partitions(self, new: list[Any], **kwargs: Any) -> dict[str, Future]:
        self.calls.append(("create_partitions", new))
        return {p.topic: done() for p in new}

    def incremental_alter_configs(self, resources: list[Any], **kwargs: Any) -> dict[Any, Future]:
        self.calls.append(("incremental_alter_configs", resources))
        return {r: done() for r in resources}


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> FakeAdmin:
    fake = FakeAdmin({"orders": 2, "__consumer_offsets": 1, "alpha": 1})
    monkeypatch.setattr(topic, "_admin", lambda args: fake)
    return fake


def test_describe_text_layout() -> None:
    info = topic.TopicInfo("t", "5Sp1JFWCQ4Wr7k2mSUjW8Q", [
        topic.PartitionInfo(1, -1, [2, 3], []),
        topic.PartitionInfo(0, 1, [1, 2], [1, 2]),
    ], {"segment.bytes": "1048576", "cleanup.policy": "compact"})
    assert topic.render_describe_text([info]) == (
        "Topic: t\tTopicId: 5Sp1JFWCQ4Wr7k2mSUjW8Q\tPartitionCount: 2\tReplicationFactor: 2\t"
        "Configs: cleanup.policy=compact,segment.bytes=1048576\n"
        "\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2\n"
        "\tTopic: t\tPartition: 1\tLeader: none\tReplicas: 2,3\tIsr: ")


def test_topic_list_text_and_json(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topic", "list"]) == 0
    assert capsys.readouterr().out == "__consumer_offsets\nalpha\norders\n"
    assert main(["topic", "list", "--exclude-internal", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "alpha", "partitions": 1, "replicas": 1},
                                                   {"name": "orders", "partitions": 2, "replicas": 1}]


def test_topic_describe_text(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topic", "describe", "--topic", "orders"]) == 0
    assert capsys.readouterr().out == (
        "Topic: orders\tTopicId: AAAAAAAAAAAAAAAAAAAAAQ\tPartitionCount: 2\tReplicationFactor: 2\t"
        "Configs: min.insync.replicas=2,retention.ms=1000\n"
        "\tTopic: orders\tPartition: 0\tLeader: none\tReplicas: 1,2\tIsr: 1\n"
        "\tTopic: orders\tPartition: 1\tLeader: 1\tReplicas: 1,2\tIsr: 1\n")


def test_topic_describe_without_describe_configs(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    admin.configs_error = KafkaError(KafkaError._UNSUPPORTED_FEATURE, "DescribeConfigs not supported")
    assert main(["topic", "describe", "--topic", "alpha"]) == 0
    captured = capsys.readouterr()
    assert "Configs: \n" in captured.out
    assert captured.err.startswith("warning: ")
    admin.configs_error = KafkaError(29, "denied")
    assert main(["topic", "describe", "--topic", "alpha"]) == 1


def test_topic_describe_all_json(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topic", "describe", "--format", "json", "--exclude-internal"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in data] == ["alpha", "orders"]
    assert data[1]["partition_count"] == 2
    assert data[1]["configs"] == {"min.insync.replicas": "2", "retention.ms": "1000"}
    assert data[1]["partitions"][1] == {"partition": 1, "leader": 1, "replicas": [1, 2], "isr": [1]}


def test_topic_describe_unknown_topic(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topic", "describe", "--topic", "nope"]) == 1
    assert capsys.readouterr().err == "Error: UNKNOWN_TOPIC_OR_PARTITION: Topic 'nope' does not exist.\n"


def test_topic_errors_print_kafka_name_and_exit_1(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    admin.error = KafkaError(KafkaError._TRANSPORT, "connection refused")
    assert main(["topic", "list"]) == 1
    assert capsys.readouterr().err == "Error: _TRANSPORT: connection refused\n"


def test_topic_create(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topic", "create", "--topic", "t", "--partitions", "3", "--config", "retention.ms=5"]) == 0
    assert capsys.readouterr().out == "Created topic t.\n"
    new = admin.calls[0][1][0]
    assert (new.topic, new.num_partitions, new.replication_factor) == ("t", 3, -1)
    assert new.config == {"retention.ms": "5"}


def test_topic_create_existing(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    admin.error = KafkaError(36, "Topic 't' already exists.")
    assert main(["topic", "create", "--topic", "t"]) == 1
    assert capsys.readouterr().err == "Error: TOPIC_ALREADY_EXISTS: Topic 't' already exists.\n"
    assert main(["topic", "create", "--topic", "t", "--if-not-exists"]) == 0
    assert capsys.readouterr().out == ""


def test_topic_delete(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topic", "delete", "--topic", "orders"]) == 0
    assert capsys.readouterr().out == "Deleted topic orders.\n"
    assert main(["topic", "delete", "--topic", "nope"]) == 1
    assert "UNKNOWN_TOPIC_OR_PARTITION" in capsys.readouterr().err
    assert main(["topic", "delete", "--topic", "nope", "--if-exists"]) == 0


def test_topic_alter(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    from confluent_kafka.admin import AlterConfigOpType

    assert main(["topic", "alter", "--topic", "orders", "--partitions", "4", "--add-config", "retention.ms=9",
                 "--delete-config", "cleanup.policy"]) == 0
    assert capsys.readouterr().out == ("Topic orders now has 4 partitions.\n"
                                       "Completed updating config for topic orders.\n")
    (_, partitions), (_, resources) = admin.calls
    assert (partitions[0].topic, partitions[0].new_total_count) == ("orders", 4)
    entries = {e.name: (e.value, e.incremental_operation) for e in resources[0].incremental_configs}
    assert entries == {"retention.ms": ("9", AlterConfigOpType.SET),
                       "cleanup.policy": (None, AlterConfigOpType.DELETE)}


# ---------------------------------------------------------------------------- produce
def test_produce_args() -> None:
    args = parse("produce", "--topic", "t", "--key-separator", ":", "--acks", "all", "--compression", "lz4",
                 "--partition", "2")
    assert (args.topic, args.key_separator, args.acks, args.compression, args.partition) == ("t", ":", "all",
                                                                                             "lz4", 2)
    assert parse("produce", "--topic", "t", "--request-required-acks", "1").acks == "1"
    assert parse("produce", "--topic", "t", "--compression-codec", "gzip").compression == "gzip"
    assert parse("produce", "--topic", "t").acks == "all"
    with pytest.raises(SystemExit):
        parse("produce", "--topic", "t", "--compression", "brotli")
    with pytest.raises(SystemExit):
        parse("produce")


def test_read_lines_strips_terminators_only() -> None:
    data = io.BytesIO(b"a\nb\r\n\n  c  \nlast")
    assert list(produce.read_lines(data)) == [b"a", b"b", b"", b"  c  ", b"last"]


def test_split_record() -> None:
    assert produce.split_record(b"k:v:w", b":", 1) == (b"k", b"v:w")
    assert produce.split_record(b"k:v", None, 1) == (None, b"k:v")
    assert produce.split_record(b":v", b":", 1) == (b"", b"v")
    with pytest.raises(_common.CliError, match="No key separator found on line number 7"):
        produce.split_record(b"novalue", b":", 7)


class FakeProducer:
    def __init__(self, fail: set[bytes] = frozenset(), full_once: bool = False) -> None:
        self.fail = fail
        self.full_once = full_once
        self.pending: list[tuple[Any, Any]] = []
        self.sent: list[tuple[str, bytes | None, bytes, dict[str, Any]]] = []
        self.flushed = False

    def produce(self, topic: str, value: bytes, key: bytes | None, on_delivery: Any, **extra: Any) -> None:
        if self.full_once:
            self.full_once = False
            raise BufferError("queue full")
        self.sent.append((topic, key, value, extra))
        err = KafkaError(10, "too large") if value in self.fail else None
        self.pending.append((on_delivery, err))

    def poll(self, timeout: float) -> int:
        for callback, err in self.pending:
            callback(err, None)
        n, self.pending = len(self.pending), []
        return n

    def flush(self, timeout: float = -1) -> int:
        self.poll(0)
        self.flushed = True
        return 0


def test_produce_lines_sends_keys_values_and_partition() -> None:
    producer = FakeProducer(full_once=True)
    sent, errors = produce.produce_lines(producer, "t", [b"a=1", b"b=2"], separator=b"=", partition=1)
    assert (sent, errors) == (2, [])
    assert producer.sent == [("t", b"a", b"1", {"partition": 1}), ("t", b"b", b"2", {"partition": 1})]
    assert producer.flushed


def test_produce_lines_collects_delivery_errors() -> None:
    producer = FakeProducer(fail={b"big"})
    sent, errors = produce.produce_lines(producer, "t", [b"ok", b"big"], separator=None, partition=None)
    assert sent == 2
    assert [e.code() for e in errors] == [10]
    assert producer.sent[0] == ("t", None, b"ok", {})


def test_produce_lines_flushes_before_a_bad_line_error() -> None:
    producer = FakeProducer()
    with pytest.raises(_common.CliError):
        produce.produce_lines(producer, "t", [b"k:v", b"bad"], separator=b":", partition=None)
    assert producer.flushed and len(producer.sent) == 1


def test_produce_exit_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import confluent_kafka

    fake = FakeProducer(fail={b"big"})
    monkeypatch.setattr(confluent_kafka, "Producer", lambda conf: fake)
    args = parse("produce", "--topic", "t")
    assert produce.run(args, stdin=io.BytesIO(b"one\ntwo\n")) == 0
    assert produce.run(args, stdin=io.BytesIO(b"one\nbig\n")) == 1
    assert "Error: MESSAGE_TOO_LARGE: too large (1 of 2 records not delivered)" in capsys.readouterr().err


# ---------------------------------------------------------------------------- consume
def test_consume_args() -> None:
    args = parse("consume", "--topic", "t", "--from-beginning", "--max-messages", "5", "--print-key",
                 "--timeout-ms", "1000", "--partition", "0")
    assert (args.topic, args.from_beginning, args.max_messages, args.print_key, args.timeout_ms,
            args.partition) == ("t", True, 5, True, 1000, 0)
    assert parse("consume", "--topic", "t", "--offset", "42").offset == 42
    assert parse("consume", "--topic", "t", "--offset", "Earliest").offset == "earliest"
    for bad in (["--offset", "-1"], ["--offset", "soon"], ["--max-messages", "0"], ["--partition", "-1"]):
        with pytest.raises(SystemExit):
            parse("consume", "--topic", "t", *bad)


@pytest.mark.parametrize(("argv", "offset"), [
    ([], OFFSET_END),
    (["--from-beginning"], OFFSET_BEGINNING),
    (["--offset", "earliest"], OFFSET_BEGINNING),
    (["--offset", "latest"], OFFSET_END),
    (["--offset", "17"], 17),
])
def test_consume_start_offset(argv: list[str], offset: int) -> None:
    assert consume.start_offset(parse("consume", "--topic", "t", *argv)) == offset


@pytest.mark.parametrize("extra", [["--group", "g", "--partition", "0"], ["--group", "g", "--offset", "1"],
                                   ["--from-beginning", "--offset", "1"]])
def test_consume_rejects_conflicting_flags(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["consume", "--topic", "t", *extra]) == 2
    assert capsys.readouterr().err.startswith("strom consume: error: ")


def test_consumer_config_with_and_without_group() -> None:
    manual = consume.consumer_config(parse("consume", "--topic", "t"))
    assert manual["group.id"] == consume.ASSIGN_GROUP_ID
    assert manual["enable.auto.commit"] is False
    assert manual["auto.offset.reset"] == "latest"
    grouped = consume.consumer_config(parse("consume", "--topic", "t", "--group", "g", "--from-beginning"))
    assert (grouped["group.id"], grouped["enable.auto.commit"], grouped["auto.offset.reset"]) == ("g", True,
                                                                                                  "earliest")


class FakeMessage:
    def __init__(self, key: bytes | None, value: bytes | None, partition: int = 0, offset: int = 0,
                 timestamp: tuple[int, int] = (1, 1700000000000)) -> None:
        self._key, self._value, self._partition, self._offset, self._ts = key, value, partition, offset, timestamp

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return self._ts

    def error(self) -> None:
        return None


def test_format_record() -> None:
    msg = FakeMessage(b"k", b"v", partition=2, offset=5)
    assert consume.format_record(msg, print_key=False, separator=b"\t") == b"v"
    assert consume.format_record(msg, print_key=True, separator=b"\t") == b"k\tv"
    assert consume.format_record(FakeMessage(None, None), print_key=True, separator=b":") == b"null:null"
    assert consume.format_record(msg, print_key=True, separator=b"\t", print_partition=True, print_offset=True,
                                 print_timestamp=True) == b"CreateTime:1700000000000\tPartition:2\tOffset:5\tk\tv"
    assert consume.format_record(FakeMessage(None, b"v", timestamp=(0, -1)), print_key=False, separator=b" ",
                                 print_timestamp=True) == b"NO_TIMESTAMP v"


class FakeConsumer:
    def __init__(self, partitions: int, batches: list[list[FakeMessage]], missing: bool = False) -> None:
        self.partitions = partitions
        self.batches = batches
        self.missing = missing
        self.assigned: list[Any] = []
        self.closed = False

    def list_topics(self, topic: str, timeout: float) -> Any:
        if self.missing:
            meta = types.SimpleNamespace(error=KafkaError(3, "Broker: Unknown topic or partition"), partitions={})
        else:
            meta = types.SimpleNamespace(error=None, partitions={p: None for p in range(self.partitions)})
        return types.SimpleNamespace(topics={topic: meta})

    def assign(self, partitions: list[Any]) -> None:
        self.assigned = [(tp.topic, tp.partition, tp.offset) for tp in partitions]

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        return self.batches.pop(0)[:num_messages] if self.batches else []

    def close(self) -> None:
        self.closed = True


def test_consume_assigns_all_partitions_and_stops_at_max(monkeypatch: pytest.MonkeyPatch) -> None:
    import confluent_kafka

    fake = FakeConsumer(3, [[FakeMessage(b"a", b"1"), FakeMessage(None, b"2")], [FakeMessage(b"c", b"3")]])
    monkeypatch.setattr(confluent_kafka, "Consumer", lambda conf: fake)
    out, err = io.BytesIO(), io.StringIO()
    args = parse("consume", "--topic", "t", "--from-beginning", "--max-messages", "2", "--print-key")
    assert consume.run(args, stdout=out, stderr=err) == 0
    assert fake.assigned == [("t", p, OFFSET_BEGINNING) for p in range(3)]
    assert out.getvalue() == b"a\t1\nnull\t2\n"
    assert err.getvalue() == "Processed a total of 2 messages\n"
    assert fake.closed


def test_consume_partition_offset_and_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import confluent_kafka

    fake = FakeConsumer(3, [[FakeMessage(None, b"x")]])
    monkeypatch.setattr(confluent_kafka, "Consumer", lambda conf: fake)
    out, err = io.BytesIO(), io.StringIO()
    args = parse("consume", "--topic", "t", "--partition", "1", "--offset", "10", "--timeout-ms", "50")
    assert consume.run(args, stdout=out, stderr=err) == 0
    assert fake.assigned == [("t", 1, 10)]
    assert out.getvalue() == b"x\n"


def test_consume_unknown_topic_or_partition(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import confluent_kafka

    monkeypatch.setattr(confluent_kafka, "Consumer", lambda conf: FakeConsumer(1, [], missing=True))
    assert main(["consume", "--topic", "t", "--timeout-ms", "10"]) == 1
    assert capsys.readouterr().err.startswith("Error: UNKNOWN_TOPIC_OR_PARTITION: ")
    monkeypatch.setattr(confluent_kafka, "Consumer", lambda conf: FakeConsumer(1, []))
    assert main(["consume", "--topic", "t", "--partition", "5", "--timeout-ms", "10"]) == 1
    assert "has no partition 5" in capsys.readouterr().err


# ---------------------------------------------------------------------------- every parser
def _parsers(parser: Any = None) -> Any:
    import argparse

    parser = parser or build_parser()
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def test_every_parser_refuses_abbreviations_and_every_flag_has_help() -> None:
    import argparse

    parsers = list(_parsers())
    assert {p.prog for p in parsers} >= {"strom topic create", "strom config alter", "strom perf produce",
                                         "strom serve", "strom group reset-offsets", "strom consume"}
    for parser in parsers:
        assert parser.allow_abbrev is False, parser.prog
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{parser.prog} {action.option_strings or action.dest} has no help"


def test_docs_cli_md_names_every_flag_and_kafka_verb_spelling() -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    missing = set()
    for parser in _parsers():
        flags = [o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")]
        for flag in flags + list(getattr(parser, "verb_aliases", {})):
            if not re.search(re.escape(flag) + r"(?![\w.-])", text):
                missing.add(f"{parser.prog} {flag}")
    assert not missing, f"docs/cli.md lacks: {sorted(missing)}"


def test_abbreviations_are_usage_errors_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse("topic", "create", "--topic", "t", "--partition", "3")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: strom topic create")
    assert "strom topic create: error: unrecognized arguments: --partition 3; did you mean --partitions?" in err
    with pytest.raises(SystemExit):
        parse("produce", "--topic", "t", "--key-sep", ":")
    assert "did you mean --key-separator?" in capsys.readouterr().err


def test_a_misspelt_command_or_verb_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("topc", "list")
    assert "invalid choice: 'topc'" in (err := capsys.readouterr().err) and "did you mean topic?" in err
    with pytest.raises(SystemExit):
        parse("topic", "descibe")
    err = capsys.readouterr().err
    assert err.startswith("usage: strom topic") and "did you mean describe?" in err and "--describe" in err


@pytest.mark.parametrize("argv", [
    ["topic", "--create", "--topic", "t"],
    ["topic", "--topic", "t", "--create"],
    ["topic", "--bootstrap-server", "b:1", "create", "--topic", "t"],
    ["topic", "-X", "a=b", "--bootstrap-server", "b:1", "--create", "--topic", "t"],
])
def test_verbs_anywhere_and_in_kafkas_spelling(argv: list[str]) -> None:
    args = parse(*argv)
    assert (args.verb, args.topic, args.func) == ("create", "t", topic.run_create)


def test_flags_before_the_verb_keep_their_values() -> None:
    args = parse("topic", "--bootstrap-server", "list", "--format", "json", "describe", "--topic", "x")
    assert (args.verb, args.bootstrap_server, args.format, args.topic) == ("describe", "list", "json", ["x"])
    args = parse("group", "--bootstrap-server", "b:1", "--describe", "--group", "g", "--members")
    assert (args.verb, args.bootstrap_server, args.group, args.view) == ("describe", "b:1", ["g"], "members")
    assert parse("config", "--describe", "--entity-type", "brokers", "--entity-default").verb == "describe"


@pytest.mark.parametrize(("text", "addresses"), [
    ("localhost:9092", [("localhost", 9092)]),
    ("a:1, b:2", [("a", 1), ("b", 2)]),
    ("PLAINTEXT://h:3", [("h", 3)]),
    ("[::1]:9093,[::1]", [("::1", 9093), ("::1", 9092)]),
    ("host", [("host", 9092)]),
])
def test_bootstrap_addresses(text: str, addresses: list[tuple[str, int]]) -> None:
    assert _common.bootstrap_addresses(text) == addresses


def test_check_reachable_names_every_refusing_address() -> None:
    import socket

    with socket.socket() as s:  # a port that was bound and is now closed refuses connections
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(_common.CliError) as info:
        check_reachable(f"127.0.0.1:{port},no-such-host.invalid:9092")
    assert info.value.name == "_TRANSPORT"
    assert f"127.0.0.1:{port} (connection refused)" in info.value.message
    assert "no-such-host.invalid:9092 (cannot resolve host" in info.value.message
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        check_reachable(f"127.0.0.1:{port},127.0.0.1:{listening.getsockname()[1]}")


def test_cli_clients_use_client_id_strom_cli_and_producers_murmur2() -> None:
    assert consume.consumer_config(parse("consume", "--topic", "t"))["client.id"] == "strom-cli"
    conf = produce.producer_config(parse("produce", "--topic", "t"))
    assert (conf["client.id"], conf["partitioner"]) == ("strom-cli", "murmur2_random")
    from strom.cli import perf

    assert perf.producer_config(parse("perf", "produce", "--topic", "t", "--num-records", "1",
                                      "--record-size", "1"))["partitioner"] == "murmur2_random"
    assert produce.producer_config(parse("produce", "--topic", "t", "-X", "partitioner=consistent"))[
        "partitioner"] == "consistent"


def test_producer_properties() -> None:
    fmt = produce.line_format(parse("produce", "--topic", "t", "--property", "parse.key=true"))
    assert (fmt.separator, fmt.ignore_error, fmt.null_marker) == (b"\t", False, None)
    fmt = produce.line_format(parse("produce", "--topic", "t", "--property", "key.separator=:"))
    assert fmt.separator is None  # Kafka: key.separator alone does not parse keys
    fmt = produce.line_format(parse("produce", "--topic", "t", "--property", "parse.key=true", "--property",
                                    "key.separator=::", "--property", "ignore.error=true"))
    assert (fmt.separator, fmt.ignore_error) == (b"::", True)
    assert produce.split_record(b"no key", b"::", 1, ignore_error=True) == (None, b"no key")


def test_consumer_properties_and_headers() -> None:
    fmt = consume.formatter(parse("consume", "--topic", "t", "--property", "print.timestamp=TRUE", "--property",
                                  "print.headers=true", "--property", "print.value=false", "--property",
                                  "print.key=true", "--property", "key.separator=\\t-"))
    msg = FakeMessage(b"k", b"v", timestamp=(1, 5))
    msg.headers = lambda: [("a", b"1"), ("b", None)]  # type: ignore[method-assign]
    assert fmt.format(msg) == b"CreateTime:5\t-a:1,b:null\t-k\n"


def test_kafka_topic_id() -> None:
    from confluent_kafka import Uuid

    uuid = Uuid(-1, 0x3E00000000000000)  # bytes ff..ff 3e 00..: '/' and '+' in standard base64
    assert str(uuid) == "//////////8+AAAAAAAAAA"
    assert topic.kafka_topic_id(uuid) == "__________8-AAAAAAAAAA"
