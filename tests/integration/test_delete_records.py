"""DeleteRecords moves the log start offset: Fetch and ListOffsets answer OFFSET_OUT_OF_RANGE and
the new start at once, consumers follow their auto.offset.reset, whole segments below the start
are deleted, a kill -9 never brings deleted records back, bad requests change nothing; the
``strom topic delete-records`` verb prints kafka-delete-records.sh's lines."""
from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from kafka.protocol.old.admin import DeleteRecordsRequest_v0, DeleteRecordsResponse_v0
from kafka.protocol.old.list_offsets import ListOffsetsResponse_v5

from conftest import unique, wait_until
from test_cli import strom
from test_protocol import call, list_offsets_v5

pytestmark = pytest.mark.timeout(90)

OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION = 1, 3


def create_topic(broker, config: dict | None = None, partitions: int = 1) -> str:
    name = unique("dr")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(10)
    return name


def fill(broker, topic: str, count: int, size: int = 100) -> None:
    """``count`` records of ``size`` bytes, ten to a batch, to partition 0."""
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "batch.num.messages": 10})
    for i in range(count):
        p.produce(topic, value=b"%06d" % i + b"x" * (size - 6), partition=0)
    assert p.flush(20) == 0


def watermarks(broker, topic: str) -> tuple[int, int]:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    tp = TopicPartition(topic, 0)
    lo = admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(10).offset
    hi = admin.list_offsets({tp: OffsetSpec.latest()})[tp].result(10).offset
    return lo, hi


def delete_records_v0(broker, topic: str, offsets: dict[int, int]) -> dict[int, tuple[int, int]]:
    """partition -> (error_code, low_watermark), over the wire with kafka-python's codec."""
    req = DeleteRecordsRequest_v0(topics=[(topic, list(offsets.items()))], timeout_ms=5000)
    resp = call(broker, req, DeleteRecordsResponse_v0)
    [(_, parts)] = resp.topics
    return {p: (err, low) for p, low, err in parts}


def first_offset(broker, topic: str, start: int, reset: str) -> tuple[int | None, str | None]:
    """The offset of the first record a confluent-kafka consumer assigned at ``start`` gets with
    ``auto.offset.reset=reset``, or the name of the error it gets instead."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("g"), "enable.auto.commit": False,
                  "auto.offset.reset": reset, "fetch.wait.max.ms": 50})
    try:
        c.assign([TopicPartition(topic, 0, start)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = c.poll(0.3)
            if m is None:
                continue
            if m.error() is not None:
                return None, m.error().name()
            return m.offset(), None
        return None, None
    finally:
        c.close()


def test_delete_records_moves_the_start_and_consumers_follow_auto_offset_reset(strom_factory):
    broker = strom_factory({"log.segment.delete.delay.ms": 0})
    topic = create_topic(broker, {"internal.segment.bytes": "3000"})
    fill(broker, topic, 100)
    part_dir = broker.partition_dir(topic)
    assert len(list(part_dir.glob("*.log"))) > 3
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    [future] = admin.delete_records([TopicPartition(topic, 0, 55)]).values()
    assert future.result(10).low_watermark == 55
    assert watermarks(broker, topic) == (55, 100)
    # Fetch below the start: OFFSET_OUT_OF_RANGE, then the consumer's reset policy decides
    assert first_offset(broker, topic, 10, "earliest") == (55, None)
    assert first_offset(broker, topic, 10, "error") == (None, "_AUTO_OFFSET_RESET")
    assert first_offset(broker, topic, 55, "error") == (55, None)  # the new start itself is readable
    fill(broker, topic, 1)
    assert first_offset(broker, topic, 10, "latest") == (None, None)  # parked at the end: nothing new
    # segments wholly below the start are deleted; the one holding it stays
    bases = lambda: sorted(int(f.name[:-4]) for f in part_dir.glob("*.log"))  # noqa: E731
    wait_until(lambda: bases()[0] <= 55 < bases()[1], timeout=10)
    # bad requests change nothing
    assert delete_records_v0(broker, topic, {0: 102}) == {0: (OFFSET_OUT_OF_RANGE, -1)}
    assert delete_records_v0(broker, topic, {0: -2}) == {0: (OFFSET_OUT_OF_RANGE, -1)}
    assert delete_records_v0(broker, topic, {0: 20}) == {0: (0, 55)}  # below the start: a no-op
    assert delete_records_v0(broker, topic, {3: 1}) == {3: (UNKNOWN_TOPIC_OR_PARTITION, -1)}
    assert delete_records_v0(broker, "no-such-topic", {0: 1}) == {0: (UNKNOWN_TOPIC_OR_PARTITION, -1)}
    assert watermarks(broker, topic) == (55, 101)
    # -1: up to the high watermark
    assert delete_records_v0(broker, topic, {0: -1}) == {0: (0, 101)}
    assert watermarks(broker, topic) == (101, 101)
    assert first_offset(broker, topic, 0, "error") == (None, "_AUTO_OFFSET_RESET")


def test_list_offsets_specs_after_delete_records(shared_broker):
    topic = create_topic(shared_broker)
    t0 = int(time.time() * 1000) - 60_000  # recent: retention.ms must not expire them
    p = Producer({"bootstrap.servers": shared_broker.bootstrap, "linger.ms": 0})
    for i, ts in enumerate([5_000, 9_000, 7_000, 8_000, 6_000]):
        p.produce(topic, value=b"%d" % i, partition=0, timestamp=t0 + ts)
        p.flush(10)
    assert delete_records_v0(shared_broker, topic, {0: 2}) == {0: (0, 2)}

    def spec(timestamp: int) -> tuple[int, int, int]:
        [(_, [(_, err, ts, offset, _epoch)])] = call(shared_broker, list_offsets_v5(topic, {0: timestamp}),
                                                     ListOffsetsResponse_v5).topics
        return err, ts, offset

    assert spec(-2) == (0, -1, 2)  # earliest: the new start
    assert spec(-1) == (0, -1, 5)
    assert spec(t0 + 5_000) == (0, t0 + 7_000, 2)  # the deleted records' timestamps are not found any more
    assert spec(t0 + 7_500) == (0, t0 + 8_000, 3)
    assert spec(t0 + 9_000) == (0, -1, -1)  # only below the start
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    tp = TopicPartition(topic, 0)
    # confluent-kafka sends v7+ for max_timestamp: the first record with the largest remaining timestamp
    assert admin.list_offsets({tp: OffsetSpec.max_timestamp()})[tp].result(10).offset == 3
    # a spec newer than the request's version: UNSUPPORTED_VERSION (35) for that partition only
    assert spec(-3)[0] == 35 and spec(-4)[0] == 35 and spec(-7)[0] == 35


def test_kafka_python_delete_records_and_offset_reset(shared_broker):
    from kafka import KafkaAdminClient, KafkaConsumer
    from kafka import TopicPartition as KTP
    from kafka.errors import OffsetOutOfRangeError

    topic = create_topic(shared_broker)
    fill(shared_broker, topic, 30)
    admin = KafkaAdminClient(bootstrap_servers=shared_broker.bootstrap)
    try:
        result = admin.delete_records({KTP(topic, 0): 12})
        assert result[KTP(topic, 0)]["low_watermark"] == 12
    finally:
        admin.close()
    tp = KTP(topic, 0)
    for reset in ("earliest", "latest", "none"):
        c = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, auto_offset_reset=reset,
                          enable_auto_commit=False, fetch_max_wait_ms=50)
        try:
            c.assign([tp])
            c.seek(tp, 3)
            assert c.beginning_offsets([tp])[tp] == 12
            if reset == "none":
                with pytest.raises(OffsetOutOfRangeError):
                    for _ in range(50):
                        c.poll(200)
                continue
            got: list = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (reset == "latest" and c.position(tp) != 30 or
                                                   reset == "earliest" and not got):
                got += [m.offset for ms in c.poll(200).values() for m in ms]
            assert (got[0] if reset == "earliest" else c.position(tp)) == (12 if reset == "earliest" else 30)
        finally:
            c.close()


def test_deleted_records_stay_deleted_after_kill_9(broker):
    topic = create_topic(broker)
    fill(broker, topic, 40)
    assert delete_records_v0(broker, topic, {0: 25}) == {0: (0, 25)}
    broker.kill9()
    broker.start()
    assert watermarks(broker, topic) == (25, 40)
    assert first_offset(broker, topic, 0, "earliest") == (25, None)
    assert first_offset(broker, topic, 0, "error") == (None, "_AUTO_OFFSET_RESET")


def test_cli_delete_records_prints_kafkas_lines(broker, tmp_path):
    topic = create_topic(broker, partitions=2)
    fill(broker, topic, 10)
    spec = tmp_path / "offsets.json"
    spec.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0, "offset": 4},
                                               {"topic": topic, "partition": 1, "offset": -1}], "version": 1}))
    bs = ["--bootstrap-server", broker.bootstrap]
    done = strom("topic", "delete-records", "--offset-json-file", str(spec), *bs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Executing records delete operation", "Records delete operation completed:",
                                        f"partition: {topic}-0\tlow_watermark: 4",
                                        f"partition: {topic}-1\tlow_watermark: 0"]
    spec.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0, "offset": 11}], "version": 1}))
    failed = strom("topic", "--delete-records", "--offset-json-file", str(spec), *bs)
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[-1].startswith(f"partition: {topic}-0\terror: OFFSET_OUT_OF_RANGE")
    assert watermarks(broker, topic) == (4, 10)
    as_json = strom("topic", "delete-records", "--offset-json-file", str(spec), "--format", "json", *bs)
    [row] = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and row["topic"] == topic and row["error"] == "OFFSET_OUT_OF_RANGE"
    spec.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0, "offset": 1}] * 2, "version": 1}))
    dup = strom("topic", "delete-records", "--offset-json-file", str(spec), *bs)
    assert dup.returncode == 2 and "duplicate topic partitions" in dup.stderr
