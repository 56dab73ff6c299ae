"""`make serve`'s config/server.properties on a real broker: a new consumer group gets its first
assignment without Kafka's default 3 s group.initial.rebalance.delay.ms."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from strom.config import read_properties

pytestmark = pytest.mark.timeout(60)
SHIPPED = Path(__file__).resolve().parents[2] / "config" / "server.properties"
DEADLINE_S = 2.5  # below the 3 s that Kafka's default initial rebalance delay alone would take


def test_a_group_gets_its_first_assignment_at_once(strom_factory):
    # the shipped file's settings, with the test's own ports and data directory
    props = {k: v for k, v in read_properties(SHIPPED).items() if k not in ("listeners", "log.dirs")}
    props["strom.http.port"] = "0"  # the file's 9644, but a free port in tests
    broker = strom_factory(props)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("first", 1, 1)])["first"].result(10)
    assigned = threading.Event()
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "first-contact"})
    try:
        started = time.monotonic()
        c.subscribe(["first"], on_assign=lambda consumer, partitions: assigned.set())
        while not assigned.is_set() and time.monotonic() - started < 20:
            c.poll(0.05)
        elapsed = time.monotonic() - started
        assert assigned.is_set(), "no assignment within 20 s"
        assert elapsed < DEADLINE_S, f"the first assignment took {elapsed:.1f}s"
    finally:
        c.close()
