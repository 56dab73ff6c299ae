"""Prometheus metrics of one broker, computed at scrape time (a prometheus_client Collector).

Names and labels are those of jmx_exporter with Strimzi's rules (``kafka_server_*``,
``kafka_controller_*``, ``kafka_network_*``, ``kafka_log_*``) and of kafka_exporter
for consumer lag (``kafka_consumergroup_*``), so existing Grafana boards and
alerts work; docs/operations.md lists them.  Nothing is counted here: request
and topic counters are plain integers kept by the hot path (strom.util.metrics);
everything else is read from the broker's in-memory state (the replica manager,
the metadata image, the group coordinator) without disk I/O, except the lag in
seconds, which reads one batch header per lagging partition whose committed offset
moved (see ``BrokerCollector._group_lag``).

Single node: the replication signals report the truth of one broker (ISR = replicas,
nothing under-replicated, no ISR changes); the replication issue feeds
``BrokerMetrics.isr_shrinks``/``isr_expands`` and real ISRs.  Broker counts come from
the registrations in the metadata image (fenced or not); the active controller from
the metadata cache's controller id.

Gauges that Kafka's tools name ``*_count`` or ``*_sum``
(``kafka_server_socketservermetrics_connection_count``, ``kafka_consumergroup_lag_sum``)
are exported untyped: Prometheus' linter reserves those suffixes for histograms
and summaries, and untyped keeps the conventional names.

Concurrency: ``BrokerCollector.snapshot`` runs on the event-loop thread (it reads
loop-owned state) and copies plain values; building the families and rendering
them run on a worker thread (see ``BrokerCollector``).
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
    from strom.coordinator.group.coordinator import GroupCoordinator
    from strom.metadata.image import MetadataImage
    from strom.replication.replica_manager import ReplicaManager

QUANTILES = (0.5, 0.75, 0.95, 0.98, 0.99, 0.999)  # Kafka's 50th..999th percentiles of TotalTimeMs
QUANTILE_WINDOW_S = 60.0  # quantiles describe roughly the last minute (Kafka: a decaying reservoir)
_SNAPSHOT_EVERY_S = 5.0
LAG_TIMESTAMP_LOOKUPS = 250  # batch-header reads per scrape for lag seconds (see BrokerCollector._group_lag)


@dataclass
class BrokerSources:
    """Where the collector reads broker state; callables because the objects are built during start-up."""

    node_id: int
    replicas: "ReplicaManager"
    image: Callable[[], "MetadataImage"]
    groups: Callable[[], "GroupCoordinator | None"]
    active_controller: Callable[[], bool]
    listener_name: str = "PLAINTEXT"
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000)


class _Snapshot:
    """Plain values read from the broker on the loop; ``families`` builds the metrics from them."""

    __slots__ = ("replica_manager", "controller", "topics", "all_topics", "apis", "window", "connections",
                 "logs", "groups")

    def __init__(self) -> None:
        self.replica_manager: tuple[int, ...] = ()
        self.controller: tuple[int, ...] = ()
        self.topics: list[tuple[str, TopicCounters]] = []
        self.all_topics = TopicCounters()
        self.apis: list[tuple[int, str, int, float, tuple[int, ...]]] = []
        self.window: dict[int, list[int]] = {}
        self.connections = 0
        self.logs: list[tuple[str, int, int, int, int]] = []  # topic, partition, size, start, end
        self.groups: list[tuple[str, str, int, int, int, float | None]] = []  # ..., offset, lag, lag seconds


class BrokerCollector:
    """Turns one broker's counters and state into metric families.

    Two phases, so a scrape holds the event loop only for the first: ``snapshot`` (on the loop)
    copies plain values out of the broker; ``families`` (any thread) builds the Prometheus
    objects.  ``prepare`` queues a snapshot for the next ``collect``, which the HTTP server then
    runs on a worker thread; ``collect`` without a queued snapshot takes one itself (on the loop)."""

    def __init__(self, metrics: BrokerMetrics, sources: BrokerSources) -> None:
        self.metrics = metrics
        self.sources = sources
        self._history: deque[tuple[float, dict[int, tuple[int, ...]]]] = deque()
        self._timestamps: dict[tuple[str, int], tuple[int, int | None]] = {}  # (topic, partition) -> (offset, ts)
        self._prepared: deque[_Snapshot] = deque()

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; registering must not call collect()

    def prepare(self) -> None:
        self._prepared.append(self.snapshot())

    def collect(self) -> Iterator[Metric]:
        try:
            snap = self._prepared.popleft()
        except IndexError:
            snap = self.snapshot()
        return self.families(snap)

    # ------------------------------------------------------------------ phase 1: on the loop
    def snapshot(self) -> _Snapshot:
        snap = _Snapshot()
        src = self.sources
        image = src.image()
        # kafka.server ReplicaManager
        partitions = src.replicas.partitions
        leaders = under = under_min = 0
        logs = snap.logs
        for (topic, index), part in partitions.items():
            the_log = part.log
            logs.append((topic, index, the_log.size_bytes, the_log.log_start_offset, the_log.log_end_offset))
            if part.leader_id != src.node_id:
                continue
            leaders += 1
            isr = len(part.isr)
            t = image.topics.get(topic)
            state = t.partitions.get(index) if t is not None else None
            if state is not None and isr < len(state.replicas):
                under += 1
            if isr < the_log.config.min_insync_replicas:
                under_min += 1
        snap.replica_manager = (under, under_min, 0, len(partitions), leaders, self.metrics.isr_shrinks,
                                self.metrics.isr_expands)
        # kafka.controller KafkaController
        live = set(image.live_brokers)  # registered and not fenced
        total = offline = 0
        for topic in image.topics.values():
            total += len(topic.partitions)
            offline += sum(1 for p in topic.partitions.values() if p.leader < 0 or p.leader not in live)
        snap.controller = (1 if src.active_controller() else 0, offline, total, len(image.topics), len(live),
                           len(image.brokers) - len(live))
        # kafka.server BrokerTopicMetrics, kafka.network RequestMetrics, SocketServer
        self.metrics.retire_topics(lambda name: name in image.topics)
        for counters in (self.metrics.all_topics_retired, self.metrics.unattributed):
            snap.all_topics.add(counters)
        for name, counters in self.metrics.topics.items():
            copy = TopicCounters()
            copy.add(counters)
            snap.all_topics.add(counters)
            snap.topics.append((name, copy))
        snap.apis = [(key, api.name, api.requests, api.seconds, tuple(api.buckets))
                     for key, api in self.metrics.apis.items()]
        snap.window = self._window({key: buckets for key, _, _, _, buckets in snap.apis})
        snap.connections = self.metrics.connection_count()
        # kafka_exporter consumer groups
        groups = src.groups()
        if groups is not None:
            self._group_lag(snap, groups)
        return snap

    def _window(self, now_counts: dict[int, tuple[int, ...]]) -> dict[int, list[int]]:
        """Bucket counts of roughly the last QUANTILE_WINDOW_S: now minus the newest snapshot at
        least that old (the oldest one while younger).  Snapshots are kept every few seconds."""
        now = time.monotonic()
        history = self._history
        while len(history) >= 2 and history[1][0] <= now - QUANTILE_WINDOW_S:
            history.popleft()
        base = history[0][1] if history else {}
        if not history or now - history[-1][0] >= _SNAPSHOT_EVERY_S:
            history.append((now, now_counts))
        out = {}
        for key, counts in now_counts.items():
            old = base.get(key)
            out[key] = list(counts) if old is None else [a - b for a, b in zip(counts, old)]
        return out

    def _group_lag(self, snap: _Snapshot, groups: "GroupCoordinator") -> None:
        """Committed offset, lag and lag in seconds of every committed partition that still exists.

        Lag seconds: now minus the timestamp of the batch holding the oldest unconsumed record
        (``Log.batch_timestamp``: an offset-index lookup and one header read).  Looked up again
        only when the committed offset moved, at most LAG_TIMESTAMP_LOOKUPS per scrape; beyond
        that the previous timestamp of the partition stands in (an older record: the age is
        over-, never under-stated) until a later scrape."""
        now_ms = self.sources.now_ms()
        replicas = self.sources.replicas
        cache, fresh = self._timestamps, {}
        budget = LAG_TIMESTAMP_LOOKUPS
        out = snap.groups
        for group_id, committed in groups.offsets.items():
            for (topic, index), om in committed.items():
                part = replicas.get(topic, index)
                if part is None:
                    continue
                behind = max(part.high_watermark - om.offset, 0)
                seconds: float | None = 0.0
                if behind:
                    oldest = max(om.offset, part.log_start_offset)
                    known = fresh.get((topic, index)) or cache.get((topic, index))
                    if known is not None and (known[0] == oldest or budget <= 0):
                        ts = known[1]
                    elif budget > 0:
                        budget -= 1
                        ts = part.log.batch_timestamp(oldest)
                        known = (oldest, ts)
                    else:
                        ts = None
                    if known is not None:
                        fresh[(topic, index)] = known
                    seconds = max(now_ms - ts, 0) / 1000 if ts is not None else None
                out.append((group_id, topic, index, om.offset, behind, seconds))
        self._timestamps = fresh

    # ------------------------------------------------------------------ phase 2: any thread
    def families(self, snap: _Snapshot) -> Iterator[Metric]:
        yield from self._replica_manager(snap)
        yield from self._controller(snap)
        yield from self._topics(snap)
        yield from self._requests(snap)
        connections = UnknownMetricFamily("kafka_server_socketservermetrics_connection_count",
                                          "Open client connections.", labels=["listener"])
        connections.add_metric([self.sources.listener_name], snap.connections)
        yield connections
        yield from self._logs(snap)
        yield from self._consumer_groups(snap)

    def _replica_manager(self, snap: _Snapshot) -> Iterator[Metric]:
        under, under_min, offline, partitions, leaders, shrinks, expands = snap.replica_manager
        prefix = "kafka_server_replicamanager_"
        yield _gauge(prefix + "underreplicatedpartitions", "Partitions led here whose ISR is smaller than "
                     "their replica set.", under)
        yield _gauge(prefix + "underminisrpartitioncount", "Partitions led here whose ISR is smaller than "
                     "min.insync.replicas.", under_min)
        yield _gauge(prefix + "offlinereplicacount", "Replicas on offline log directories.", offline)
        yield _gauge(prefix + "partitioncount", "Partitions with a replica on this broker.", partitions)
        yield _gauge(prefix + "leadercount", "Partitions led by this broker.", leaders)
        yield _counter(prefix + "isrshrinks", "ISR shrinks of partitions led here.", shrinks)
        yield _counter(prefix + "isrexpands", "ISR expansions of partitions led here.", expands)

    def _controller(self, snap: _Snapshot) -> Iterator[Metric]:
        active, offline, partitions, topics, live, fenced = snap.controller
        prefix = "kafka_controller_kafkacontroller_"
        yield _gauge(prefix + "activecontrollercount", "1 on the active controller, else 0.", active)
        yield _gauge(prefix + "offlinepartitionscount", "Partitions without a live leader.", offline)
        yield _gauge(prefix + "globalpartitioncount", "Partitions in the cluster.", partitions)
        yield _gauge(prefix + "globaltopiccount", "Topics in the cluster.", topics)
        yield _gauge(prefix + "activebrokercount", "Registered brokers that are not fenced.", live)
        yield _gauge(prefix + "fencedbrokercount", "Registered brokers that are fenced.", fenced)

    def _topics(self, snap: _Snapshot) -> Iterator[Metric]:
        fields = (
            ("bytesin", "bytes_in", "Record bytes appended by producers."),
            ("bytesout", "bytes_out", "Record bytes sent to consumers."),
            ("messagesin", "messages_in", "Records appended by producers."),
            ("failedproducerequests", "failed_produce_requests", "Produce requests (per partition) that failed."),
            ("failedfetchrequests", "failed_fetch_requests", "Fetch requests (per partition) that failed."),
            ("totalproducerequests", "total_produce_requests", "Produce requests (per partition)."),
            ("totalfetchrequests", "total_fetch_requests", "Fetch requests (per partition)."),
        )
        topics = sorted(snap.topics, key=lambda item: item[0])
        for suffix, attr, doc in fields:
            family = CounterMetricFamily("kafka_server_brokertopicmetrics_" + suffix,
                                         doc + " Without a topic label: all topics.", labels=["topic"])
            family.samples.append(Sample(family.name + "_total", {}, getattr(snap.all_topics, attr)))
            for name, counters in topics:
                family.add_metric([name], getattr(counters, attr))
            yield family

    def _requests(self, snap: _Snapshot) -> Iterator[Metric]:
        requests = CounterMetricFamily("kafka_network_requestmetrics_requests", "Requests served, by API.",
                                       labels=["request"])
        seconds = HistogramMetricFamily("kafka_network_requestmetrics_totaltime_seconds",
                                        "Time from decoded request to encoded response, by API.",
                                        labels=["request"])
        millis = SummaryMetricFamily("kafka_network_requestmetrics_totaltimems",
                                     "Time from decoded request to encoded response in ms, by API; quantiles "
                                     f"over about the last {QUANTILE_WINDOW_S:.0f} s.", labels=["request"])
        for key, name, count, total_s, counts in sorted(snap.apis):
            requests.add_metric([name], count)
            cumulative, buckets = 0, []
            for bound, n in zip((*LATENCY_BUCKETS, math.inf), counts):
                cumulative += n
                buckets.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
            seconds.add_metric([name], buckets, total_s)
            for q in QUANTILES:
                millis.samples.append(Sample(millis.name, {"request": name, "quantile": repr(q)},
                                             _quantile(snap.window.get(key, ()), q) * 1000))
            millis.add_metric([name], count, total_s * 1000)
        yield requests
        yield seconds
        yield millis

    def _logs(self, snap: _Snapshot) -> Iterator[Metric]:
        labels = ["topic", "partition"]
        size = GaugeMetricFamily("kafka_log_log_size", "Bytes of the partition's log segments.", labels=labels)
        start = GaugeMetricFamily("kafka_log_log_logstartoffset", "First offset of the log.", labels=labels)
        end = GaugeMetricFamily("kafka_log_log_logendoffset", "Next offset of the log.", labels=labels)
        for topic, index, log_size, log_start, log_end in sorted(snap.logs):
            key = [topic, str(index)]
            size.add_metric(key, log_size)
            start.add_metric(key, log_start)
            end.add_metric(key, log_end)
        yield size
        yield start
        yield end

    def _consumer_groups(self, snap: _Snapshot) -> Iterator[Metric]:
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
        sums: dict[tuple[str, str], list[int]] = {}
        for group_id, topic, index, offset, behind, seconds in sorted(snap.groups):
            key = [group_id, topic, str(index)]
            current.add_metric(key, offset)
            lag.add_metric(key, behind)
            if seconds is not None:
                lag_seconds.add_metric(key, seconds)
            acc = sums.setdefault((group_id, topic), [0, 0])
            acc[0] += offset
            acc[1] += behind
        for (group_id, topic), (offsets, behind) in sums.items():
            current_sum.add_metric([group_id, topic], offsets)
            lag_sum.add_metric([group_id, topic], behind)
        yield current
        yield current_sum
        yield lag
        yield lag_sum
        yield lag_seconds


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
