"""Several clients at once, many partitions, a few megabytes, and a topic deleted while in use.

Small by design (a 2-core CI box): enough to interleave requests from many
connections and to span several fetch responses, not a benchmark.
"""
from __future__ import annotations

import hashlib
import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import unique, wait_until

pytestmark = pytest.mark.timeout(120)


def create_topic(bootstrap: str, partitions: int, name: str | None = None) -> str:
    name = name or unique("load")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)
    return name


def consumer(bootstrap: str, **conf) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                     "fetch.wait.max.ms": 100, "session.timeout.ms": 6000, **conf})


def test_producers_and_consumers_at_the_same_time(shared_broker):
    topic = create_topic(shared_broker.bootstrap, 6)
    n_producers, per_producer, codecs = 6, 400, ["none", "gzip", "snappy", "lz4", "zstd", "none"]
    total = n_producers * per_producer
    received: dict[int, list] = {p: [] for p in range(6)}
    done = threading.Event()
    errors: list = []

    def consume(partitions: list[int]) -> None:
        c = consumer(shared_broker.bootstrap)
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        try:
            while not done.is_set():
                for m in c.consume(500, 0.2):
                    if m.error():
                        errors.append(m.error())
                    else:
                        received[m.partition()].append((m.offset(), m.value()))
        finally:
            c.close()

    def produce(pid: int) -> None:
        p = Producer({"bootstrap.servers": shared_broker.bootstrap, "compression.type": codecs[pid],
                      "linger.ms": 2, "acks": "all" if pid % 2 else "1"})
        for i in range(per_producer):
            p.produce(topic, key=b"p%d-k%d" % (pid, i % 17), value=b"%d:%d" % (pid, i),
                      on_delivery=lambda err, msg: err and errors.append(err))
            p.poll(0)
        if p.flush(30) != 0:
            errors.append("flush timed out")

    consumers = [threading.Thread(target=consume, args=(ps,)) for ps in ([0, 1], [2, 3], [4, 5])]
    producers = [threading.Thread(target=produce, args=(i,)) for i in range(n_producers)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join()
    try:
        wait_until(lambda: sum(len(v) for v in received.values()) >= total, timeout=30)
    finally:
        done.set()
        for t in consumers:
            t.join()
    assert errors == []
    assert sum(len(v) for v in received.values()) == total
    for p, records in received.items():
        assert [o for o, _ in records] == list(range(len(records))), f"partition {p}: gaps or repeats"
    for pid in range(n_producers):  # one key's records keep their order
        for k in range(17):
            seq = [int(v.split(b":")[1]) for recs in received.values() for _, v in recs
                   if v.startswith(b"%d:" % pid) and int(v.split(b":")[1]) % 17 == k]
            assert seq == sorted(seq)


def test_many_partitions_in_one_request(shared_broker):
    topic = create_topic(shared_broker.bootstrap, 64)
    p = Producer({"bootstrap.servers": shared_broker.bootstrap, "linger.ms": 50})
    for part in range(64):
        for i in range(5):
            p.produce(topic, value=b"%d-%d" % (part, i), partition=part)
    assert p.flush(20) == 0
    c = consumer(shared_broker.bootstrap)
    c.assign([TopicPartition(topic, part, 0) for part in range(64)])
    got: list = []
    deadline = time.monotonic() + 30
    while len(got) < 320 and time.monotonic() < deadline:
        got.extend(m for m in c.consume(1000, 0.3) if m.error() is None)
    lows_highs = [c.get_watermark_offsets(TopicPartition(topic, part), timeout=10) for part in (0, 31, 63)]
    c.close()
    assert sorted((m.partition(), m.offset(), m.value()) for m in got) == \
        [(part, i, b"%d-%d" % (part, i)) for part in range(64) for i in range(5)]
    assert lows_highs == [(0, 5)] * 3


def test_a_few_megabytes_across_many_fetches(shared_broker):
    from kafka import KafkaConsumer, TopicPartition as KTP
    topic = create_topic(shared_broker.bootstrap, 1)
    n, size = 6000, 1000
    digest = hashlib.sha256()
    p = Producer({"bootstrap.servers": shared_broker.bootstrap, "linger.ms": 10, "compression.type": "none"})
    for i in range(n):
        value = (b"%08d" % i) * (size // 8)
        digest.update(value)
        p.produce(topic, value=value)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    expected = digest.hexdigest()

    c = consumer(shared_broker.bootstrap, **{"max.partition.fetch.bytes": 262144, "fetch.max.bytes": 1048576})
    c.assign([TopicPartition(topic, 0, 0)])
    seen, d = 0, hashlib.sha256()
    deadline = time.monotonic() + 40
    while seen < n and time.monotonic() < deadline:
        for m in c.consume(1000, 0.5):
            assert m.error() is None and m.offset() == seen
            d.update(m.value())
            seen += 1
    c.close()
    assert seen == n and d.hexdigest() == expected

    kc = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, max_partition_fetch_bytes=300_000,
                       fetch_max_bytes=600_000, consumer_timeout_ms=10000)
    kc.assign([KTP(topic, 0)])
    kc.seek(KTP(topic, 0), 0)
    d, seen = hashlib.sha256(), 0
    for m in kc:
        assert m.offset == seen
        d.update(m.value)
        seen += 1
        if seen == n:
            break
    kc.close()
    assert seen == n and d.hexdigest() == expected


def test_topic_deleted_while_in_use_then_recreated(shared_broker):
    name = create_topic(shared_broker.bootstrap, 2)
    p = Producer({"bootstrap.servers": shared_broker.bootstrap})
    for i in range(100):
        p.produce(name, value=b"old-%d" % i, partition=i % 2)
    assert p.flush(10) == 0
    del p  # a live producer's metadata refresh would auto-create the topic again, as with Kafka
    c = consumer(shared_broker.bootstrap, **{"fetch.wait.max.ms": 2000})
    c.assign([TopicPartition(name, 0, 0), TopicPartition(name, 1, 0)])
    got = []
    wait_until(lambda: got.extend(m for m in c.consume(100, 0.2) if not m.error()) or len(got) >= 100)
    time.sleep(0.3)  # parked on the topic
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    admin.delete_topics([name])[name].result(10)
    c.consume(10, 1.0)  # errors are fine; hanging or crashing the broker is not
    c.close()
    assert shared_broker.alive
    wait_until(lambda: name not in admin.list_topics(timeout=5).topics, timeout=10)
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(10)
    p2 = Producer({"bootstrap.servers": shared_broker.bootstrap})
    p2.produce(name, value=b"new-0", partition=0)
    assert p2.flush(10) == 0
    c = consumer(shared_broker.bootstrap)
    c.assign([TopicPartition(name, 0, 0)])
    fresh = []
    deadline = time.monotonic() + 10
    while not fresh and time.monotonic() < deadline:
        fresh.extend(m for m in c.consume(100, 0.3) if not m.error())
    time.sleep(0.3)
    fresh.extend(m for m in c.consume(100, 0.3) if not m.error())
    lo_hi = c.get_watermark_offsets(TopicPartition(name, 0), timeout=10)
    c.close()
    assert [(m.offset(), m.value()) for m in fresh] == [(0, b"new-0")], "old data leaked into the new topic"
    assert lo_hi == (0, 1)
