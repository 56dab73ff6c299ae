"""Fetch as consumers rely on it: a parked long poll is woken by an append (on any of its
partitions, with every client), fetch.wait.max.ms bounds the wait when fetch.min.bytes is not
reached, and LogAppendTime topics stamp records with the broker's clock."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import unique

pytestmark = pytest.mark.timeout(60)


def create_topic(bootstrap: str, partitions: int = 1, config: dict | None = None) -> str:
    name = unique("f")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(10)
    return name


def produce_later(bootstrap: str, topic: str, value: bytes, delay: float, partition: int = 0) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        p = Producer({"bootstrap.servers": bootstrap})
        p.produce(topic, value=value, partition=partition)
        p.flush(10)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_confluent_long_poll_on_several_partitions_is_woken_by_an_append(shared_broker):
    topic = create_topic(shared_broker.bootstrap, 3)
    c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 30000, "fetch.min.bytes": 1, "session.timeout.ms": 6000})
    c.assign([TopicPartition(topic, p, 0) for p in range(3)])
    assert c.poll(0.8) is None
    t = produce_later(shared_broker.bootstrap, topic, b"wake", 0.2, partition=2)
    m = c.poll(15)  # well under fetch.wait.max.ms: only the append can have ended the wait
    t.join()
    c.close()
    assert m is not None and m.error() is None and (m.partition(), m.value()) == (2, b"wake")


def test_fetch_wait_max_ms_bounds_the_wait_when_min_bytes_is_not_reached(shared_broker):
    topic = create_topic(shared_broker.bootstrap)
    c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 300, "fetch.min.bytes": 10_000_000, "session.timeout.ms": 6000})
    c.assign([TopicPartition(topic, 0, 0)])
    p = Producer({"bootstrap.servers": shared_broker.bootstrap})
    p.produce(topic, value=b"small")
    p.flush(10)
    m = c.poll(10)
    c.close()
    assert m is not None and m.value() == b"small"


def test_kafka_python_long_poll(shared_broker):
    from kafka import KafkaConsumer, TopicPartition as KTP
    topic = create_topic(shared_broker.bootstrap)
    c = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, fetch_max_wait_ms=20000, request_timeout_ms=40000,
                      consumer_timeout_ms=15000)
    c.assign([KTP(topic, 0)])
    c.seek(KTP(topic, 0), 0)
    assert c.poll(timeout_ms=500) == {}
    t = produce_later(shared_broker.bootstrap, topic, b"wake", 0.2)
    got = next(iter(c), None)
    t.join()
    c.close()
    assert got is not None and got.value == b"wake"


def test_aiokafka_long_poll(shared_broker):
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as ATP
    topic = create_topic(shared_broker.bootstrap)

    async def run():
        c = AIOKafkaConsumer(bootstrap_servers=shared_broker.bootstrap, fetch_max_wait_ms=20000,
                             request_timeout_ms=40000)
        await c.start()
        try:
            c.assign([ATP(topic, 0)])
            c.seek(ATP(topic, 0), 0)
            assert await c.getmany(timeout_ms=500) == {}
            t = produce_later(shared_broker.bootstrap, topic, b"wake", 0.2)
            m = await asyncio.wait_for(c.getone(), 15)
            await asyncio.to_thread(t.join)
            return m
        finally:
            await c.stop()

    assert asyncio.run(run()).value == b"wake"


def test_log_append_time_topic_stamps_records_with_the_broker_clock(shared_broker):
    topic = create_topic(shared_broker.bootstrap, config={"message.timestamp.type": "LogAppendTime"})
    p = Producer({"bootstrap.servers": shared_broker.bootstrap, "compression.type": "lz4", "linger.ms": 20})
    before = int(time.time() * 1000)
    for i in range(20):
        p.produce(topic, value=b"%d" % i, timestamp=1_000_000 + i)  # the broker must overwrite these
    assert p.flush(10) == 0
    after = int(time.time() * 1000)
    c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 50})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 20 and time.monotonic() < deadline:
        got.extend(m for m in c.consume(20, 0.3) if m.error() is None)
    assert [m.value() for m in got] == [b"%d" % i for i in range(20)]
    for m in got:
        kind, ts = m.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME, "LogAppendTime topic returned CreateTime records"
        assert before - 1000 <= ts <= after + 1000
    found = c.offsets_for_times([TopicPartition(topic, 0, before - 1000)], timeout=10)
    c.close()
    assert found[0].offset == 0


def test_create_time_topic_keeps_client_timestamps(shared_broker):
    topic = create_topic(shared_broker.bootstrap)
    p = Producer({"bootstrap.servers": shared_broker.bootstrap})
    p.produce(topic, value=b"old", timestamp=1_000_000)
    assert p.flush(10) == 0
    c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    m = c.poll(10)
    c.close()
    assert m is not None and m.timestamp() == (TIMESTAMP_CREATE_TIME, 1_000_000)


def test_a_long_poll_fetch_of_no_partitions_parks_without_freezing_the_broker(shared_broker):
    """An empty fetch (what an incremental fetch session sends when nothing changed) with
    min_bytes=1 once spun the event loop until max_wait ran out: every client froze meanwhile."""
    import socket
    import struct

    def request(api_key: int, version: int, body: bytes) -> bytes:
        payload = struct.pack(">hhih", api_key, version, 9, 4) + b"test" + body
        return struct.pack(">i", len(payload)) + payload

    # Fetch v4 by hand: replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level, no topics
    empty_fetch = request(1, 4, struct.pack(">iiiib", -1, 3000, 1, 1 << 20, 0) + struct.pack(">i", 0))
    with socket.create_connection(("127.0.0.1", shared_broker.port), timeout=10) as parked:
        parked.sendall(empty_fetch)
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", shared_broker.port), timeout=2.5) as other:
            other.sendall(request(18, 0, b""))  # ApiVersions v0 on another connection
            # answered while the empty fetch waits (before the fix the loop was frozen for all 3 s)
            assert struct.unpack(">i", other.recv(4))[0] > 0
        assert struct.unpack(">i", parked.recv(4))[0] > 0  # and the fetch itself is answered at max_wait
