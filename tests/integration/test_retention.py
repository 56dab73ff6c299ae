"""Retention deletes whole old segments and moves the log start offset."""
from __future__ import annotations

from confluent_kafka import Producer

from conftest import wait_until
from test_produce_consume import create_topic
from test_recovery import offsets


def test_retention_by_size_and_time_deletes_old_segments(strom_factory):
    broker = strom_factory({"log.retention.check.interval.ms": 300, "log.segment.delete.delay.ms": 0})
    create_topic(broker.bootstrap, "ret", config={"internal.segment.bytes": "20000", "retention.bytes": "60000"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "batch.num.messages": 10})
    for i in range(2000):
        p.produce("ret", value=b"x" * 100)
    assert p.flush(20) == 0
    part_dir = broker.data_dir / "ret-0"
    wait_until(lambda: offsets(broker.bootstrap, "ret")[0] > 0, timeout=15)
    lo, hi = offsets(broker.bootstrap, "ret")
    assert hi == 2000 and 0 < lo < hi
    wait_until(lambda: len(list(part_dir.glob("*.log"))) <= 5, timeout=10)
    assert (part_dir / f"{lo:020d}.log").exists()
    assert not (part_dir / "00000000000000000000.log").exists()

    create_topic(broker.bootstrap, "old", config={"internal.segment.bytes": "20000", "retention.ms": "1000"})
    for i in range(500):
        p.produce("old", value=b"y" * 100, timestamp=1_000_000_000_000)  # long expired
    assert p.flush(20) == 0
    wait_until(lambda: offsets(broker.bootstrap, "old")[0] == 500, timeout=15)
