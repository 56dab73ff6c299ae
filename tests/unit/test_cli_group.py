"""``strom group`` without a broker: flags, the Kafka-style tables and JSON, reset arithmetic and
clamping, error reporting. AdminClient and Consumer are replaced by small fakes built from
confluent_kafka's own model classes; the hand-written OffsetDelete/FindCoordinator/ApiVersions
client is checked against kafka-python's codec and run against a fake broker on port 0."""
from __future__ import annotations

import datetime as dt
import json
import socket
import struct
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ConsumerGroupType,
    KafkaError,
    KafkaException,
    Node,
    TopicPartition,
)
from confluent_kafka.admin import (
    ConsumerGroupDescription,
    ConsumerGroupListing,
    ListConsumerGroupsResult,
    MemberAssignment,
    MemberDescription,
)
from kafka.protocol.consumer.group import OffsetDeleteRequest, OffsetDeleteResponse
from kafka.protocol.old.api_versions import ApiVersionsResponse_v0
from kafka.protocol.old.find_coordinator import FindCoordinatorResponse_v1

from strom.cli import _common, group
from strom.cli._common import CliError
from strom.client import wire


@pytest.fixture(autouse=True)
def no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fakes stand in for the broker: skip main()'s TCP probe of the bootstrap addresses."""
    monkeypatch.setattr(_common, "check_reachable", lambda bootstrap: None)
from strom.cli.main import build_parser, main

from ._futures import done

COORDINATOR = Node(1, "broker1", 9092)
UNSUPPORTED = KafkaError(KafkaError._UNSUPPORTED_FEATURE, "Local: Required feature not supported by broker")


def parse(*argv: str) -> Any:
    return build_parser().parse_args(list(argv))



def _member(member_id: str, client_id: str, host: str, partitions: list[tuple[str, int]]) -> MemberDescription:
    assignment = MemberAssignment([TopicPartition(t, p) for t, p in partitions])
    return MemberDescription(member_id, client_id, host, assignment)


class FakeAdmin:
    """Just enough of confluent_kafka.admin.AdminClient for consumer groups."""

    def __init__(self) -> None:
        self.groups: dict[str, ConsumerGroupDescription] = {}
        self.offsets: dict[str, dict[tuple[str, int], int]] = {}
        self.topics = {"orders": 3, "audit": 1}
        self.describe_error: KafkaError | None = None
        self.list_result = ListConsumerGroupsResult(valid=[], errors=[])
        self.delete_errors: dict[str, KafkaError] = {}
        self.calls: list[tuple[str, Any]] = []

    def add_group(self, name: str, state: ConsumerGroupState, members: list[MemberDescription] | None = None,
                  offsets: dict[tuple[str, int], int] | None = None) -> None:
        self.groups[name] = ConsumerGroupDescription(name, False, list(members or []), "range", state, COORDINATOR,
                                                     type=ConsumerGroupType.CLASSIC)
        self.offsets[name] = dict(offsets or {})

    def describe_consumer_groups(self, names: list[str], request_timeout: float) -> dict[str, Future]:
        self.calls.append(("describe_consumer_groups", names))
        if self.describe_error is not None:
            return {n: done(error=self.describe_error) for n in names}
        return {n: done(self.groups.get(n) or ConsumerGroupDescription(n, False, [], "", ConsumerGroupState.DEAD,
                                                                        COORDINATOR)) for n in names}

    def list_consumer_group_offsets(self, request: list[ConsumerGroupTopicPartitions],
                                    request_timeout: float) -> dict[str, Future]:
        name = request[0].group_id
        tps = [TopicPartition(t, p, o) for (t, p), o in sorted(self.offsets.get(name, {}).items())]
        return {name: done(ConsumerGroupTopicPartitions(name, tps))}

    def alter_consumer_group_offsets(self, request: list[ConsumerGroupTopicPartitions],
                                     request_timeout: float) -> dict[str, Future]:
        req = request[0]
        self.calls.append(("alter_consumer_group_offsets", [(tp.topic, tp.partition, tp.offset)
                                                            for tp in req.topic_partitions]))
        for tp in req.topic_partitions:
            self.offsets.setdefault(req.group_id, {})[(tp.topic, tp.partition)] = tp.offset
        return {req.group_id: done(ConsumerGroupTopicPartitions(req.group_id, [
            TopicPartition(tp.topic, tp.partition, tp.offset) for tp in req.topic_partitions]))}

    def list_consumer_groups(self, **kwargs: Any) -> Future:
        self.calls.append(("list_consumer_groups", kwargs))
        return done(self.list_result)

    def delete_consumer_groups(self, names: list[str], request_timeout: float) -> dict[str, Future]:
        self.calls.append(("delete_consumer_groups", names))
        return {n: done(error=self.delete_errors.get(n)) for n in names}

    def list_topics(self, timeout: float) -> Any:
        return types.SimpleNamespace(topics={
            name: types.SimpleNamespace(error=None, partitions={p: object() for p in range(n)})
            for name, n in self.topics.items()})


class FakeConsumer:
    """Log start/end offsets and offsets by time, per (topic, partition)."""

    def __init__(self, marks: dict[tuple[str, int], tuple[int, int]],
                 by_time: dict[tuple[str, int], int] | None = None) -> None:
        self.marks = marks
        self.by_time = by_time or {}
        self.asked_times: list[int] = []
        self.closed = False

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float, cached: bool) -> tuple[int, int]:
        if (tp.topic, tp.partition) not in self.marks:
            raise KafkaException(KafkaError(3, "Unknown topic or partition"))
        return self.marks[(tp.topic, tp.partition)]

    def offsets_for_times(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.asked_times += [tp.offset for tp in tps]
        return [TopicPartition(tp.topic, tp.partition, self.by_time.get((tp.topic, tp.partition), -1)) for tp in tps]

    def close(self) -> None:
        self.closed = True


MARKS = {("orders", 0): (0, 10), ("orders", 1): (2, 5), ("orders", 2): (0, 0), ("audit", 0): (0, 4)}


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> FakeAdmin:
    fake = FakeAdmin()
    monkeypatch.setattr(group, "_admin", lambda args: fake)
    return fake


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch) -> FakeConsumer:
    fake = FakeConsumer(dict(MARKS), {("orders", 0): 6})
    monkeypatch.setattr(group, "_consumer", lambda args: fake)
    return fake


# ---------------------------------------------------------------------------- flags
def test_group_is_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "group" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["group"])
    assert info.value.code == 2


@pytest.mark.parametrize("argv", [
    ["group", "describe"],
    ["group", "describe", "--group", "g", "--members", "--state"],
    ["group", "describe", "--group", "g", "--all-groups"],
    ["group", "list", "--state", "bogus"],
    ["group", "list", "--type", "share"],
    ["group", "delete"],
    ["group", "reset-offsets", "--group", "g", "--topic", "t"],
    ["group", "reset-offsets", "--group", "g", "--to-earliest"],
    ["group", "reset-offsets", "--group", "g", "--topic", "t", "--all-topics", "--to-earliest"],
    ["group", "reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--to-latest"],
    ["group", "reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--dry-run", "--execute"],
    ["group", "reset-offsets", "--group", "g", "--topic", "t", "--to-offset", "-1"],
    ["group", "reset-offsets", "--group", "g", "--topic", "t:x", "--to-earliest"],
    ["group", "reset-offsets", "--group", "g", "--topic", "t", "--to-datetime", "yesterday"],
    ["group", "delete-offsets", "--group", "g"],
])
def test_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2


def test_parse_states_accepts_kafka_and_enum_spellings() -> None:
    assert group.parse_states("Stable,empty") == ["STABLE", "EMPTY"]
    assert group.parse_states("PreparingRebalance") == ["PREPARING_REBALANCING"]
    assert group.parse_states("completing_rebalancing") == ["COMPLETING_REBALANCING"]
    args = parse("group", "list", "--state", "Stable", "--state", "Dead,Empty", "--type", "classic")
    assert args.state == ["STABLE", "DEAD", "EMPTY"] and args.group_type == ["classic"]


def test_parse_topic_partitions() -> None:
    assert group.parse_topic_partitions("orders") == ("orders", None)
    assert group.parse_topic_partitions("orders:0,2") == ("orders", (0, 2))


def test_parse_datetime_zones() -> None:
    assert group.parse_datetime("2020-01-01T00:00:04.000Z") == 1577836804000
    assert group.parse_datetime("2020-01-01T02:00:06.500+02:00") == 1577836806500
    local = dt.datetime(2020, 1, 1, 0, 0, 4, 250000).astimezone()
    assert group.parse_datetime("2020-01-01T00:00:04.250") == int(local.timestamp() * 1000)


def test_describe_defaults_to_the_offsets_view() -> None:
    assert parse("group", "describe", "--group", "g").view == "offsets"
    assert parse("group", "describe", "--group", "g", "--offsets").view == "offsets"
    assert parse("group", "describe", "--group", "g", "--members").view == "members"
    assert parse("group", "describe", "--group", "g", "--state").view == "state"


# ---------------------------------------------------------------------------- rendering
def test_table_is_aligned_with_dashes_for_unknown() -> None:
    assert group.render_table(("A", "LONG-HEADER", "C"), [("xyz", None, 1), ("", 22, None)]) == (
        "A   LONG-HEADER C\n"
        "xyz -           1\n"
        "-   22          -")


def test_offset_rows_owned_unowned_and_idle_members() -> None:
    info = group.GroupInfo("g", "Stable", members=[
        group.Member("c-2", "cli-2", "/10.0.0.2", []),
        group.Member("c-1", "cli-1", "/10.0.0.1", [("orders", 1), ("orders", 0)]),
    ])
    rows = group.offset_rows(info, {("orders", 0): 4, ("audit", 0): 1}, {("orders", 0): 10, ("orders", 1): 5})
    assert [(r.topic, r.partition, r.current_offset, r.log_end_offset, r.lag, r.consumer_id) for r in rows] == [
        ("audit", 0, 1, None, None, None),
        ("orders", 0, 4, 10, 6, "c-1"),
        ("orders", 1, None, 5, None, "c-1"),
        (None, None, None, None, None, "c-2"),
    ]


# ---------------------------------------------------------------------------- describe
def test_describe_offsets_view(admin: FakeAdmin, consumer: FakeConsumer, capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("billing", ConsumerGroupState.STABLE,
                    [_member("consumer-1-abc", "consumer-1", "/127.0.0.1", [("orders", 0), ("orders", 1)])],
                    {("orders", 0): 7, ("orders", 1): 5, ("audit", 0): 1})
    assert main(["group", "describe", "--group", "billing"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "GROUP   TOPIC  PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID    HOST       CLIENT-ID\n"
        "billing audit  0         1              4              3   -              -          -\n"
        "billing orders 0         7              10             3   consumer-1-abc /127.0.0.1 consumer-1\n"
        "billing orders 1         5              5              0   consumer-1-abc /127.0.0.1 consumer-1\n")
    assert captured.err == ""
    assert consumer.closed


def test_describe_offsets_json_and_empty_group_note(admin: FakeAdmin, consumer: FakeConsumer,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("idle", ConsumerGroupState.EMPTY, [], {("orders", 0): 3, ("gone", 0): 9})
    assert main(["group", "describe", "--group", "idle", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [{"group": "idle", "state": "Empty", "partitions": [
        {"topic": "gone", "partition": 0, "current_offset": 9, "log_end_offset": None, "lag": None,
         "consumer_id": None, "host": None, "client_id": None},
        {"topic": "orders", "partition": 0, "current_offset": 3, "log_end_offset": 10, "lag": 7,
         "consumer_id": None, "host": None, "client_id": None}]}]
    assert captured.err == "Consumer group 'idle' has no active members.\n"


def test_describe_members_and_state_views(admin: FakeAdmin, consumer: FakeConsumer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("billing", ConsumerGroupState.STABLE, [
        _member("m-2", "c2", "/10.0.0.2", [("orders", 2)]),
        _member("m-1", "c1", "/10.0.0.1", [("orders", 0), ("orders", 1)])])
    assert main(["group", "describe", "--group", "billing", "--members"]) == 0
    assert capsys.readouterr().out == (
        "GROUP   CONSUMER-ID HOST      CLIENT-ID #PARTITIONS\n"
        "billing m-1         /10.0.0.1 c1        2\n"
        "billing m-2         /10.0.0.2 c2        1\n")
    assert main(["group", "describe", "--group", "billing", "--state"]) == 0
    assert capsys.readouterr().out == (
        "GROUP   COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE  #MEMBERS\n"
        "billing broker1:9092 (1) range               Stable 2\n")
    assert main(["group", "describe", "--group", "billing", "--state", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{
        "group": "billing", "coordinator": {"id": 1, "host": "broker1", "port": 9092},
        "assignment_strategy": "range", "state": "Stable", "type": "classic", "members": 2}]
    assert main(["group", "describe", "--group", "billing", "--members", "--format", "json"]) == 0
    members = json.loads(capsys.readouterr().out)[0]["members"]
    assert members[0] == {"consumer_id": "m-1", "group_instance_id": None, "host": "/10.0.0.1", "client_id": "c1",
                          "partitions": 2, "assignment": [{"topic": "orders", "partition": 0},
                                                          {"topic": "orders", "partition": 1}]}


def test_describe_unknown_group_is_exit_1(admin: FakeAdmin, consumer: FakeConsumer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("billing", ConsumerGroupState.EMPTY, [], {("orders", 0): 1})
    assert main(["group", "describe", "--group", "nope", "--group", "billing"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("Error: GROUP_ID_NOT_FOUND: Consumer group 'nope' does not exist.\n")
    assert "billing orders 0" in captured.out  # the other group is still shown


def test_group_id_not_found_from_describe_means_dead(admin: FakeAdmin, consumer: FakeConsumer,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    admin.describe_error = KafkaError(69, "Group nope not found")  # ConsumerGroupDescribe (KIP-848) answers so
    assert main(["group", "describe", "--group", "nope", "--state"]) == 1
    assert capsys.readouterr().err == "Error: GROUP_ID_NOT_FOUND: Consumer group 'nope' does not exist.\n"
    assert main(["group", "reset-offsets", "--group", "nope", "--topic", "audit", "--to-latest", "--execute"]) == 0
    assert admin.offsets["nope"] == {("audit", 0): 4}


def test_describe_without_describe_groups_falls_back_to_offsets(admin: FakeAdmin, consumer: FakeConsumer,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    admin.describe_error = UNSUPPORTED
    admin.offsets["manual"] = {("orders", 0): 4}
    assert main(["group", "describe", "--group", "manual"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].split() == ["manual", "orders", "0", "4", "10", "6", "-", "-", "-"]
    assert captured.err.startswith("warning: the broker cannot describe groups (_UNSUPPORTED_FEATURE")
    assert main(["group", "describe", "--group", "none"]) == 1
    assert "Error: GROUP_ID_NOT_FOUND: Consumer group 'none' does not exist." in capsys.readouterr().err
    assert main(["group", "describe", "--group", "manual", "--members"]) == 1  # no fallback for members
    assert capsys.readouterr().err.startswith("Error: _UNSUPPORTED_FEATURE: ")


def test_describe_all_groups(admin: FakeAdmin, consumer: FakeConsumer, capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("b", ConsumerGroupState.EMPTY, [], {("audit", 0): 4})
    admin.add_group("a", ConsumerGroupState.EMPTY, [], {("orders", 0): 10})
    admin.list_result = ListConsumerGroupsResult(valid=[ConsumerGroupListing("b", False),
                                                        ConsumerGroupListing("a", False)])
    assert main(["group", "describe", "--all-groups", "--state"]) == 0
    out = capsys.readouterr().out
    assert out.index("\na ") < out.index("\nb ") and "\n\n" in out


# ---------------------------------------------------------------------------- list
def test_list_text_json_and_filters(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    admin.list_result = ListConsumerGroupsResult(valid=[
        ConsumerGroupListing("zeta", False, ConsumerGroupState.STABLE, ConsumerGroupType.CONSUMER),
        ConsumerGroupListing("alpha", True, ConsumerGroupState.EMPTY, ConsumerGroupType.CLASSIC)])
    assert main(["group", "list"]) == 0
    assert capsys.readouterr().out == "alpha\nzeta\n"
    assert main(["group", "list", "--format", "json", "--state", "stable,empty", "--type", "consumer"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"group": "alpha", "state": "Empty", "type": "classic", "simple": True},
        {"group": "zeta", "state": "Stable", "type": "consumer", "simple": False}]
    kwargs = admin.calls[-1][1]
    assert kwargs["states"] == {ConsumerGroupState.STABLE, ConsumerGroupState.EMPTY}
    assert kwargs["types"] == {ConsumerGroupType.CONSUMER}


def test_list_error(admin: FakeAdmin, capsys: pytest.CaptureFixture[str]) -> None:
    admin.list_result = ListConsumerGroupsResult(valid=[], errors=[UNSUPPORTED])
    assert main(["group", "list"]) == 1
    assert capsys.readouterr().err == "Error: _UNSUPPORTED_FEATURE: Local: Required feature not supported by broker\n"


# ---------------------------------------------------------------------------- delete
class FakeWire:
    def __init__(self, keys: set[int], results: dict[tuple[str, int], int] | None = None) -> None:
        self.keys = keys
        self.results = results or {}
        self.deleted: list[tuple[str, list[tuple[str, int]]]] = []

    def api_keys(self) -> set[int]:
        return self.keys

    def delete_offsets(self, group_id: str, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        self.deleted.append((group_id, list(partitions)))
        return {tp: self.results.get(tp, 0) for tp in partitions}


def test_delete_groups(admin: FakeAdmin, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(group, "wire_client", lambda conf, timeout_s: FakeWire({42}))
    admin.delete_errors["busy"] = KafkaError(68, "The group is not empty.")
    assert main(["group", "delete", "--group", "idle", "--group", "busy"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "Deleted consumer group 'idle'.\n"
    assert captured.err == "Error: NON_EMPTY_GROUP: Group 'busy' could not be deleted: The group is not empty.\n"
    assert admin.calls == [("delete_consumer_groups", ["idle", "busy"])]


def test_delete_refuses_when_the_broker_lacks_delete_groups(admin: FakeAdmin, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(group, "wire_client", lambda conf, timeout_s: FakeWire({10, 8, 9}))
    assert main(["group", "delete", "--group", "g"]) == 1
    assert capsys.readouterr().err == "Error: _UNSUPPORTED_FEATURE: the broker does not support DeleteGroups\n"
    assert admin.calls == []  # librdkafka would abort the process at exit


# ---------------------------------------------------------------------------- reset-offsets
def reset(*extra: str) -> list[str]:
    return ["group", "reset-offsets", "--group", "g", *extra]


def test_reset_dry_run_is_the_default_and_changes_nothing(admin: FakeAdmin, consumer: FakeConsumer,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("g", ConsumerGroupState.EMPTY, [], {("orders", 0): 7, ("orders", 1): 4})
    assert main(reset("--topic", "orders", "--to-earliest")) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "GROUP TOPIC  PARTITION NEW-OFFSET\n"
        "g     orders 0         0\n"
        "g     orders 1         2\n"
        "g     orders 2         0\n")
    assert "Dry run: nothing was changed; add --execute" in captured.err
    assert not any(name == "alter_consumer_group_offsets" for name, _ in admin.calls)
    assert main(reset("--topic", "orders", "--to-earliest", "--dry-run")) == 0
    assert not any(name == "alter_consumer_group_offsets" for name, _ in admin.calls)


def test_reset_execute_commits(admin: FakeAdmin, consumer: FakeConsumer, capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("g", ConsumerGroupState.EMPTY, [], {("orders", 0): 7})
    assert main(reset("--topic", "orders:0,1", "--to-latest", "--execute", "--format", "json")) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"group": "g", "topic": "orders", "partition": 0, "new_offset": 10},
        {"group": "g", "topic": "orders", "partition": 1, "new_offset": 5}]
    assert admin.calls[-1] == ("alter_consumer_group_offsets", [("orders", 0, 10), ("orders", 1, 5)])
    assert admin.offsets["g"] == {("orders", 0): 10, ("orders", 1): 5}


def test_reset_clamps_to_the_log_like_kafka(admin: FakeAdmin, consumer: FakeConsumer,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("g", ConsumerGroupState.EMPTY, [], {("orders", 0): 7, ("orders", 1): 3})
    assert main(reset("--topic", "orders:0,1", "--to-offset", "1")) == 0
    captured = capsys.readouterr()
    assert [line.split()[-1] for line in captured.out.splitlines()[1:]] == ["1", "2"]
    assert ("warning: New offset (1) is lower than earliest offset for topic partition orders-1. "
            "Value will be set to 2") in captured.err
    assert main(reset("--topic", "orders:0,1", "--shift-by", "5")) == 0
    captured = capsys.readouterr()
    assert [line.split()[-1] for line in captured.out.splitlines()[1:]] == ["10", "5"]
    assert "New offset (12) is higher than latest offset for topic partition orders-0. Value will be set to 10" \
        in captured.err
    assert main(reset("--topic", "orders:0,1", "--shift-by", "-4")) == 0
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines()[1:]] == ["3", "2"]


def test_reset_to_datetime(admin: FakeAdmin, consumer: FakeConsumer, capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("g", ConsumerGroupState.DEAD)  # a group that does not exist yet can be given offsets
    assert main(reset("--topic", "orders:0,1", "--to-datetime", "2020-01-01T00:00:04.000Z")) == 0
    # partition 0 has a record that late (offset 6); partition 1 does not: its log end offset
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines()[1:]] == ["6", "5"]
    assert consumer.asked_times == [1577836804000, 1577836804000]


def test_reset_all_topics_uses_committed_partitions(admin: FakeAdmin, consumer: FakeConsumer,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("g", ConsumerGroupState.EMPTY, [], {("audit", 0): 1, ("orders", 2): 0})
    assert main(reset("--all-topics", "--to-latest")) == 0
    assert [line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]] == [
        ["audit", "0", "4"], ["orders", "2", "0"]]


def test_reset_refuses_an_active_group(admin: FakeAdmin, consumer: FakeConsumer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("g", ConsumerGroupState.STABLE, [_member("m", "c", "/h", [("orders", 0)])], {("orders", 0): 1})
    assert main(reset("--topic", "orders", "--to-earliest", "--execute")) == 1
    assert capsys.readouterr().err == ("Error: NON_EMPTY_GROUP: Assignments can only be reset if the group 'g' is "
                                       "inactive, but the current state is Stable.\n")
    assert admin.offsets["g"] == {("orders", 0): 1}


def test_reset_errors(admin: FakeAdmin, consumer: FakeConsumer, capsys: pytest.CaptureFixture[str]) -> None:
    admin.add_group("g", ConsumerGroupState.EMPTY, [], {("orders", 0): 1})
    assert main(reset("--topic", "orders", "--shift-by", "1")) == 1
    assert capsys.readouterr().err.startswith("Error: Cannot shift offsets of orders-1, orders-2: ")
    assert main(reset("--topic", "nope", "--to-earliest")) == 1
    assert capsys.readouterr().err == "Error: UNKNOWN_TOPIC_OR_PARTITION: Topic 'nope' does not exist.\n"
    assert main(reset("--topic", "orders:7", "--to-earliest")) == 1
    assert "has no partition 7" in capsys.readouterr().err


def test_reset_without_describe_groups_warns_and_goes_on(admin: FakeAdmin, consumer: FakeConsumer,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    admin.describe_error = UNSUPPORTED
    admin.offsets["g"] = {("orders", 0): 7}
    assert main(reset("--topic", "orders:0", "--to-earliest", "--execute")) == 0
    assert admin.offsets["g"] == {("orders", 0): 0}
    assert capsys.readouterr().err.startswith("warning: the broker cannot describe groups")


# ---------------------------------------------------------------------------- delete-offsets
def test_delete_offsets_table_and_exit_status(admin: FakeAdmin, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    wire = FakeWire({47}, {("orders", 1): 86})
    monkeypatch.setattr(group, "wire_client", lambda conf, timeout_s: wire)
    assert main(["group", "delete-offsets", "--group", "g", "--topic", "orders:0", "--topic", "audit"]) == 0
    assert capsys.readouterr().out == (
        "TOPIC  PARTITION STATUS\n"
        "audit  0         Successful\n"
        "orders 0         Successful\n")
    assert wire.deleted == [("g", [("orders", 0), ("audit", 0)])]
    assert main(["group", "delete-offsets", "--group", "g", "--topic", "orders:0,1", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out) == [{"topic": "orders", "partition": 0, "error": None},
                                                   {"topic": "orders", "partition": 1,
                                                    "error": "GROUP_SUBSCRIBED_TO_TOPIC"}]


def test_wire_client_is_plaintext_only() -> None:
    with pytest.raises(CliError) as info:
        group.wire_client({"bootstrap.servers": "h:1", "security.protocol": "SASL_SSL"}, 1.0)
    assert info.value.exit_code == 2
    client = group.wire_client({"bootstrap.servers": "PLAINTEXT://a:1,[::1]:2", "client.id": "me"}, 1.0)
    assert client.bootstrap == [("a", 1), ("::1", 2)] and client.client_id == "me"


# ---------------------------------------------------------------------------- the wire client
def _offset_delete_request(group_id: str, partitions: dict[str, list[int]]) -> bytes:
    topic, partition = OffsetDeleteRequest.OffsetDeleteRequestTopic, \
        OffsetDeleteRequest.OffsetDeleteRequestTopic.OffsetDeleteRequestPartition
    return bytes(OffsetDeleteRequest[0](group_id=group_id, topics=[
        topic(name=t, partitions=[partition(partition_index=p) for p in ps]) for t, ps in partitions.items()]).encode())


def _offset_delete_response(error: int, results: dict[tuple[str, int], int]) -> bytes:
    topic = OffsetDeleteResponse.OffsetDeleteResponseTopic
    partition = topic.OffsetDeleteResponsePartition
    by_topic: dict[str, list[Any]] = {}
    for (t, p), code in results.items():
        by_topic.setdefault(t, []).append(partition(partition_index=p, error_code=code))
    return bytes(OffsetDeleteResponse[0](error_code=error, throttle_time_ms=0, topics=[
        topic(name=t, partitions=parts) for t, parts in by_topic.items()]).encode())


class FakeBroker:
    """A socket server on port 0 answering each request with ``handler(api_key, version, body)``."""

    def __init__(self, handler: Callable[[int, int, bytes], bytes]) -> None:
        self.handler = handler
        self.requests: list[tuple[int, int, bytes]] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                size = struct.unpack(">i", wire.recv_exact(conn, 4))[0]
                frame = wire.recv_exact(conn, size)
                api_key, version, correlation_id, client_len = struct.unpack_from(">hhih", frame)
                body = frame[10 + client_len:]
                self.requests.append((api_key, version, body))
                payload = struct.pack(">i", correlation_id) + self.handler(api_key, version, body)
                conn.sendall(struct.pack(">i", len(payload)) + payload)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def fake_broker() -> Iterator[Callable[[Callable[[int, int, bytes], bytes]], FakeBroker]]:
    started: list[FakeBroker] = []

    def make(handler: Callable[[int, int, bytes], bytes]) -> FakeBroker:
        started.append(FakeBroker(handler))
        return started[-1]

    yield make
    for b in started:
        b.close()


def test_delete_offsets_over_the_wire_follows_a_moving_coordinator(fake_broker: Any) -> None:
    answers = {"not_coordinator": 1}

    def handler(api_key: int, version: int, body: bytes) -> bytes:
        if api_key == 10:
            return FindCoordinatorResponse_v1(throttle_time_ms=0, error_code=0, error_message=None, node_id=1,
                                              host="127.0.0.1", port=broker.port).encode()
        if answers["not_coordinator"]:
            answers["not_coordinator"] -= 1
            return _offset_delete_response(16, {})
        return _offset_delete_response(0, {("orders", 0): 0})

    broker = fake_broker(handler)
    client = group.wire_client({"bootstrap.servers": f"127.0.0.1:{broker.port}"}, 5.0)
    assert client.delete_offsets("grp", [("orders", 0)]) == {("orders", 0): 0}
    assert [(k, v) for k, v, _ in broker.requests] == [(10, 1), (47, 0), (10, 1), (47, 0)]
    assert broker.requests[1][2] == _offset_delete_request("grp", {"orders": [0]})  # kafka-python's bytes


def test_delete_offsets_over_the_wire_top_level_errors(fake_broker: Any) -> None:
    code = {"value": 69}

    def handler(api_key: int, version: int, body: bytes) -> bytes:
        if api_key == 10:
            return FindCoordinatorResponse_v1(throttle_time_ms=0, error_code=0, error_message=None, node_id=1,
                                              host="127.0.0.1", port=broker.port).encode()
        return _offset_delete_response(code["value"], {})

    broker = fake_broker(handler)
    client = group.wire_client({"bootstrap.servers": f"127.0.0.1:{broker.port}"}, 5.0)
    with pytest.raises(CliError) as info:
        client.delete_offsets("grp", [("orders", 0)])
    assert str(info.value) == "GROUP_ID_NOT_FOUND: Consumer group 'grp' does not exist."
    code["value"] = 68
    with pytest.raises(CliError) as info:
        group.wire_client({"bootstrap.servers": f"127.0.0.1:{broker.port}"}, 5.0).delete_offsets("grp", [("o", 0)])
    assert info.value.name == "NON_EMPTY_GROUP"


def test_wire_client_api_keys_and_unreachable_broker(fake_broker: Any) -> None:
    broker = fake_broker(lambda k, v, b: ApiVersionsResponse_v0(error_code=0, api_keys=[(42, 0, 2)]).encode())
    dead = socket.create_server(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    client = group.wire_client({"bootstrap.servers": f"127.0.0.1:{dead_port},127.0.0.1:{broker.port}"}, 5.0)
    assert client.api_keys() == {42}
    with pytest.raises(CliError) as info:
        group.wire_client({"bootstrap.servers": f"127.0.0.1:{dead_port}"}, 0.5).delete_offsets("g", [("t", 0)])
    assert info.value.name == "_TRANSPORT"


@pytest.mark.parametrize("body", [b"", b"\x00\x00", b"\x00\x00\x00\x00\x00\x00\x7f\xff\xff\xff"])
def test_short_or_lying_responses_are_errors(fake_broker: Any, body: bytes) -> None:
    def handler(api_key: int, version: int, _body: bytes) -> bytes:
        if api_key == 10:
            return FindCoordinatorResponse_v1(throttle_time_ms=0, error_code=0, error_message=None, node_id=1,
                                              host="127.0.0.1", port=broker.port).encode()
        return body

    broker = fake_broker(handler)
    with pytest.raises(CliError) as info:
        group.wire_client({"bootstrap.servers": f"127.0.0.1:{broker.port}"}, 5.0).delete_offsets("g", [("t", 0)])
    assert info.value.name == "CORRUPT_MESSAGE"
