"""Leader epochs end to end: the broker stamps its leader epoch into every stored batch (whatever the
client wrote there), keeps Kafka's ``leader-epoch-checkpoint`` in the partition directory across a
kill -9 and a clean restart, and ListOffsets answers with the epoch of the record at the offset."""
from __future__ import annotations

import struct
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from kafka.protocol.old.list_offsets import ListOffsetsResponse_v5

from test_bad_input import create_topic, produce, produce_raw, record_batch
from test_protocol import call, list_offsets_v5

pytestmark = pytest.mark.timeout(90)

PARTITION_LEADER_EPOCH_OFFSET = 12  # bytes into the v2 batch header


def stored_batches(broker, topic: str) -> list[tuple[int, int]]:
    """(base offset, partitionLeaderEpoch) of every batch in the raw segment files."""
    out = []
    for seg in sorted(broker.partition_dir(topic).glob("*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            base, length, epoch = struct.unpack_from(">qii", data, pos)
            out.append((base, epoch))
            pos += 12 + length
    return out


def list_offset(broker, topic: str, timestamp: int) -> tuple[int, int]:
    """(offset, leader_epoch) from ListOffsets v5 for partition 0."""
    resp = call(broker, list_offsets_v5(topic, {0: timestamp}), ListOffsetsResponse_v5)
    partition, error_code, _ts, offset, leader_epoch = resp.topics[0][1][0]
    assert error_code == 0
    return offset, leader_epoch


def fetched_epochs(bootstrap: str, topic: str, expected: int) -> list[int]:
    """The leader epoch librdkafka reports for each consumed message (from the fetched batch header)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 50})
    c.assign([TopicPartition(topic, 0, 0)])
    out: list[int] = []
    try:
        for _ in range(200):
            if len(out) >= expected:
                break
            for m in c.consume(expected - len(out), 0.5):
                assert m.error() is None, m.error()
                out.append(m.leader_epoch())
    finally:
        c.close()
    return out


def test_stored_batches_carry_the_leader_epoch_and_the_checkpoint_survives_kill_9(broker):
    topic = "epochs"
    create_topic(broker, topic)
    produce(broker.bootstrap, topic, [b"%d" % i for i in range(200)])
    future = int(time.time() * 1000) + 600_000  # later than every record before it
    raw = record_batch([b"raw-a", b"raw-b"], timestamp=future)
    struct.pack_into(">i", raw, PARTITION_LEADER_EPOCH_OFFSET, 77)  # a client's value: not the broker's
    assert produce_raw(broker, topic, raw) == (0, 200)
    end, epoch = list_offset(broker, topic, -1)  # latest: the partition's current leader epoch
    assert end == 202 and epoch >= 0

    batches = stored_batches(broker, topic)
    assert batches and {e for _, e in batches} == {epoch}
    assert batches[-1] == (200, epoch)
    assert fetched_epochs(broker.bootstrap, topic, 202) == [epoch] * 202
    assert list_offset(broker, topic, -2) == (0, epoch)  # earliest: the epoch of record 0
    assert list_offset(broker, topic, future + 1) == (201, epoch)  # by time: the raw batch's 2nd record

    broker.kill9()
    broker.start()
    checkpoint = broker.partition_dir(topic) / "leader-epoch-checkpoint"
    assert checkpoint.read_text() == f"0\n1\n{epoch} 0\n"  # Kafka's format: version, count, epoch start_offset
    assert stored_batches(broker, topic) == batches
    assert list_offset(broker, topic, -2) == (0, epoch)
    produce(broker.bootstrap, topic, [b"after"])
    assert stored_batches(broker, topic)[-1] == (202, epoch)

    broker.restart()
    assert checkpoint.read_text() == f"0\n1\n{epoch} 0\n"
    assert fetched_epochs(broker.bootstrap, topic, 203) == [epoch] * 203
