"""`strom serve --log-format json`: every stderr line is one JSON object, and the operator's events
(start, stop, group rebalance, broker registration) are there with their fields."""
from __future__ import annotations

import json
import threading

from confluent_kafka import Consumer, Producer

from conftest import unique


def json_log(path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("---- ")]
    entries = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    for entry in entries:
        assert {"ts", "level", "logger", "msg"} <= entry.keys(), entry
    return entries


def form_group(bootstrap: str, topic: str, group: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 2})
    producer.produce(topic, b"v", key=b"k")
    assert producer.flush(30) == 0
    assigned = threading.Event()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "log-test",
                         "auto.offset.reset": "earliest", "log_level": 2})
    try:
        consumer.subscribe([topic], on_assign=lambda c, parts: parts and assigned.set())
        for _ in range(300):  # poll drives the join; each poll waits at most 0.1 s
            consumer.poll(0.1)
            if assigned.is_set():
                break
        assert assigned.is_set(), "the consumer was never assigned its partition"
    finally:
        consumer.close()


def test_json_logs_carry_start_stop_rebalance_and_requests(strom_factory):
    broker = strom_factory({"group.initial.rebalance.delay.ms": 0, "num.partitions": 1},
                           args=["--log-format", "json", "--log-level", "debug"])
    topic, group = unique("logs"), unique("g")
    form_group(broker.bootstrap, topic, group)
    broker.stop()
    entries = json_log(broker.log_path)
    events = {}
    for e in entries:
        events.setdefault(e.get("event"), []).append(e)

    [started] = events["started"]
    assert started["level"] == "INFO" and started["logger"] == "strom"
    assert isinstance(started["duration_ms"], int) and started["duration_ms"] >= 0
    assert started["port"] == broker.port
    [stopped] = events["stopped"]
    assert isinstance(stopped["duration_ms"], int) and stopped["clean"] is True

    rebalances = [e for e in events["rebalance_completed"] if e.get("group") == group]
    joined, emptied = rebalances[0], rebalances[-1]  # the consumer joined, then left at close()
    assert joined["generation"] == 1 and joined["members"] == 1
    assert joined["group_protocol"] == "classic" and joined["protocol"] == "range"
    assert emptied["generation"] == 2 and emptied["members"] == 0

    node = started["node_id"]
    assert [e["broker"] for e in events["registered"]] == [node]  # the broker's own line
    assert [e["broker"] for e in events["broker_registered"]] == [node]  # the controller's
    assert [e["broker"] for e in events["unfenced"]] == [node]

    requests = [e for e in entries if e["logger"] == "strom.request"]
    joins = [e for e in requests if e["api"] == "JoinGroup" and e["client_id"] == "log-test"]
    assert joins and joins[0]["level"] == "DEBUG"
    assert joins[0]["client_host"] == "127.0.0.1" and isinstance(joins[0]["correlation_id"], int)
    assert isinstance(joins[0]["duration_ms"], float) and "error_code" in joins[0]


def test_info_level_has_no_request_lines(strom_factory):
    broker = strom_factory(args=["--log-format", "json"])
    producer = Producer({"bootstrap.servers": broker.bootstrap, "log_level": 2})
    producer.produce(unique("logs"), b"v")
    assert producer.flush(30) == 0
    broker.stop()
    entries = json_log(broker.log_path)
    assert not [e for e in entries if e["level"] == "DEBUG" or e["logger"] == "strom.request"]
    assert [e["event"] for e in entries if e.get("event") in ("started", "stopped")] == ["started", "stopped"]
