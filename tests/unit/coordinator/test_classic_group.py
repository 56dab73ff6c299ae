"""ClassicGroupManager driven directly, with a fake coordinator on a virtual clock (time moves only by the test)."""
from __future__ import annotations

import asyncio
import base64
import functools
import struct
from typing import Any

import pytest

from strom.coordinator.group import classic
from strom.coordinator.group import records as rec
from strom.coordinator.group.classic import (
    TRANSITIONS, ClassicGroup, ClassicGroupManager, GroupState, IllegalStateTransition, subscription_topics,
)
from strom.coordinator.group.coordinator import GroupConfig
from strom.errors import ErrorCode, KafkaError
from strom.util.clock import VirtualScheduler

pytestmark = pytest.mark.timeout(10)

E = ErrorCode


def subscription(*topics: str, version: int = 1) -> bytes:
    """ConsumerProtocolSubscription: int16 version, [topic], user_data (null), v1+ owned partitions (none)."""
    out = struct.pack(">hi", version, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    out += struct.pack(">i", -1)
    if version >= 1:
        out += struct.pack(">i", 0)
    return out


class FakeMetadata:
    def __init__(self, topics: dict[str, int]) -> None:
        self.topics = topics

    def topic_partitions(self, name: str) -> int | None:
        return self.topics.get(name)

    def topic_names(self) -> list[str]:
        return sorted(self.topics)


class FakeCoordinator:
    """What ClassicGroupManager needs of GroupCoordinator: groups, write (append + replay), config, spawn."""

    def __init__(self, *, log: list[tuple[bytes, bytes | None]] | None = None, fail_writes: bool = False,
                 **config: Any) -> None:
        defaults = dict(initial_rebalance_delay_ms=0, min_session_timeout_ms=10, max_session_timeout_ms=60_000)
        self.config = GroupConfig(**{**defaults, **config})
        self.clock = VirtualScheduler()
        self.metadata = FakeMetadata({"t": 6, "u": 2})
        self.groups: dict[str, Any] = {}
        self.offsets: dict[str, Any] = {}
        self.log = log if log is not None else []
        self.fail_writes = fail_writes
        self.tasks: set[asyncio.Task[Any]] = set()
        self.classic = ClassicGroupManager(self)

    async def write(self, group_id: str, records: list[tuple[bytes, bytes | None]]) -> None:
        await asyncio.sleep(0)  # a real append yields to the loop
        if self.fail_writes:
            raise KafkaError("disk on fire", ErrorCode.NOT_LEADER_OR_FOLLOWER)
        self.log.extend(records)
        for key, value in records:
            self._replay(key, value)

    def _replay(self, key: bytes, value: bytes | None) -> None:
        k, v = rec.decode(key, value)
        if k["type"] == rec.GROUP:
            self.classic.replay(k, v)

    def load(self) -> None:
        for key, value in self.log:
            self._replay(key, value)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def group_records(self, group_id: str) -> list[dict[str, Any] | None]:
        out = []
        for key, value in self.log:
            k, v = rec.decode(key, value)
            if k == {"type": rec.GROUP, "group": group_id}:
                out.append(v)
        return out


async def drive(c: FakeCoordinator, aw: Any) -> Any:
    """Await ``aw`` while firing the coordinator's due timers: virtual time moves only as far as it needs."""
    fut = asyncio.ensure_future(aw)
    await c.clock.run_until(fut.done)
    return fut.result()


def run(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 8), debug=True)
    return wrapper


async def join(c: FakeCoordinator, member_id: str = "", *, group: str = "g", instance: str | None = None,
               protocols: list[tuple[str, bytes]] | None = None, session: int = 1000, rebalance: int = 1000,
               version: int = 9, protocol_type: str = "consumer", client_id: str = "c") -> dict[str, Any]:
    return await c.classic.join_group(
        group, member_id, instance, client_id=client_id, client_host="/127.0.0.1", session_timeout_ms=session,
        rebalance_timeout_ms=rebalance, protocol_type=protocol_type,
        protocols=protocols if protocols is not None else [("range", subscription("t"))], api_version=version)


async def join_with_id(c: FakeCoordinator, **kw: Any) -> dict[str, Any]:
    """A v4+ dynamic member: MEMBER_ID_REQUIRED first, then the real join."""
    first = await join(c, **kw)
    assert first["error_code"] == E.MEMBER_ID_REQUIRED
    assert first["member_id"].startswith(kw.get("client_id", "c") + "-")
    return await join(c, first["member_id"], **kw)


async def sync(c: FakeCoordinator, resp: dict[str, Any], assignments: dict[str, bytes] | None = None,
               group: str = "g", instance: str | None = None) -> dict[str, Any]:
    return await c.classic.sync_group(group, resp["member_id"], resp["generation_id"], instance,
                                      protocol_type="consumer", protocol_name=resp["protocol_name"],
                                      assignments=list((assignments or {}).items()))


async def stable_pair(c: FakeCoordinator, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two dynamic members through join and sync; returns (leader's, follower's) join responses."""
    a, b = await drive(c, asyncio.gather(join_with_id(c, **kw), join_with_id(c, client_id="d", **kw)))
    leader, follower = (a, b) if a["member_id"] == a["leader"] else (b, a)
    assignments = {leader["member_id"]: b"A", follower["member_id"]: b"B"}
    s_follower, s_leader = await asyncio.gather(sync(c, follower), sync(c, leader, assignments))
    assert (s_leader["assignment"], s_follower["assignment"]) == (b"A", b"B")
    return leader, follower


def group_of(c: FakeCoordinator, group_id: str = "g") -> ClassicGroup:
    group = c.groups[group_id]
    assert isinstance(group, ClassicGroup)
    return group


# ---------------------------------------------------------------- the state machine

def test_transition_table_is_walked_and_illegal_transitions_raise():
    for source in GroupState:
        for target in GroupState:
            group = ClassicGroup("g", 0, state=source)
            if target in TRANSITIONS[source]:
                group.transition_to(target, 5)
                assert (group.state, group.previous_state, group.state_timestamp) == (target, source, 5)
            else:
                with pytest.raises(IllegalStateTransition):
                    group.transition_to(target, 5)
                assert group.state is source
    # every state is reachable from Empty, and Dead from everywhere
    assert all(GroupState.DEAD in targets for targets in TRANSITIONS.values())
    seen, todo = {GroupState.EMPTY}, [GroupState.EMPTY]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(GroupState)


def test_subscription_topics_parse_and_reject_garbage():
    assert subscription_topics(subscription("a", "bb", version=0)) == ["a", "bb"]
    assert subscription_topics(subscription("x", version=3)) == ["x"]
    with pytest.raises(ValueError):
        subscription_topics(b"\x00\x01\x00\x00\x00\x05\x00")


# ---------------------------------------------------------------- join and sync

@run
async def test_two_members_join_sync_and_heartbeat():
    c = FakeCoordinator()
    leader, follower = await stable_pair(c)
    assert leader["generation_id"] == follower["generation_id"] == 1
    assert leader["protocol_name"] == "range" and leader["protocol_type"] == "consumer"
    assert sorted(m["member_id"] for m in leader["members"]) == sorted([leader["member_id"], follower["member_id"]])
    assert follower["members"] == [] and follower["leader"] == leader["member_id"]
    group = group_of(c)
    assert group.state is GroupState.STABLE
    assert c.classic.heartbeat("g", follower["member_id"], 1) == E.NONE
    # the group record holds the assignment, written before the answers
    [record] = c.group_records("g")
    assert record["generation"] == 1 and record["leader"] == leader["member_id"]
    assert {m["member_id"]: base64.b64decode(m["assignment"]) for m in record["members"]} == {
        leader["member_id"]: b"A", follower["member_id"]: b"B"}
    # a late SyncGroup in Stable gets the current assignment
    assert (await sync(c, follower))["assignment"] == b"B"
    desc = c.classic.describe("g")
    assert desc["group_state"] == "Stable" and desc["protocol_data"] == "range"
    assert {m["member_id"]: m["member_assignment"] for m in desc["members"]} == {
        leader["member_id"]: b"A", follower["member_id"]: b"B"}
    assert all(m["member_metadata"] == subscription("t") for m in desc["members"])


@run
async def test_leader_that_disconnects_during_the_write_still_completes_the_rebalance():
    c = FakeCoordinator()
    a, b = await drive(c, asyncio.gather(join_with_id(c), join_with_id(c, client_id="d")))
    leader, follower = (a, b) if a["members"] else (b, a)
    follower_sync = asyncio.create_task(sync(c, follower))
    leader_sync = asyncio.create_task(sync(c, leader, {leader["member_id"]: b"A", follower["member_id"]: b"B"}))
    await asyncio.sleep(0)  # the leader's SyncGroup is in, its write has started
    leader_sync.cancel()  # the connection closed
    assert (await follower_sync)["assignment"] == b"B"
    assert group_of(c).state is GroupState.STABLE and len(c.group_records("g")) == 1
    assert (await sync(c, leader))["assignment"] == b"A"


@run
async def test_initial_rebalance_delay_collects_members_that_join_late():
    c = FakeCoordinator(initial_rebalance_delay_ms=100)
    first = asyncio.create_task(join_with_id(c))
    await c.clock.run_for(50)
    assert not first.done()
    second = asyncio.create_task(join_with_id(c, client_id="d"))
    a, b = await drive(c, asyncio.gather(first, second))
    assert a["generation_id"] == b["generation_id"] == 1
    assert len([r for r in (a, b) if r["members"]]) == 1


@run
async def test_third_member_triggers_rebalance_and_members_learn_by_heartbeat():
    c = FakeCoordinator()
    leader, follower = await stable_pair(c)
    third = asyncio.create_task(join_with_id(c, client_id="e"))
    await c.clock.run_for(0)
    assert group_of(c).state is GroupState.PREPARING_REBALANCE
    assert c.classic.heartbeat("g", follower["member_id"], 1) == E.REBALANCE_IN_PROGRESS
    assert (await sync(c, follower))["error_code"] == E.REBALANCE_IN_PROGRESS
    # the join completes as soon as every known member has rejoined (no rebalance timeout wait)
    r = await drive(c, asyncio.gather(join(c, leader["member_id"]), join(c, follower["member_id"]), third))
    assert {x["generation_id"] for x in r} == {2}
    assert r[0]["leader"] == leader["member_id"] and len(r[0]["members"]) == 3  # the old leader is kept
    assert group_of(c).state is GroupState.COMPLETING_REBALANCE
    assert c.classic.heartbeat("g", follower["member_id"], 2) == E.NONE
    assert c.classic.heartbeat("g", follower["member_id"], 1) == E.ILLEGAL_GENERATION


@run
async def test_member_that_does_not_rejoin_is_removed_after_rebalance_timeout():
    c = FakeCoordinator()
    leader, follower = await stable_pair(c, rebalance=150)
    rejoin = asyncio.create_task(join(c, leader["member_id"], rebalance=150))  # the follower is silent
    await c.clock.run_for(149)
    assert not rejoin.done() and group_of(c).state is GroupState.PREPARING_REBALANCE
    await c.clock.run_for(1)
    assert rejoin.done()
    r = rejoin.result()
    assert r["generation_id"] == 2 and [m["member_id"] for m in r["members"]] == [leader["member_id"]]
    assert c.classic.heartbeat("g", follower["member_id"], 2) == E.UNKNOWN_MEMBER_ID


@run
async def test_follower_rejoining_stable_with_same_metadata_gets_current_generation():
    c = FakeCoordinator()
    leader, follower = await stable_pair(c)
    r = await join(c, follower["member_id"])
    assert r["generation_id"] == 1 and r["members"] == [] and group_of(c).state is GroupState.STABLE
    # with new metadata (a cooperative client after revoking) it rebalances
    task = asyncio.create_task(join(c, follower["member_id"], protocols=[("range", subscription("t", "u"))]))
    await c.clock.run_for(0)
    assert group_of(c).state is GroupState.PREPARING_REBALANCE
    r2 = await drive(c, join(c, leader["member_id"]))
    assert (await task)["generation_id"] == r2["generation_id"] == 2


@run
async def test_leader_failing_to_sync_in_time_is_removed():
    c = FakeCoordinator()
    a, b = await drive(c, asyncio.gather(join_with_id(c, rebalance=100),
                                         join_with_id(c, client_id="d", rebalance=100)))
    follower = b if a["member_id"] == a["leader"] else a
    joined = c.clock.monotonic()
    s = await drive(c, sync(c, follower))  # parks; the leader never syncs; after the rebalance timeout it is removed
    assert s["error_code"] == E.REBALANCE_IN_PROGRESS
    assert c.clock.monotonic() - joined == pytest.approx(0.1)
    r = await drive(c, join(c, follower["member_id"], rebalance=100))
    assert r["generation_id"] == 2 and r["leader"] == follower["member_id"]


# ---------------------------------------------------------------- sessions

@run
async def test_session_expiry_removes_member_and_then_empties_group():
    c = FakeCoordinator()
    leader, follower = await stable_pair(c, session=150)

    async def keep_alive(member: dict[str, Any]) -> ErrorCode:
        while True:
            code = c.classic.heartbeat("g", member["member_id"], member["generation_id"])
            if code != E.NONE:
                return code
            await c.clock.sleep(0.03)

    # the follower went silent: it expires 150 ms after its last heartbeat (at 0); the leader's
    # heartbeat due at the same moment comes after it (timers that tie fire in the order armed)
    assert await drive(c, keep_alive(leader)) == E.REBALANCE_IN_PROGRESS
    assert c.clock.monotonic() == pytest.approx(0.15)
    r = await drive(c, join(c, leader["member_id"], session=150))
    assert r["generation_id"] == 2 and len(r["members"]) == 1
    await drive(c, sync(c, r, {leader["member_id"]: b"all"}))
    await c.clock.run_for(149)  # now the leader goes silent too
    assert group_of(c).state is GroupState.STABLE
    await c.clock.run_for(1)
    group = group_of(c)
    assert group.state is GroupState.EMPTY and not group.members and group.generation == 3
    last = c.group_records("g")[-1]
    assert last["members"] == [] and last["generation"] == 3 and last["protocol"] is None


@run
async def test_pending_member_expires_if_it_never_rejoins():
    c = FakeCoordinator()
    first = await join(c, session=50)
    assert first["error_code"] == E.MEMBER_ID_REQUIRED
    assert first["member_id"] in group_of(c).pending_members
    await c.clock.run_for(49)
    assert first["member_id"] in group_of(c).pending_members
    await c.clock.run_for(1)
    assert not group_of(c).pending_members
    assert (await join(c, first["member_id"], session=50))["error_code"] == E.UNKNOWN_MEMBER_ID


# ---------------------------------------------------------------- static membership (KIP-345)

@run
async def test_static_member_restart_keeps_assignment_without_rebalance_and_fences_old_id():
    c = FakeCoordinator()
    a, b = await drive(c, asyncio.gather(join(c, instance="i-a"), join(c, instance="i-b", client_id="d")))
    assert a["member_id"].startswith("i-a-") and b["member_id"].startswith("i-b-")  # no MEMBER_ID_REQUIRED
    leader, follower = (a, b) if a["member_id"] == a["leader"] else (b, a)
    lead_instance, follow_instance = ("i-a", "i-b") if leader is a else ("i-b", "i-a")
    await drive(c, asyncio.gather(sync(c, follower, instance=follow_instance),
                                  sync(c, leader, {leader["member_id"]: b"L", follower["member_id"]: b"F"},
                                       instance=lead_instance)))
    records_before = len(c.group_records("g"))

    # the follower restarts: new member id, same generation, old assignment, no rebalance
    again = await join(c, instance=follow_instance, client_id="d")
    assert again["error_code"] == E.NONE and again["member_id"] != follower["member_id"]
    assert again["generation_id"] == 1 and again["members"] == [] and not again["skip_assignment"]
    assert group_of(c).state is GroupState.STABLE
    assert (await sync(c, again, instance=follow_instance))["assignment"] == b"F"
    assert len(c.group_records("g")) == records_before + 1  # the new member id is persisted
    # the old incarnation is fenced
    assert c.classic.heartbeat("g", follower["member_id"], 1, follow_instance) == E.FENCED_INSTANCE_ID
    assert (await sync(c, follower, instance=follow_instance))["error_code"] == E.FENCED_INSTANCE_ID
    with pytest.raises(KafkaError) as err:
        group_of(c).validate_offset_commit(follower["member_id"], 1, follow_instance, 9)
    assert err.value.code == E.FENCED_INSTANCE_ID

    # the leader restarts: v9 tells it it leads but must skip the assignment (KIP-814)
    lead_again = await join(c, instance=lead_instance)
    assert lead_again["generation_id"] == 1 and lead_again["skip_assignment"]
    assert lead_again["leader"] == lead_again["member_id"] and len(lead_again["members"]) == 2
    # before v9 the old leader id is returned, so the client acts as a follower
    old_client = await join(c, instance=lead_instance, version=8)
    assert old_client["leader"] == lead_again["member_id"] != old_client["member_id"]
    assert not old_client["skip_assignment"] and old_client["members"] == []
    assert group_of(c).state is GroupState.STABLE and group_of(c).generation == 1


@run
async def test_static_member_rejoin_with_new_protocol_rebalances():
    c = FakeCoordinator()
    a = await drive(c, join(c, instance="i-a", protocols=[("range", subscription("t")), ("rr", subscription("t"))]))
    await sync(c, a, {a["member_id"]: b"x"}, instance="i-a")
    task = asyncio.create_task(join(c, instance="i-a", protocols=[("rr", subscription("t"))]))
    r = await drive(c, task)
    assert r["generation_id"] == 2 and r["protocol_name"] == "rr"


@run
async def test_static_member_persist_failure_reverts_member_id():
    c = FakeCoordinator()
    a = await drive(c, join(c, instance="i-a"))
    await sync(c, a, {a["member_id"]: b"x"}, instance="i-a")
    c.fail_writes = True
    r = await join(c, instance="i-a")
    assert r["error_code"] == E.NOT_COORDINATOR
    assert group_of(c).static_members["i-a"] == a["member_id"]
    assert c.classic.heartbeat("g", a["member_id"], 1, "i-a") == E.NONE


# ---------------------------------------------------------------- errors

@run
async def test_member_id_required_only_from_v4():
    c = FakeCoordinator()
    r = await drive(c, join(c, version=3))
    assert r["error_code"] == E.NONE and r["member_id"].startswith("c-") and r["generation_id"] == 1
    first = await join(c, version=4, client_id="x")
    assert first["error_code"] == E.MEMBER_ID_REQUIRED and first["generation_id"] == -1


@run
async def test_join_errors():
    c = FakeCoordinator()
    assert (await join(c, group=""))["error_code"] == E.INVALID_GROUP_ID
    assert (await join(c, session=5))["error_code"] == E.INVALID_SESSION_TIMEOUT
    assert (await join(c, session=120_000))["error_code"] == E.INVALID_SESSION_TIMEOUT
    assert (await join(c, protocols=[]))["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
    assert (await join(c, protocol_type=""))["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
    assert "g" not in c.groups  # refused joins leave no group behind
    assert (await join(c, "someone"))["error_code"] == E.UNKNOWN_MEMBER_ID
    leader, follower = await stable_pair(c)
    assert (await join(c, protocol_type="connect"))["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
    assert (await join(c, protocols=[("sticky", b"")]))["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
    assert group_of(c).state is GroupState.STABLE


@run
async def test_group_max_size():
    c = FakeCoordinator(max_size=2)
    await stable_pair(c)
    assert (await join(c, client_id="z"))["error_code"] == E.GROUP_MAX_SIZE_REACHED
    assert group_of(c).state is GroupState.STABLE and len(group_of(c).members) == 2
    c = FakeCoordinator(max_size=1, initial_rebalance_delay_ms=50)
    pending = await join(c, client_id="y")  # MEMBER_ID_REQUIRED: not a member yet
    first = asyncio.create_task(join_with_id(c))
    await c.clock.run_for(10)
    assert (await join(c, pending["member_id"], client_id="y"))["error_code"] == E.GROUP_MAX_SIZE_REACHED
    assert (await drive(c, first))["generation_id"] == 1


@run
async def test_sync_and_heartbeat_errors():
    c = FakeCoordinator()
    assert (await c.classic.sync_group("g", "m", 1, None))["error_code"] == E.UNKNOWN_MEMBER_ID
    assert c.classic.heartbeat("g", "m", 1) == E.UNKNOWN_MEMBER_ID
    assert c.classic.heartbeat("", "m", 1) == E.INVALID_GROUP_ID
    leader, follower = await stable_pair(c)
    assert c.classic.heartbeat("g", "nobody", 1) == E.UNKNOWN_MEMBER_ID
    assert c.classic.heartbeat("g", follower["member_id"], 7) == E.ILLEGAL_GENERATION
    assert (await c.classic.sync_group("g", follower["member_id"], 0, None))["error_code"] == E.ILLEGAL_GENERATION
    bad = await c.classic.sync_group("g", follower["member_id"], 1, None, protocol_type="consumer",
                                     protocol_name="roundrobin")
    assert bad["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL


@run
async def test_protocol_selection_by_votes_among_common_protocols():
    c = FakeCoordinator(initial_rebalance_delay_ms=50)
    s = subscription("t")
    r = await drive(c, asyncio.gather(
        join_with_id(c, protocols=[("range", s), ("rr", s), ("sticky", s)]),
        join_with_id(c, client_id="d", protocols=[("rr", s), ("range", s)]),
        join_with_id(c, client_id="e", protocols=[("sticky", s), ("rr", s), ("range", s)])))
    # common: range, rr; votes: range, rr, rr
    assert {x["protocol_name"] for x in r} == {"rr"}
    leader = next(x for x in r if x["members"])
    assert {m["metadata"] for m in leader["members"]} == {s}


# ---------------------------------------------------------------- leave

@run
async def test_leave_group_rebalances_and_reports_per_member():
    c = FakeCoordinator()
    leader, follower = await stable_pair(c)
    error, results = await c.classic.leave_group("g", [(follower["member_id"], None, "bye"), ("ghost", None, None),
                                                       ("", "no-such-instance", None)])
    assert error == E.NONE
    assert [code for _, _, code in results] == [E.NONE, E.UNKNOWN_MEMBER_ID, E.UNKNOWN_MEMBER_ID]
    assert group_of(c).state is GroupState.PREPARING_REBALANCE
    assert c.classic.heartbeat("g", leader["member_id"], 1) == E.REBALANCE_IN_PROGRESS
    r = await join(c, leader["member_id"])
    assert r["generation_id"] == 2 and len(r["members"]) == 1
    error, results = await c.classic.leave_group("g", [(leader["member_id"], None, None)])
    assert group_of(c).state is GroupState.EMPTY and group_of(c).is_empty()
    assert await c.classic.leave_group("nope", [("m", None, None)]) == (E.NONE, [("m", None, E.UNKNOWN_MEMBER_ID)])


@run
async def test_static_member_removed_by_instance_id():
    c = FakeCoordinator()
    a = await drive(c, join(c, instance="i-a"))
    await sync(c, a, {a["member_id"]: b"x"}, instance="i-a")
    error, results = await c.classic.leave_group("g", [("", "i-a", "admin")])
    assert results == [("", "i-a", E.NONE)]
    assert group_of(c).state is GroupState.EMPTY


# ---------------------------------------------------------------- durability

@run
async def test_replay_of_group_record_restores_a_stable_group_and_tombstone_removes_it():
    c = FakeCoordinator()
    leader, follower = await stable_pair(c, session=200)
    loaded = FakeCoordinator(log=list(c.log))
    loaded.load()
    group = group_of(loaded)
    assert group.state is GroupState.STABLE and group.generation == 1
    assert group.leader_id == leader["member_id"] and set(group.members) == {leader["member_id"],
                                                                             follower["member_id"]}
    assert group.protocol_name == "range" and group.subscribed_topics() == {"t"}
    assert loaded.classic.heartbeat("g", follower["member_id"], 1) == E.NONE
    assert (await sync(loaded, follower))["assignment"] == b"B"
    assert loaded.classic.describe("g")["members"][0]["member_metadata"] == subscription("t")
    # sessions start at load: silent members expire
    await loaded.clock.run_for(199)
    assert group_of(loaded).state is GroupState.STABLE
    await loaded.clock.run_for(1)
    assert group_of(loaded).state is not GroupState.STABLE
    # a tombstone removes the group
    loaded.classic.replay({"type": rec.GROUP, "group": "g"}, None)
    assert "g" not in loaded.groups
    assert loaded.classic.describe("g", 5)["group_state"] == "Dead"
    assert loaded.classic.describe("g", 6)["error_code"] == E.GROUP_ID_NOT_FOUND
    loaded.offsets["g"] = {("t", 0): object()}  # known only by committed offsets: an Empty simple group
    assert (loaded.classic.describe("g", 6)["error_code"], loaded.classic.describe("g", 6)["group_state"]) == (
        E.NONE, "Empty")


@run
async def test_replay_of_an_empty_group_record():
    c = FakeCoordinator()
    c.classic.replay({"type": rec.GROUP, "group": "e"},
                     {"protocol_type": "consumer", "generation": 4, "protocol": None, "leader": None,
                      "state_timestamp": 7, "members": []})
    group = group_of(c, "e")
    assert group.state is GroupState.EMPTY and group.generation == 4 and group.is_empty()
    assert group.delete_records() == [(rec.group_key("e"), None)]
    r = await drive(c, join_with_id(c, group="e"))
    assert r["generation_id"] == 5


# ---------------------------------------------------------------- offsets and metadata

@run
async def test_validate_offset_commit_rules():
    c = FakeCoordinator()
    empty = ClassicGroup("x", 0)
    empty.validate_offset_commit("", -1, None, 9)  # simple consumer on an empty group
    with pytest.raises(KafkaError) as err:
        empty.validate_offset_commit("m", 1, None, 9)
    assert err.value.code == E.UNKNOWN_MEMBER_ID
    a, b = await drive(c, asyncio.gather(join_with_id(c), join_with_id(c, client_id="d")))
    group = group_of(c)
    with pytest.raises(KafkaError) as err:
        group.validate_offset_commit(a["member_id"], 1, None, 9)
    assert err.value.code == E.REBALANCE_IN_PROGRESS  # CompletingRebalance
    leader = a if a["members"] else b
    follower = b if leader is a else a
    await drive(c, asyncio.gather(sync(c, follower), sync(c, leader, {})))
    group.validate_offset_commit(a["member_id"], 1, None, 9)
    for member_id, generation, code in [(a["member_id"], 0, E.ILLEGAL_GENERATION), ("nobody", 1, E.UNKNOWN_MEMBER_ID),
                                        ("", -1, E.UNKNOWN_MEMBER_ID)]:
        with pytest.raises(KafkaError) as err:
            group.validate_offset_commit(member_id, generation, None, 9)
        assert err.value.code == code
    assert group.subscribed_topics() == {"t"}
    assert ClassicGroup("y", 0, protocol_type="connect").subscribed_topics() is None


@run
async def test_partition_count_change_of_subscribed_topic_rebalances():
    c = FakeCoordinator()
    leader, follower = await stable_pair(c)
    c.classic.on_topics_changed({"t": 6, "u": 3})  # u is not subscribed
    assert group_of(c).state is GroupState.STABLE
    c.metadata.topics["t"] = 8
    c.classic.on_topics_changed({"t": 8, "u": 3})
    assert group_of(c).state is GroupState.PREPARING_REBALANCE
    assert c.classic.heartbeat("g", follower["member_id"], 1) == E.REBALANCE_IN_PROGRESS
    r = await drive(c, asyncio.gather(join(c, leader["member_id"]), join(c, follower["member_id"])))
    assert {x["generation_id"] for x in r} == {2}
    assert group_of(c).topic_snapshot == {"t": 8}


@run
async def test_assignment_store_failure_answers_after_a_backoff_and_logs_once(monkeypatch, caplog):
    """On a full disk the broker keeps serving, so without a pause clients would rejoin at once, forever."""
    monkeypatch.setattr(classic, "STORE_FAILURE_BACKOFF_MS", 100)
    c = FakeCoordinator()
    a = await drive(c, join_with_id(c))
    c.fail_writes = True
    for _ in range(2):
        answer = asyncio.create_task(sync(c, a, {a["member_id"]: b"x"}))
        await c.clock.run_for(99)
        assert not answer.done()  # the answer waits out the backoff
        await c.clock.run_for(1)
        assert answer.done() and answer.result()["error_code"] == E.NOT_COORDINATOR
        assert group_of(c).state is GroupState.PREPARING_REBALANCE
        a = await drive(c, join(c, a["member_id"]))
    warnings = [m for m in caplog.messages if "could not store the assignment" in m]
    assert len(warnings) == 1 and "1 failure(s)" in warnings[0]
    c.fail_writes = False
    r = await drive(c, sync(c, a, {a["member_id"]: b"x"}))
    assert r["error_code"] == E.NONE and r["assignment"] == b"x"
    assert group_of(c).state is GroupState.STABLE
