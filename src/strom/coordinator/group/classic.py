"""Classic consumer groups: JoinGroup, SyncGroup, Heartbeat, LeaveGroup (Kafka's "classic" rebalance protocol).

Follows Apache Kafka's GroupMetadataManager / ClassicGroup (group-coordinator module of Kafka 4),
including static membership (KIP-345), member.id required (KIP-394), join reasons (KIP-800) and
the static leader's skip_assignment (KIP-814).  Cooperative rebalancing (KIP-429) needs nothing of
the broker: the client revokes in a second rebalance, which a member starts by rejoining.

State machine (``GroupState`` plus ``TRANSITIONS``; a test walks the table)::

    Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance ──leader sync──▶ Stable
      ▲                 │   ▲                                        │                               │
      └──no members─────┘   └──────────── join / leave / expiry ─────┴───────────────────────────────┘
    any state ──group deleted──▶ Dead

How each state answers (besides member/generation validation, which comes first):

  ================== ============================= ======================== ===================== ==============
  state              JoinGroup                     SyncGroup                Heartbeat             LeaveGroup
  ================== ============================= ======================== ===================== ==============
  Empty              new member: rebalance         UNKNOWN_MEMBER_ID        UNKNOWN_MEMBER_ID     UNKNOWN_MEMBER
  PreparingRebalance park until the join completes REBALANCE_IN_PROGRESS    REBALANCE_IN_PROGRESS remove; maybe
                                                                                                  complete join
  CompletingRebal.   same metadata: current gen.;  park; leader's sync      NONE                  remove; rebalance
                     else rebalance                persists + answers all
  Stable             leader or changed: rebalance; current assignment       NONE                  remove; rebalance
                     follower unchanged: current
  Dead               COORDINATOR_NOT_AVAILABLE     COORDINATOR_NOT_AVAIL.   COORDINATOR_NOT_AVAIL. COORDINATOR_N_A
  ================== ============================= ======================== ===================== ==============

Join phase: the first join of an Empty group waits group.initial.rebalance.delay.ms, extended by
the same delay while new members keep arriving (bounded by the rebalance timeout); later rebalances
complete as soon as every known member has rejoined, or after the group's rebalance timeout (the
largest of its members'), when dynamic members that did not rejoin are removed.  The leader is kept
if it rejoined, else any rejoined member becomes leader.  Every member then gets its JoinGroup answer
(the leader with all members' metadata) and must SyncGroup within the rebalance timeout.

Durability: the group record (records.py) is written after the leader's SyncGroup (with the new
assignment, before anyone gets it), when a static member replaces its member id in a Stable group,
and when a rebalance leaves the group Empty.  Loading replays the newest record: a group with
members comes back Stable with session timers starting at load, an empty one Empty.

Concurrency: event-loop thread only.  Timers are callbacks armed on the coordinator's Scheduler
(``coordinator.clock``: the loop's timers, or a virtual clock in tests) that change state
synchronously.  Every record is written by a task started with ``coordinator.spawn`` (the node's
TaskGroup), never by a request handler, so a client that disconnects (cancelling its handler)
cannot abort a write half way; parked JoinGroup/SyncGroup requests wait only on their response
futures, which state changes complete.  No invariant is left broken across an ``await``: the
writing tasks build their record before awaiting and re-check group, state and generation after.

Simplifications relative to Apache Kafka (written down honestly):
- Live classic groups are not rebuilt by replaying their own records: the in-memory group is changed
  first and the record then written (Kafka's classic groups are not timeline-backed either); records
  written by this manager are recognised on replay and skipped.  Replay rebuilds a group only when
  loading (or from records written by someone else), and a tombstone always removes the group.
- A failed write after the leader's SyncGroup answers every parked member with the mapped error and
  rebalances, as Kafka does, but only after ``STORE_FAILURE_BACKOFF_MS``: Kafka takes a failed log
  directory offline, so its clients back off on COORDINATOR_NOT_AVAILABLE, while this broker keeps
  serving and would otherwise be in a join/sync loop with the clients a thousand times a second on
  a full disk.  The warning is logged at most once a minute per group.  A failed write of an Empty
  group is only logged.  The Empty-group record
  after a LeaveGroup is written just after the answer, not before it.
- ``on_topics_changed`` rebalances a Stable or CompletingRebalance group whose subscribed topics
  changed partition count, appeared or disappeared (Kafka leaves this to the client leader, which
  still does it too).
- A JoinGroup to a non-empty KIP-848 group (classic members inside a consumer group) is refused
  with INCONSISTENT_GROUP_PROTOCOL; an empty one is deleted and replaced by a classic group.
- A second JoinGroup of the same member while its first one is still parked answers the first with
  REBALANCE_IN_PROGRESS (Kafka drops the older future).
"""
from __future__ import annotations

import asyncio
import base64
import enum
import logging
import struct
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from strom.coordinator.group import records as rec
from strom.errors import ErrorCode, KafkaError
from strom.util.clock import TimerHandle
from strom.util.throttle import LogThrottle

log = logging.getLogger(__name__)

CONSUMER_PROTOCOL_TYPE = "consumer"
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000  # Kafka's classicGroupNewMemberJoinTimeoutMs
UNAUTHORIZED_OPERATIONS = -2147483648  # DescribeGroups authorized_operations when not requested


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


# state -> states it may move to (Kafka's ClassicGroupState.validPreviousStates, turned around)
TRANSITIONS: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE, GroupState.DEAD}),
    GroupState.PREPARING_REBALANCE: frozenset({GroupState.COMPLETING_REBALANCE, GroupState.EMPTY, GroupState.DEAD}),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE, GroupState.STABLE, GroupState.DEAD}),
    GroupState.STABLE: frozenset({GroupState.PREPARING_REBALANCE, GroupState.DEAD}),
    GroupState.DEAD: frozenset({GroupState.DEAD}),
}


class IllegalStateTransition(RuntimeError):
    """A transition the table does not allow: a bug in the coordinator, never a client error."""


# ---------------------------------------------------------------- consumer protocol

def subscription_topics(metadata: bytes) -> list[str]:
    """Topics of a ConsumerProtocolSubscription (any version 0-3: int16 version, then an array of
    int16-length strings; later fields are ignored).  Raises ValueError when malformed."""
    try:
        (_version, count) = struct.unpack_from(">hi", metadata, 0)
        pos = 6
        topics = []
        if count < 0:
            return topics
        if count > len(metadata):
            raise ValueError(f"topic count {count} exceeds the subscription size")
        for _ in range(count):
            (size,) = struct.unpack_from(">h", metadata, pos)
            pos += 2
            if size < 0 or pos + size > len(metadata):
                raise ValueError("bad topic name length in subscription")
            topics.append(metadata[pos:pos + size].decode())
            pos += size
        return topics
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed consumer protocol subscription: {exc}") from None


# ---------------------------------------------------------------- members and groups

Protocols = list[tuple[str, bytes]]  # (name, metadata) in the member's order of preference


@dataclass(eq=False)
class ClassicMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    assignment: bytes = b""
    join_future: asyncio.Future[dict[str, Any]] | None = None
    sync_future: asyncio.Future[dict[str, Any]] | None = None
    is_new: bool = False

    @property
    def awaiting_join(self) -> bool:
        return self.join_future is not None

    @property
    def awaiting_sync(self) -> bool:
        return self.sync_future is not None

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol: str | None) -> bytes:
        for name, data in self.protocols:
            if name == protocol:
                return data
        return b""

    def matches(self, protocols: Protocols) -> bool:
        return list(protocols) == list(self.protocols)

    def vote(self, candidates: set[str]) -> str:
        """The first protocol of the member's preference list the whole group supports."""
        for name in self.protocol_names():
            if name in candidates:
                return name
        raise IllegalStateTransition(f"member {self.member_id} supports none of {sorted(candidates)}")

    def has_satisfied_heartbeat(self) -> bool:
        """Kafka's rule: new members must finish joining; members parked in a rebalance are alive."""
        if self.is_new:
            return False
        return self.awaiting_join or self.awaiting_sync


class ClassicGroup:
    """One classic group: members, generation, state, timers.  Owned by ClassicGroupManager."""

    group_type = "classic"

    def __init__(self, group_id: str, now_ms: int, *, state: GroupState = GroupState.EMPTY, generation: int = 0,
                 protocol_type: str | None = None, protocol_name: str | None = None,
                 leader_id: str | None = None, state_timestamp: int = -1) -> None:
        self.group_id = group_id
        self.state = state
        self.previous_state = state
        self.state_timestamp = state_timestamp if state_timestamp >= 0 else now_ms
        self.generation = generation
        self._protocol_type = protocol_type
        self.protocol_name = protocol_name
        self.leader_id = leader_id
        self.members: dict[str, ClassicMember] = {}
        self.static_members: dict[str, str] = {}  # group_instance_id -> member_id
        self.pending_members: set[str] = set()  # got MEMBER_ID_REQUIRED, not joined yet
        self.pending_sync: set[str] = set()  # joined this generation, not synced yet
        self.supported_protocols: Counter[str] = Counter()
        self.new_member_added = False
        self.join_timer: TimerHandle | None = None
        self.sync_timer: TimerHandle | None = None
        self.heartbeat_timers: dict[str, TimerHandle] = {}
        self.topic_snapshot: dict[str, int | None] = {}  # partition counts of subscribed topics at the last join

    # ------------------------------------------------------------ Group protocol (coordinator.py)
    @property
    def state_name(self) -> str:
        return self.state.value

    @property
    def protocol_type(self) -> str:
        return self._protocol_type or ""

    def is_empty(self) -> bool:
        return self.state is GroupState.EMPTY

    def validate_member(self, member_id: str, instance_id: str | None) -> None:
        if instance_id is not None:
            existing = self.static_members.get(instance_id)
            if existing is None:
                raise KafkaError(f"unknown static member {instance_id} of group {self.group_id}",
                                 ErrorCode.UNKNOWN_MEMBER_ID)
            if existing != member_id:
                raise KafkaError(f"static member {instance_id} of group {self.group_id} was fenced by {existing}",
                                 ErrorCode.FENCED_INSTANCE_ID)
        elif member_id not in self.members:
            raise KafkaError(f"unknown member {member_id} of group {self.group_id}", ErrorCode.UNKNOWN_MEMBER_ID)

    def validate_offset_commit(self, member_id: str, generation_or_epoch: int, instance_id: str | None,
                               api_version: int) -> None:
        if self.state is GroupState.DEAD:
            raise KafkaError(f"group {self.group_id} is dead", ErrorCode.COORDINATOR_NOT_AVAILABLE)
        if generation_or_epoch < 0 and self.state is GroupState.EMPTY:
            return  # admin client or a consumer with manual assignment
        if generation_or_epoch >= 0 or member_id or instance_id is not None:
            self.validate_member(member_id, instance_id)
            if generation_or_epoch != self.generation:
                raise KafkaError(f"generation {generation_or_epoch} is not {self.generation} of group "
                                 f"{self.group_id}", ErrorCode.ILLEGAL_GENERATION)
        elif self.state is not GroupState.EMPTY:
            raise KafkaError(f"group {self.group_id} has members: commits need a member id",
                             ErrorCode.UNKNOWN_MEMBER_ID)
        if self.state is GroupState.COMPLETING_REBALANCE:
            raise KafkaError(f"group {self.group_id} is rebalancing", ErrorCode.REBALANCE_IN_PROGRESS)

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> None:
        if self.state is GroupState.DEAD:
            raise KafkaError(f"group {self.group_id} does not exist", ErrorCode.GROUP_ID_NOT_FOUND)

    def subscribed_topics(self) -> set[str] | None:
        """Union of the members' subscriptions; None when it cannot be known (not the consumer protocol,
        or metadata that does not parse)."""
        if self._protocol_type != CONSUMER_PROTOCOL_TYPE:
            return None
        if not self.members:
            return set()
        if self.protocol_name is None:
            return None
        topics: set[str] = set()
        try:
            for member in self.members.values():
                topics.update(subscription_topics(member.metadata(self.protocol_name)))
        except ValueError:
            return None
        return topics

    def delete_records(self) -> list[tuple[bytes, bytes | None]]:
        return [(rec.group_key(self.group_id), None)]

    # ------------------------------------------------------------ state
    def transition_to(self, target: GroupState, now_ms: int) -> None:
        if target not in TRANSITIONS[self.state]:
            raise IllegalStateTransition(f"group {self.group_id}: {self.state.value} -> {target.value}")
        self.previous_state = self.state
        self.state = target
        self.state_timestamp = now_ms

    def can_rebalance(self) -> bool:
        return GroupState.PREPARING_REBALANCE in TRANSITIONS[self.state]

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def has_all_members_joined(self) -> bool:
        return not self.pending_members and all(m.awaiting_join for m in self.members.values())

    def not_yet_rejoined(self) -> list[ClassicMember]:
        return [m for m in self.members.values() if not m.awaiting_join]

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    # ------------------------------------------------------------ membership
    def supports_protocols(self, protocol_type: str, protocols: Iterable[str]) -> bool:
        names = list(protocols)
        if self.state is GroupState.EMPTY:
            return bool(protocol_type) and bool(names)
        return (protocol_type == self._protocol_type
                and any(self.supported_protocols[name] == len(self.members) for name in names))

    def add(self, member: ClassicMember, future: asyncio.Future[dict[str, Any]] | None) -> None:
        if member.group_instance_id is not None:
            if member.group_instance_id in self.static_members:
                raise IllegalStateTransition(f"static member {member.group_instance_id} is already in the group")
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self._protocol_type = member.protocol_type
        self.members[member.member_id] = member
        self.supported_protocols.update(member.protocol_names())
        member.join_future = future
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.pending_members.discard(member.member_id)

    def remove(self, member_id: str) -> ClassicMember | None:
        """Remove a member (or a pending member); the leader passes to another member."""
        self.pending_members.discard(member_id)
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        self.supported_protocols.subtract(member.protocol_names())
        self.supported_protocols = +self.supported_protocols
        if member.group_instance_id is not None and self.static_members.get(member.group_instance_id) == member_id:
            del self.static_members[member.group_instance_id]
        self.pending_sync.discard(member_id)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member

    def update_member(self, member: ClassicMember, protocols: Protocols, rebalance_timeout_ms: int,
                      session_timeout_ms: int, future: asyncio.Future[dict[str, Any]] | None) -> None:
        self.supported_protocols.subtract(member.protocol_names())
        member.protocols = list(protocols)
        self.supported_protocols.update(member.protocol_names())
        self.supported_protocols = +self.supported_protocols
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        old = member.join_future
        if future is None:  # a revert: the caller answers the parked join itself
            return
        if old is not None and old is not future and not old.done():
            old.set_result(join_error(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id))
        member.join_future = future

    def replace_static_member(self, instance_id: str, old_id: str, new_id: str) -> ClassicMember:
        """KIP-345: a static member rejoining with an unknown member id takes over its old identity;
        whoever still uses the old member id is fenced."""
        old = self.members.pop(old_id)
        if old.join_future is not None:
            fut, old.join_future = old.join_future, None
            if not fut.done():
                fut.set_result(join_error(ErrorCode.FENCED_INSTANCE_ID, old_id))
        if old.sync_future is not None:
            fut, old.sync_future = old.sync_future, None
            if not fut.done():
                fut.set_result({"error_code": ErrorCode.FENCED_INSTANCE_ID})
        new = ClassicMember(new_id, old.group_instance_id, old.client_id, old.client_host, old.rebalance_timeout_ms,
                            old.session_timeout_ms, old.protocol_type, list(old.protocols), old.assignment)
        self.members[new_id] = new
        if self.leader_id == old_id:
            self.leader_id = new_id
        if old_id in self.pending_sync:
            self.pending_sync.discard(old_id)
            self.pending_sync.add(new_id)
        self.static_members[instance_id] = new_id
        return new

    def select_protocol(self) -> str:
        """Kafka's selectProtocol: each member votes for its most preferred protocol that every member
        supports; the most votes win (ties: the first voted, members in join order)."""
        if not self.members:
            raise IllegalStateTransition(f"group {self.group_id} has no members to select a protocol")
        candidates = {name for name, count in self.supported_protocols.items() if count == len(self.members)}
        votes: dict[str, int] = {}
        for member in self.members.values():
            choice = member.vote(candidates)
            votes[choice] = votes.get(choice, 0) + 1
        return max(votes, key=lambda name: votes[name])

    def maybe_elect_new_joined_leader(self) -> bool:
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.awaiting_join:
            return True
        for member in self.members.values():
            if member.awaiting_join:
                self.leader_id = member.member_id
                return True
        return False

    def init_next_generation(self, now_ms: int) -> None:
        self.generation += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.transition_to(GroupState.COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.transition_to(GroupState.EMPTY, now_ms)
        self.pending_sync.clear()

    def member_list(self) -> list[dict[str, Any]]:
        """JoinGroup's members array for the leader."""
        return [{"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                 "metadata": m.metadata(self.protocol_name)} for m in self.members.values()]

    def complete_join_future(self, member: ClassicMember, response: dict[str, Any]) -> bool:
        """Answer the member's parked JoinGroup; False when none is parked."""
        fut, member.join_future = member.join_future, None
        return _resolve(fut, response)

    def complete_sync_future(self, member: ClassicMember, response: dict[str, Any]) -> bool:
        """Answer the member's parked SyncGroup; False when none is parked."""
        fut, member.sync_future = member.sync_future, None
        return _resolve(fut, response)

    def record_value(self, assignment: dict[str, bytes] | None = None) -> dict[str, Any]:
        """The group record's value (records.py), optionally with a new assignment."""
        members = []
        if self.state is not GroupState.EMPTY:
            for m in self.members.values():
                data = m.assignment if assignment is None else assignment.get(m.member_id, b"")
                members.append({
                    "member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
                    "client_host": m.client_host, "rebalance_timeout": m.rebalance_timeout_ms,
                    "session_timeout": m.session_timeout_ms,
                    "subscription": base64.b64encode(m.metadata(self.protocol_name)).decode(),
                    "assignment": base64.b64encode(data).decode()})
        return {"protocol_type": self.protocol_type, "generation": self.generation, "protocol": self.protocol_name,
                "leader": self.leader_id if members else None, "state_timestamp": self.state_timestamp,
                "members": members}

    def __repr__(self) -> str:
        return (f"ClassicGroup({self.group_id!r}, {self.state.value}, generation={self.generation}, "
                f"members={list(self.members)})")


STORE_FAILURE_BACKOFF_MS = 1000  # see the module docstring


def join_error(code: ErrorCode, member_id: str = "") -> dict[str, Any]:
    return {"error_code": code, "generation_id": -1, "protocol_type": None, "protocol_name": None, "leader": "",
            "skip_assignment": False, "member_id": member_id, "members": []}


def _map_append_error(code: ErrorCode) -> ErrorCode:
    """Kafka's appendGroupMetadataErrorToResponseError."""
    if code in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.REQUEST_TIMED_OUT):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if code in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.INVALID_FETCH_SIZE):
        return ErrorCode.UNKNOWN_SERVER_ERROR
    return code


# ---------------------------------------------------------------- the manager

class ClassicGroupManager:
    """Owns the classic groups in ``coordinator.groups``: requests, timers, records."""

    def __init__(self, coordinator: Any) -> None:
        self.coordinator = coordinator
        self._own_writes: Counter[str] = Counter()  # group ids with a write of ours in flight
        self._dirty: dict[str, ClassicGroup] = {}  # groups whose record must be written
        self._store_failures: dict[str, LogThrottle] = {}  # group id: failed assignment stores

    # ------------------------------------------------------------ helpers
    @property
    def _config(self) -> Any:
        return self.coordinator.config

    def _now(self) -> int:
        return self.coordinator.clock.now_ms()

    def _group(self, group_id: str) -> ClassicGroup | None:
        group = self.coordinator.groups.get(group_id)
        return group if isinstance(group, ClassicGroup) else None

    def _live(self, group: ClassicGroup) -> bool:
        return self.coordinator.groups.get(group.group_id) is group and group.state is not GroupState.DEAD

    def _call_later(self, group: ClassicGroup, delay_ms: int, fn: Callable[..., None], *args: Any
                    ) -> TimerHandle | None:
        def fire() -> None:
            if not self._live(group):
                return
            try:
                fn(group, *args)
            except Exception:  # a bug must not kill the loop's callback machinery
                log.exception("timer of classic group %s failed", group.group_id)
            self._flush_later()

        try:
            return self.coordinator.clock.call_later(max(delay_ms, 0) / 1000, fire)
        except RuntimeError:  # loaded outside an event loop (offline tools): no timers
            return None

    @staticmethod
    def _cancel(handle: TimerHandle | None) -> None:
        if handle is not None:
            handle.cancel()

    def _reschedule_heartbeat(self, group: ClassicGroup, member_id: str, timeout_ms: int) -> None:
        self._cancel(group.heartbeat_timers.pop(member_id, None))
        handle = self._call_later(group, timeout_ms, self._expire_heartbeat, member_id)
        if handle is not None:
            group.heartbeat_timers[member_id] = handle

    def _cancel_heartbeat(self, group: ClassicGroup, member_id: str) -> None:
        self._cancel(group.heartbeat_timers.pop(member_id, None))

    def _snapshot_topics(self, group: ClassicGroup) -> None:
        topics = group.subscribed_topics() or set()
        metadata = self.coordinator.metadata
        group.topic_snapshot = {t: metadata.topic_partitions(t) for t in topics} if metadata is not None else {}

    # ------------------------------------------------------------ records
    def _mark_dirty(self, group: ClassicGroup) -> None:
        self._dirty[group.group_id] = group

    async def _flush(self) -> None:
        while self._dirty:
            group_id, group = self._dirty.popitem()
            if not self._live(group):
                continue
            try:
                await self._write_group(group)
            except KafkaError as exc:
                log.warning("could not write the record of group %s: %s", group_id, exc)

    def _flush_later(self) -> None:
        if self._dirty:
            self.coordinator.spawn(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        try:
            await self._flush()
        except Exception:  # a task of the node's TaskGroup must not fail
            log.exception("writing classic group records failed")

    async def _write_group(self, group: ClassicGroup, assignment: dict[str, bytes] | None = None) -> None:
        value = rec.value(group.record_value(assignment))
        self._own_writes[group.group_id] += 1
        try:
            await self.coordinator.write(group.group_id, [(rec.group_key(group.group_id), value)])
        finally:
            self._own_writes[group.group_id] -= 1
            if not self._own_writes[group.group_id]:
                del self._own_writes[group.group_id]

    def replay(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        group_id = key["group"]
        existing = self.coordinator.groups.get(group_id)
        if value is None:
            if isinstance(existing, ClassicGroup):
                self._kill(existing)
                del self.coordinator.groups[group_id]
            return
        if self._own_writes.get(group_id):
            return  # our own write: the live group already holds this state
        if existing is not None and not isinstance(existing, ClassicGroup):
            log.warning("ignoring classic group record for %s, which is a %s group", group_id, existing.group_type)
            return
        if existing is not None:
            self._kill(existing)
        members = value.get("members") or []
        protocol = value.get("protocol")
        group = ClassicGroup(group_id, self._now(), state=GroupState.STABLE if members else GroupState.EMPTY,
                             generation=value.get("generation", 0), protocol_type=value.get("protocol_type") or None,
                             protocol_name=protocol, leader_id=value.get("leader"),
                             state_timestamp=value.get("state_timestamp", -1))
        for m in members:
            session = m.get("session_timeout", self._config.min_session_timeout_ms)
            rebalance = m.get("rebalance_timeout", -1)
            member = ClassicMember(
                m["member_id"], m.get("group_instance_id"), m.get("client_id", ""), m.get("client_host", ""),
                rebalance if rebalance >= 0 else session, session, group.protocol_type,
                [(protocol or "", base64.b64decode(m.get("subscription", "")))],
                base64.b64decode(m.get("assignment", "")))
            group.add(member, None)
        if members and group.leader_id not in group.members:
            group.leader_id = next(iter(group.members))
        self.coordinator.groups[group_id] = group
        for member in group.members.values():
            self._reschedule_heartbeat(group, member.member_id, member.session_timeout_ms)
        self._snapshot_topics(group)

    def _kill(self, group: ClassicGroup) -> None:
        """The group is gone (deleted or replaced by a load): cancel timers, answer parked requests."""
        self._cancel(group.join_timer)
        self._cancel(group.sync_timer)
        for handle in group.heartbeat_timers.values():
            handle.cancel()
        group.heartbeat_timers.clear()
        for member in group.members.values():
            group.complete_join_future(member, join_error(ErrorCode.COORDINATOR_NOT_AVAILABLE, member.member_id))
            group.complete_sync_future(member, {"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE})
        group.transition_to(GroupState.DEAD, self._now())
        self._dirty.pop(group.group_id, None)

    # ------------------------------------------------------------ rebalance machinery
    def _prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        log.info("preparing to rebalance group %s in state %s with old generation %d: %s",
                 group.group_id, group.state.value, group.generation, reason,
                 extra={"event": "rebalance_started", "group": group.group_id, "group_protocol": "classic",
                        "state": group.state.value, "generation": group.generation,
                        "members": len(group.members), "reason": reason})
        if group.state is GroupState.COMPLETING_REBALANCE:
            self._reset_and_propagate(group, ErrorCode.REBALANCE_IN_PROGRESS)
        self._cancel(group.sync_timer)
        group.sync_timer = None
        group.pending_sync.clear()
        initial = group.state is GroupState.EMPTY
        if initial:
            delay = self._config.initial_rebalance_delay_ms
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self._cancel(group.join_timer)
            group.join_timer = self._call_later(group, delay, self._try_complete_initial_rebalance, delay, remaining)
        group.transition_to(GroupState.PREPARING_REBALANCE, self._now())
        if not initial:
            if group.has_all_members_joined():
                self._complete_join(group)
            else:
                self._cancel(group.join_timer)
                group.join_timer = self._call_later(group, group.rebalance_timeout_ms(), self._complete_join)

    def _try_complete_initial_rebalance(self, group: ClassicGroup, delay_ms: int, remaining_ms: int) -> None:
        if group.new_member_added and remaining_ms != 0:
            group.new_member_added = False
            new_delay = min(self._config.initial_rebalance_delay_ms, remaining_ms)
            new_remaining = max(remaining_ms - delay_ms, 0)
            group.join_timer = self._call_later(group, new_delay, self._try_complete_initial_rebalance,
                                                new_delay, new_remaining)
        else:
            self._complete_join(group)

    def _maybe_prepare_rebalance_or_complete_join(self, group: ClassicGroup, reason: str) -> None:
        if group.can_rebalance():
            self._prepare_rebalance(group, reason)
        else:
            self._maybe_complete_join_phase(group)

    def _maybe_complete_join_phase(self, group: ClassicGroup) -> None:
        if (group.state is GroupState.PREPARING_REBALANCE and group.previous_state is not GroupState.EMPTY
                and group.has_all_members_joined()):
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        self._cancel(group.join_timer)
        group.join_timer = None
        if group.state is not GroupState.PREPARING_REBALANCE:
            return
        failed = [m for m in group.not_yet_rejoined() if m.group_instance_id is None]
        for member in failed:
            self._remove_member(group, member)
        if failed:
            log.info("group %s removed dynamic members who did not rejoin: %s", group.group_id,
                     [m.member_id for m in failed])
        if not group.maybe_elect_new_joined_leader() and group.members:
            log.error("group %s could not complete its rebalance because no member rejoined", group.group_id)
            group.join_timer = self._call_later(group, group.rebalance_timeout_ms(), self._complete_join)
            return
        group.init_next_generation(self._now())
        if group.state is GroupState.EMPTY:
            log.info("group %s with generation %d is now empty", group.group_id, group.generation,
                     extra={"event": "rebalance_completed", "group": group.group_id, "group_protocol": "classic",
                            "generation": group.generation, "members": 0})
            self._mark_dirty(group)
            return
        log.info("stabilized group %s generation %d (protocol %s) with %d members", group.group_id,
                 group.generation, group.protocol_name, len(group.members),
                 extra={"event": "rebalance_completed", "group": group.group_id, "group_protocol": "classic",
                        "generation": group.generation, "members": len(group.members),
                        "protocol_type": group.protocol_type, "protocol": group.protocol_name,
                        "leader": group.leader_id})
        for member in group.members.values():
            group.complete_join_future(member, self._join_response(group, member.member_id,
                                                                   with_members=group.is_leader(member.member_id)))
            self._reschedule_heartbeat(group, member.member_id, member.session_timeout_ms)
            member.is_new = False
            group.pending_sync.add(member.member_id)
        self._snapshot_topics(group)
        group.sync_timer = self._call_later(group, group.rebalance_timeout_ms(), self._expire_pending_sync,
                                            group.generation)

    def _expire_pending_sync(self, group: ClassicGroup, generation: int) -> None:
        if generation != group.generation or not group.pending_sync:
            return
        if group.state not in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE):
            return
        missing = sorted(group.pending_sync)
        for member_id in missing:
            member = group.members.get(member_id)
            if member is not None:
                self._remove_member(group, member)
        self._prepare_rebalance(group, f"removing {missing} on pending sync request expiration")

    def _reset_and_propagate(self, group: ClassicGroup, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate(group, error)

    def _propagate(self, group: ClassicGroup, error: ErrorCode) -> None:
        ok = error == ErrorCode.NONE
        for member in group.members.values():
            response = {"error_code": error, "protocol_type": group.protocol_type if ok else None,
                        "protocol_name": group.protocol_name if ok else None, "assignment": member.assignment}
            if group.complete_sync_future(member, response):
                self._reschedule_heartbeat(group, member.member_id, member.session_timeout_ms)

    def _remove_member(self, group: ClassicGroup, member: ClassicMember) -> None:
        """Remove without deciding what happens to the group next."""
        group.complete_join_future(member, join_error(ErrorCode.UNKNOWN_MEMBER_ID))
        group.complete_sync_future(member, {"error_code": ErrorCode.UNKNOWN_MEMBER_ID})
        group.remove(member.member_id)
        self._cancel_heartbeat(group, member.member_id)

    def _remove_member_and_update(self, group: ClassicGroup, member: ClassicMember, reason: str) -> None:
        self._remove_member(group, member)
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance_or_complete_join(group, reason)
        elif group.state is GroupState.PREPARING_REBALANCE and group.has_all_members_joined():
            self._complete_join(group)

    def _expire_heartbeat(self, group: ClassicGroup, member_id: str) -> None:
        group.heartbeat_timers.pop(member_id, None)
        if member_id in group.pending_members:
            log.info("pending member %s of group %s expired", member_id, group.group_id)
            group.pending_members.discard(member_id)
            if group.state is GroupState.PREPARING_REBALANCE and group.has_all_members_joined():
                self._complete_join(group)
            return
        member = group.members.get(member_id)
        if member is not None and not member.has_satisfied_heartbeat():
            log.info("member %s of group %s has failed (session timeout), removing it", member_id, group.group_id)
            self._remove_member_and_update(group, member, f"removing member {member_id} on heartbeat expiration")

    def _join_response(self, group: ClassicGroup, member_id: str, *, with_members: bool = False,
                       skip_assignment: bool = False, leader: str | None = None) -> dict[str, Any]:
        return {"error_code": ErrorCode.NONE, "generation_id": group.generation,
                "protocol_type": group._protocol_type, "protocol_name": group.protocol_name,
                "leader": (group.leader_id if leader is None else leader) or "",
                "skip_assignment": skip_assignment, "member_id": member_id,
                "members": group.member_list() if with_members else []}

    # ------------------------------------------------------------ JoinGroup
    async def join_group(self, group_id: str, member_id: str, group_instance_id: str | None, *,
                         client_id: str, client_host: str, session_timeout_ms: int, rebalance_timeout_ms: int,
                         protocol_type: str, protocols: Sequence[tuple[str, bytes]], reason: str | None = None,
                         api_version: int = 9) -> dict[str, Any]:
        """JoinGroup; parks until the join phase completes.  Returns the response fields."""
        if not group_id:
            return join_error(ErrorCode.INVALID_GROUP_ID, member_id)
        if not self._config.min_session_timeout_ms <= session_timeout_ms <= self._config.max_session_timeout_ms:
            return join_error(ErrorCode.INVALID_SESSION_TIMEOUT, member_id)
        if rebalance_timeout_ms < 0:  # v0 has no rebalance timeout: the session timeout serves
            rebalance_timeout_ms = session_timeout_ms
        other = self.coordinator.groups.get(group_id)
        if other is not None and not isinstance(other, ClassicGroup):
            if not other.is_empty():
                return join_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id)
            # an empty KIP-848 group becomes a classic one, as in Kafka
            await self.coordinator.write(group_id, other.delete_records())
            if self.coordinator.groups.get(group_id) is other:
                del self.coordinator.groups[group_id]
        group = self._group(group_id)
        if self.coordinator.groups.get(group_id) is not None and group is None:
            return join_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id)
        created = False
        if group is None:
            if member_id:
                return join_error(ErrorCode.UNKNOWN_MEMBER_ID, member_id)
            group = ClassicGroup(group_id, self._now())
            self.coordinator.groups[group_id] = group
            created = True
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        request = _JoinRequest(member_id, group_instance_id, client_id, client_host, session_timeout_ms,
                               rebalance_timeout_ms, protocol_type, list(protocols), reason, api_version)
        then = self._join(group, request, fut)
        if created and not group.members and not group.pending_members and group.state is GroupState.EMPTY:
            del self.coordinator.groups[group_id]  # the join was refused: do not leave an empty group behind
        if then is not None:
            self.coordinator.spawn(then)  # a task of its own: a client that goes away cannot abort the write
        self._flush_later()
        return await fut

    def _join(self, group: ClassicGroup, req: _JoinRequest, fut: asyncio.Future[dict[str, Any]]
              ) -> Coroutine[Any, Any, None] | None:
        """Apply a join synchronously; completes ``fut`` now or parks it.  May return a write to run,
        which completes ``fut`` when done."""
        if not self._accept_joining_member(group, req.member_id):
            member = group.members.get(req.member_id)
            if member is not None:
                self._remove_member(group, member)
            group.remove(req.member_id)
            self._cancel_heartbeat(group, req.member_id)
            fut.set_result(join_error(ErrorCode.GROUP_MAX_SIZE_REACHED))
            return None
        if group.state is GroupState.DEAD:
            fut.set_result(join_error(ErrorCode.COORDINATOR_NOT_AVAILABLE, req.member_id))
            return None
        if not group.supports_protocols(req.protocol_type, [name for name, _ in req.protocols]):
            fut.set_result(join_error(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.member_id))
            return None
        if not req.member_id:
            return self._join_new_member(group, req, fut)
        return self._join_existing_member(group, req, fut)

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        max_size = self._config.max_size
        member = group.members.get(member_id)
        if group.state in (GroupState.EMPTY, GroupState.DEAD):
            return True
        if group.state is GroupState.PREPARING_REBALANCE:
            awaiting = sum(1 for m in group.members.values() if m.awaiting_join)
            return (member is not None and member.awaiting_join) or awaiting < max_size
        return member is not None or len(group.members) < max_size

    def _join_new_member(self, group: ClassicGroup, req: _JoinRequest, fut: asyncio.Future[dict[str, Any]]
                         ) -> Coroutine[Any, Any, None] | None:
        new_id = f"{req.group_instance_id or req.client_id}-{uuid.uuid4()}"
        if req.group_instance_id is not None:
            old_id = group.static_members.get(req.group_instance_id)
            if old_id is not None:
                return self._update_static_member(group, req, old_id, new_id, fut)
            self._add_member(group, req, new_id, fut)
            return None
        if req.api_version >= 4:  # KIP-394: the member must rejoin with the id we give it
            group.pending_members.add(new_id)
            self._reschedule_heartbeat(group, new_id, req.session_timeout_ms)
            fut.set_result(join_error(ErrorCode.MEMBER_ID_REQUIRED, new_id))
            return None
        self._add_member(group, req, new_id, fut)
        return None

    def _add_member(self, group: ClassicGroup, req: _JoinRequest, member_id: str,
                    fut: asyncio.Future[dict[str, Any]]) -> None:
        member = ClassicMember(member_id, req.group_instance_id, req.client_id, req.client_host,
                               req.rebalance_timeout_ms, req.session_timeout_ms, req.protocol_type,
                               list(req.protocols), is_new=True)
        if group.state is GroupState.PREPARING_REBALANCE and group.previous_state is GroupState.EMPTY:
            group.new_member_added = True
        group.add(member, fut)
        self._reschedule_heartbeat(group, member_id, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance_or_complete_join(
            group, f"adding new member {member_id} with group instance id {req.group_instance_id}; "
                   f"client reason: {req.reason or 'not provided'}")

    def _update_static_member(self, group: ClassicGroup, req: _JoinRequest, old_id: str, new_id: str,
                              fut: asyncio.Future[dict[str, Any]]) -> Coroutine[Any, Any, None] | None:
        instance_id = req.group_instance_id
        assert instance_id is not None
        current_leader = group.leader_id
        self._cancel_heartbeat(group, old_id)
        member = group.replace_static_member(instance_id, old_id, new_id)
        self._reschedule_heartbeat(group, new_id, member.session_timeout_ms)
        old_protocols = list(member.protocols)
        old_rebalance, old_session = member.rebalance_timeout_ms, member.session_timeout_ms
        group.update_member(member, req.protocols, req.rebalance_timeout_ms, req.session_timeout_ms, fut)
        reason = f"static member {new_id} with instance id {instance_id} rejoined; client reason: {req.reason}"
        if group.state is GroupState.STABLE:
            if group.protocol_name != group.select_protocol():
                self._maybe_prepare_rebalance_or_complete_join(group, reason + " with a change of protocol")
                return None
            return self._persist_static_member(group, member, instance_id, old_id, current_leader,
                                               (old_protocols, old_rebalance, old_session), req.api_version)
        if group.state is GroupState.COMPLETING_REBALANCE:
            # the leader may already have the old member id: its assignment would not reach the new one
            self._prepare_rebalance(group, reason)
            return None
        if group.state is GroupState.PREPARING_REBALANCE:
            self._maybe_complete_join_phase(group)
            return None
        raise IllegalStateTransition(f"static member {instance_id} rejoined group {group.group_id} "
                                     f"in state {group.state.value}")

    async def _persist_static_member(self, group: ClassicGroup, member: ClassicMember, instance_id: str,
                                     old_id: str, current_leader: str | None,
                                     old: tuple[Protocols, int, int], api_version: int) -> None:
        """A static member came back to a Stable group with nothing changed: keep the generation and
        its assignment, persist the new member id, no rebalance."""
        generation = group.generation
        try:
            await self._write_group(group)
        except Exception as exc:  # noqa: BLE001 - a node task: every failure is answered, none escapes
            code = exc.code if isinstance(exc, KafkaError) else ErrorCode.UNKNOWN_SERVER_ERROR
            log.warning("could not persist static member %s of group %s: %s; reverting to %s",
                        instance_id, group.group_id, exc, old_id)
            fut, member.join_future = member.join_future, None
            if self._live(group) and group.static_members.get(instance_id) == member.member_id:
                self._cancel_heartbeat(group, member.member_id)
                group.update_member(member, old[0], old[1], old[2], None)
                restored = group.replace_static_member(instance_id, member.member_id, old_id)
                self._reschedule_heartbeat(group, old_id, restored.session_timeout_ms)
            if fut is not None and not fut.done():
                fut.set_result(join_error(_map_append_error(code)))
            return
        if member.join_future is None:
            return  # answered meanwhile (fenced, removed, group deleted)
        if group.generation != generation or group.state is not GroupState.STABLE:
            return  # a rebalance started meanwhile: the parked join is answered when it completes
        if api_version >= 9:  # KIP-814: the leader learns it leads but must not reassign
            is_leader = group.is_leader(member.member_id)
            response = self._join_response(group, member.member_id, with_members=is_leader,
                                           skip_assignment=is_leader)
        else:  # older clients are told the old leader, so a rejoined leader acts as a follower
            response = self._join_response(group, member.member_id, leader=current_leader or "")
        group.complete_join_future(member, response)

    def _join_existing_member(self, group: ClassicGroup, req: _JoinRequest, fut: asyncio.Future[dict[str, Any]]
                              ) -> None:
        member_id = req.member_id
        if member_id in group.pending_members:
            if req.group_instance_id is not None:
                fut.set_result(join_error(ErrorCode.INVALID_REQUEST, member_id))  # pending members are dynamic
                return None
            self._add_member(group, req, member_id, fut)
            return None
        try:
            group.validate_member(member_id, req.group_instance_id)
        except KafkaError as exc:
            fut.set_result(join_error(exc.code, member_id))
            return None
        member = group.members[member_id]
        reason = f"member {member_id} rejoins group in {group.state.value}; client reason: {req.reason}"
        if group.state is GroupState.PREPARING_REBALANCE:
            self._update_member_and_rebalance(group, member, req, fut, reason)
        elif group.state is GroupState.COMPLETING_REBALANCE:
            if member.matches(req.protocols):  # it lost its JoinGroup answer: give it again
                fut.set_result(self._join_response(group, member_id, with_members=group.is_leader(member_id)))
            else:
                self._update_member_and_rebalance(group, member, req, fut, reason)
        elif group.state is GroupState.STABLE:
            if group.is_leader(member_id) or not member.matches(req.protocols):
                self._update_member_and_rebalance(group, member, req, fut, reason)
            else:
                fut.set_result(self._join_response(group, member_id))
        else:
            fut.set_result(join_error(ErrorCode.UNKNOWN_MEMBER_ID, member_id))
        return None

    def _update_member_and_rebalance(self, group: ClassicGroup, member: ClassicMember, req: _JoinRequest,
                                     fut: asyncio.Future[dict[str, Any]], reason: str) -> None:
        group.update_member(member, req.protocols, req.rebalance_timeout_ms, req.session_timeout_ms, fut)
        self._maybe_prepare_rebalance_or_complete_join(group, reason)

    # ------------------------------------------------------------ SyncGroup
    async def sync_group(self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None,
                         *, protocol_type: str | None = None, protocol_name: str | None = None,
                         assignments: Sequence[tuple[str, bytes]] = ()) -> dict[str, Any]:
        """SyncGroup; a follower parks until the leader's assignment is written.  Returns the response
        fields (error_code, protocol_type, protocol_name, assignment)."""
        if not group_id:
            return {"error_code": ErrorCode.INVALID_GROUP_ID}
        group = self._group(group_id)
        if group is None or group.state is GroupState.EMPTY:
            return {"error_code": ErrorCode.UNKNOWN_MEMBER_ID}
        if group.state is GroupState.DEAD:
            return {"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE}
        try:
            group.validate_member(member_id, group_instance_id)
        except KafkaError as exc:
            return {"error_code": exc.code}
        if generation_id != group.generation:
            return {"error_code": ErrorCode.ILLEGAL_GENERATION}
        if ((protocol_type is not None and protocol_type != group._protocol_type)
                or (protocol_name is not None and protocol_name != group.protocol_name)):
            return {"error_code": ErrorCode.INCONSISTENT_GROUP_PROTOCOL}
        member = group.members[member_id]
        if group.state is GroupState.PREPARING_REBALANCE:
            return {"error_code": ErrorCode.REBALANCE_IN_PROGRESS}
        if group.state is GroupState.STABLE:
            group.pending_sync.discard(member_id)
            self._reschedule_heartbeat(group, member_id, member.session_timeout_ms)
            return {"error_code": ErrorCode.NONE, "protocol_type": group._protocol_type,
                    "protocol_name": group.protocol_name, "assignment": member.assignment}
        # CompletingRebalance
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        old = member.sync_future
        if old is not None and not old.done():
            old.set_result({"error_code": ErrorCode.REBALANCE_IN_PROGRESS})
        member.sync_future = fut
        group.pending_sync.discard(member_id)
        if group.is_leader(member_id):
            assignment = {m: a for m, a in assignments}
            missing = [m for m in group.members if m not in assignment]
            if missing:
                log.warning("leader of group %s generation %d gave no assignment to %s", group_id,
                            group.generation, missing)
            full = {m: assignment.get(m, b"") for m in group.members}
            # a task of its own: a leader that goes away mid-write cannot leave the group half done
            self.coordinator.spawn(self._store_assignment(group, generation_id, full))
        return await fut

    async def _store_assignment(self, group: ClassicGroup, generation: int, assignment: dict[str, bytes]) -> None:
        """Write the leader's assignment, then answer every parked SyncGroup and go Stable."""
        try:
            await self._write_group(group, assignment)
        except Exception as exc:  # noqa: BLE001 - a node task: every failure is answered, none escapes
            code = exc.code if isinstance(exc, KafkaError) else ErrorCode.UNKNOWN_SERVER_ERROR
            self._log_store_failure(group, generation, exc)
            await self.coordinator.clock.sleep(STORE_FAILURE_BACKOFF_MS / 1000)
            if (self._live(group) and group.state is GroupState.COMPLETING_REBALANCE
                    and group.generation == generation):
                self._reset_and_propagate(group, _map_append_error(code))
                self._maybe_prepare_rebalance_or_complete_join(group, f"error {code.name} storing the assignment")
                self._flush_later()
            return
        self._store_failures.pop(group.group_id, None)
        if self._live(group) and group.state is GroupState.COMPLETING_REBALANCE and group.generation == generation:
            for m in group.members.values():
                m.assignment = assignment.get(m.member_id, b"")
            self._propagate(group, ErrorCode.NONE)
            group.transition_to(GroupState.STABLE, self._now())
            log.info("group %s is stable at generation %d", group.group_id, group.generation,
                     extra={"event": "group_stable", "group": group.group_id, "group_protocol": "classic",
                            "generation": group.generation, "members": len(group.members)})

    def _log_store_failure(self, group: ClassicGroup, generation: int, exc: Exception) -> None:
        failures = self._store_failures.setdefault(group.group_id, LogThrottle())
        if failures.tick(self._now()):
            log.warning("could not store the assignment of group %s generation %d: %s (%d failure(s) so far; "
                        "members are answered with an error after %d ms; logged at most once a minute)",
                        group.group_id, generation, exc, failures.count, STORE_FAILURE_BACKOFF_MS)

    # ------------------------------------------------------------ Heartbeat
    def heartbeat(self, group_id: str, member_id: str, generation_id: int,
                  group_instance_id: str | None = None) -> ErrorCode:
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        group = self._group(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.state is GroupState.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        try:
            group.validate_member(member_id, group_instance_id)
        except KafkaError as exc:
            return exc.code
        if generation_id != group.generation:
            return ErrorCode.ILLEGAL_GENERATION
        if group.state is GroupState.EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        self._reschedule_heartbeat(group, member_id, group.members[member_id].session_timeout_ms)
        if group.state is GroupState.PREPARING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    # ------------------------------------------------------------ LeaveGroup
    async def leave_group(self, group_id: str, members: Sequence[tuple[str, str | None, str | None]]
                          ) -> tuple[ErrorCode, list[tuple[str, str | None, ErrorCode]]]:
        """Remove members given as (member_id, group_instance_id, reason); an empty member id with an
        instance id removes that static member (admin removal).  Returns the group-level error and
        one (member_id, group_instance_id, error) per member."""
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID, []
        group = self._group(group_id)
        if group is None:
            return ErrorCode.NONE, [(m, i, ErrorCode.UNKNOWN_MEMBER_ID) for m, i, _ in members]
        if group.state is GroupState.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        results: list[tuple[str, str | None, ErrorCode]] = []
        left = []
        for member_id, instance_id, reason in members:
            if not member_id:
                target = group.static_members.get(instance_id) if instance_id is not None else None
                if target is None:
                    results.append((member_id, instance_id, ErrorCode.UNKNOWN_MEMBER_ID))
                    continue
                member_id_to_remove = target
            elif member_id in group.pending_members:
                group.remove(member_id)
                self._cancel_heartbeat(group, member_id)
                results.append((member_id, instance_id, ErrorCode.NONE))
                left.append(member_id)
                continue
            else:
                try:
                    group.validate_member(member_id, instance_id)
                except KafkaError as exc:
                    results.append((member_id, instance_id, exc.code))
                    continue
                member_id_to_remove = member_id
            log.info("member %s leaves group %s; client reason: %s", member_id_to_remove, group_id,
                     reason or "not provided",
                     extra={"event": "member_left", "group": group_id, "group_protocol": "classic",
                            "member": member_id_to_remove, "generation": group.generation,
                            "reason": reason or "not provided"})
            self._remove_member(group, group.members[member_id_to_remove])
            results.append((member_id, instance_id, ErrorCode.NONE))
            left.append(member_id_to_remove)
        if left:
            if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
                self._maybe_prepare_rebalance_or_complete_join(group, f"explicit LeaveGroup of {left}")
            elif group.state is GroupState.PREPARING_REBALANCE:
                self._maybe_complete_join_phase(group)
        self._flush_later()
        return ErrorCode.NONE, results

    # ------------------------------------------------------------ DescribeGroups
    def describe(self, group_id: str, api_version: int = 5) -> dict[str, Any]:
        """One DescribeGroups entry.  An unknown (or non-classic) group is Dead with no error before
        v6 and GROUP_ID_NOT_FOUND from v6 on (KIP-1043), like Kafka 4; a group known only by its
        committed offsets is Empty (as ``GroupCoordinator.list_groups`` lists it)."""
        group = self._group(group_id)
        if group is None and group_id not in self.coordinator.groups and group_id in self.coordinator.offsets:
            # known only by committed offsets: Kafka holds an Empty "simple" classic group for it
            return {"error_code": ErrorCode.NONE, "group_id": group_id, "group_state": GroupState.EMPTY.value,
                    "protocol_type": "", "protocol_data": "", "members": [],
                    "authorized_operations": UNAUTHORIZED_OPERATIONS}
        if group is None or group.state is GroupState.DEAD:
            if api_version >= 6:
                return {"error_code": ErrorCode.GROUP_ID_NOT_FOUND,
                        "error_message": f"Group {group_id} not found.", "group_id": group_id,
                        "group_state": GroupState.DEAD.value, "protocol_type": "", "protocol_data": "",
                        "members": [], "authorized_operations": UNAUTHORIZED_OPERATIONS}
            return {"error_code": ErrorCode.NONE, "group_id": group_id, "group_state": GroupState.DEAD.value,
                    "protocol_type": "", "protocol_data": "", "members": [],
                    "authorized_operations": UNAUTHORIZED_OPERATIONS}
        stable = group.state is GroupState.STABLE
        members = [{"member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
                    "client_host": m.client_host,
                    "member_metadata": m.metadata(group.protocol_name) if stable else b"",
                    "member_assignment": m.assignment if stable else b""}
                   for m in group.members.values()]
        return {"error_code": ErrorCode.NONE, "group_id": group_id, "group_state": group.state_name,
                "protocol_type": group.protocol_type, "protocol_data": (group.protocol_name or "") if stable else "",
                "members": members, "authorized_operations": UNAUTHORIZED_OPERATIONS}

    # ------------------------------------------------------------ metadata changes
    def on_topics_changed(self, topics: dict[str, int]) -> None:
        for group in list(self.coordinator.groups.values()):
            if not isinstance(group, ClassicGroup):
                continue
            if group.state not in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
                continue
            subscribed = group.subscribed_topics()
            if not subscribed:
                continue
            changed = sorted(t for t in subscribed if topics.get(t) != group.topic_snapshot.get(t))
            if changed:
                group.topic_snapshot = {t: topics.get(t) for t in subscribed}
                self._prepare_rebalance(group, f"partition metadata of subscribed topics {changed} changed")
        self._flush_later()


@dataclass
class _JoinRequest:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: Protocols = field(default_factory=list)
    reason: str | None = None
    api_version: int = 9


def _resolve(fut: asyncio.Future[dict[str, Any]] | None, response: dict[str, Any]) -> bool:
    if fut is None:
        return False
    if not fut.done():
        fut.set_result(response)
    return True
