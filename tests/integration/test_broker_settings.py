"""Broker settings that docs/configuration.md lists as honoured, checked from the outside.

Each test starts its own broker with ``--override``s and looks only at what a
client or an operator can see: error codes, topic configs, connection
behaviour, segment files on disk, the advertised address.
"""
from __future__ import annotations

import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka.protocol.old.api_versions import ApiVersionsResponse_v0

from conftest import wait_until
from test_bad_input import connect, frame, header_v1, recv_frame

pytestmark = pytest.mark.timeout(60)


def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def topic_config(broker, topic: str) -> dict:
    a = admin(broker)
    key = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return a.describe_configs([key])[key].result(10)


def create(broker, name: str, partitions: int = 1, rf: int = 1, config: dict | None = None) -> None:
    a = admin(broker)
    a.create_topics([NewTopic(name, partitions, rf, config=config or {})])[name].result(10)


def produce_one(broker, topic: str, value: bytes, partition: int = -1, **conf):
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 5000, "retries": 0, **conf})
    out: list = []
    p.produce(topic, value=value, partition=partition, on_delivery=lambda err, msg: out.append((err, msg)))
    p.flush(10)
    return out[0]


def api_versions_ok(sock: socket.socket, correlation_id: int = 1, timeout: float = 3) -> bool:
    """True if the broker answers an ApiVersions request on ``sock`` within ``timeout``."""
    sock.settimeout(timeout)
    try:
        sock.sendall(frame(header_v1(18, 0, correlation_id)))
        body = recv_frame(sock)
    except (AssertionError, OSError):
        return False
    return ApiVersionsResponse_v0.decode(body[4:]).error_code == 0


def test_delete_topic_enable_false(strom_factory):
    broker = strom_factory({"delete.topic.enable": "false"})
    create(broker, "stay")
    a = admin(broker)
    with pytest.raises(KafkaException) as exc:
        a.delete_topics(["stay"])["stay"].result(10)
    assert exc.value.args[0].code() == KafkaError.TOPIC_DELETION_DISABLED
    assert "stay" in a.list_topics(timeout=5).topics


def test_retention_hours_minutes_ms_precedence(strom_factory):
    broker = strom_factory({"log.retention.hours": 2})
    create(broker, "h")
    assert topic_config(broker, "h")["retention.ms"].value == "7200000"
    broker.restart({"log.retention.minutes": 5})
    assert topic_config(broker, "h")["retention.ms"].value == "300000"
    broker.restart({"log.retention.ms": 1234})
    assert topic_config(broker, "h")["retention.ms"].value == "1234"


def test_broker_defaults_flow_into_topics(strom_factory):
    broker = strom_factory({"message.max.bytes": 5000, "log.message.timestamp.type": "LogAppendTime",
                            "num.partitions": 3})
    create(broker, "d", partitions=-1, rf=-1)
    cfg = topic_config(broker, "d")
    assert cfg["max.message.bytes"].value == "5000" and cfg["message.timestamp.type"].value == "LogAppendTime"
    assert len(admin(broker).list_topics("d", timeout=5).topics["d"].partitions) == 3
    err, _ = produce_one(broker, "d", b"x" * 8000, partition=0)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE
    err, msg = produce_one(broker, "d", b"small", partition=0)
    assert err is None
    assert msg.timestamp()[0] == 2  # TIMESTAMP_LOG_APPEND_TIME, in the produce response


def test_default_replication_factor_above_the_broker_count(strom_factory):
    broker = strom_factory({"default.replication.factor": 3})
    a = admin(broker)
    with pytest.raises(KafkaException) as exc:
        a.create_topics([NewTopic("rf3")])["rf3"].result(10)
    assert exc.value.args[0].name() == "INVALID_REPLICATION_FACTOR"
    create(broker, "rf1", rf=1)  # an explicit factor still works


def test_segment_ms_rolls_segments_by_age(strom_factory):
    broker = strom_factory({"log.roll.ms": 300})
    create(broker, "roll")
    assert produce_one(broker, "roll", b"a")[0] is None
    time.sleep(0.8)
    assert produce_one(broker, "roll", b"b")[0] is None
    logs = sorted(p.name for p in broker.partition_dir("roll").glob("*.log"))
    assert logs == ["00000000000000000000.log", "00000000000000000001.log"], logs


def test_max_connections(strom_factory):
    broker = strom_factory({"max.connections": 3})
    held = [connect(broker) for _ in range(3)]
    try:
        assert all(api_versions_ok(s, i) for i, s in enumerate(held))
        extra = connect(broker)
        try:
            assert not api_versions_ok(extra, 9, timeout=2), "a 4th connection was served with max.connections=3"
        finally:
            extra.close()
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    with connect(broker) as s:  # slots are given back when connections close
        assert api_versions_ok(s)


def test_max_connections_per_ip(strom_factory):
    broker = strom_factory({"max.connections.per.ip": 2})
    held = [connect(broker) for _ in range(2)]
    try:
        assert all(api_versions_ok(s, i) for i, s in enumerate(held))
        with connect(broker) as extra:
            assert not api_versions_ok(extra, 9, timeout=2), "a 3rd connection from one IP was served"
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    with connect(broker) as s:
        assert api_versions_ok(s)


def test_idle_connections_are_closed(strom_factory):
    broker = strom_factory({"connections.max.idle.ms": 1000})
    with connect(broker) as s:
        assert api_versions_ok(s)
        s.settimeout(5)
        started = time.monotonic()
        try:
            closed = s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            closed = False
        assert closed, "an idle connection was left open"
        assert time.monotonic() - started < 4.5


def test_advertised_listeners_are_what_clients_see(strom_factory):
    broker = strom_factory()
    port = broker.port
    broker.restart({"advertised.listeners": f"PLAINTEXT://localhost:{port}"})
    md = admin(broker).list_topics(timeout=5)
    assert [(b.id, b.host, b.port) for b in md.brokers.values()] == [(1, "localhost", port)]
    # and a client that only knows the bootstrap address follows it
    create(broker, "adv")
    assert produce_one(broker, "adv", b"x")[0] is None


# ---------------------------------------------------------------- settings Strom cannot serve yet
STROM = str(Path(sys.executable).with_name("strom"))


@pytest.mark.parametrize("overrides, setting", [
    (["listeners=SSL://127.0.0.1:0"], "listeners"),
    (["listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"], "listeners"),
    (["listeners=CLIENT://127.0.0.1:0", "listener.security.protocol.map=CLIENT:SASL_SSL"], "listeners"),
    (["listeners=PLAINTEXT://127.0.0.1:0,OTHER://127.0.0.1:0",
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"], "listeners"),
    (["controller.quorum.voters=1@localhost:19093,2@localhost:19094"], "controller.quorum.voters"),
    (["process.roles=broker"], "process.roles"),
], ids=["ssl", "sasl-second", "mapped-sasl-ssl", "second-plaintext", "other-voters", "broker-only"])
def test_unimplemented_settings_are_refused_at_start_up(tmp_path, overrides, setting):
    """A setting Strom accepts as Kafka does but cannot serve yet stops `strom serve` with exit 2 and
    one line naming the setting, instead of a broker that silently serves something else."""
    argv = [STROM, "serve", "--data-dir", str(tmp_path / "d")]
    for item in overrides:
        argv += ["--override", item]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"strom serve {overrides} kept running: {exc.stdout!r}") from None
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "broker ready" not in res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("strom serve: error: setting ") and setting in lines[0], res.stderr
    assert "(from --override)" in lines[0]


def test_a_controller_listener_is_accepted_and_the_client_listener_bound(tmp_path):
    """Kafka's KRaft layout (a CONTROLLER listener besides the client one) starts; clients get the
    PLAINTEXT listener even when the controller listener comes first."""
    conf = tmp_path / "server.properties"
    conf.write_text(f"log.dirs={tmp_path / 'd'}\n"
                    "listeners=CONTROLLER://127.0.0.1:0,PLAINTEXT://127.0.0.1:0\n"
                    "controller.listener.names=CONTROLLER\n"
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
                    "controller.quorum.voters=1@127.0.0.1:19093\n")
    cluster_id = subprocess.run([STROM, "storage", "random-uuid"], capture_output=True, text=True).stdout.strip()
    # a node with a quorum setting must be formatted first, as in Kafka
    subprocess.run([STROM, "storage", "format", "-t", cluster_id, "-c", str(conf)], check=True, capture_output=True)
    proc = subprocess.Popen(
        [STROM, "serve", "--config", str(conf)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"broker ready on ([\d.]+):(\d+)", line)
        assert match, line
        a = AdminClient({"bootstrap.servers": f"127.0.0.1:{match.group(2)}"})
        md = a.list_topics(timeout=10)
        assert [(b.id, b.port) for b in md.brokers.values()] == [(1, int(match.group(2)))]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
