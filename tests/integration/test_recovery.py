"""Restart, kill -9 and the idempotent producer across a restart: nothing acknowledged is lost."""
from __future__ import annotations

import os
import re
import threading
import time

from confluent_kafka import Producer, TopicPartition

from test_produce_consume import consume_all, create_topic


def produce_numbers(bootstrap: str, topic: str, start: int, count: int, **conf) -> None:
    p = Producer({"bootstrap.servers": bootstrap, **conf})
    errors = []
    for i in range(start, start + count):
        p.produce(topic, value=str(i).encode(), on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0
    assert errors == []


def offsets(bootstrap: str, topic: str) -> tuple[int, int]:
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "session.timeout.ms": 6000})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    return lo, hi


def test_clean_restart_keeps_data_and_offsets(broker):
    create_topic(broker.bootstrap, "keep")
    produce_numbers(broker.bootstrap, "keep", 0, 500)
    assert broker.restart().port
    assert offsets(broker.bootstrap, "keep") == (0, 500)
    produce_numbers(broker.bootstrap, "keep", 500, 100)
    got = consume_all(broker.bootstrap, "keep", 1, 600)
    assert [int(m.value()) for m in got] == list(range(600))
    assert [m.offset() for m in got] == list(range(600))


def test_kill_9_loses_nothing_acknowledged(broker):
    create_topic(broker.bootstrap, "crash")
    produce_numbers(broker.bootstrap, "crash", 0, 1000, acks="all")
    broker.kill9()
    broker.start()
    assert offsets(broker.bootstrap, "crash") == (0, 1000)
    produce_numbers(broker.bootstrap, "crash", 1000, 10)
    got = consume_all(broker.bootstrap, "crash", 1, 1010)
    assert [int(m.value()) for m in got] == list(range(1010))


def test_torn_tail_after_crash_is_truncated(broker):
    create_topic(broker.bootstrap, "torn")
    produce_numbers(broker.bootstrap, "torn", 0, 200)
    broker.kill9()
    seg = broker.data_dir / "torn-0" / "00000000000000000000.log"
    with open(seg, "ab") as f:  # a half-written batch: a header that promises more than is there
        f.write(b"\x00" * 8 + (5000).to_bytes(4, "big") + b"\x00\x00\x00\x00\x02" + b"\xab" * 40)
    os.remove(broker.data_dir / "torn-0" / "00000000000000000000.index")
    broker.start()
    assert offsets(broker.bootstrap, "torn") == (0, 200)
    produce_numbers(broker.bootstrap, "torn", 200, 5)
    got = consume_all(broker.bootstrap, "torn", 1, 205)
    assert [int(m.value()) for m in got] == list(range(205))


def test_idempotent_producer_exactly_once_across_restart(broker):
    create_topic(broker.bootstrap, "idem")
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 2,
                  "message.timeout.ms": 60000, "retry.backoff.ms": 100})
    errors = []
    total = 4000
    restarted = threading.Event()

    def restart_midway() -> None:
        time.sleep(0.3)
        broker.restart()
        restarted.set()

    t = threading.Thread(target=restart_midway)
    t.start()
    for i in range(total):
        p.produce("idem", value=str(i).encode(), on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
        if i % 200 == 0:
            time.sleep(0.02)
    t.join()
    assert restarted.is_set()
    assert p.flush(60) == 0
    assert errors == []
    got = consume_all(broker.bootstrap, "idem", 1, total, timeout=30)
    values = [int(m.value()) for m in got]
    assert values == list(range(total)), "each record exactly once and in order"


UNCLEAN = re.compile(r"unclean shutdown: recovered (\d+) partitions, truncated (\d+) bytes in ([\d.]+) s")


def test_unclean_restart_logs_one_line_for_the_operator(broker):
    create_topic(broker.bootstrap, "signal")
    produce_numbers(broker.bootstrap, "signal", 0, 100)
    broker.restart()  # a clean restart says nothing of recovery
    assert not UNCLEAN.search(broker.log_path.read_text())
    broker.kill9()
    torn = b"\x00" * 8 + (5000).to_bytes(4, "big") + b"\x00\x00\x00\x00\x02" + b"\xab" * 40
    with open(broker.data_dir / "signal-0" / "00000000000000000000.log", "ab") as f:
        f.write(torn)  # a half-written batch, as a crash mid-write leaves it
    broker.start()
    lines = [m for m in map(UNCLEAN.search, broker.log_path.read_text().splitlines()) if m]
    assert len(lines) == 1, lines
    partitions, truncated, _seconds = lines[0].groups()
    assert int(partitions) >= 1 and int(truncated) == len(torn), lines[0].group(0)
    assert offsets(broker.bootstrap, "signal") == (0, 100)
