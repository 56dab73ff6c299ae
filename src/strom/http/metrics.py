"""Prometheus metrics of one broker, computed at scrape time (a prometheus_client Collector).

Names and labels are those of jmx_exporter with Strimzi's rules (``kafka_server_*``,
``kafka_controller_*``, ``kafka_network_*``, ``kafka_log_*``) and of kafka_exporter
for consumer lag (``kafka_consumergroup_*``), so existing Grafana boards and
alerts work; docs/operations.md lists them.  Nothing is counted here: request
and topic counters are plain integers kept by the hot path (strom.util.metrics);
everything else is read from the broker's in-memory state (the replica manager,
the metadata image, the group coordinator) without disk I/O, except the lag in
seconds, which reads one batch header per lagging partition (see ``_lag_seconds``).

Gauges that Kafka's tools name ``*_count`` or ``*_sum``
(``kafka_server_socketservermetrics_connection_count``, ``kafka_consumergroup_lag_sum``)
are exported untyped: Prometheus' linter reserves those suffixes for histograms
and summaries, and untyped keeps the conventional names.

Concurrency: ``collect`` runs on the event-loop thread (it reads loop-owned state);
the HTTP server renders the families it returns on a worker thread.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric, SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.samples import Sample

from strom.util.metrics import LATENCY_BUCKETS, BrokerMetrics, TopicCounters

if TYPE_CHECKING:
    from strom.metadata.image import MetadataImage
    from strom.coordinator.group.coordinator import GroupCoordinator
    from strom.replication.replica_manager import ReplicaManager

QUANTILES = (0.5, 0.75, 0.95, 0.98, 0.99, 0.999)  # Kafka's 50th..999th percentiles of TotalTimeMs
QUANTILE_WINDOW_S = 60.0  # quantiles describe roughly the last minute (Kafka: a decaying reservoir)
_SNAPSHOT_EVERY_S = 5.0
LAG_TIMESTAMP_LOOKUPS = 1000  # batch-header reads per scrape for lag seconds; the rest wait for the next


@dataclass
class BrokerSources:
    """Where the collector reads broker state; callables because the objects are built during start-up."""

    node_id: int
    replicas: "ReplicaManager"
    image: Callable[[], "MetadataImage"]
    groups: Callable[[], "GroupCoordinator | None"]
    live_brokers: Callable[[], list[int]]
    active_controller: Callable[[], bool]
    listener_name: str = "PLAINTEXT"
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000)


class BrokerCollector:
    """Turns one broker's counters and state into metric families on each ``collect``."""

    def __init__(self, metrics: BrokerMetrics, sources: BrokerSources) -> None:
        self.metrics = metrics
        self.sources = sources
        self._snapshots: deque[tuple[float, dict[int, tuple[int, ...]]]] = deque()
        self._timestamps: dict[tuple[str, int, int], int | None] = {}  # (topic, partition, offset) -> batch ts

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; registering must not call collect()

    def collect(self) -> Iterator[Metric]:
        yield from self._replica_manager()
        yield from self._controller()
        yield from self._topics()
        yield from self._requests()
        connections = UnknownMetricFamily("kafka_server_socketservermetrics_connection_count",
                                          "Open client connections.", labels=["listener"])
        connections.add_metric([self.sources.listener_name], self.metrics.connection_count())
        yield connections
        yield from self._logs()
        yield from self._consumer_groups()

    # ------------------------------------------------------------------ kafka.server ReplicaManager
    def _replica_manager(self) -> Iterator[Metric]:
        src = self.sources
        image = src.image()
        partitions = src.replicas.partitions
        leaders = under = under_min = 0
        for (topic, index), part in partitions.items():
            if part.leader_id != src.node_id:
                continue
            leaders += 1
            isr = len(part.isr)
            t = image.topics.get(topic)
            state = t.partitions.get(index) if t is not None else None
            if state is not None and isr < len(state.replicas):
                under += 1
            if isr < part.log.config.min_insync_replicas:
                under_min += 1
        prefix = "kafka_server_replicamanager_"
        yield _gauge(prefix + "underreplicatedpartitions", "Partitions led here whose ISR is smaller than "
                     "their replica set.", under)
        yield _gauge(prefix + "underminisrpartitioncount", "Partitions led here whose ISR is smaller than "
                     "min.insync.replicas.", under_min)
        yield _gauge(prefix + "offlinereplicacount", "Replicas on offline log directories.", 0)
        yield _gauge(prefix + "partitioncount", "Partitions with a replica on this broker.", len(partitions))
        yield _gauge(prefix + "leadercount", "Partitions led by this broker.", leaders)
        yield _counter(prefix + "isrshrinks", "ISR shrinks of partitions led here.", self.metrics.isr_shrinks)
        yield _counter(prefix + "isrexpands", "ISR expansions of partitions led here.", self.metrics.isr_expands)

    # ------------------------------------------------------------------ kafka.controller KafkaController
    def _controller(self) -> Iterator[Metric]:
        src = self.sources
        image = src.image()
        live = set(src.live_brokers())
        total = offline = 0
        for topic in image.topics.values():
            total += len(topic.partitions)
            offline += sum(1 for p in topic.partitions.values() if p.leader < 0 or p.leader not in live)
        prefix = "kafka_controller_kafkacontroller_"
        yield _gauge(prefix + "activecontrollercount", "1 on the active controller, else 0.",
                     1 if src.active_controller() else 0)
        yield _gauge(prefix + "offlinepartitionscount", "Partitions without a live leader.", offline)
        yield _gauge(prefix + "globalpartitioncount", "Partitions in the cluster.", total)
        yield _gauge(prefix + "globaltopiccount", "Topics in the cluster.", len(image.topics))
        yield _gauge(prefix + "activebrokercount", "Registered brokers that are not fenced.", len(live))
        yield _gauge(prefix + "fencedbrokercount", "Registered brokers that are fenced.", 0)

    # ------------------------------------------------------------------ kafka.server BrokerTopicMetrics
    def _topics(self) -> Iterator[Metric]:
        image = self.sources.image()
        self.metrics.retire_topics(lambda name: name in image.topics)
        fields = (
            ("bytesin", "bytes_in", "Record bytes appended by producers."),
            ("bytesout", "bytes_out", "Record bytes sent to consumers."),
            ("messagesin", "messages_in", "Records appended by producers."),
            ("failedproducerequests", "failed_produce_requests", "Produce requests (per partition) that failed."),
            ("failedfetchrequests", "failed_fetch_requests", "Fetch requests (per partition) that failed."),
            ("totalproducerequests", "total_produce_requests", "Produce requests (per partition)."),
            ("totalfetchrequests", "total_fetch_requests", "Fetch requests (per partition)."),
        )
        total = TopicCounters()
        total.add(self.metrics.all_topics_retired)
        total.add(self.metrics.unattributed)
        topics = sorted(self.metrics.topics.items())
        for _, counters in topics:
            total.add(counters)
        for suffix, attr, doc in fields:
            family = CounterMetricFamily("kafka_server_brokertopicmetrics_" + suffix,
                                         doc + " Without a topic label: all topics.", labels=["topic"])
            family.samples.append(Sample(family.name + "_total", {}, getattr(total, attr)))
            for name, counters in topics:
                family.add_metric([name], getattr(counters, attr))
            yield family

    # ------------------------------------------------------------------ kafka.network RequestMetrics
    def _requests(self) -> Iterator[Metric]:
        apis = sorted(self.metrics.apis.items())
        requests = CounterMetricFamily("kafka_network_requestmetrics_requests", "Requests served, by API.",
                                       labels=["request"])
        seconds = HistogramMetricFamily("kafka_network_requestmetrics_totaltime_seconds",
                                        "Time from decoded request to encoded response, by API.",
                                        labels=["request"])
        millis = SummaryMetricFamily("kafka_network_requestmetrics_totaltimems",
                                     "Time from decoded request to encoded response in ms, by API; quantiles "
                                     f"over about the last {QUANTILE_WINDOW_S:.0f} s.", labels=["request"])
        window = self._window({key: tuple(api.buckets) for key, api in apis})
        for key, api in apis:
            requests.add_metric([api.name], api.requests)
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, math.inf), api.buckets):
                cumulative += count
                buckets.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
            seconds.add_metric([api.name], buckets, api.seconds)
            for q in QUANTILES:
                millis.samples.append(Sample(millis.name, {"request": api.name, "quantile": repr(q)},
                                             _quantile(window.get(key, ()), q) * 1000))
            millis.add_metric([api.name], api.requests, api.seconds * 1000)
        yield requests
        yield seconds
        yield millis

    def _window(self, now_counts: dict[int, tuple[int, ...]]) -> dict[int, list[int]]:
        """Bucket counts of roughly the last QUANTILE_WINDOW_S: now minus the newest snapshot at
        least that old (the oldest one while younger).  Snapshots are kept every few seconds."""
        now = time.monotonic()
        snaps = self._snapshots
        while len(snaps) >= 2 and snaps[1][0] <= now - QUANTILE_WINDOW_S:
            snaps.popleft()
        base = snaps[0][1] if snaps else {}
        if not snaps or now - snaps[-1][0] >= _SNAPSHOT_EVERY_S:
            snaps.append((now, now_counts))
        out = {}
        for key, counts in now_counts.items():
            old = base.get(key)
            out[key] = list(counts) if old is None else [a - b for a, b in zip(counts, old)]
        return out

    # ------------------------------------------------------------------ kafka.log Log
    def _logs(self) -> Iterator[Metric]:
        labels = ["topic", "partition"]
        size = GaugeMetricFamily("kafka_log_log_size", "Bytes of the partition's log segments.", labels=labels)
        start = GaugeMetricFamily("kafka_log_log_logstartoffset", "First offset of the log.", labels=labels)
        end = GaugeMetricFamily("kafka_log_log_logendoffset", "Next offset of the log.", labels=labels)
        for (topic, index), part in sorted(self.sources.replicas.partitions.items()):
            the_log = part.log
            key = [topic, str(index)]
            size.add_metric(key, the_log.size_bytes)
            start.add_metric(key, the_log.log_start_offset)
            end.add_metric(key, the_log.log_end_offset)
        yield size
        yield start
        yield end

    # ------------------------------------------------------------------ kafka_exporter consumer groups
    def _consumer_groups(self) -> Iterator[Metric]:
        labels = ["consumergroup", "topic", "partition"]
        current = GaugeMetricFamily("kafka_consumergroup_current_offset", "Committed offset of the group.",
                                    labels=labels)
        current_sum = UnknownMetricFamily("kafka_consumergroup_current_offset_sum",
                                          "Committed offsets of the group summed over the topic's partitions.",
                                          labels=["consumergroup", "topic"])
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "High watermark minus the committed offset.",
                                labels=labels)
        lag_sum = UnknownMetricFamily("kafka_consumergroup_lag_sum", "Lag of the group summed over the topic's "
                                      "partitions.", labels=["consumergroup", "topic"])
        lag_seconds = GaugeMetricFamily("kafka_consumergroup_lag_seconds", "Age of the oldest unconsumed "
                                        "record (its batch's timestamp); 0 without lag.", labels=labels)
        groups = self.sources.groups()
        now_ms = self.sources.now_ms()
        cache, self._timestamps = self._timestamps, {}
        budget = [LAG_TIMESTAMP_LOOKUPS]
        replicas = self.sources.replicas
        for group_id, committed in sorted(groups.offsets.items() if groups is not None else ()):
            sums: dict[str, list[int]] = {}
            for (topic, index), om in sorted(committed.items()):
                part = replicas.get(topic, index)
                if part is None:
                    continue
                key = [group_id, topic, str(index)]
                behind = max(part.high_watermark - om.offset, 0)
                current.add_metric(key, om.offset)
                lag.add_metric(key, behind)
                acc = sums.setdefault(topic, [0, 0])
                acc[0] += om.offset
                acc[1] += behind
                if behind == 0:
                    lag_seconds.add_metric(key, 0)
                    continue
                ts = self._lag_timestamp(part, max(om.offset, part.log_start_offset), cache, budget)
                if ts is not None:
                    lag_seconds.add_metric(key, max(now_ms - ts, 0) / 1000)
            for topic, (offsets, behind) in sums.items():
                current_sum.add_metric([group_id, topic], offsets)
                lag_sum.add_metric([group_id, topic], behind)
        yield current
        yield current_sum
        yield lag
        yield lag_sum
        yield lag_seconds

    def _lag_timestamp(self, part, offset: int, cache: dict, budget: list[int]) -> int | None:  # type: ignore[no-untyped-def]
        """Timestamp of the batch holding ``offset``, cached per (topic, partition, offset): a
        committed offset that did not move costs nothing; at most LAG_TIMESTAMP_LOOKUPS header
        reads per scrape (partitions beyond that get their lag seconds at a later scrape)."""
        key = (part.topic, part.index, offset)
        if key in cache:
            ts = cache[key]
        elif budget[0] > 0:
            budget[0] -= 1
            ts = part.log.batch_timestamp(offset)
        else:
            return None
        self._timestamps[key] = ts
        return ts


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _quantile(counts: list[int] | tuple[int, ...], q: float) -> float:
    """The q-quantile (seconds) of a latency histogram (non-cumulative counts per LATENCY_BUCKETS
    slot), interpolated linearly inside the bucket, as Prometheus' histogram_quantile does; NaN
    without observations."""
    total = sum(counts)
    if total == 0:
        return math.nan
    rank = q * total
    seen = 0
    lower = 0.0
    for bound, count in zip(LATENCY_BUCKETS, counts):
        if count and seen + count >= rank:
            return lower + (bound - lower) * (rank - seen) / count
        seen += count
        lower = bound
    return LATENCY_BUCKETS[-1]  # in the +Inf bucket: the largest finite bound, like histogram_quantile
