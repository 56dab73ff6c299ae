"""The broker collector: the families a scrape renders, from real logs, a real metadata image and
the hot-path counters, checked by parsing the exposition and (when installed) by promtool."""
from __future__ import annotations

import math
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from strom.metadata.image import EMPTY_IMAGE
from strom.metadata.records import (
    BrokerEndpoint, PartitionRecord, RegisterBrokerRecord, RemoveTopicRecord, TopicRecord,
)
from strom.coordinator.group.coordinator import OffsetAndMetadata
from strom.http import metrics as metrics_module
from strom.http.metrics import BrokerCollector, BrokerSources, _quantile
from strom.records.batch import build_batch, validate_batches
from strom.replication.replica_manager import ReplicaManager
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.util.clock import VirtualScheduler
from strom.util.metrics import LATENCY_BUCKETS, BrokerMetrics

NOW_MS = 1_700_000_000_000


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


@pytest.fixture
def broker(tmp_path: Path):
    clock = VirtualScheduler()
    replicas = ReplicaManager(LogManager([tmp_path], LogConfig(), clock=clock), 1, clock)
    topic_id = uuid.uuid4()
    remote_id = uuid.uuid4()  # led by broker 2, which is fenced: an offline partition
    state = SimpleNamespace(image=EMPTY_IMAGE.replay(
        [RegisterBrokerRecord(1, "a", 1, (BrokerEndpoint("PLAINTEXT", "h", 1),), fenced=False),
         RegisterBrokerRecord(2, "b", 1, (BrokerEndpoint("PLAINTEXT", "h", 2),), fenced=True),
         TopicRecord("orders", str(topic_id)),
         *(PartitionRecord(str(topic_id), index, [1], [1], leader=1) for index in range(2)),
         TopicRecord("remote", str(remote_id)), PartitionRecord(str(remote_id), 0, [2], [2], leader=2)], 6))
    for index in range(2):
        replicas.ensure_partition("orders", topic_id, index, LogConfig(), leader_id=1, leader_epoch=0)
    part = replicas.get("orders", 0)
    for n in range(3):  # offsets 0-9, 10-19, 20-29; batch n has timestamp NOW - (3 - n) minutes
        data = build_batch([(None, b"x" * 100)] * 10, timestamp_ms=NOW_MS - (3 - n) * 60_000)
        part.append(data, validate_batches(data), NOW_MS)
    groups = SimpleNamespace(offsets={"billing": {("orders", 0): OffsetAndMetadata(10, 0, "", NOW_MS),
                                                  ("orders", 1): OffsetAndMetadata(0, 0, "", NOW_MS),
                                                  ("gone", 0): OffsetAndMetadata(5, 0, "", NOW_MS)}})
    metrics = BrokerMetrics(CollectorRegistry(auto_describe=False))
    sources = BrokerSources(1, replicas, image=lambda: state.image, groups=lambda: groups,
                            active_controller=lambda: True, now_ms=lambda: NOW_MS)
    collector = BrokerCollector(metrics, sources)
    metrics.registry.register(collector)
    return SimpleNamespace(metrics=metrics, replicas=replicas, state=state, topic_id=topic_id, part=part,
                           groups=groups, collector=collector)


def test_scrape_reports_state_and_counters_under_kafka_names(broker):
    m = broker.metrics
    orders = m.topic("orders")
    orders.bytes_in, orders.messages_in, orders.total_produce_requests = 3000, 30, 3
    orders.bytes_out, orders.failed_fetch_requests = 1234, 1
    m.unattributed.failed_produce()
    produce = m.api(0, "Produce")
    for seconds in (0.0002, 0.0007, 0.003, 0.2):
        produce.observe(seconds)
    m.connection_count = lambda: 7

    found = samples(generate_latest(m.registry).decode())

    rm = "kafka_server_replicamanager_"
    assert value(found, rm + "partitioncount") == 2 and value(found, rm + "leadercount") == 2
    assert value(found, rm + "underreplicatedpartitions") == 0 and value(found, rm + "underminisrpartitioncount") == 0
    assert value(found, rm + "isrshrinks_total") == 0 and value(found, rm + "offlinereplicacount") == 0
    kc = "kafka_controller_kafkacontroller_"
    assert value(found, kc + "activecontrollercount") == 1 and value(found, kc + "offlinepartitionscount") == 1
    assert value(found, kc + "globalpartitioncount") == 3 and value(found, kc + "globaltopiccount") == 2
    assert value(found, kc + "activebrokercount") == 1 and value(found, kc + "fencedbrokercount") == 1

    bt = "kafka_server_brokertopicmetrics_"
    assert value(found, bt + "bytesin_total", topic="orders") == 3000
    assert value(found, bt + "messagesin_total", topic="orders") == 30
    assert value(found, bt + "bytesout_total", topic="orders") == 1234
    assert value(found, bt + "failedfetchrequests_total", topic="orders") == 1
    assert value(found, bt + "failedproducerequests_total", topic="orders") == 0
    assert value(found, bt + "failedproducerequests_total") == 1  # all topics, unknown ones included
    assert value(found, bt + "totalproducerequests_total") == 4

    net = "kafka_network_requestmetrics_"
    assert value(found, net + "requests_total", request="Produce") == 4
    assert value(found, net + "totaltime_seconds_count", request="Produce") == 4
    assert value(found, net + "totaltime_seconds_bucket", request="Produce", le="0.001") == 2
    assert value(found, net + "totaltime_seconds_bucket", request="Produce", le="+Inf") == 4
    assert value(found, net + "totaltime_seconds_sum", request="Produce") == pytest.approx(0.2039)
    assert value(found, net + "totaltimems_sum", request="Produce") == pytest.approx(203.9)
    assert 0.5 < value(found, net + "totaltimems", request="Produce", quantile="0.5") <= 1.0
    assert 100 < value(found, net + "totaltimems", request="Produce", quantile="0.99") <= 250
    assert value(found, "kafka_server_socketservermetrics_connection_count", listener="PLAINTEXT") == 7

    size = broker.part.log.size_bytes
    assert size > 3000
    assert value(found, "kafka_log_log_size", topic="orders", partition="0") == size
    assert value(found, "kafka_log_log_logendoffset", topic="orders", partition="0") == 30
    assert value(found, "kafka_log_log_logstartoffset", topic="orders", partition="0") == 0
    assert value(found, "kafka_log_log_logendoffset", topic="orders", partition="1") == 0

    g = {"consumergroup": "billing", "topic": "orders"}
    assert value(found, "kafka_consumergroup_current_offset", partition="0", **g) == 10
    assert value(found, "kafka_consumergroup_lag", partition="0", **g) == 20
    assert value(found, "kafka_consumergroup_lag", partition="1", **g) == 0
    assert value(found, "kafka_consumergroup_lag_sum", **g) == 20
    assert value(found, "kafka_consumergroup_current_offset_sum", **g) == 10
    # the oldest unconsumed record (offset 10) is in the batch stamped two minutes ago
    assert value(found, "kafka_consumergroup_lag_seconds", partition="0", **g) == 120.0
    assert value(found, "kafka_consumergroup_lag_seconds", partition="1", **g) == 0
    assert not any(dict(labels).get("topic") == "gone" for _, labels in found)  # a deleted topic's commits


def test_lag_seconds_follow_the_committed_offset_within_a_lookup_budget(broker, monkeypatch):
    g = {"consumergroup": "billing", "topic": "orders", "partition": "0"}
    two_minutes_ago, one_minute_ago = NOW_MS - 120_000, NOW_MS - 60_000
    found = samples(generate_latest(broker.metrics.registry).decode())
    assert value(found, "kafka_consumergroup_lag_seconds", **g) == 120.0
    assert broker.collector._timestamps == {("orders", 0): (10, two_minutes_ago)}
    offsets = broker.groups.offsets["billing"]
    offsets[("orders", 0)] = OffsetAndMetadata(25, 0, "", NOW_MS)
    monkeypatch.setattr(metrics_module, "LAG_TIMESTAMP_LOOKUPS", 0)  # no header reads left this scrape:
    found = samples(generate_latest(broker.metrics.registry).decode())
    assert value(found, "kafka_consumergroup_lag", **g) == 5
    assert value(found, "kafka_consumergroup_lag_seconds", **g) == 120.0  # the older timestamp stands in
    monkeypatch.setattr(metrics_module, "LAG_TIMESTAMP_LOOKUPS", 1)
    found = samples(generate_latest(broker.metrics.registry).decode())
    assert value(found, "kafka_consumergroup_lag_seconds", **g) == 60.0
    assert broker.collector._timestamps == {("orders", 0): (25, one_minute_ago)}
    offsets[("orders", 0)] = OffsetAndMetadata(30, 0, "", NOW_MS)  # caught up: the cache entry goes
    found = samples(generate_latest(broker.metrics.registry).decode())
    assert value(found, "kafka_consumergroup_lag_seconds", **g) == 0
    assert broker.collector._timestamps == {}


def test_a_prepared_snapshot_is_what_a_worker_thread_renders(broker):
    broker.metrics.topic("orders").bytes_in = 10
    broker.collector.prepare()  # on the loop: copies the values
    broker.metrics.topic("orders").bytes_in = 99  # changes after the snapshot are not in this scrape
    found = samples(generate_latest(broker.metrics.registry).decode())
    assert value(found, "kafka_server_brokertopicmetrics_bytesin_total", topic="orders") == 10
    found = samples(generate_latest(broker.metrics.registry).decode())  # no snapshot queued: a fresh one
    assert value(found, "kafka_server_brokertopicmetrics_bytesin_total", topic="orders") == 99


def test_counters_of_a_deleted_topic_stay_in_the_all_topics_total(broker):
    broker.metrics.topic("orders").bytes_in = 500
    broker.state.image = broker.state.image.replay([RemoveTopicRecord(str(broker.topic_id))], 7)
    found = samples(generate_latest(broker.metrics.registry).decode())
    assert value(found, "kafka_server_brokertopicmetrics_bytesin_total") == 500
    assert ("kafka_server_brokertopicmetrics_bytesin_total", frozenset({("topic", "orders")})) not in found
    assert value(found, "kafka_controller_kafkacontroller_globaltopiccount") == 1


def test_two_brokers_in_one_process_do_not_share_metrics(tmp_path: Path):
    a, b = BrokerMetrics(CollectorRegistry()), BrokerMetrics(CollectorRegistry())
    a.api(0, "Produce").observe(0.001)
    assert b.apis == {} and a.registry is not b.registry


def test_quantiles_interpolate_inside_the_bucket_like_histogram_quantile():
    counts = [0] * (len(LATENCY_BUCKETS) + 1)
    assert math.isnan(_quantile(counts, 0.5))
    counts[LATENCY_BUCKETS.index(0.01)] = 10  # ten requests in (0.005, 0.01]
    assert _quantile(counts, 0.5) == pytest.approx(0.0075)
    assert _quantile(counts, 1.0) == pytest.approx(0.01)
    counts[-1] = 90  # beyond the largest bound: reported as that bound
    assert _quantile(counts, 0.99) == LATENCY_BUCKETS[-1]


def test_operations_md_names_every_exported_metric(broker):
    broker.metrics.api(0, "Produce")
    broker.metrics.topic("orders")
    section = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text().split("## Metrics", 1)[1]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    exported = {f.name for f in text_string_to_metric_families(generate_latest(broker.metrics.registry).decode())}
    assert len(exported) > 30
    missing = sorted(n for n in exported if n not in documented and f"{n}_total" not in documented)
    assert not missing, f"docs/operations.md (Metrics) does not name {missing}"


def test_promtool_accepts_the_exposition(broker):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus; `make test` does it as root)")
    broker.metrics.topic("orders").bytes_in = 1
    broker.metrics.api(1, "Fetch").observe(0.01)
    text = generate_latest(broker.metrics.registry)
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
