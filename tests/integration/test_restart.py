"""Restarts and crashes as applications see them.

Clients that stay connected across a restart carry on; SIGTERM with clients
attached is still a quick clean exit; after kill -9 every acknowledged record
is there on every partition and segment, offsets continue, the time index
answers again; the idempotent producer stays exactly-once across a clean
restart and across kill -9; deletes and the log start offset are durable.
"""
from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until

pytestmark = pytest.mark.timeout(120)


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(10)


def consumer(bootstrap: str, **conf) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                     "fetch.wait.max.ms": 50, "session.timeout.ms": 6000, **conf})


def read_all(bootstrap: str, topic: str, partitions: int, expected: int, timeout: float = 30) -> dict[int, list]:
    c = consumer(bootstrap)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out: dict[int, list] = {p: [] for p in range(partitions)}
    n = 0
    deadline = time.monotonic() + timeout
    while n < expected and time.monotonic() < deadline:
        for m in c.consume(1000, 0.3):
            assert m.error() is None, m.error()
            out[m.partition()].append(m)
            n += 1
    c.close()
    return out


def watermarks(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, int]:
    c = consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()


def produce(bootstrap: str, topic: str, values, **conf) -> list:
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 20000, **conf})
    delivered, errors = [], []
    for v in values:
        p.produce(topic, on_delivery=lambda err, msg: errors.append(err) if err else delivered.append(msg), **v)
        p.poll(0)
    assert p.flush(30) == 0
    assert errors == []
    return delivered


def test_sigterm_with_clients_attached_and_they_carry_on_after_restart(broker):
    create_topic(broker.bootstrap, "live")
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "message.timeout.ms": 30000,
                  "reconnect.backoff.max.ms": 200})
    c = consumer(broker.bootstrap, **{"fetch.wait.max.ms": 5000, "reconnect.backoff.max.ms": 200})
    c.assign([TopicPartition("live", 0, OFFSET_BEGINNING)])
    for i in range(10):
        p.produce("live", value=b"%d" % i)
    assert p.flush(10) == 0
    got = []
    wait_until(lambda: got.extend(m for m in c.consume(10, 0.2) if not m.error()) or len(got) >= 10)
    time.sleep(0.3)  # the consumer is now parked in a long-poll fetch
    started = time.monotonic()
    broker.stop(timeout=10)  # asserts exit code 0
    assert time.monotonic() - started < 5, "SIGTERM took too long with clients attached"
    broker.start()
    for i in range(10, 20):  # the same producer and consumer objects, the same bootstrap address
        p.produce("live", value=b"%d" % i)
    assert p.flush(30) == 0
    wait_until(lambda: got.extend(m for m in c.consume(10, 0.2) if not m.error()) or len(got) >= 20, timeout=30)
    c.close()
    assert [int(m.value()) for m in got] == list(range(20))
    assert [m.offset() for m in got] == list(range(20))


def test_kill9_with_many_partitions_and_segments(broker):
    create_topic(broker.bootstrap, "multi", 3, {"internal.segment.bytes": "16384"})
    values = [{"value": b"%d-" % i + b"p" * 200, "key": b"k%d" % (i % 11), "timestamp": 5_000_000 + i}
              for i in range(600)]
    delivered = produce(broker.bootstrap, "multi", values, acks="all", **{"linger.ms": 0, "batch.num.messages": 10})
    ends = {p: 1 + max(m.offset() for m in delivered if m.partition() == p) for p in range(3)}
    assert sum(ends.values()) == 600
    assert len(list(broker.partition_dir("multi", 0).glob("*.log"))) > 1, "expected several segments"
    broker.kill9()
    broker.start()
    for p in range(3):
        assert watermarks(broker.bootstrap, "multi", p) == (0, ends[p])
    by_partition = read_all(broker.bootstrap, "multi", 3, 600)
    for m in delivered:
        stored = by_partition[m.partition()][m.offset()]
        assert (stored.offset(), stored.value(), stored.key()) == (m.offset(), m.value(), m.key())
        assert stored.timestamp()[1] == m.timestamp()[1]
    # the time index answers after recovery
    c = consumer(broker.bootstrap)
    first_late = min((m for m in delivered if m.partition() == 0 and m.timestamp()[1] >= 5_000_300),
                     key=lambda m: m.offset())
    found = c.offsets_for_times([TopicPartition("multi", 0, 5_000_300)], timeout=10)
    c.close()
    assert found[0].offset == first_late.offset()
    # new records take the next offsets
    more = produce(broker.bootstrap, "multi", [{"value": b"after", "partition": p} for p in range(3)])
    assert sorted((m.partition(), m.offset()) for m in more) == [(p, ends[p]) for p in range(3)]


def test_kill9_under_load_keeps_every_acknowledged_record(broker):
    create_topic(broker.bootstrap, "load")
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 1,
                  "message.timeout.ms": 30000, "reconnect.backoff.max.ms": 200})
    acked: list[int] = []
    failed: list[int] = []

    def cb(err, msg):
        (failed if err else acked).append(int(msg.value()))

    stop = threading.Event()

    def crash_then_start() -> None:
        time.sleep(0.5)
        broker.kill9()
        stop.set()

    t = threading.Thread(target=crash_then_start)
    t.start()
    i = 0
    while not stop.is_set() and i < 100_000:
        p.produce("load", value=b"%d" % i, on_delivery=cb)
        p.poll(0)
        i += 1
        if i % 50 == 0:
            time.sleep(0.005)
    t.join()
    acked_before_crash = set(acked)
    assert acked_before_crash, "nothing was acknowledged before the crash"
    broker.start()
    p.flush(40)
    lo, hi = watermarks(broker.bootstrap, "load")
    stored = read_all(broker.bootstrap, "load", 1, hi)[0]
    values = [int(m.value()) for m in stored]
    assert [m.offset() for m in stored] == list(range(hi)), "holes in the offsets"
    assert acked_before_crash <= set(values), \
        f"lost {len(acked_before_crash - set(values))} acknowledged records, e.g. {sorted(acked_before_crash - set(values))[:5]}"
    assert set(acked) <= set(values)


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_idempotent_producer_exactly_once_across_restart(broker, how):
    """Numbered records; the restart happens once some are acknowledged and while the second half is
    being produced.  Each number exactly once, in order."""
    create_topic(broker.bootstrap, "idem")
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                  "message.timeout.ms": 60000, "retry.backoff.ms": 50, "reconnect.backoff.max.ms": 200})
    total = 1500
    delivered_at: dict[int, float] = {}
    errors: list = []
    restart_window: list[float] = []
    going_down = threading.Event()

    def cb(err, msg):
        if err:
            errors.append(err)
        else:
            delivered_at[int(msg.value())] = time.monotonic()

    def restart_midway() -> None:
        deadline = time.monotonic() + 30
        while len(delivered_at) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        restart_window.append(time.monotonic())
        going_down.set()
        broker.stop() if how == "sigterm" else broker.kill9()
        broker.start()
        restart_window.append(time.monotonic())

    t = threading.Thread(target=restart_midway)
    t.start()
    for i in range(total):
        if i == total // 2:  # hold the second half until the broker is going down (callbacks keep firing)
            while not going_down.is_set():
                p.poll(0.02)
        p.produce("idem", value=b"%d" % i, on_delivery=cb)
        p.poll(0)
        if i % 10 == 9:
            time.sleep(0.005)
    t.join()
    assert p.flush(60) == 0
    assert errors == []
    down, up = restart_window
    assert any(ts < down for ts in delivered_at.values()), "nothing delivered before the restart"
    assert any(ts > up for ts in delivered_at.values()), "nothing delivered after the restart"
    stored = read_all(broker.bootstrap, "idem", 1, total)[0]
    values = [int(m.value()) for m in stored]
    assert len(values) == len(set(values)), f"duplicates: {len(values) - len(set(values))}"
    assert values == list(range(total)), "each record exactly once and in order"
    assert watermarks(broker.bootstrap, "idem") == (0, total)


def test_deleted_topic_stays_deleted_and_a_new_one_starts_empty(broker):
    create_topic(broker.bootstrap, "gone")
    produce(broker.bootstrap, "gone", [{"value": b"old"}] * 20)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.delete_topics(["gone"])["gone"].result(10)
    broker.restart()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert "gone" not in admin.list_topics(timeout=5).topics
    create_topic(broker.bootstrap, "gone")
    assert watermarks(broker.bootstrap, "gone") == (0, 0)
    produce(broker.bootstrap, "gone", [{"value": b"new"}])
    broker.kill9()
    broker.start()
    assert [m.value() for m in read_all(broker.bootstrap, "gone", 1, 1)[0]] == [b"new"]
    assert watermarks(broker.bootstrap, "gone") == (0, 1)


def test_unknown_topic_after_restart_with_auto_create_off(strom_factory):
    broker = strom_factory({"auto.create.topics.enable": "false"})
    broker.restart()
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 2000})
    errors: list = []
    p.produce("never", value=b"x", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors and errors[0] is not None
    assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._MSG_TIMED_OUT)
