"""KIP-848 consumer groups (consumer_group.py, assignors.py) against a fake coordinator.

The fake coordinator appends records to a list and replays them into the
manager, like CoordinatorRuntime.write; ``Client`` plays a consumer that
adopts the assignment it is given and reports what it owns, so the tests can
check at every step that no partition is owned by two clients at once.
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

import pytest

from strom.coordinator.group import records as rec
from strom.coordinator.group.assignors import range_, uniform
from strom.coordinator.group.consumer_group import (
    MEMBER_TRANSITIONS,
    ConsumerGroup,
    ConsumerGroupManager,
    IllegalMemberTransition,
    Member,
    MemberState,
    check_member_transition,
    member_state,
)
from strom.coordinator.group.coordinator import GroupConfig
from strom.errors import ErrorCode, KafkaError
from strom.protocol import codec
from strom.protocol.codec import RequestHeader
from strom.server.context import BrokerServices, RequestContext
from strom.server.registry import HANDLERS
from strom.util.clock import VirtualScheduler


# ---------------------------------------------------------------------------- fakes

class FakeMetadata:
    def __init__(self) -> None:
        self.topics: dict[str, tuple[uuid.UUID, int]] = {}

    def add(self, name: str, partitions: int) -> uuid.UUID:
        topic_id = self.topics[name][0] if name in self.topics else uuid.uuid4()
        self.topics[name] = (topic_id, partitions)
        return topic_id

    def topic_partitions(self, name: str) -> int | None:
        return self.topics[name][1] if name in self.topics else None

    def topic_id(self, name: str) -> uuid.UUID | None:
        return self.topics[name][0] if name in self.topics else None

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        return next((n for n, (i, _) in self.topics.items() if i == topic_id), None)

    def topic_names(self) -> list[str]:
        return list(self.topics)


class FakeCoordinator:
    def __init__(self, **config: Any) -> None:
        self.config = GroupConfig(**config)
        self.clock = VirtualScheduler()
        self.metadata = FakeMetadata()
        self.groups: dict[str, Any] = {}
        self.offsets: dict[str, Any] = {}
        self.log: list[tuple[bytes, bytes | None]] = []
        self.spawned: list[Coroutine[Any, Any, Any]] = []
        self.consumer = ConsumerGroupManager(self)

    async def write(self, group_id: str, records: list[tuple[bytes, bytes | None]]) -> None:
        for key, value in records:
            self.log.append((key, value))
            k, v = rec.decode(key, value)
            self.consumer.replay(k, v)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.spawned.append(coro)

    async def run_spawned(self) -> None:
        while self.spawned:
            await self.spawned.pop(0)


class Client:
    """A consumer: takes what it is assigned at once, reports what it owns in every heartbeat."""

    def __init__(self, coord: FakeCoordinator, member_id: str, topics: list[str] | None = None, *,
                 regex: str | None = None, instance_id: str | None = None, group: str = "g",
                 assignor: str | None = None) -> None:
        self.coord, self.member_id, self.topics, self.regex = coord, member_id, topics, regex
        self.instance_id, self.group, self.assignor = instance_id, group, assignor
        self.epoch = 0
        self.owned: dict[uuid.UUID, set[int]] = {}

    def owned_list(self) -> list[tuple[uuid.UUID, list[int]]]:
        return [(t, sorted(ps)) for t, ps in self.owned.items() if ps]

    async def heartbeat(self, **overrides: Any) -> dict[str, Any]:
        joining = self.epoch == 0
        args: dict[str, Any] = dict(
            group_id=self.group, member_id=self.member_id, member_epoch=self.epoch, instance_id=self.instance_id,
            rebalance_timeout_ms=30000 if joining else -1,
            subscribed_topic_names=self.topics if joining else None,
            subscribed_topic_regex=self.regex if joining else None,
            server_assignor=self.assignor if joining else None,
            topic_partitions=[] if joining else self.owned_list(), client_id="c-" + self.member_id,
            client_host="/127.0.0.1")
        args.update(overrides)
        resp = await self.coord.consumer.heartbeat(**args)
        if resp["error_code"] == ErrorCode.NONE:
            self.member_id = resp["member_id"]
            self.epoch = resp["member_epoch"]
            if resp["assignment"] is not None:
                self.owned = {tp["topic_id"]: set(tp["partitions"]) for tp in resp["assignment"]["topic_partitions"]}
        return resp

    async def leave(self) -> dict[str, Any]:
        resp = await self.coord.consumer.heartbeat(self.group, self.member_id, -1, instance_id=self.instance_id)
        self.owned = {}
        return resp

    def partitions(self) -> set[tuple[uuid.UUID, int]]:
        return {(t, p) for t, ps in self.owned.items() for p in ps}


def assert_exclusive(clients: list[Client]) -> None:
    seen: dict[tuple[uuid.UUID, int], str] = {}
    for c in clients:
        for tp in c.partitions():
            assert tp not in seen, f"{tp} owned by {seen[tp]} and {c.member_id}"
            seen[tp] = c.member_id


def assert_server_consistent(group: ConsumerGroup) -> None:
    owners: dict[tuple[str, int], str] = {}
    for m in group.members.values():
        for parts in (m.assigned, m.pending_revocation):
            for t, ps in parts.items():
                for p in ps:
                    assert (t, p) not in owners, f"server: {(t, p)} owned by {owners[(t, p)]} and {m.member_id}"
                    owners[(t, p)] = m.member_id
    assert owners == group.partition_owners


async def converge(coord: FakeCoordinator, clients: list[Client], rounds: int = 10) -> None:
    for _ in range(rounds):
        for c in clients:
            resp = await c.heartbeat()
            assert resp["error_code"] == ErrorCode.NONE, resp
            assert_exclusive(clients)
            assert_server_consistent(coord.consumer.group(clients[0].group))
        if coord.consumer.group(clients[0].group).state_name == "Stable":
            return
    raise AssertionError(f"did not converge: {coord.consumer.describe([clients[0].group])}")


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------------- assignors

def test_uniform_balances_homogeneous_subscriptions():
    subs = {m: {"a", "b"} for m in ("m1", "m2", "m3")}
    out = uniform(subs, {"a": 4, "b": 3}, {})
    counts = sorted(sum(len(p) for p in parts.values()) for parts in out.values())
    assert counts == [2, 2, 3]
    every = [(t, p) for parts in out.values() for t, ps in parts.items() for p in ps]
    assert sorted(every) == sorted([("a", p) for p in range(4)] + [("b", p) for p in range(3)])


def test_uniform_is_sticky_when_a_member_joins_and_leaves():
    subs = {"m1": {"t"}, "m2": {"t"}}
    two = uniform(subs, {"t": 6}, {})
    assert sorted(len(v["t"]) for v in two.values()) == [3, 3]
    three = uniform({**subs, "m3": {"t"}}, {"t": 6}, two)
    assert all(len(v["t"]) == 2 for v in three.values())
    for m in ("m1", "m2"):  # each old member keeps 2 of its 3: only 2 partitions move
        assert three[m]["t"] <= two[m]["t"]
    back = uniform({"m1": {"t"}, "m3": {"t"}}, {"t": 6}, three)
    assert back["m1"]["t"] >= three["m1"]["t"] and back["m3"]["t"] >= three["m3"]["t"]
    assert sorted(back["m1"]["t"] | back["m3"]["t"]) == list(range(6))


def test_uniform_heterogeneous_subscriptions_are_balanced_where_possible():
    subs = {"m1": {"a"}, "m2": {"a", "b"}, "m3": {"b"}}
    out = uniform(subs, {"a": 3, "b": 3}, {})
    counts = {m: sum(len(p) for p in parts.values()) for m, parts in out.items()}
    assert sorted(counts.values()) == [2, 2, 2]
    assert "b" not in out["m1"] and "a" not in out["m3"]
    # a member subscribed to a missing topic gets nothing from it
    assert uniform({"m1": {"x"}}, {}, {}) == {"m1": {}}


def test_uniform_drops_partitions_that_no_longer_exist_or_are_unsubscribed():
    current = {"m1": {"t": {0, 1, 2, 3}}, "m2": {"t": {4, 5}, "u": {0}}}
    out = uniform({"m1": {"t"}, "m2": {"t"}}, {"t": 4}, current)
    assert out["m1"]["t"] | out["m2"]["t"] == {0, 1, 2, 3}
    assert "u" not in out["m2"] and len(out["m1"]["t"]) == len(out["m2"]["t"]) == 2


def test_range_is_co_partitioned():
    subs = {"m2": {"a", "b"}, "m1": {"a", "b"}, "m3": {"a", "b"}}
    out = range_(subs, {"a": 7, "b": 7}, {})
    assert out["m1"] == {"a": frozenset({0, 1, 2}), "b": frozenset({0, 1, 2})}
    assert out["m2"] == {"a": frozenset({3, 4}), "b": frozenset({3, 4})}
    assert out["m3"] == {"a": frozenset({5, 6}), "b": frozenset({5, 6})}


# ---------------------------------------------------------------------------- the member state machine

T = str(uuid.UUID(int=1))  # one topic id; partition 9 is owned by another member ("o") unless freed
S, UNREVOKED, UNRELEASED, UNKNOWN = (MemberState.STABLE, MemberState.UNREVOKED_PARTITIONS,
                                     MemberState.UNRELEASED_PARTITIONS, MemberState.UNKNOWN)


def reconcile(state: MemberState, assigned: set[int], *, target: set[int], owned: set[int] | None,
              epoch: int = 1, target_epoch: int = 2, pending: set[int] | frozenset[int] = frozenset(),
              nine_owned: bool = True) -> Member:
    """One step of the real reconciliation (ConsumerGroupManager._reconcile) for member "m"."""
    group = ConsumerGroup("g")
    if nine_owned:
        group.partition_epochs[(T, 9)], group.partition_owners[(T, 9)] = 1, "o"
    member = Member("m", member_epoch=epoch, previous_member_epoch=epoch - 1, state=state,
                    assigned={T: frozenset(assigned)} if assigned else {},
                    pending_revocation={T: frozenset(pending)} if pending else {})
    return ConsumerGroupManager._reconcile(group, member, target_epoch, {T: frozenset(target)} if target else {},
                                           None if owned is None else ({T: frozenset(owned)} if owned else {}))


# (source state, a reconciliation that takes it out of that state)
SCENARIOS: list[tuple[MemberState, Any]] = [
    (S, lambda: reconcile(S, {0}, target={0}, owned={0}, epoch=2)),  # already at the target epoch
    (S, lambda: reconcile(S, {0}, target={0, 1}, owned={0})),  # gets the free partition 1
    (S, lambda: reconcile(S, {0, 1}, target={0}, owned={0, 1})),  # must give 1 up first
    (S, lambda: reconcile(S, {0}, target={0, 9}, owned={0})),  # 9 is still owned by "o"
    (UNREVOKED, lambda: reconcile(UNREVOKED, {0}, pending={1}, target={0}, owned={0, 1})),  # still owns 1
    (UNREVOKED, lambda: reconcile(UNREVOKED, {0}, pending={1}, target={0}, owned={0})),  # revoked 1
    (UNREVOKED, lambda: reconcile(UNREVOKED, {0}, pending={1}, target={0, 9}, owned={0})),
    (UNREVOKED, lambda: reconcile(UNREVOKED, {0, 2}, pending={1}, target={0}, owned={0, 2}, target_epoch=3)),
    (UNRELEASED, lambda: reconcile(UNRELEASED, {0}, target={0, 9}, owned={0}, epoch=2)),  # 9 still owned
    (UNRELEASED, lambda: reconcile(UNRELEASED, {0}, target={0, 9}, owned={0}, epoch=2, nine_owned=False)),
    (UNRELEASED, lambda: reconcile(UNRELEASED, {0}, target={9}, owned={0}, epoch=2, target_epoch=3)),
    (UNKNOWN, lambda: reconcile(UNKNOWN, {0, 1}, target={0}, owned=set())),
    (UNKNOWN, lambda: reconcile(UNKNOWN, {0}, target={0, 9}, owned=set())),
    (UNKNOWN, lambda: reconcile(UNKNOWN, {0, 1}, target={1, 2}, owned=set())),  # never UNREVOKED: owns nothing
]


def test_member_transition_table_is_walked_by_the_real_reconciliation():
    assert set(MEMBER_TRANSITIONS) == set(MemberState)
    reached = {(source, step().state) for source, step in SCENARIOS}
    allowed = {(source, target) for source, targets in MEMBER_TRANSITIONS.items() for target in targets}
    assert reached == allowed  # every allowed transition happens, and the reconciliation does nothing else
    for source, target in itertools.product(MemberState, MemberState):
        if (source, target) in allowed:
            check_member_transition("m", source, target)
        else:
            with pytest.raises(IllegalMemberTransition):
                check_member_transition("m", source, target)


def test_member_transition_table_refuses_something():
    """The table is a claim about the reconciliation: one that allowed every move would check nothing."""
    everything = set(itertools.product(MemberState, MemberState))
    allowed = {(s, t) for s, targets in MEMBER_TRANSITIONS.items() for t in targets}
    assert allowed < everything
    assert all(MemberState.UNKNOWN not in targets for targets in MEMBER_TRANSITIONS.values())
    assert MemberState.UNREVOKED_PARTITIONS not in MEMBER_TRANSITIONS[MemberState.UNKNOWN]


def test_reconciliation_moves_epochs_as_kafka_does():
    stays = reconcile(S, {0}, target={0}, owned={0}, epoch=2)
    assert (stays.state, stays.member_epoch) == (S, 2)
    revoking = reconcile(S, {0, 1}, target={0}, owned={0, 1})
    assert (revoking.member_epoch, revoking.assigned, revoking.pending_revocation) == (
        1, {T: frozenset({0})}, {T: frozenset({1})})  # the epoch waits for the revocation
    waiting = reconcile(UNREVOKED, {0}, pending={1}, target={0}, owned={0, 1})
    assert waiting.member_epoch == 1 and waiting.pending_revocation == {T: frozenset({1})}
    done = reconcile(UNREVOKED, {0}, pending={1}, target={0}, owned={0})
    assert (done.state, done.member_epoch, done.pending_revocation) == (S, 2, {})
    unreleased = reconcile(S, {0}, target={0, 9}, owned={0})
    assert (unreleased.member_epoch, unreleased.assigned) == (2, {T: frozenset({0})})
    fresh = reconcile(UNKNOWN, {0, 1}, target={1, 2}, owned=set(), epoch=1, target_epoch=5)
    assert (fresh.state, fresh.member_epoch, fresh.assigned) == (S, 5, {T: frozenset({1, 2})})


def test_a_member_in_an_unknown_state_must_rejoin_unless_it_owns_nothing():
    assert member_state("stable") is S and member_state("from_a_newer_version") is UNKNOWN
    for owned in ({0}, None):
        with pytest.raises(KafkaError) as err:
            reconcile(UNKNOWN, {0}, target={0}, owned=owned)
        assert err.value.code == ErrorCode.FENCED_MEMBER_EPOCH


def test_a_current_assignment_record_with_an_unknown_state_loads():
    async def main() -> None:
        coord = FakeCoordinator()
        tid = coord.metadata.add("t", 2)
        a = Client(coord, "a", ["t"])
        await a.heartbeat()
        member = coord.consumer.group("g").members["a"]
        newer = {**member.current_value(), "state": "some_future_state"}
        await coord.write("g", [(rec.key("cg_current", "g", member="a"), rec.value(newer))])
        assert coord.consumer.group("g").members["a"].state is UNKNOWN
        r = await a.heartbeat()  # still reports its partitions: fenced, rejoins from scratch
        assert r["error_code"] == ErrorCode.FENCED_MEMBER_EPOCH
        a.epoch, a.owned = 0, {}
        r = await a.heartbeat()
        assert r["error_code"] == ErrorCode.NONE and a.owned == {tid: {0, 1}}
    run(main())


# ---------------------------------------------------------------------------- membership

def test_members_join_then_third_joins_without_double_ownership():
    async def main() -> None:
        coord = FakeCoordinator()
        tid = coord.metadata.add("t", 6)
        a, b = Client(coord, "a", ["t"]), Client(coord, "b", ["t"])
        r = await a.heartbeat()
        assert r["error_code"] == 0 and r["member_epoch"] == 1 and r["heartbeat_interval_ms"] == 5000
        assert a.owned == {tid: set(range(6))}
        await converge(coord, [a, b])
        assert len(a.partitions()) == len(b.partitions()) == 3
        g = coord.consumer.group("g")
        assert g.group_epoch == 2 and g.assignment_epoch == 2
        c = Client(coord, "c", ["t"])
        await c.heartbeat()
        assert c.owned == {}  # everything is still owned by a and b
        assert g.state_name == "Reconciling"
        await converge(coord, [a, b, c])
        assert [len(x.partitions()) for x in (a, b, c)] == [2, 2, 2]
        assert g.group_epoch == 3 and all(m.member_epoch == 3 for m in g.members.values())
        # a heartbeat with nothing changed carries no assignment
        r = await a.heartbeat()
        assert r["assignment"] is None and r["member_epoch"] == 3
    run(main())


def test_broker_generates_member_id_in_v0_and_requires_it_in_v1():
    async def main() -> None:
        coord = FakeCoordinator()
        coord.metadata.add("t", 2)
        r = await coord.consumer.heartbeat("g", "", 0, rebalance_timeout_ms=1000, subscribed_topic_names=["t"],
                                           topic_partitions=[], api_version=0)
        assert r["error_code"] == 0 and len(r["member_id"]) == 22
        r = await coord.consumer.heartbeat("g", "", 0, rebalance_timeout_ms=1000, subscribed_topic_names=["t"],
                                           topic_partitions=[], api_version=1)
        assert r["error_code"] == ErrorCode.INVALID_REQUEST
    run(main())


def test_leave_and_session_expiry_reassign_partitions():
    async def main() -> None:
        coord = FakeCoordinator(consumer_session_timeout_ms=10000)
        coord.metadata.add("t", 6)
        a, b, c = Client(coord, "a", ["t"]), Client(coord, "b", ["t"]), Client(coord, "c", ["t"])
        await converge(coord, [a, b, c])
        g = coord.consumer.group("g")
        epoch = g.group_epoch
        r = await c.leave()
        assert r == {**r, "error_code": 0, "member_id": "c", "member_epoch": -1}
        assert "c" not in g.members and g.group_epoch == epoch + 1
        await converge(coord, [a, b])
        assert len(a.partitions()) == len(b.partitions()) == 3
        # b goes silent; a keeps heartbeating; b's session timer fences it at 10 s, not a moment before
        coord.clock.advance(6000)
        await a.heartbeat()
        coord.clock.advance(3999)
        await coord.run_spawned()
        assert set(g.members) == {"a", "b"}
        coord.clock.advance(1)
        await coord.run_spawned()  # the fencing write the timer started
        assert set(g.members) == {"a"} and g.group_epoch == epoch + 2
        assert await coord.consumer.expire_sessions() == []  # the on-demand sweep finds nothing more
        b.owned = {}  # b is dead
        await converge(coord, [a])
        assert len(a.partitions()) == 6
        r = await b.heartbeat()
        assert r["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID
        # the last member leaves: the group is Empty, still exists
        await a.leave()
        assert g.state_name == "Empty" and g.is_empty() and coord.groups["g"] is g
    run(main())


def test_rebalance_timeout_fences_a_member_that_does_not_revoke():
    async def main() -> None:
        coord = FakeCoordinator(consumer_session_timeout_ms=60000)
        coord.metadata.add("t", 4)
        a = Client(coord, "a", ["t"])
        await a.heartbeat(rebalance_timeout_ms=5000)
        b = Client(coord, "b", ["t"])
        await b.heartbeat()
        # a is told to revoke but keeps reporting the old partitions
        stale = a.owned_list()
        r = await a.heartbeat(topic_partitions=stale)
        assert coord.consumer.group("g").members["a"].state is MemberState.UNREVOKED_PARTITIONS
        assert r["error_code"] == 0
        coord.clock.advance(3000)
        await a.heartbeat(topic_partitions=stale)
        coord.clock.advance(1999)
        await b.heartbeat()
        await coord.run_spawned()
        assert "a" in coord.consumer.group("g").members
        coord.clock.advance(1)  # the rebalance timeout (5 s from the revocation) fires
        await coord.run_spawned()
        assert set(coord.consumer.group("g").members) == {"b"}
        await converge(coord, [b])
        assert len(b.partitions()) == 4
    run(main())


def test_fencing_and_epoch_errors():
    async def main() -> None:
        coord = FakeCoordinator()
        coord.metadata.add("t", 2)
        a = Client(coord, "a", ["t"])
        await a.heartbeat()
        hb = coord.consumer.heartbeat
        assert (await hb("g", "a", 5, topic_partitions=a.owned_list()))["error_code"] == ErrorCode.FENCED_MEMBER_EPOCH
        assert (await hb("g", "zz", 1))["error_code"] == ErrorCode.UNKNOWN_MEMBER_ID
        assert (await hb("nope", "a", 1))["error_code"] == ErrorCode.GROUP_ID_NOT_FOUND
        b = Client(coord, "b", ["t"])
        await converge(coord, [a, b])
        m = coord.consumer.group("g").members["a"]
        assert m.member_epoch == 2 and m.previous_member_epoch == 1
        # the previous epoch is accepted when the member owns a subset of its assignment (lost response)
        r = await hb("g", "a", 1, topic_partitions=a.owned_list())
        assert r["error_code"] == 0 and r["member_epoch"] == 2
        r = await hb("g", "a", 1, topic_partitions=[(uuid.uuid4(), [0])])
        assert r["error_code"] == ErrorCode.FENCED_MEMBER_EPOCH
        r = await hb("g", "a", 0, topic_partitions=[])  # missing fields on join
        assert r["error_code"] == ErrorCode.INVALID_REQUEST and "RebalanceTimeoutMs" in r["error_message"]
        r = await hb("g", "a", 0, rebalance_timeout_ms=100, topic_partitions=[])
        assert r["error_code"] == ErrorCode.INVALID_REQUEST
        r = await hb("g", "a", -3)
        assert r["error_code"] == ErrorCode.INVALID_REQUEST
        r = await hb("", "a", 1)
        assert r["error_code"] == ErrorCode.INVALID_REQUEST
        r = await hb("g", "x", 0, rebalance_timeout_ms=100, subscribed_topic_names=["t"], topic_partitions=[],
                     server_assignor="sticky")
        assert r["error_code"] == ErrorCode.UNSUPPORTED_ASSIGNOR
        r = await hb("g", "x", 0, rebalance_timeout_ms=100, subscribed_topic_regex="(", topic_partitions=[])
        assert r["error_code"] == ErrorCode.INVALID_REGULAR_EXPRESSION
    run(main())


def test_group_max_size():
    async def main() -> None:
        coord = FakeCoordinator(max_size=2)
        coord.metadata.add("t", 2)
        await Client(coord, "a", ["t"]).heartbeat()
        await Client(coord, "b", ["t"]).heartbeat()
        r = await Client(coord, "c", ["t"]).heartbeat()
        assert r["error_code"] == ErrorCode.GROUP_MAX_SIZE_REACHED
    run(main())


def test_static_member_leaves_temporarily_and_is_replaced():
    async def main() -> None:
        coord = FakeCoordinator()
        coord.metadata.add("t", 4)
        a, b = Client(coord, "a", ["t"], instance_id="i-a"), Client(coord, "b", ["t"])
        await converge(coord, [a, b])
        g = coord.consumer.group("g")
        epoch, a_parts = g.group_epoch, a.partitions()
        intruder = Client(coord, "a2", ["t"], instance_id="i-a")
        assert (await intruder.heartbeat())["error_code"] == ErrorCode.UNRELEASED_INSTANCE_ID
        r = await coord.consumer.heartbeat("g", "a", -2, instance_id="i-a")
        assert r["error_code"] == 0 and r["member_epoch"] == -2
        assert g.members["a"].member_epoch == -2 and g.group_epoch == epoch  # no rebalance
        r = await intruder.heartbeat()
        assert r["error_code"] == 0 and intruder.partitions() == a_parts and g.group_epoch == epoch
        assert "a" not in g.members and g.static_members["i-a"] == "a2"
        assert (await coord.consumer.heartbeat("g", "a", 1, instance_id="i-a"))["error_code"] \
            == ErrorCode.FENCED_INSTANCE_ID
    run(main())


def test_regex_subscription_and_topic_changes():
    async def main() -> None:
        coord = FakeCoordinator()
        coord.metadata.add("orders-eu", 2)
        coord.metadata.add("payments", 2)
        a = Client(coord, "a", None, regex="orders-.*")
        await converge(coord, [a])
        g = coord.consumer.group("g")
        assert set(g.subscription_metadata) == {"orders-eu"} and len(a.partitions()) == 2
        epoch = g.group_epoch
        coord.metadata.add("orders-us", 1)
        coord.metadata.add("orders-eu", 3)  # grows
        coord.consumer.on_topics_changed({n: c for n, (_, c) in coord.metadata.topics.items()})
        await coord.run_spawned()
        assert g.group_epoch == epoch + 1 and set(g.subscription_metadata) == {"orders-eu", "orders-us"}
        await converge(coord, [a])
        assert len(a.partitions()) == 4
        # a metadata change that does not touch the subscription does not bump
        coord.metadata.add("other", 1)
        coord.consumer.on_topics_changed({})
        await coord.run_spawned()
        assert g.group_epoch == epoch + 1
    run(main())


def test_offset_commit_and_fetch_validation():
    async def main() -> None:
        coord = FakeCoordinator()
        coord.metadata.add("t", 2)
        g = ConsumerGroup("empty")
        g.validate_offset_commit("", -1, None, 9)  # admin commit to an empty group
        a = Client(coord, "a", ["t"])
        await a.heartbeat()
        g = coord.consumer.group("g")
        g.validate_offset_commit("a", 1, None, 9)
        for args, code in [(("", -1, None, 9), ErrorCode.UNKNOWN_MEMBER_ID),
                           (("zz", 1, None, 9), ErrorCode.UNKNOWN_MEMBER_ID),
                           (("a", 0, None, 9), ErrorCode.STALE_MEMBER_EPOCH),
                           (("a", 2, None, 9), ErrorCode.STALE_MEMBER_EPOCH),
                           (("a", 1, None, 8), ErrorCode.UNSUPPORTED_VERSION)]:
            with pytest.raises(KafkaError) as exc:
                g.validate_offset_commit(*args)
            assert exc.value.code == code, args
        g.validate_offset_fetch(None, -1)
        g.validate_offset_fetch("a", 1)
        with pytest.raises(KafkaError) as exc:
            g.validate_offset_fetch("a", 0)
        assert exc.value.code == ErrorCode.STALE_MEMBER_EPOCH
        assert g.subscribed_topics() == {"t"} and g.group_type == "consumer" and g.protocol_type == "consumer"
    run(main())


def test_describe():
    async def main() -> None:
        coord = FakeCoordinator()
        tid = coord.metadata.add("t", 2)
        a = Client(coord, "a", ["t"], assignor="range")
        await a.heartbeat(rack_id="r1")
        coord.groups["classic"] = object()
        out = coord.consumer.describe(["g", "missing", "classic"])
        assert out[0]["group_state"] == "Stable" and out[0]["group_epoch"] == 1 and out[0]["assignment_epoch"] == 1
        assert out[0]["assignor_name"] == "range"
        m = out[0]["members"][0]
        assert m["member_id"] == "a" and m["rack_id"] == "r1" and m["client_id"] == "c-a"
        assert m["subscribed_topic_names"] == ["t"] and m["member_epoch"] == 1
        expected = {"topic_partitions": [{"topic_id": tid, "topic_name": "t", "partitions": [0, 1]}]}
        assert m["assignment"] == expected and m["target_assignment"] == expected
        assert out[1]["error_code"] == ErrorCode.GROUP_ID_NOT_FOUND
        assert out[2]["error_code"] == ErrorCode.GROUP_ID_NOT_FOUND and "not a consumer group" in out[2]["error_message"]
    run(main())


def test_classic_groups_are_not_joined():
    class Classic:
        def __init__(self, empty: bool) -> None:
            self.empty = empty

        def is_empty(self) -> bool:
            return self.empty

        def delete_records(self) -> list[tuple[bytes, bytes | None]]:
            return []

    async def main() -> None:
        coord = FakeCoordinator()
        coord.metadata.add("t", 2)
        coord.groups["busy"] = Classic(False)
        r = await Client(coord, "a", ["t"], group="busy").heartbeat()
        assert r["error_code"] == ErrorCode.GROUP_ID_NOT_FOUND
        coord.groups["idle"] = Classic(True)  # an empty classic group is replaced, as Kafka does
        r = await Client(coord, "a", ["t"], group="idle").heartbeat()
        assert r["error_code"] == 0 and isinstance(coord.groups["idle"], ConsumerGroup)
    run(main())


def test_replaying_the_log_rebuilds_the_state_and_delete_tombstones_it():
    async def main() -> None:
        coord = FakeCoordinator()
        coord.metadata.add("t", 6)
        clients = [Client(coord, m, ["t"]) for m in "abc"]
        await converge(coord, clients)
        await clients[2].leave()
        await clients[0].heartbeat()
        g = coord.consumer.group("g")
        fresh = FakeCoordinator()
        for k, v in coord.log:
            fresh.consumer.replay(*rec.decode(k, v))
        h = fresh.consumer.group("g")
        assert (h.group_epoch, h.assignment_epoch, h.members, h.target, h.partition_owners) == \
            (g.group_epoch, g.assignment_epoch, g.members, g.target, g.partition_owners)
        for c in clients[:2]:
            await c.leave()
        assert g.is_empty()
        await coord.write("g", g.delete_records())
        assert "g" not in coord.groups
    run(main())


# ---------------------------------------------------------------------------- handlers through the codec

class _Conn:
    peer_host = "10.0.0.9"


@pytest.mark.parametrize("version", [0, 1])
def test_handlers_round_trip_through_the_codec(version: int):
    async def main() -> None:
        coord = FakeCoordinator()
        tid = coord.metadata.add("t", 3)
        services = BrokerServices(node_id=1, cluster_id="c", host="h", port=1, config=None,  # type: ignore[arg-type]
                                  controller=None, replicas=None, clock=coord.clock,  # type: ignore[arg-type]
                                  groups=coord)  # type: ignore[arg-type]

        async def call(api_key: int, request: dict[str, Any]) -> dict[str, Any]:
            req = codec.build(codec.request_type(api_key, version), request)
            ctx = RequestContext(RequestHeader(api_key, version, 3, "cli"), _Conn(), services)  # type: ignore[arg-type]
            response = codec.build_response(api_key, version, await HANDLERS[api_key].handle(ctx, req))
            codec.encode_response(3, response, api_key=api_key, version=version)
            return codec.to_dict(response)

        member_id = "" if version == 0 else "m-1"
        r = await call(68, {"group_id": "g", "member_id": member_id, "member_epoch": 0,
                            "rebalance_timeout": 30000, "subscribed_topic_names": ["t"], "topic_partitions": []})
        assert r["error_code"] == ErrorCode.NONE and r["member_epoch"] == 1
        assert r["assignment"]["topic_partitions"] == [{"topic_id": tid, "partitions": [0, 1, 2]}]
        mid = r["member_id"]
        r = await call(68, {"group_id": "g", "member_id": mid, "member_epoch": 1, "topic_partitions": None})
        assert r["error_code"] == 0 and r["assignment"] is None
        d = await call(69, {"group_ids": ["g", "x"], "include_authorized_operations": False})
        g, x = d["groups"]
        assert g["members"][0]["client_host"] == "10.0.0.9" and g["members"][0]["client_id"] == "cli"
        assert x["error_code"] == ErrorCode.GROUP_ID_NOT_FOUND
        r = await call(68, {"group_id": "g", "member_id": mid, "member_epoch": -1, "topic_partitions": None})
        assert r["error_code"] == 0 and r["member_epoch"] == -1
    run(main())


def test_each_new_target_assignment_and_each_leave_log_one_info_line_with_fields(caplog):
    async def main() -> None:
        coord = FakeCoordinator()
        coord.metadata.add("t", 4)
        a, b = Client(coord, "a", ["t"]), Client(coord, "b", ["t"])
        await converge(coord, [a, b])
        await a.leave()

    logger = "strom.coordinator.group.consumer_group"
    with caplog.at_level(logging.INFO, logger=logger):
        run(main())
    lines = [(r.event, r.group_epoch, r.members) for r in caplog.records
             if r.name == logger and getattr(r, "event", None)]
    assert lines == [("rebalance_completed", 1, 1), ("rebalance_completed", 2, 2), ("member_left", 3, 1)]
    first = next(r for r in caplog.records if getattr(r, "event", None) == "rebalance_completed")
    assert first.group == "g" and first.group_protocol == "consumer" and first.assignor == "uniform"
