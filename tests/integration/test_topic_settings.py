"""Topic settings that change what the broker does with a write, and the admin views of a topic.

compression.type recompresses (or keeps) what producers send; min.insync.replicas
above the replica count refuses acks=all; message.timestamp.{before,after}.max.ms
bound record timestamps; ListOffsets by time finds the first record at or after
the time, also inside a compressed batch and with timestamps out of order;
AdminClient.list_offsets and describe_topics.
"""
from __future__ import annotations

import struct
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from conftest import unique

pytestmark = pytest.mark.timeout(60)

CODEC_IDS = {"uncompressed": 0, "none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def create_topic(broker, partitions: int = 1, config: dict | None = None) -> str:
    name = unique("ts")
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(10)
    return name


def produce(broker, topic: str, records: list[dict], **conf) -> list:
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 5000, "retries": 0, **conf})
    results: list = []
    for r in records:
        p.produce(topic, on_delivery=lambda err, msg: results.append(err), **r)
    p.flush(15)
    assert len(results) == len(records)
    return results


def read(broker, topic: str, expected: int, start: int = 0) -> list:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 50})
    c.assign([TopicPartition(topic, 0, start)])
    out: list = []
    deadline = time.monotonic() + 15
    while len(out) < expected and time.monotonic() < deadline:
        out.extend(m for m in c.consume(1000, 0.3) if m.error() is None)
    c.close()
    return out


def stored_codecs(broker, topic: str) -> list[int]:
    """The compression codec of every batch in partition 0's segments, read from disk."""
    codecs = []
    for seg in sorted(broker.partition_dir(topic).glob("*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            (length,) = struct.unpack_from(">i", data, pos + 8)
            (attributes,) = struct.unpack_from(">h", data, pos + 21)
            codecs.append(attributes & 0x7)
            pos += 12 + length
    return codecs


@pytest.mark.parametrize("topic_codec,producer_codec", [
    ("zstd", "none"), ("gzip", "lz4"), ("uncompressed", "snappy"), ("lz4", "lz4"), ("producer", "gzip"),
])
def test_topic_compression_type(shared_broker, topic_codec, producer_codec):
    topic = create_topic(shared_broker, config={"compression.type": topic_codec})
    values = [b"%d-" % i + b"abc" * 50 for i in range(200)]
    errors = produce(shared_broker, topic, [{"key": b"k%d" % (i % 3), "value": v, "headers": [("i", b"%d" % i)]}
                                            for i, v in enumerate(values)],
                     **{"compression.type": producer_codec, "linger.ms": 20})
    assert errors == [None] * 200
    got = read(shared_broker, topic, 200)
    assert [m.value() for m in got] == values
    assert [m.offset() for m in got] == list(range(200))
    assert [m.headers() for m in got] == [[("i", b"%d" % i)] for i in range(200)]
    expected = CODEC_IDS[producer_codec if topic_codec == "producer" else topic_codec]
    codecs = stored_codecs(shared_broker, topic)
    assert codecs and set(codecs) == {expected}, f"stored batch codecs {set(codecs)}, expected {expected}"
    # an offset in the middle of a recompressed batch, and the time index over it
    assert [m.offset() for m in read(shared_broker, topic, 10, start=150)][:10] == list(range(150, 160))


def test_min_insync_replicas_above_the_replica_count_refuses_acks_all(shared_broker):
    topic = create_topic(shared_broker, config={"min.insync.replicas": "2"})
    [err] = produce(shared_broker, topic, [{"value": b"x"}], acks="all")
    assert err is not None and err.code() in (KafkaError.NOT_ENOUGH_REPLICAS,
                                              KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND), err
    assert produce(shared_broker, topic, [{"value": b"y"}], acks="1") == [None]
    assert [m.value() for m in read(shared_broker, topic, 1)] == [b"y"]


def test_timestamps_outside_the_allowed_window_are_rejected(shared_broker):
    topic = create_topic(shared_broker, config={"message.timestamp.before.max.ms": "86400000",
                                                "message.timestamp.after.max.ms": "60000"})
    now = int(time.time() * 1000)
    results = [produce(shared_broker, topic, [r])[0] for r in (  # one request each: no shared batch
        {"value": b"now", "timestamp": now},
        {"value": b"ancient", "timestamp": now - 2 * 86400000},
        {"value": b"future", "timestamp": now + 3600000},
    )]
    assert results[0] is None
    for err in results[1:]:
        assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err
    assert [m.value() for m in read(shared_broker, topic, 1)] == [b"now"]


def test_a_batch_with_one_record_outside_the_window_is_refused_whole(shared_broker):
    """The batch's first and max timestamps are fine; one record in the middle is too old: Kafka
    checks every record, so the whole batch gets INVALID_TIMESTAMP and nothing is stored."""
    topic = create_topic(shared_broker, config={"message.timestamp.before.max.ms": "86400000"})
    now = int(time.time() * 1000)
    records = [{"value": b"a", "timestamp": now}, {"value": b"old", "timestamp": now - 2 * 86400000},
               {"value": b"b", "timestamp": now}]
    for conf in ({}, {"compression.type": "zstd"}):
        errors = produce(shared_broker, topic, records, **{"linger.ms": 2000, **conf})
        assert all(e is not None and e.code() == KafkaError.INVALID_TIMESTAMP for e in errors), errors
    assert produce(shared_broker, topic, [records[0]]) == [None]
    assert [(m.offset(), m.value()) for m in read(shared_broker, topic, 1)] == [(0, b"a")]


def test_offsets_for_times_out_of_order_across_segments(shared_broker):
    """The time index keeps the largest timestamp so far: a lookup never skips an earlier segment
    or batch that holds a later timestamp than the ones after it."""
    topic = create_topic(shared_broker, config={"internal.segment.bytes": "300"})
    t0 = int(time.time() * 1000) - 600_000
    stamps = [t0 + s for s in (10, 90, 20, 30, 80, 40, 50, 60, 70, 15)]
    for i, ts in enumerate(stamps):  # one batch each, ~100 bytes: a few batches per segment
        assert produce(shared_broker, topic, [{"value": b"%02d" % i + b"x" * 30, "timestamp": ts}]) == [None]
    assert len(list(shared_broker.partition_dir(topic).glob("*.log"))) >= 3
    c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": "unused"})
    try:
        for target in range(0, 100, 5):
            want = next((o for o, ts in enumerate(stamps) if ts >= t0 + target), -1)
            got = c.offsets_for_times([TopicPartition(topic, 0, t0 + target)], timeout=10)[0].offset
            assert got == want, (target, got, want)
    finally:
        c.close()


def test_default_after_max_ms_is_one_hour(shared_broker):
    topic = create_topic(shared_broker)
    [err] = produce(shared_broker, topic, [{"value": b"f", "timestamp": int(time.time() * 1000) + 3 * 3600000}])
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err


def test_offsets_for_times_inside_a_compressed_batch(shared_broker):
    topic = create_topic(shared_broker)
    produce(shared_broker, topic, [{"value": b"%d" % i, "timestamp": 1_000_000 + 10 * i} for i in range(100)],
            **{"compression.type": "lz4", "linger.ms": 50})
    assert len(stored_codecs(shared_broker, topic)) < 10, "expected a few large batches"
    c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": "unused"})
    found = c.offsets_for_times([TopicPartition(topic, 0, 1_000_505)], timeout=10)
    exact = c.offsets_for_times([TopicPartition(topic, 0, 1_000_500)], timeout=10)
    c.close()
    assert found[0].offset == 51 and exact[0].offset == 50


def test_offsets_for_times_with_timestamps_out_of_order(shared_broker):
    topic = create_topic(shared_broker)
    for ts in (100_000, 500_000, 200_000, 300_000):  # one batch each
        assert produce(shared_broker, topic, [{"value": b"%d" % ts, "timestamp": ts}]) == [None]
    c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": "unused"})
    found = {t: c.offsets_for_times([TopicPartition(topic, 0, t)], timeout=10)[0].offset
             for t in (50_000, 150_000, 250_000, 400_000, 600_000)}
    c.close()
    # Kafka: the first offset whose timestamp is >= the target
    assert found == {50_000: 0, 150_000: 1, 250_000: 1, 400_000: 1, 600_000: -1}


def test_admin_list_offsets_and_describe_topics(shared_broker):
    topic = create_topic(shared_broker, 2)
    produce(shared_broker, topic, [{"value": b"a", "partition": 0, "timestamp": 7_000},
                                   {"value": b"b", "partition": 0, "timestamp": 9_000},
                                   {"value": b"c", "partition": 0, "timestamp": 8_000}], **{"linger.ms": 0})
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    def list_offsets(spec):
        res = admin.list_offsets({tp0: spec, tp1: spec})
        return {tp.partition: fut.result(10) for tp, fut in res.items()}

    earliest, latest = list_offsets(OffsetSpec.earliest()), list_offsets(OffsetSpec.latest())
    assert (earliest[0].offset, earliest[1].offset, latest[0].offset, latest[1].offset) == (0, 0, 3, 0)
    by_time = list_offsets(OffsetSpec.for_timestamp(8_500))
    assert by_time[0].offset == 1 and by_time[0].timestamp == 9_000
    max_ts = list_offsets(OffsetSpec.max_timestamp())
    assert (max_ts[0].offset, max_ts[0].timestamp) == (1, 9_000)

    desc = admin.describe_topics(TopicCollection([topic]))[topic].result(10)
    assert desc.name == topic and not desc.is_internal
    assert [(p.id, p.leader.id, [r.id for r in p.replicas], [r.id for r in p.isr]) for p in desc.partitions] == \
        [(0, 1, [1], [1]), (1, 1, [1], [1])]
    assert desc.topic_id is not None
