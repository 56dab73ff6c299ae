"""Exactly-once read-process-write with real clients: a copier process (tests/integration/txn_copier.py)
copies a 6-partition topic while it is killed with SIGKILL and restarted; the output must equal the
input exactly (no loss, no duplicate, the order of each partition kept) under read_committed, and the
group's committed offsets must end at the input's end."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import unique, wait_until

COPIER = Path(__file__).with_name("txn_copier.py")
PARTITIONS = 6


def fill(bootstrap: str, topic: str, n: int) -> dict[int, list[bytes]]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        f.result(30)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
    expected: dict[int, list[bytes]] = {i: [] for i in range(PARTITIONS)}
    for i in range(n):
        value = f"record-{i:07d}".encode()
        p.produce(topic, value, partition=i % PARTITIONS)
        expected[i % PARTITIONS].append(value)
        if i % 10_000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    return expected


def committed_total(admin: AdminClient, group: str, topic: str) -> int:
    from confluent_kafka import ConsumerGroupTopicPartitions
    try:
        [f] = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])]).values()
        return sum(max(tp.offset, 0) for tp in f.result(10).topic_partitions)
    except Exception:  # the group's coordinator may be busy; ask again
        return 0


def read_committed(bootstrap: str, topic: str, expected_total: int, timeout: float = 120) -> dict[int, list[bytes]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("verify"), "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    out: dict[int, list[bytes]] = {i: [] for i in range(PARTITIONS)}
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        import time
        deadline = time.monotonic() + timeout
        got = 0
        while got < expected_total and time.monotonic() < deadline:
            for m in c.consume(1000, 1.0):
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    continue
                out[m.partition()].append(m.value())
                got += 1
        # anything beyond the expected count would be a duplicate: drain what is there
        for m in c.consume(1000, 2.0):
            if not m.error():
                out[m.partition()].append(m.value())
    finally:
        c.close()
    return out


def copied_by(log_path: Path) -> int:
    """Records the copier process committed, from its ``committed N`` lines."""
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith("committed ")]
    return int(lines[-1].split()[1]) if lines else 0


def run_copier_with_kills(broker, client: str, n: int, kills: int, tmp_path: Path) -> None:
    source, target, group, tid = unique("in"), unique("out"), unique("copy"), unique("copier")
    expected = fill(broker.bootstrap, source, n)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic(target, PARTITIONS, 1)]).values():
        f.result(30)
    logs = []
    for round_ in range(kills + 1):
        log_path = tmp_path / f"copier-{round_}.log"
        logs.append(log_path)
        with open(log_path, "wb") as out:
            proc = subprocess.Popen([sys.executable, str(COPIER), client, broker.bootstrap, source, target, group, tid,
                                     "100"], stdout=out, stderr=subprocess.STDOUT)
        try:
            if round_ < kills:
                share = n // (kills + 1) // 2  # each killed copier commits some, and is killed long before the end
                wait_until(lambda: copied_by(log_path) >= share or proc.poll() is not None, timeout=240,
                           interval=0.05)
                assert proc.poll() is None, log_path.read_text()[-3000:]
                proc.kill()  # SIGKILL, most likely in the middle of a transaction
                proc.wait(10)
                assert committed_total(admin, group, source) < n, "the copier finished before it was killed"
            else:
                wait_until(lambda: committed_total(admin, group, source) >= n or proc.poll() is not None,
                           timeout=300, interval=0.2)
                assert proc.poll() is None, log_path.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert committed_total(admin, group, source) == n
    got = read_committed(broker.bootstrap, target, n)
    for p in range(PARTITIONS):
        want = [b"copied:" + v for v in expected[p]]
        assert len(got[p]) == len(want), f"partition {p}: {len(got[p])} records, expected {len(want)}"
        assert got[p] == want, f"partition {p}: output differs from the input"
    # read_uncommitted also sees what the killed copiers wrote in their aborted transactions
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("wm")})
    try:
        uncommitted = sum(c.get_watermark_offsets(TopicPartition(target, p), timeout=10, cached=False)[1]
                          for p in range(PARTITIONS))
    finally:
        c.close()
    assert uncommitted >= n  # records plus markers; aborted batches on top


@pytest.mark.timeout(900)
@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_copier_killed_twice_copies_exactly_once(broker, client, tmp_path):
    run_copier_with_kills(broker, client, 20_000, 2, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_copier_killed_five_times_copies_100k_exactly_once(broker, client, tmp_path):
    run_copier_with_kills(broker, client, 100_000, 5, tmp_path)
