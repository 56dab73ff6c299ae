"""GET /metrics on a real broker after real client traffic: the numbers agree with what the
clients did, and Prometheus' own checker (promtool) accepts the page when it is installed."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from conftest import STROM, unique, wait_until

pytestmark = pytest.mark.timeout(120)

N, VALUE_BYTES, COMMITTED = 20, 1000, 12


def scrape(broker) -> str:
    with urllib.request.urlopen(broker.metrics_url, timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in found, f"no sample {name}{labels}"
    return found[key]


@pytest.fixture
def metrics_broker(strom_factory):
    return strom_factory({"strom.http.port": 0, "group.initial.rebalance.delay.ms": 0})


def test_metrics_agree_with_client_traffic(metrics_broker):
    b = metrics_broker
    topic, group = unique("m"), unique("mg")
    one_minute_ago = int(time.time() * 1000) - 60_000
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
    for i in range(N):  # one Produce request per record
        p.produce(topic, value=bytes([65 + i]) * VALUE_BYTES, timestamp=one_minute_ago + i)
        assert p.flush(10) == 0

    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < N and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            got.append(msg)
    assert len(got) == N
    c.commit(offsets=[TopicPartition(topic, 0, COMMITTED)], asynchronous=False)  # a partial commit
    found = samples(scrape(b))
    assert value(found, "kafka_server_socketservermetrics_connection_count", listener="PLAINTEXT") >= 1
    c.close()

    found = samples(scrape(b))
    bt = "kafka_server_brokertopicmetrics_"
    log_size = value(found, "kafka_log_log_size", topic=topic, partition="0")
    assert value(found, bt + "messagesin_total", topic=topic) == N
    assert value(found, bt + "bytesin_total", topic=topic) == log_size > N * VALUE_BYTES  # uncompressed batches
    assert value(found, bt + "totalproducerequests_total", topic=topic) == N
    assert value(found, bt + "failedproducerequests_total", topic=topic) == 0
    assert value(found, bt + "bytesout_total", topic=topic) >= log_size  # the consumer read every batch
    assert value(found, bt + "messagesin_total") >= N  # all topics
    assert value(found, "kafka_network_requestmetrics_requests_total", request="Produce") == N
    assert value(found, "kafka_network_requestmetrics_totaltime_seconds_count", request="Produce") == N
    assert value(found, "kafka_network_requestmetrics_requests_total", request="Fetch") >= 1
    assert value(found, "kafka_network_requestmetrics_requests_total", request="OffsetCommit") >= 1
    assert value(found, "kafka_log_log_logendoffset", topic=topic, partition="0") == N
    assert value(found, "kafka_log_log_logstartoffset", topic=topic, partition="0") == 0
    g = {"consumergroup": group, "topic": topic}
    assert value(found, "kafka_consumergroup_current_offset", partition="0", **g) == COMMITTED
    assert value(found, "kafka_consumergroup_lag", partition="0", **g) == N - COMMITTED
    assert value(found, "kafka_consumergroup_lag_sum", **g) == N - COMMITTED
    assert 60 <= value(found, "kafka_consumergroup_lag_seconds", partition="0", **g) < 600
    rm = "kafka_server_replicamanager_"
    assert value(found, rm + "underreplicatedpartitions") == 0
    assert value(found, rm + "leadercount") == value(found, rm + "partitioncount") >= 51  # + __consumer_offsets
    assert value(found, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(found, "kafka_controller_kafkacontroller_globaltopiccount") == 2

    assert value(found, bt + "failedfetchrequests_total", topic=topic) == 0
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": unique("mg"), "auto.offset.reset": "error"})
    c.assign([TopicPartition(topic, 0, N + 100)])  # beyond the log end: OFFSET_OUT_OF_RANGE
    try:
        deadline = time.monotonic() + 30
        msg = None
        while (msg is None or not msg.error()) and time.monotonic() < deadline:
            msg = c.poll(0.5)
        assert msg is not None and msg.error(), "the consumer saw no out-of-range error"
    finally:
        c.close()
    assert value(samples(scrape(b)), bt + "failedfetchrequests_total", topic=topic) >= 1

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus; `make test` does it as root)")
    result = subprocess.run([promtool, "check", "metrics"], input=scrape(b).encode(), capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_http_port_survives_restart_and_bad_requests(metrics_broker):
    b = metrics_broker
    host, port = b.metrics_url.split("/")[2].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"\x00\x00\x00\x0aNOT HTTP\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    b.restart()
    assert "kafka_server_replicamanager_partitioncount" in wait_until(lambda: scrape(b))


def test_a_taken_http_port_stops_start_up_with_a_message(metrics_broker, tmp_path):
    port = metrics_broker.metrics_url.rsplit(":", 1)[1].split("/")[0]
    result = subprocess.run([str(STROM), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d2"),
                             "--override", f"strom.http.port={port}"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port} (strom.http.host, strom.http.port)" in result.stderr
