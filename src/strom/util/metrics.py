"""The broker's hot-path counters: plain integers in slotted objects (stdlib only).

The produce/fetch path and the dispatcher increment these inline (an attribute
add, a ``bisect`` for the latency bucket); nothing here knows Prometheus.  The
HTTP side port (strom.http.metrics) turns them into metric families only when
scraped, so counting costs a few hundred nanoseconds per request.

Ownership: one ``BrokerMetrics`` per node, built by strom.node and handed to
handlers through ``BrokerServices.metrics``; mutated and read on the event-loop
thread only.  ``registry`` is that node's own Prometheus registry (never the
process-global one), so several brokers in one process do not share metrics.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

# Upper bounds (seconds) of the request-latency histogram buckets; +Inf is implicit.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)


class TopicCounters:
    """Kafka's BrokerTopicMetrics for one topic (counts since the broker started)."""

    __slots__ = ("bytes_in", "bytes_out", "messages_in", "failed_produce_requests", "failed_fetch_requests",
                 "total_produce_requests", "total_fetch_requests")

    def __init__(self) -> None:
        self.bytes_in = 0
        self.bytes_out = 0
        self.messages_in = 0
        self.failed_produce_requests = 0  # partitions of produce requests answered with an error
        self.failed_fetch_requests = 0  # partitions of fetch requests answered with an error
        self.total_produce_requests = 0  # partitions of produce requests
        self.total_fetch_requests = 0  # partitions of fetch requests

    def failed_produce(self) -> None:
        self.total_produce_requests += 1
        self.failed_produce_requests += 1

    def failed_fetch(self) -> None:
        self.total_fetch_requests += 1
        self.failed_fetch_requests += 1

    def add(self, other: "TopicCounters") -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class ApiCounters:
    """Kafka's RequestMetrics for one API: requests served and their latency as a histogram.

    ``buckets[i]`` counts requests that took at most ``LATENCY_BUCKETS[i]`` seconds (and more than
    the bound before); the last slot counts the rest (+Inf).  Not cumulative: the collector sums."""

    __slots__ = ("name", "requests", "seconds", "buckets")

    def __init__(self, name: str) -> None:
        self.name = name  # Kafka's ApiKeys name: Produce, Fetch, ListOffsets, ...
        self.requests = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)

    def observe(self, seconds: float) -> None:
        self.requests += 1
        self.seconds += seconds
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1


class BrokerMetrics:
    """Every hot-path counter of one node, plus that node's Prometheus registry."""

    def __init__(self, registry: Any = None) -> None:
        self.topics: dict[str, TopicCounters] = {}
        self.all_topics_retired = TopicCounters()  # counts of topics since deleted (kept in the broker total)
        self.unattributed = TopicCounters()  # requests for topics that do not exist, bad acks (no topic series)
        self.apis: dict[int, ApiCounters] = {}
        self.isr_shrinks = 0  # the replication layer increments these (single node: always 0)
        self.isr_expands = 0
        self.connection_count: Callable[[], int] = lambda: 0  # set by the client listener
        self.registry = registry

    def topic(self, name: str) -> TopicCounters:
        """The counters of an existing topic (callers never pass names of unknown topics)."""
        counters = self.topics.get(name)
        if counters is None:
            counters = self.topics[name] = TopicCounters()
        return counters

    def api(self, api_key: int, name: str) -> ApiCounters:
        counters = self.apis.get(api_key)
        if counters is None:
            counters = self.apis[api_key] = ApiCounters(name)
        return counters

    def retire_topics(self, existing: Callable[[str], bool]) -> None:
        """Fold the counters of topics that no longer exist into the broker-wide total (scrape time)."""
        for name in [n for n in self.topics if not existing(n)]:
            self.all_topics_retired.add(self.topics.pop(name))
