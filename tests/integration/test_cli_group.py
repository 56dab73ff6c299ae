"""``strom group`` against a real broker, as docs/cli.md promises it.

Committed offsets come from a consumer that assigns partitions itself and commits (FindCoordinator,
OffsetCommit, OffsetFetch), and are checked with ``Consumer.committed``. Each test skips unless the
broker's ApiVersions lists the APIs it needs, so the file can sit in the suite while the group
coordinator grows: ListGroups (16), DescribeGroups (15), DeleteGroups (42), OffsetDelete (47),
JoinGroup/SyncGroup/Heartbeat (11/14/12).
"""
from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.old.api_versions import ApiVersionsResponse_v0

from conftest import unique

STROM = str(Path(sys.executable).with_name("strom"))
OFFSET_APIS = {10: "FindCoordinator", 8: "OffsetCommit", 9: "OffsetFetch"}
HEADERS = "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID".split()
BASE_MS = 1577836800000  # 2020-01-01T00:00:00Z: partition 0's record i has timestamp BASE_MS + i s
NOT_COMMITTED = -1001  # confluent_kafka's OFFSET_INVALID

pytestmark = pytest.mark.timeout(180)


def strom(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([STROM, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1"})


def advertised(broker) -> set[int]:
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        s.sendall(struct.pack(">ihhih", 10 + 4, 18, 0, 1, 4) + b"test")
        size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
        payload = s.recv(size, socket.MSG_WAITALL)
    return {key for key, _, _ in ApiVersionsResponse_v0.decode(payload[4:]).api_keys}


def require(broker, apis: dict[int, str]) -> None:
    missing = [name for key, name in apis.items() if key not in advertised(broker)]
    if missing:
        pytest.skip(f"broker does not serve {', '.join(missing)} yet")


@pytest.fixture
def group_broker(strom_factory):
    b = strom_factory({"group.initial.rebalance.delay.ms": 0})
    require(b, OFFSET_APIS)
    return b


def setup_group(broker, offsets: tuple[int, int] = (3, 5)) -> tuple[str, str]:
    """A 2-partition topic (10 records with 2020 timestamps in partition 0, 5 in partition 1) and a
    group that has committed ``offsets`` by manual assignment (no members)."""
    topic, group = unique("gt"), unique("grp")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        producer.produce(topic, value=b"%d" % i, partition=0, timestamp=BASE_MS + i * 1000)
    for i in range(5):
        producer.produce(topic, value=b"%d" % i, partition=1)
    assert producer.flush(10) == 0
    commit(broker, group, topic, offsets)
    return topic, group


def commit(broker, group: str, topic: str, offsets: tuple[int, ...]) -> None:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(len(offsets))])
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in enumerate(offsets)], asynchronous=False)
    finally:
        c.close()


def committed(broker, group: str, topic: str, partitions: int = 2) -> list[int]:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return [tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)]
    finally:
        c.close()


def table(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines() if line.strip()]


def new_offsets(result: subprocess.CompletedProcess) -> list[int]:
    assert result.returncode == 0, result.stderr
    rows = table(result.stdout)
    assert rows[0] == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
    return [int(r[3]) for r in rows[1:]]


# ---------------------------------------------------------------------------- describe
def test_describe_shows_committed_offsets_end_offsets_and_lag(group_broker):
    topic, group = setup_group(group_broker)
    bs = ["--bootstrap-server", group_broker.bootstrap]
    out = strom("group", "describe", "--group", group, *bs)
    assert out.returncode == 0, out.stderr
    rows = table(out.stdout)
    assert rows[0] == HEADERS
    assert rows[1:] == [[group, topic, "0", "3", "10", "7", "-", "-", "-"],
                        [group, topic, "1", "5", "5", "0", "-", "-", "-"]]
    lines = out.stdout.splitlines()
    column = lines[0].index("LOG-END-OFFSET")  # aligned columns: each value starts under its header
    assert [line[column:].split(None, 1)[0] for line in lines[1:3]] == ["10", "5"]
    assert all(line[column - 1] == " " and line[column] != " " for line in lines[1:3])
    [doc] = json.loads(strom("group", "describe", "--group", group, "--format", "json", *bs).stdout)
    assert doc["group"] == group
    assert [(p["partition"], p["current_offset"], p["log_end_offset"], p["lag"], p["consumer_id"])
            for p in doc["partitions"]] == [(0, 3, 10, 7, None), (1, 5, 5, 0, None)]


def test_describe_unknown_group_exits_1(group_broker):
    out = strom("group", "describe", "--group", "no-such-group", "--bootstrap-server", group_broker.bootstrap)
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == "Error: GROUP_ID_NOT_FOUND: Consumer group 'no-such-group' does not exist."
    assert out.stdout == ""


# ---------------------------------------------------------------------------- reset-offsets
def test_reset_offsets_dry_run_execute_and_every_spec(group_broker):
    topic, group = setup_group(group_broker)
    bs = ["--bootstrap-server", group_broker.bootstrap]

    def reset(*spec: str) -> subprocess.CompletedProcess:
        return strom("group", "reset-offsets", "--group", group, *spec, *bs)

    dry = reset("--topic", topic, "--to-earliest")
    assert new_offsets(dry) == [0, 0]
    assert "Dry run" in dry.stderr
    assert new_offsets(reset("--topic", topic, "--to-earliest", "--dry-run")) == [0, 0]
    assert committed(group_broker, group, topic) == [3, 5]  # nothing changed

    assert new_offsets(reset("--topic", topic, "--to-earliest", "--execute")) == [0, 0]
    assert committed(group_broker, group, topic) == [0, 0]

    assert new_offsets(reset("--topic", topic, "--shift-by", "4", "--execute")) == [4, 4]
    assert committed(group_broker, group, topic) == [4, 4]
    clamped = reset("--topic", topic, "--shift-by", "100", "--execute")
    assert new_offsets(clamped) == [10, 5]
    assert f"is higher than latest offset for topic partition {topic}-1. Value will be set to 5" in clamped.stderr
    assert new_offsets(reset("--all-topics", "--shift-by", "-2", "--execute")) == [8, 3]
    assert committed(group_broker, group, topic) == [8, 3]

    assert new_offsets(reset("--topic", topic, "--to-offset", "7", "--execute")) == [7, 5]
    assert committed(group_broker, group, topic) == [7, 5]

    # partition 0's records are one second apart from 2020-01-01T00:00:00Z; only partition 0 is reset
    assert new_offsets(reset("--topic", f"{topic}:0", "--to-datetime", "2020-01-01T00:00:04.000Z", "--execute")) == [4]
    assert committed(group_broker, group, topic) == [4, 5]
    assert new_offsets(reset("--topic", f"{topic}:0", "--to-datetime", "2020-01-01T02:00:06.500+02:00",
                             "--execute")) == [7]
    assert new_offsets(reset("--topic", topic, "--to-datetime", "2999-01-01T00:00:00.000", "--execute")) == [10, 5]
    assert committed(group_broker, group, topic) == [10, 5]

    as_json = reset("--topic", topic, "--to-latest", "--format", "json")
    assert json.loads(as_json.stdout) == [{"group": group, "topic": topic, "partition": p, "new_offset": o}
                                          for p, o in ((0, 10), (1, 5))]


def test_reset_offsets_errors(group_broker):
    topic, group = setup_group(group_broker)
    bs = ["--bootstrap-server", group_broker.bootstrap]
    out = strom("group", "reset-offsets", "--group", group, "--topic", "missing-topic", "--to-earliest", *bs)
    assert out.returncode == 1 and "Error: UNKNOWN_TOPIC_OR_PARTITION: " in out.stderr
    out = strom("group", "reset-offsets", "--group", unique("new"), "--topic", topic, "--shift-by", "1", *bs)
    assert out.returncode == 1 and "Cannot shift offsets" in out.stderr
    out = strom("group", "reset-offsets", "--group", group, "--topic", topic, *bs)  # no spec: usage error
    assert out.returncode == 2


# ---------------------------------------------------------------------------- delete-offsets, delete, list
def test_delete_offsets(group_broker):
    require(group_broker, {47: "OffsetDelete"})
    topic, group = setup_group(group_broker)
    bs = ["--bootstrap-server", group_broker.bootstrap]
    out = strom("group", "delete-offsets", "--group", group, "--topic", f"{topic}:0", *bs)
    assert out.returncode == 0, out.stderr
    assert table(out.stdout) == [["TOPIC", "PARTITION", "STATUS"], [topic, "0", "Successful"]]
    assert committed(group_broker, group, topic) == [NOT_COMMITTED, 5]
    rows = table(strom("group", "describe", "--group", group, *bs).stdout)
    assert [r[1:3] for r in rows[1:]] == [[topic, "1"]]
    assert strom("group", "delete-offsets", "--group", group, "--topic", topic, *bs).returncode == 0
    assert committed(group_broker, group, topic) == [NOT_COMMITTED, NOT_COMMITTED]


def test_delete_group(group_broker):
    require(group_broker, {42: "DeleteGroups"})
    topic, group = setup_group(group_broker)
    bs = ["--bootstrap-server", group_broker.bootstrap]
    out = strom("group", "delete", "--group", group, *bs)
    assert (out.returncode, out.stdout) == (0, f"Deleted consumer group '{group}'.\n"), out.stderr
    assert committed(group_broker, group, topic) == [NOT_COMMITTED, NOT_COMMITTED]
    again = strom("group", "delete", "--group", group, *bs)
    assert again.returncode == 1 and again.stderr.startswith("Error: GROUP_ID_NOT_FOUND: "), again.stderr


def test_list_groups(group_broker):
    require(group_broker, {16: "ListGroups"})
    topic, group = setup_group(group_broker)
    bs = ["--bootstrap-server", group_broker.bootstrap]
    out = strom("group", "list", *bs)
    assert out.returncode == 0, out.stderr
    assert group in out.stdout.split()
    listed = {g["group"]: g for g in json.loads(strom("group", "list", "--format", "json", *bs).stdout)}
    assert listed[group]["state"] == "Empty" and listed[group]["type"] in ("classic", "unknown")
    assert group in strom("group", "list", "--state", "Empty", *bs).stdout.split()
    assert group not in strom("group", "list", "--state", "Stable", *bs).stdout.split()


# ---------------------------------------------------------------------------- a group with a member
def test_active_group_members_state_and_refusals(group_broker):
    require(group_broker, {11: "JoinGroup", 14: "SyncGroup", 12: "Heartbeat", 15: "DescribeGroups"})
    topic, group = setup_group(group_broker)
    bs = ["--bootstrap-server", group_broker.bootstrap]
    member = Consumer({"bootstrap.servers": group_broker.bootstrap, "group.id": group, "client.id": "cli-test",
                       "enable.auto.commit": False, "session.timeout.ms": 10000})
    try:
        member.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(member.assignment()) < 2:
            assert time.monotonic() < deadline, "the member got no assignment within 30 s"
            member.poll(0.2)
        state = strom("group", "describe", "--group", group, "--state", *bs)
        assert state.returncode == 0, state.stderr
        rows = table(state.stdout)
        assert rows[0][:3] == ["GROUP", "COORDINATOR", "(ID)"] and rows[1][-2:] == ["Stable", "1"], state.stdout

        out = strom("group", "describe", "--group", group, *bs)
        rows = table(out.stdout)
        assert [r[1:6] for r in rows[1:]] == [[topic, "0", "3", "10", "7"], [topic, "1", "5", "5", "0"]]
        assert all(r[6] != "-" and r[8] == "cli-test" for r in rows[1:]), out.stdout

        members = table(strom("group", "describe", "--group", group, "--members", *bs).stdout)
        assert members[0] == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
        assert members[1][0] == group and members[1][3:] == ["cli-test", "2"]

        refused = strom("group", "reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute", *bs)
        assert refused.returncode == 1
        assert refused.stderr.strip() == (f"Error: NON_EMPTY_GROUP: Assignments can only be reset if the group "
                                          f"'{group}' is inactive, but the current state is Stable.")
        assert committed(group_broker, group, topic) == [3, 5]
        if 42 in advertised(group_broker):
            busy = strom("group", "delete", "--group", group, *bs)
            assert busy.returncode == 1 and busy.stderr.startswith("Error: NON_EMPTY_GROUP: "), busy.stderr
    finally:
        member.close()
