"""What applications rely on beyond the basic round trip, with each real client.

Offsets reported to the producer match what the consumer sees; tombstones,
empty values, repeated and null headers and large records survive; a consumer
can start in the middle of a compressed batch, recovers from an out-of-range
offset, and makes progress with fetch sizes smaller than a batch; many
producers share a partition; what one client writes, the others read.
All tests share one broker and use their own topics.
"""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import unique

pytestmark = pytest.mark.timeout(90)


def create_topic(bootstrap: str, partitions: int = 1, config: dict | None = None, prefix: str = "c") -> str:
    name = unique(prefix)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(10)
    return name


def consumer(bootstrap: str, **conf) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                     "fetch.wait.max.ms": 50, "session.timeout.ms": 6000, **conf})


def drain(c: Consumer, expected: int, timeout: float = 20) -> list:
    out: list = []
    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        for m in c.consume(expected - len(out), 0.3):
            assert m.error() is None, m.error()
            out.append(m)
    return out


def produce_confluent(bootstrap: str, topic: str, records: list[dict], **conf) -> list:
    """Produce ``records`` (kwargs for Producer.produce); return the delivered messages in send order."""
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 15000, **conf})
    delivered: dict[int, object] = {}
    errors: list = []
    for i, r in enumerate(records):
        def cb(err, msg, i=i):
            if err:
                errors.append(err)
            delivered[i] = msg
        p.produce(topic, on_delivery=cb, **r)
        p.poll(0)
    assert p.flush(20) == 0
    assert errors == []
    return [delivered[i] for i in range(len(records))]


def test_confluent_delivery_offsets_match_consumed_records_and_edge_values(shared_broker):
    topic = create_topic(shared_broker.bootstrap, 2)
    big = bytes(range(256)) * 2048  # 512 KiB
    records = [
        {"key": b"tomb", "value": None, "partition": 0},
        {"key": b"empty", "value": b"", "partition": 0},
        {"key": None, "value": b"no key", "partition": 0},
        {"key": "ключ", "value": "значение", "partition": 1},
        {"key": b"h", "value": b"headers", "partition": 1,
         "headers": [("a", b"1"), ("a", b"2"), ("nil", None), ("", b"empty name")]},
        {"key": b"big", "value": big, "partition": 1},
    ]
    delivered = produce_confluent(shared_broker.bootstrap, topic, records)
    assert [m.offset() for m in delivered] == [0, 1, 2, 0, 1, 2]
    c = consumer(shared_broker.bootstrap)
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING), TopicPartition(topic, 1, OFFSET_BEGINNING)])
    got = {(m.partition(), m.offset()): m for m in drain(c, 6)}
    c.close()
    assert set(got) == {(m.partition(), m.offset()) for m in delivered}
    p0 = [got[(0, o)] for o in range(3)]
    assert [(m.key(), m.value()) for m in p0] == [(b"tomb", None), (b"empty", b""), (None, b"no key")]
    p1 = [got[(1, o)] for o in range(3)]
    assert (p1[0].key(), p1[0].value()) == ("ключ".encode(), "значение".encode())
    assert p1[1].headers() == [("a", b"1"), ("a", b"2"), ("nil", None), ("", b"empty name")]
    assert p1[2].value() == big and p1[2].headers() is None


@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
def test_consume_from_the_middle_of_a_batch(shared_broker, codec):
    topic = create_topic(shared_broker.bootstrap)
    produce_confluent(shared_broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(100)],
                      **{"compression.type": codec, "linger.ms": 200, "batch.num.messages": 1000})
    c = consumer(shared_broker.bootstrap)
    c.assign([TopicPartition(topic, 0, 37)])
    got = drain(c, 63)
    c.close()
    assert [m.offset() for m in got] == list(range(37, 100))
    assert [m.value() for m in got] == [b"%d" % i for i in range(37, 100)]


@pytest.mark.parametrize("reset,expected_first", [("earliest", 0), ("latest", 10)])
def test_out_of_range_offset_resets_per_auto_offset_reset(shared_broker, reset, expected_first):
    topic = create_topic(shared_broker.bootstrap)
    produce_confluent(shared_broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(10)])
    c = consumer(shared_broker.bootstrap, **{"auto.offset.reset": reset})
    c.assign([TopicPartition(topic, 0, 1000)])  # past the end: the broker answers OFFSET_OUT_OF_RANGE
    if reset == "latest":
        assert drain(c, 1, timeout=2) == []
        produce_confluent(shared_broker.bootstrap, topic, [{"value": b"10"}])
    got = drain(c, 1)
    c.close()
    assert got and got[0].offset() == expected_first and got[0].value() == b"%d" % expected_first


def test_fetch_sizes_smaller_than_a_batch_still_make_progress(shared_broker):
    topic = create_topic(shared_broker.bootstrap)
    produce_confluent(shared_broker.bootstrap, topic, [{"value": b"%04d" % i + b"." * 1000} for i in range(40)],
                      **{"linger.ms": 200, "batch.num.messages": 1000, "batch.size": 1000000})
    # the one batch is ~40 KB: the broker must still return it whole (KIP-74), or the consumer is stuck
    c = consumer(shared_broker.bootstrap, **{"max.partition.fetch.bytes": 1024, "fetch.max.bytes": 1024,
                                             "message.max.bytes": 1000})
    c.assign([TopicPartition(topic, 0, 0)])
    got = drain(c, 40)
    c.close()
    assert [int(m.value()[:4]) for m in got] == list(range(40))


def test_concurrent_producers_share_a_partition(shared_broker):
    topic = create_topic(shared_broker.bootstrap)
    n_producers, per_producer = 4, 250

    def run(pid: int) -> None:
        produce_confluent(shared_broker.bootstrap, topic,
                          [{"value": b"%d:%d" % (pid, i), "partition": 0} for i in range(per_producer)],
                          **{"linger.ms": 1, "acks": "all"})

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c = consumer(shared_broker.bootstrap)
    c.assign([TopicPartition(topic, 0, 0)])
    got = drain(c, n_producers * per_producer)
    c.close()
    assert [m.offset() for m in got] == list(range(n_producers * per_producer))
    for pid in range(n_producers):
        mine = [int(m.value().split(b":")[1]) for m in got if m.value().startswith(b"%d:" % pid)]
        assert mine == list(range(per_producer)), f"producer {pid}'s records out of order or missing"


def test_kafka_python_keys_timestamps_headers_partitions_and_offsets(shared_broker):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTP
    topic = create_topic(shared_broker.bootstrap, 3)
    producer = KafkaProducer(bootstrap_servers=shared_broker.bootstrap, acks="all", linger_ms=5)
    futures = []
    for i in range(90):
        key = None if i % 9 == 0 else b"user-%d" % (i % 5)
        futures.append(producer.send(topic, key=key, value=b"v%d" % i, headers=[("i", b"%d" % i), ("dup", b"x"),
                                                                                 ("dup", b"y")],
                                     timestamp_ms=1_600_000_000_000 + i))
    producer.flush()
    meta = [f.get(timeout=10) for f in futures]
    producer.close()
    consumer_ = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, consumer_timeout_ms=5000,
                              fetch_max_wait_ms=100)
    consumer_.assign([KTP(topic, p) for p in range(3)])
    consumer_.seek_to_beginning()
    got = []
    for m in consumer_:
        got.append(m)
        if len(got) == 90:
            break
    assert consumer_.beginning_offsets([KTP(topic, p) for p in range(3)]) == {KTP(topic, p): 0 for p in range(3)}
    ends = consumer_.end_offsets([KTP(topic, p) for p in range(3)])
    consumer_.close()
    assert len(got) == 90
    assert sum(ends.values()) == 90
    by_value = {m.value: m for m in got}
    for i, md in enumerate(meta):
        m = by_value[b"v%d" % i]
        assert (m.partition, m.offset) == (md.partition, md.offset)
        assert m.timestamp == 1_600_000_000_000 + i and m.timestamp_type == 0
        assert m.headers == [("i", b"%d" % i), ("dup", b"x"), ("dup", b"y")]
        assert m.key == (None if i % 9 == 0 else b"user-%d" % (i % 5))
    key_partitions: dict = {}
    for m in got:
        if m.key is not None:
            key_partitions.setdefault(m.key, set()).add(m.partition)
    assert all(len(ps) == 1 for ps in key_partitions.values())
    for p in range(3):
        seq = [int(m.value[1:]) for m in got if m.partition == p]
        assert seq == sorted(seq)


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_aiokafka_acks_keys_headers_timestamps(shared_broker, acks):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as ATP
    topic = create_topic(shared_broker.bootstrap, 2)

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=shared_broker.bootstrap, acks=acks, linger_ms=5)
        await producer.start()
        try:
            futs = [await producer.send(topic, key=b"k%d" % (i % 4), value=b"v%d" % i,
                                        headers=[("i", b"%d" % i)], timestamp_ms=1_650_000_000_000 + i)
                    for i in range(60)]
            meta = [await f for f in futs]
        finally:
            await producer.stop()
        consumer_ = AIOKafkaConsumer(bootstrap_servers=shared_broker.bootstrap, fetch_max_wait_ms=100)
        await consumer_.start()
        try:
            tps = [ATP(topic, 0), ATP(topic, 1)]
            consumer_.assign(tps)
            await consumer_.seek_to_beginning(*tps)
            out = []
            deadline = time.monotonic() + 20
            while len(out) < 60 and time.monotonic() < deadline:
                for records in (await consumer_.getmany(timeout_ms=500)).values():
                    out.extend(records)
            ends = await consumer_.end_offsets(tps)
            return meta, out, ends
        finally:
            await consumer_.stop()

    meta, got, ends = asyncio.run(run())
    assert len(got) == 60 and sum(ends.values()) == 60
    by_value = {m.value: m for m in got}
    for i in range(60):
        m = by_value[b"v%d" % i]
        assert m.key == b"k%d" % (i % 4)
        assert list(m.headers) == [("i", b"%d" % i)]
        assert m.timestamp == 1_650_000_000_000 + i
        if acks != 0:  # with acks=0 there is no response and so no offset
            assert (m.partition, m.offset) == (meta[i].partition, meta[i].offset)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_what_one_client_writes_the_others_read(shared_broker, codec):
    """librdkafka's compressed batches read by kafka-python and aiokafka, and aiokafka's read by librdkafka."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as ATP
    from kafka import KafkaConsumer, TopicPartition as KTP
    topic = create_topic(shared_broker.bootstrap)
    produce_confluent(shared_broker.bootstrap, topic, [{"key": b"c", "value": b"c%d" % i} for i in range(30)],
                      **{"compression.type": codec, "linger.ms": 20})

    async def aio_round() -> list:
        producer = AIOKafkaProducer(bootstrap_servers=shared_broker.bootstrap, compression_type=codec)
        await producer.start()
        try:
            batch = producer.create_batch()
            for i in range(30):
                batch.append(key=b"a", value=b"a%d" % i, timestamp=None)
            await (await producer.send_batch(batch, topic, partition=0))
        finally:
            await producer.stop()
        c = AIOKafkaConsumer(bootstrap_servers=shared_broker.bootstrap, fetch_max_wait_ms=100)
        await c.start()
        try:
            c.assign([ATP(topic, 0)])
            await c.seek_to_beginning(ATP(topic, 0))
            out = []
            deadline = time.monotonic() + 20
            while len(out) < 60 and time.monotonic() < deadline:
                for records in (await c.getmany(timeout_ms=500)).values():
                    out.extend(r.value for r in records)
            return out
        finally:
            await c.stop()

    expected = [b"c%d" % i for i in range(30)] + [b"a%d" % i for i in range(30)]
    assert asyncio.run(aio_round()) == expected

    kc = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, consumer_timeout_ms=5000, fetch_max_wait_ms=100)
    kc.assign([KTP(topic, 0)])
    kc.seek_to_beginning()
    got = []
    for m in kc:
        got.append(m.value)
        if len(got) == 60:
            break
    kc.close()
    assert got == expected

    c = consumer(shared_broker.bootstrap)
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    assert [m.value() for m in drain(c, 60)] == expected
    c.close()


def test_list_offsets_with_kafka_python_and_aiokafka(shared_broker):
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as ATP
    from kafka import KafkaConsumer, TopicPartition as KTP
    topic = create_topic(shared_broker.bootstrap)
    produce_confluent(shared_broker.bootstrap, topic,
                      [{"value": b"x", "timestamp": 2_000_000 + 1000 * i} for i in range(10)])
    kc = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap)
    tp = KTP(topic, 0)
    assert kc.beginning_offsets([tp]) == {tp: 0} and kc.end_offsets([tp]) == {tp: 10}
    found = kc.offsets_for_times({tp: 2_003_500})[tp]
    assert (found.offset, found.timestamp) == (4, 2_004_000)
    assert kc.offsets_for_times({tp: 2_000_000})[tp].offset == 0
    assert kc.offsets_for_times({tp: 9_000_000})[tp] is None
    kc.close()

    async def aio():
        c = AIOKafkaConsumer(bootstrap_servers=shared_broker.bootstrap)
        await c.start()
        try:
            atp = ATP(topic, 0)
            return (await c.beginning_offsets([atp]))[atp], (await c.end_offsets([atp]))[atp], \
                (await c.offsets_for_times({atp: 2_009_000}))[atp].offset
        finally:
            await c.stop()

    assert asyncio.run(aio()) == (0, 10, 9)
