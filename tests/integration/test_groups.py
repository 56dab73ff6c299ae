"""Consumer groups, as far as the broker advertises them.

Each test skips unless the broker's ApiVersions lists the APIs it needs, so
this file can sit in the suite while the group coordinator is being built:
committed offsets with manual assignment (FindCoordinator, OffsetCommit,
OffsetFetch) and durable across restarts and kill -9; subscribe() groups
(JoinGroup, SyncGroup, Heartbeat, LeaveGroup) sharing partitions and resuming
from committed offsets.
"""
from __future__ import annotations

import struct
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.old.api_versions import ApiVersionsResponse_v0

from conftest import unique
from test_bad_input import connect, frame, header_v1, recv_frame

pytestmark = pytest.mark.timeout(120)

OFFSET_APIS = {10: "FindCoordinator", 8: "OffsetCommit", 9: "OffsetFetch"}
GROUP_APIS = {**OFFSET_APIS, 11: "JoinGroup", 14: "SyncGroup", 12: "Heartbeat", 13: "LeaveGroup"}


def advertised(broker) -> set[int]:
    with connect(broker) as s:
        s.sendall(frame(header_v1(18, 0, 1)))
        return {key for key, _, _ in ApiVersionsResponse_v0.decode(recv_frame(s)[4:]).api_keys}


def require(broker, apis: dict[int, str]) -> None:
    missing = [name for key, name in apis.items() if key not in advertised(broker)]
    if missing:
        pytest.skip(f"broker does not advertise {', '.join(missing)} yet")


@pytest.fixture
def group_broker(strom_factory):
    return strom_factory({"group.initial.rebalance.delay.ms": 0})


def create_topic(broker, partitions: int = 1) -> str:
    name = unique("g")
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(name, partitions, 1)])[name].result(10)
    return name


def produce(broker, topic: str, n: int, start: int = 0) -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(start, start + n):
        p.produce(topic, key=b"k%d" % i, value=b"%d" % i)
    assert p.flush(10) == 0


def committed(broker, group: str, topic: str, partitions: int = 1) -> list[int]:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return [tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)]
    finally:
        c.close()


def test_manual_commit_with_assign_survives_restart_and_crash(group_broker):
    require(group_broker, OFFSET_APIS)
    topic, group = create_topic(group_broker, 2), unique("grp")
    assert committed(group_broker, group, topic, 2) == [-1001, -1001]  # OFFSET_INVALID: nothing committed
    c = Consumer({"bootstrap.servers": group_broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    c.commit(offsets=[TopicPartition(topic, 0, 17), TopicPartition(topic, 1, 4)], asynchronous=False)
    c.close()
    assert committed(group_broker, group, topic, 2) == [17, 4]
    group_broker.restart()
    assert committed(group_broker, group, topic, 2) == [17, 4]
    c = Consumer({"bootstrap.servers": group_broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    c.commit(offsets=[TopicPartition(topic, 0, 23)], asynchronous=False)
    c.close()
    group_broker.kill9()
    group_broker.start()
    assert committed(group_broker, group, topic, 2) == [23, 4]


def test_kafka_python_commit_and_committed(group_broker):
    require(group_broker, OFFSET_APIS)
    from kafka import KafkaConsumer, TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata
    topic, group = create_topic(group_broker), unique("kgrp")
    produce(group_broker, topic, 10)
    c = KafkaConsumer(bootstrap_servers=group_broker.bootstrap, group_id=group, enable_auto_commit=False)
    tp = KTP(topic, 0)
    c.assign([tp])
    c.commit({tp: OffsetAndMetadata(6, "meta", -1)})
    assert c.committed(tp) == 6
    c.close()
    assert committed(group_broker, group, topic) == [6]


def test_subscribe_group_shares_partitions_and_resumes_from_commits(group_broker):
    require(group_broker, GROUP_APIS)
    topic, group = create_topic(group_broker, 4), unique("sub")
    conf = {"bootstrap.servers": group_broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
            "fetch.wait.max.ms": 100}
    a, b = Consumer(conf), Consumer(conf)
    a.subscribe([topic])
    b.subscribe([topic])

    def settled() -> bool:
        pa = {tp.partition for tp in a.assignment()}
        pb = {tp.partition for tp in b.assignment()}
        return bool(pa) and bool(pb) and not (pa & pb) and pa | pb == {0, 1, 2, 3}

    deadline = time.monotonic() + 45
    while not settled() and time.monotonic() < deadline:
        a.poll(0.1)
        b.poll(0.1)
    assert settled(), f"the two members never split the 4 partitions: {a.assignment()} / {b.assignment()}"
    produce(group_broker, topic, 200)
    seen: dict[str, list] = {"a": [], "b": []}
    deadline = time.monotonic() + 30
    while len(seen["a"]) + len(seen["b"]) < 200 and time.monotonic() < deadline:
        for name, c in (("a", a), ("b", b)):
            m = c.poll(0.1)
            if m is not None and m.error() is None:
                seen[name].append((m.partition(), m.offset()))
    a.commit(asynchronous=False)
    b.commit(asynchronous=False)
    a.close()
    b.close()
    assert len(seen["a"]) + len(seen["b"]) == 200
    assert len(set(seen["a"] + seen["b"])) == 200, "a record was delivered twice"
    assert seen["a"] and seen["b"]
    produce(group_broker, topic, 20, start=200)
    c = Consumer(conf)
    c.subscribe([topic])
    fresh = []
    deadline = time.monotonic() + 30
    while len(fresh) < 20 and time.monotonic() < deadline:
        m = c.poll(0.3)
        if m is not None and m.error() is None:
            fresh.append(int(m.value()))
    c.close()
    assert sorted(fresh) == list(range(200, 220)), "a new member should resume from the committed offsets"
