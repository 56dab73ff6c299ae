"""``strom perf produce|consume`` against a real broker: Kafka's output formats, the records really
written, JSON output, the sampled latency count, and the failure exits (delivery error, too few
records, unreachable broker). Small runs only; nothing here asserts on speed."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from conftest import unique

STROM = str(Path(sys.executable).with_name("strom"))
N, SIZE = 20_000, 100

pytestmark = pytest.mark.timeout(120)

PRODUCE_LINE = re.compile(
    r"^(\d+) records sent, (\d+\.\d) records/sec \((\d+\.\d\d) MB/sec\), (\d+\.\d\d) ms avg latency, "
    r"(\d+\.\d\d) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$")
CONSUME_HEADER = ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
                  "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
KAFKA_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}$")


def strom(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([STROM, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1"})


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """High watermark of every partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("wm"), "log_level": 2})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()


def test_produce_creates_the_topic_writes_n_records_and_consume_reads_them_back(shared_broker):
    bs = ["--bootstrap-server", shared_broker.bootstrap]
    t = unique("perf")
    produced = strom("perf", "produce", "--topic", t, "--num-records", str(N), "--record-size", str(SIZE),
                     "--partitions", "2", *bs)
    assert produced.returncode == 0, produced.stderr
    lines = produced.stdout.splitlines()
    assert len(lines) == 1, produced.stdout
    m = PRODUCE_LINE.match(lines[0])
    assert m, lines[0]
    assert int(m[1]) == N
    rate, mb = float(m[2]), float(m[3])
    assert rate > 0 and mb == pytest.approx(rate * SIZE / 2**20, abs=0.01)
    avg, peak, p50, p95, p99, p999 = float(m[4]), float(m[5]), *map(int, m.groups()[5:9])
    assert p50 <= p95 <= p99 <= p999 <= peak and avg <= peak

    offsets = end_offsets(shared_broker.bootstrap, t)
    assert len(offsets) == 2 and sum(offsets.values()) == N  # created with --partitions, all N records stored

    consumed = strom("perf", "consume", "--topic", t, "--messages", str(N), *bs)
    assert consumed.returncode == 0, consumed.stderr
    header, row = consumed.stdout.splitlines()
    assert header == CONSUME_HEADER
    fields = row.split(", ")
    assert len(fields) == 10 and KAFKA_TIME.match(fields[0]) and KAFKA_TIME.match(fields[1])
    assert fields[0] <= fields[1]
    assert float(fields[2]) == pytest.approx(N * SIZE / 2**20, abs=1e-4)  # MB are MiB of key + value bytes
    assert int(fields[4]) == N
    assert float(fields[5]) > 0 and int(fields[6]) >= 0 and int(fields[7]) >= 0


def test_json_output_and_an_existing_topic_is_used_as_it_is(shared_broker):
    bs = ["--bootstrap-server", shared_broker.bootstrap]
    t = unique("perfj")
    assert strom("topic", "create", "--topic", t, "--partitions", "3", *bs).returncode == 0
    produced = strom("perf", "produce", "--topic", t, "--num-records", "1000", "--record-size", "10",
                     "--partitions", "1", "--acks", "1", "--compression", "lz4", "--format", "json", *bs)
    assert produced.returncode == 0, produced.stderr
    result = json.loads(produced.stdout)
    assert result["records"] == 1000 and result["record_size"] == 10
    assert result["records_per_s"] > 0 and result["mb_per_s"] == pytest.approx(
        result["records_per_s"] * 10 / 2**20, abs=0.01)
    assert result["latency_samples"] == 17  # records 0, 64, ..., 960 and the last one, 999
    assert result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"] <= result["p99_9_ms"] <= result["max_latency_ms"]
    offsets = end_offsets(shared_broker.bootstrap, t)
    assert len(offsets) == 3 and sum(offsets.values()) == 1000  # the topic's 3 partitions stay

    consumed = strom("perf", "consume", "--topic", t, "--messages", "1000", "--format", "json", *bs)
    assert consumed.returncode == 0, consumed.stderr
    figures = json.loads(consumed.stdout)
    assert figures["records"] == 1000 and figures["mb"] == pytest.approx(10_000 / 2**20, abs=1e-4)
    assert KAFKA_TIME.match(figures["start_time"]) and KAFKA_TIME.match(figures["end_time"])
    assert {"mb_per_s", "records_per_s", "rebalance_time_ms", "fetch_time_ms", "fetch_mb_per_s",
            "fetch_records_per_s"} <= figures.keys()


def test_throughput_limit_is_honoured(shared_broker):
    t = unique("perft")
    started = time.monotonic()
    produced = strom("perf", "produce", "--topic", t, "--num-records", "300", "--record-size", "10",
                     "--throughput", "200", "--format", "json", "--bootstrap-server", shared_broker.bootstrap)
    assert produced.returncode == 0, produced.stderr
    result = json.loads(produced.stdout)
    # 300 records at 200/s cannot take less than 1.5 s; this bounds from below only, not speed
    assert result["elapsed_s"] >= 1.49 and time.monotonic() - started >= 1.49
    assert result["records_per_s"] <= 201


def test_delivery_error_exits_1_with_the_kafka_error_name(shared_broker):
    bs = ["--bootstrap-server", shared_broker.bootstrap]
    t = unique("perfe")
    assert strom("topic", "create", "--topic", t, "--config", "max.message.bytes=1000", *bs).returncode == 0
    produced = strom("perf", "produce", "--topic", t, "--num-records", "200", "--record-size", "2000", *bs)
    assert produced.returncode == 1, produced.stdout
    assert produced.stderr.startswith("Error: MESSAGE_TOO_LARGE:"), produced.stderr
    assert "records sent" not in produced.stdout
    assert sum(end_offsets(shared_broker.bootstrap, t).values()) == 0


def test_consume_of_fewer_records_than_asked_prints_them_and_exits_1(shared_broker):
    bs = ["--bootstrap-server", shared_broker.bootstrap]
    t = unique("perff")
    assert strom("perf", "produce", "--topic", t, "--num-records", "500", "--record-size", "100", *bs).returncode == 0
    started = time.monotonic()
    consumed = strom("perf", "consume", "--topic", t, "--messages", "1000", "--timeout-ms", "4000", *bs)
    assert consumed.returncode == 1
    assert consumed.stderr.startswith("Error: _TIMED_OUT: only 500 of 1000 records read"), consumed.stderr
    header, row = consumed.stdout.splitlines()
    assert header == CONSUME_HEADER and int(row.split(", ")[4]) == 500
    assert time.monotonic() - started < 60


def test_consume_unknown_topic_exits_1(shared_broker):
    res = strom("perf", "consume", "--topic", unique("nope"), "--messages", "10", "--timeout-ms", "3000",
                "--bootstrap-server", shared_broker.bootstrap)
    assert res.returncode == 1 and res.stderr.startswith("Error: UNKNOWN_TOPIC_OR_PARTITION:"), res.stderr
    assert res.stdout == ""


@pytest.mark.parametrize("verb", [["produce", "--num-records", "10", "--record-size", "10"], ["consume", "--messages", "10"]])
def test_unreachable_broker_fails_instead_of_hanging(verb):
    started = time.monotonic()
    res = strom("perf", verb[0], "--topic", "t", *verb[1:], "--bootstrap-server", "127.0.0.1:1", "--timeout-ms", "2000",
                timeout=60)
    assert res.returncode == 1 and res.stderr.startswith("Error: _"), res.stderr
    assert res.stdout == ""
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("args", [["produce", "--num-records", "10", "--record-size", "10", "--throughput", "0"],
                                  ["produce", "--num-records", "0", "--record-size", "10"],
                                  ["consume"]])
def test_usage_errors_exit_2(args):
    res = strom("perf", args[0], "--topic", "t", *args[1:], "--bootstrap-server", "127.0.0.1:1", timeout=30)
    assert res.returncode == 2 and "strom perf" in res.stderr, res.stderr


def test_stored_records_are_counted_and_a_shortfall_is_an_error(shared_broker):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    from strom.cli import perf
    from strom.cli._common import CliError

    topic = unique("perf-stored")
    assert strom("perf", "produce", "--topic", topic, "--num-records", "30", "--record-size", "10",
                 "--partitions", "3", "--bootstrap-server", shared_broker.bootstrap).returncode == 0
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    before = perf.end_offsets_total(admin, topic, 10)
    assert before == sum(end_offsets(shared_broker.bootstrap, topic).values()) == 30
    producer = Producer({"bootstrap.servers": shared_broker.bootstrap})
    for i in range(7):
        producer.produce(topic, b"x", partition=i % 3)
    assert producer.flush(10) == 0
    after = perf.end_offsets_total(admin, topic, 10)
    assert after == 37
    perf.check_stored(7, before, after)
    with pytest.raises(CliError) as info:  # one of 8 records missing: the run must not pass as complete
        perf.check_stored(8, before, after)
    assert info.value.name == "_NOT_DELIVERED"
