"""Transactions on one node with real clients: commit, abort, read_committed vs read_uncommitted,
fencing of a zombie producer, the time-out of an abandoned transaction, transactional offset
commits, a broker restart mid-transaction, and Kafka's error codes for bad input."""
from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.errors import ProducerFencedError

from conftest import unique, wait_until

pytestmark = pytest.mark.timeout(180)


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(30)


def txn_producer(bootstrap: str, txn_id: str, **extra) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5, **extra})
    p.init_transactions(30)
    return p


def read(bootstrap: str, topic: str, isolation: str, *, partitions: int = 1, expect: int | None = None,
         timeout: float = 20) -> list[bytes]:
    """Every value of ``topic`` an ``isolation`` consumer sees up to the end (``expect`` values or the
    end offset of its isolation level, whichever it is given)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"), "auto.offset.reset": "earliest",
                  "isolation.level": isolation, "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        values: list[bytes] = []
        eof: set[int] = set()
        deadline_hits = 0
        import time
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = c.poll(0.5)
            if m is None:
                deadline_hits += 1
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                    if expect is None and len(eof) == partitions:
                        return values
                    continue
                raise KafkaException(m.error())
            values.append(m.value())
            if expect is not None and len(values) >= expect:
                return values
        if expect is None:
            raise AssertionError(f"no end of {topic} within {timeout}s")
        return values
    finally:
        c.close()


def end_offsets(bootstrap: str, topic: str, isolation: str, partition: int = 0) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("wm"), "isolation.level": isolation})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
        return hi
    finally:
        c.close()


def test_commit_is_seen_by_read_committed_and_abort_is_not(broker):
    topic = unique("txn")
    create_topic(broker.bootstrap, topic)
    p = txn_producer(broker.bootstrap, unique("tid"))
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, f"committed-{i}".encode())
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, f"aborted-{i}".encode())
    p.flush(10)
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(topic, b"last")
    p.commit_transaction(30)

    committed = read(broker.bootstrap, topic, "read_committed")
    assert committed == [f"committed-{i}".encode() for i in range(5)] + [b"last"]
    uncommitted = read(broker.bootstrap, topic, "read_uncommitted")
    assert uncommitted == ([f"committed-{i}".encode() for i in range(5)] + [f"aborted-{i}".encode() for i in range(3)]
                           + [b"last"])
    # kafka-python drops the aborted records by the fetch's aborted_transactions too
    for isolation, want in (("read_committed", committed), ("read_uncommitted", uncommitted)):
        kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level=isolation,
                           auto_offset_reset="earliest", enable_auto_commit=False)
        try:
            kc.assign([KpTopicPartition(topic, 0)])
            got: list[bytes] = []
            wait_until(lambda: got.extend(r.value for rs in kc.poll(500).values() for r in rs) or len(got) >= len(want),
                       timeout=30, interval=0)
            assert got == want, isolation
        finally:
            kc.close()


def test_read_committed_stops_at_the_open_transaction(broker):
    topic = unique("lso")
    create_topic(broker.bootstrap, topic)
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    plain.produce(topic, b"before")
    plain.flush(10)
    p = txn_producer(broker.bootstrap, unique("tid"))
    p.begin_transaction()
    p.produce(topic, b"open")
    p.flush(10)
    plain.produce(topic, b"after")  # not transactional, but behind the open transaction
    plain.flush(10)
    assert end_offsets(broker.bootstrap, topic, "read_uncommitted") == 3
    assert end_offsets(broker.bootstrap, topic, "read_committed") == 1  # the LSO: the open transaction's start
    assert read(broker.bootstrap, topic, "read_committed") == [b"before"]
    assert read(broker.bootstrap, topic, "read_uncommitted") == [b"before", b"open", b"after"]
    p.commit_transaction(30)
    assert read(broker.bootstrap, topic, "read_committed") == [b"before", b"open", b"after"]
    assert end_offsets(broker.bootstrap, topic, "read_committed") == 4  # the marker counts


def test_a_zombie_producer_is_fenced(broker):
    topic = unique("zombie")
    create_topic(broker.bootstrap, topic)
    tid = unique("tid")
    old = txn_producer(broker.bootstrap, tid)
    old.begin_transaction()
    old.produce(topic, b"zombie")
    old.flush(10)
    new = txn_producer(broker.bootstrap, tid)  # fences the old one and aborts its open transaction
    new.begin_transaction()
    new.produce(topic, b"new")
    new.commit_transaction(30)
    with pytest.raises(KafkaException) as exc:
        old.produce(topic, b"more")
        old.commit_transaction(10)
    error = exc.value.args[0]
    assert error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH), error
    assert read(broker.bootstrap, topic, "read_committed") == [b"new"]


def test_kafka_python_zombie_is_fenced(broker):
    topic = unique("kpzombie")
    create_topic(broker.bootstrap, topic)
    tid = unique("tid")
    old = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=tid)
    new = None
    try:
        old.init_transactions()
        old.begin_transaction()
        old.send(topic, b"zombie").get(10)
        new = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=tid)
        new.init_transactions()
        new.begin_transaction()
        new.send(topic, b"new").get(10)
        new.commit_transaction()
        with pytest.raises(ProducerFencedError):
            old.commit_transaction()
    finally:
        old.close(timeout=5)
        if new is not None:
            new.close(timeout=5)
    assert read(broker.bootstrap, topic, "read_committed") == [b"new"]
    assert read(broker.bootstrap, topic, "read_uncommitted") == [b"zombie", b"new"]


def test_an_abandoned_transaction_is_aborted_after_its_timeout(strom_factory):
    broker = strom_factory({"transaction.abort.timed.out.transaction.cleanup.interval.ms": 200})
    topic = unique("abandoned")
    create_topic(broker.bootstrap, topic)
    p = txn_producer(broker.bootstrap, unique("tid"), **{"transaction.timeout.ms": 2000})
    p.begin_transaction()
    p.produce(topic, b"never")
    p.flush(10)
    assert end_offsets(broker.bootstrap, topic, "read_committed") == 0
    del p  # the producer dies without ending its transaction (librdkafka does not abort on destroy)
    wait_until(lambda: end_offsets(broker.bootstrap, topic, "read_committed") == 2, timeout=30)
    assert read(broker.bootstrap, topic, "read_committed") == []
    assert read(broker.bootstrap, topic, "read_uncommitted") == [b"never"]
    assert "aborting the transaction" in broker.log_tail(200)


def test_a_broker_restart_mid_transaction_ends_it_consistently(broker):
    topic = unique("restart")
    create_topic(broker.bootstrap, topic, partitions=2)
    tid = unique("tid")
    p = txn_producer(broker.bootstrap, tid)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, f"v{i}".encode(), partition=i % 2)
    p.flush(10)
    broker.restart()
    # the open transaction survived the restart (producer state and coordinator state replayed)
    assert end_offsets(broker.bootstrap, topic, "read_committed", 0) == 0
    p.commit_transaction(60)
    got = read(broker.bootstrap, topic, "read_committed", partitions=2)
    assert sorted(got) == sorted(f"v{i}".encode() for i in range(10))
    # and the transactional id works on after another restart
    broker.restart()
    again = txn_producer(broker.bootstrap, tid)
    again.begin_transaction()
    again.produce(topic, b"after", partition=0)
    again.commit_transaction(30)
    assert b"after" in read(broker.bootstrap, topic, "read_committed", partitions=2)


def test_offsets_committed_in_a_transaction_appear_at_commit(broker):
    topic = unique("offsets")
    create_topic(broker.bootstrap, topic)
    group = unique("g")
    p = txn_producer(broker.bootstrap, unique("tid"))

    def committed(isolation: str = "read_uncommitted", timeout: float = 10) -> int:
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "isolation.level": isolation})
        try:
            return c.committed([TopicPartition(topic, 0)], timeout=timeout)[0].offset
        finally:
            c.close()

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    meta = c.consumer_group_metadata()
    c.close()
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 7)], meta, 30)
    assert committed() < 0  # pending: not visible before the marker
    with pytest.raises(KafkaException):  # read_committed asks require_stable: UNSTABLE_OFFSET_COMMIT until then
        committed("read_committed", timeout=2)
    p.abort_transaction(30)
    assert committed() < 0
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 9)], meta, 30)
    p.commit_transaction(30)
    assert committed() == 9
    assert committed("read_committed") == 9
    broker.restart()  # the group coordinator's loader applies the marker again
    assert committed() == 9


def test_a_broker_killed_mid_transaction_recovers_it(broker):
    """SIGKILL: no snapshots written at shutdown; the open transaction, an aborted one and the
    coordinator's state come back from the logs, and both outcomes stay right."""
    topic = unique("crash")
    create_topic(broker.bootstrap, topic)
    p = txn_producer(broker.bootstrap, unique("tid"))
    p.begin_transaction()
    p.produce(topic, b"aborted")
    p.flush(10)
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(topic, b"open")
    p.flush(10)
    broker.kill9()
    broker.start()
    assert end_offsets(broker.bootstrap, topic, "read_committed") == 2  # stops at the open transaction
    p.commit_transaction(60)
    assert read(broker.bootstrap, topic, "read_committed") == [b"open"]
    assert read(broker.bootstrap, topic, "read_uncommitted") == [b"aborted", b"open"]
