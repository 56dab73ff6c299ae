"""Log compaction seen from real clients: last value per key, tombstones, keyless records, kill -9
during a clean (test-only crash points, STROM_TEST_CLEANER_CRASH) and __consumer_offsets staying small."""
from __future__ import annotations

import re
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from conftest import wait_until
from test_produce_consume import create_topic
from test_recovery import offsets

KEYS = 1000
UPDATES = 100
# small segments, cleaned as soon as anything is dirty, idle active segments rolled after a second
COMPACT = {"cleanup.policy": "compact", "internal.segment.bytes": "60000", "min.cleanable.dirty.ratio": "0.01",
           "segment.ms": "1000"}
BROKER = {"log.cleaner.backoff.ms": 200, "log.segment.delete.delay.ms": 0}


def read_confluent(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record up to the high watermark, with confluent-kafka."""
    hi = offsets(bootstrap, topic)[1]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 50, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            for m in c.consume(5000, 0.5):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        if c.position([TopicPartition(topic, 0)])[0].offset >= hi:
                            return out
                        continue
                    raise AssertionError(m.error())
                out.append((m.offset(), m.key(), m.value()))
        raise AssertionError(f"did not reach offset {hi} of {topic}")
    finally:
        c.close()


def read_kafka_python(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    tp = KTP(topic, 0)
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    c.assign([tp])
    c.seek_to_beginning(tp)
    end = c.end_offsets([tp])[tp]
    out = []
    deadline = time.monotonic() + 60
    try:
        while c.position(tp) < end:
            assert time.monotonic() < deadline, f"kafka-python stuck at {c.position(tp)} of {end}"
            for records in c.poll(500, max_records=5000).values():
                out += [(r.offset, r.key, r.value) for r in records]
        return out
    finally:
        c.close()


def check_compacted(records, model: dict[bytes, bytes | None]) -> None:
    """Offsets increase with gaps, and the records are exactly the last value per key."""
    got_offsets = [o for o, _k, _v in records]
    assert got_offsets == sorted(set(got_offsets)), "an offset read twice or out of order"
    gaps = [b - a for a, b in zip([-1] + got_offsets, got_offsets) if b - a > 1]
    assert gaps, "no gaps: nothing was compacted"
    assert len({k for _o, k, _v in records}) == len(records), "a key appears more than once"
    assert {k: v for _o, k, v in records} == model


def produce_updates(bootstrap: str, topic: str, keys: int = KEYS, updates: int = UPDATES,
                    compression: str = "lz4") -> dict[bytes, bytes]:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": compression,
                  "batch.num.messages": 500})
    model = {}
    for u in range(updates):
        for k in range(keys):
            key, value = b"key-%04d" % k, b"value-%04d-%03d" % (k, u)
            p.produce(topic, key=key, value=value)
            model[key] = value
        p.poll(0)
    assert p.flush(60) == 0
    return model


def cleaned_to_end(broker, topic: str) -> bool:
    """The broker log has a clean of ``topic``-0 reaching the log end offset."""
    hi = offsets(broker.bootstrap, topic)[1]
    return re.search(rf"cleaned {re.escape(topic)}-0 offsets \[\d+, {hi}\)", broker.log_path.read_text()) is not None


def test_a_compacted_topic_keeps_the_last_value_per_key(strom_factory):
    broker = strom_factory(BROKER)
    create_topic(broker.bootstrap, "cmp", config=COMPACT)
    model = produce_updates(broker.bootstrap, "cmp")
    assert offsets(broker.bootstrap, "cmp")[1] == KEYS * UPDATES
    wait_until(lambda: cleaned_to_end(broker, "cmp"), timeout=120, interval=0.5)
    check_compacted(read_confluent(broker.bootstrap, "cmp"), model)
    check_compacted(read_kafka_python(broker.bootstrap, "cmp"), model)
    line = next(l for l in broker.log_path.read_text().splitlines() if "cleaned cmp-0" in l)
    assert re.search(r"read \d+ bytes .* wrote \d+ bytes .* in [\d.]+ s", line), line
    # a clean restart keeps it so, and new updates are compacted again
    broker.restart()
    check_compacted(read_confluent(broker.bootstrap, "cmp"), model)


def test_tombstones_disappear_after_delete_retention_ms_and_not_before(strom_factory):
    broker = strom_factory(BROKER)
    retention_s = 12
    create_topic(broker.bootstrap, "tomb", config={**COMPACT, "delete.retention.ms": str(retention_s * 1000)})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(50):
        p.produce("tomb", key=b"a", value=b"a%d" % i)
        p.produce("tomb", key=b"b", value=b"b%d" % i)
    p.produce("tomb", key=b"a", value=None)
    assert p.flush(10) == 0
    produced = time.monotonic()
    wait_until(lambda: cleaned_to_end(broker, "tomb"), timeout=30, interval=0.2)
    if time.monotonic() - produced < retention_s - 2:  # the first clean came in time to look
        after_first = {k: v for _o, k, v in read_confluent(broker.bootstrap, "tomb")}
        assert after_first == {b"a": None, b"b": b"b49"}  # the older values are gone, the tombstone not
    filler = 0

    def tombstone_gone() -> bool:
        nonlocal filler
        p.produce("tomb", key=b"filler", value=b"%d" % filler)  # new dirty data makes the cleaner pass again
        filler += 1
        p.flush(10)
        return b"a" not in {k for _o, k, _v in read_confluent(broker.bootstrap, "tomb")}

    wait_until(tombstone_gone, timeout=60, interval=1)
    assert time.monotonic() - produced >= retention_s - 1  # not before delete.retention.ms
    latest = {k: v for _o, k, v in read_confluent(broker.bootstrap, "tomb")}
    assert latest[b"b"] == b"b49" and b"a" not in latest


def test_a_keyless_record_and_a_bogus_policy_get_kafkas_errors_and_change_nothing(strom_factory):
    broker = strom_factory(BROKER)
    create_topic(broker.bootstrap, "keyed", config=COMPACT)
    errors = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "retries": 0})
    p.produce("keyed", value=b"no key", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors and errors[0] is not None and errors[0].code() == KafkaError.INVALID_RECORD
    assert offsets(broker.bootstrap, "keyed") == (0, 0)
    from kafka import KafkaProducer
    from kafka.errors import InvalidRecordError
    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, retries=0)
    with pytest.raises(InvalidRecordError):
        kp.send("keyed", value=b"no key").get(10)
    kp.close()
    assert offsets(broker.bootstrap, "keyed") == (0, 0)

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    with pytest.raises(KafkaException) as exc:
        admin.create_topics([NewTopic("bogus", 1, 1, config={"cleanup.policy": "bogus"})])["bogus"].result(10)
    assert exc.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert "bogus" not in admin.list_topics(timeout=10).topics
    resource = ConfigResource("topic", "keyed", incremental_configs=[
        ConfigEntry("cleanup.policy", "bogus", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        admin.incremental_alter_configs([resource])[resource].result(10)
    assert exc.value.args[0].code() == KafkaError.INVALID_CONFIG
    described = admin.describe_configs([ConfigResource("topic", "keyed")])
    [configs] = [f.result(10) for f in described.values()]
    assert configs["cleanup.policy"].value == "compact"


@pytest.mark.parametrize("point", ["writing-cleaned", "swap-renamed", "old-deleted", "deleting-old"])
def test_kill9_during_a_clean_leaves_a_consistent_log(strom_factory, monkeypatch, point):
    monkeypatch.setenv("STROM_TEST_CLEANER_CRASH", point)
    broker = strom_factory(BROKER)
    create_topic(broker.bootstrap, "crash", config=COMPACT)
    model = produce_updates(broker.bootstrap, "crash", keys=200, updates=30)
    wait_until(lambda: not broker.alive, timeout=60, interval=0.2)  # the cleaner killed the broker
    assert broker.proc.returncode == -9
    assert f"test-only crash point {point}" in broker.log_path.read_text()
    broker.proc.wait()
    broker._close_log()
    monkeypatch.delenv("STROM_TEST_CLEANER_CRASH")
    broker.start()
    finished = "finished an interrupted compaction swap" in broker.log_path.read_text()
    assert finished == (point in ("swap-renamed", "old-deleted"))  # after the commit point: completed
    records = read_confluent(broker.bootstrap, "crash")
    got_offsets = [o for o, _k, _v in records]
    assert got_offsets == sorted(set(got_offsets)), "an offset readable twice"
    assert {k: v for _o, k, v in records} == model  # no key lost, none with an old value last
    assert offsets(broker.bootstrap, "crash")[1] == 200 * 30
    # the cleaner goes on after the restart and reaches a fully compacted log
    wait_until(lambda: cleaned_to_end(broker, "crash"), timeout=60, interval=0.5)
    check_compacted(read_confluent(broker.bootstrap, "crash"), model)


def test_consumer_offsets_stays_bounded_under_constant_commits(strom_factory):
    broker = strom_factory({**BROKER, "offsets.topic.num.partitions": 1, "strom.internal.segment.bytes": 20000,
                            "log.roll.ms": 1000, "log.cleaner.min.cleanable.ratio": 0.1})
    create_topic(broker.bootstrap, "work", partitions=4)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "committer", "enable.auto.commit": False})
    part = broker.data_dir / "__consumer_offsets-0"
    bound = 200_000
    written = 0  # at least this many bytes of commit records (one record per partition, 80+ bytes each)
    n = 0
    deadline = time.monotonic() + 40
    while written < 3 * bound:  # constant commits: three times the bound's worth
        assert time.monotonic() < deadline, f"only {n} commits in 40 s"
        n += 1
        c.commit(offsets=[TopicPartition("work", p, n) for p in range(4)], asynchronous=False)
        written += 4 * 80
    c.close()

    def on_disk() -> int:
        return sum(f.stat().st_size for f in part.glob("*.log"))

    wait_until(lambda: on_disk() < bound, timeout=30, interval=0.5)
    assert "cleaned __consumer_offsets-0" in broker.log_path.read_text()
    broker.restart()  # the group coordinator reloads the compacted partition
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "committer"})
    committed = c.committed([TopicPartition("work", p) for p in range(4)], timeout=10)
    c.close()
    assert [tp.offset for tp in committed] == [n] * 4
