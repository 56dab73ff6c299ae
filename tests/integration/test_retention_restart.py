"""Retention as consumers see it: the log start offset moves, stays moved across restarts and
crashes, consumers behind it are reset, the active segment survives, and a retention change made
at runtime takes effect."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from conftest import wait_until

pytestmark = pytest.mark.timeout(120)

FAST_RETENTION = {"log.retention.check.interval.ms": 500}
SMALL_SEGMENTS = {"internal.segment.bytes": "10000", "file.delete.delay.ms": "0"}


def create_topic(bootstrap: str, name: str, config: dict) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1, config=config)])[name].result(10)


def fill(bootstrap: str, topic: str, count: int, start: int = 0, **produce_kwargs) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 10})
    for i in range(start, start + count):
        p.produce(topic, value=b"%06d" % i + b"." * 100, **produce_kwargs)
        p.poll(0)
    assert p.flush(20) == 0


def watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def segment_offsets(broker, topic: str) -> list[int]:
    return sorted(int(p.stem) for p in broker.partition_dir(topic).glob("*.log"))


def test_log_start_offset_survives_restart_and_crash(strom_factory):
    broker = strom_factory(FAST_RETENTION)
    create_topic(broker.bootstrap, "kept", {**SMALL_SEGMENTS, "retention.bytes": "30000"})
    fill(broker.bootstrap, "kept", 1000)
    lo = wait_until(lambda: watermarks(broker.bootstrap, "kept")[0], timeout=20)
    wait_until(lambda: segment_offsets(broker, "kept")[0] == lo, timeout=10)  # files gone, start = first file
    assert watermarks(broker.bootstrap, "kept") == (lo, 1000)
    broker.restart()
    lo2, hi = watermarks(broker.bootstrap, "kept")
    assert hi == 1000 and lo2 >= lo, "the log start offset went backwards after a clean restart"
    broker.kill9()
    broker.start()
    lo3, hi = watermarks(broker.bootstrap, "kept")
    assert hi == 1000 and lo3 >= lo2, "the log start offset went backwards after a crash"
    fill(broker.bootstrap, "kept", 5, start=1000)
    assert watermarks(broker.bootstrap, "kept")[1] == 1005


def test_consumer_behind_the_log_start_is_reset_to_earliest(strom_factory):
    broker = strom_factory(FAST_RETENTION)
    create_topic(broker.bootstrap, "behind", {**SMALL_SEGMENTS, "retention.bytes": "30000"})
    fill(broker.bootstrap, "behind", 1000)
    lo = wait_until(lambda: watermarks(broker.bootstrap, "behind")[0], timeout=20)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50})
    c.assign([TopicPartition("behind", 0, 0)])  # deleted by retention: OFFSET_OUT_OF_RANGE, then reset
    deadline = time.monotonic() + 15
    m = None
    while m is None and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error():
            m = None
    c.close()
    assert m is not None, "the consumer never got a record"
    current_lo = watermarks(broker.bootstrap, "behind")[0]
    assert lo <= m.offset() <= current_lo + 50 and int(m.value()[:6]) == m.offset()


def test_active_segment_is_never_deleted(strom_factory):
    broker = strom_factory(FAST_RETENTION)
    create_topic(broker.bootstrap, "tiny", {**SMALL_SEGMENTS, "retention.bytes": "1"})
    fill(broker.bootstrap, "tiny", 300)
    wait_until(lambda: watermarks(broker.bootstrap, "tiny")[0] > 0, timeout=20)
    time.sleep(1.2)  # a couple more retention passes
    lo, hi = watermarks(broker.bootstrap, "tiny")
    assert hi == 300 and lo < hi, "retention deleted the active segment"
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition("tiny", 0, hi - 1)])
    m = c.poll(10)
    c.close()
    assert m is not None and m.error() is None and m.offset() == hi - 1


def test_retention_ms_changed_at_runtime_takes_effect(strom_factory):
    broker = strom_factory(FAST_RETENTION)
    create_topic(broker.bootstrap, "later", SMALL_SEGMENTS)  # default retention: 7 days
    fill(broker.bootstrap, "later", 400, timestamp=int(time.time() * 1000) - 3_600_000)  # an hour old
    time.sleep(1.2)
    assert watermarks(broker.bootstrap, "later") == (0, 400)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, "later", incremental_configs=[
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(10)
    lo = wait_until(lambda: watermarks(broker.bootstrap, "later")[0], timeout=20)
    assert 0 < lo <= 400
    wait_until(lambda: 0 not in segment_offsets(broker, "later"), timeout=10)
