"""KIP-848 consumer groups: ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69).

The broker computes the assignment: members send their subscription and the
partitions they own in periodic heartbeats; the coordinator keeps a *group
epoch* (bumped when members, subscriptions or the subscribed topics' metadata
change), a *target assignment* computed by a server-side assignor
(assignors.py) at that epoch, and per member a *current assignment* that is
reconciled towards the target one heartbeat at a time.  A partition is given
to a member only once no other member owns it (its "partition epoch" is
free), so no partition is ever owned twice: the previous owner is asked to
revoke it first and acknowledges by reporting its owned partitions.  This
follows Apache Kafka's GroupMetadataManager / CurrentAssignmentBuilder.

Records (see records.py for the encoding; the group's records all live in the
group's ``__consumer_offsets`` partition; a null value is a tombstone):

  cg_metadata     key {type, group}
                  value {epoch, subscription_metadata: {topic_name: [topic_id, partitions]}}
                  The group epoch and the metadata of the subscribed topics it was
                  computed from (Kafka's ConsumerGroupMetadata + PartitionMetadata).
                  Tombstone: the group is deleted.
  cg_member       key {type, group, member}
                  value {subscribed_topic_names, subscribed_topic_regex, server_assignor,
                         rebalance_timeout, client_id, client_host, instance_id, rack}
                  A member and its subscription (ConsumerGroupMemberMetadata).
                  Tombstone: the member is gone.
  cg_target       key {type, group, member}
                  value {partitions: {topic_id: [partition, ...]}}
                  The member's target assignment (ConsumerGroupTargetAssignmentMember).
  cg_target_epoch key {type, group}
                  value {assignment_epoch}
                  The epoch the target assignment was computed at (...TargetAssignmentMetadata).
  cg_current      key {type, group, member}
                  value {member_epoch, previous_member_epoch, state, assigned, pending_revocation}
                  The member's current assignment (ConsumerGroupCurrentMemberAssignment):
                  ``assigned`` and ``pending_revocation`` map topic_id -> [partitions].

Topic ids are kept as strings (``str(uuid)``) in records and in memory.

States.  The group's state is derived, as in Kafka: Empty (no members),
Assigning (group epoch > assignment epoch), Reconciling (some member not yet
Stable at the assignment epoch), Stable; Dead is only reported for a group
being deleted.  A member moves between the MemberState values by
MEMBER_TRANSITIONS (checked on every reconciliation).

Timers (session timeout ``group.consumer.session.timeout.ms``, and the
member's rebalance timeout while it has partitions to revoke) are in memory,
not records: they run as callbacks of the coordinator's Scheduler that spawn
the fencing write in the node's TaskGroup; ``expire_sessions()`` does the same
sweep on demand.  After a restart every loaded member gets a
fresh session timeout.

Concurrency: event-loop thread only.  Each group has an asyncio.Lock held
from building its records until they are written and replayed, so two
heartbeats of one group never compute from the same stale state.

Differences from Apache Kafka 4.x:
  - records are JSON (records.py), with per-group subscription metadata inside cg_metadata;
  - regular expressions (ConsumerGroupHeartbeat v1) use Python's ``re`` with
    ``fullmatch`` against topic names, resolved synchronously at heartbeat time
    (Kafka resolves RE2/J patterns asynchronously and stores the result).  Python
    accepts constructs RE2/J rejects (backreferences, lookaround) and vice versa
    (``\\p{..}`` classes); internal topics never match;
  - no online upgrade/downgrade between classic and consumer groups: an *empty*
    classic group is replaced (as Kafka does), a classic group with members
    answers GROUP_ID_NOT_FOUND to ConsumerGroupHeartbeat;
  - a static member rejoining with epoch 0 and its *own* member id keeps its
    membership (Kafka answers UNRELEASED_INSTANCE_ID);
  - no rack-aware assignment; no per-group config overrides; rebalance
    timeouts are not re-armed after a coordinator restart (session timeouts are).
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import enum
import functools
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from strom.coordinator.group import records as rec
from strom.coordinator.group.assignors import ASSIGNORS
from strom.errors import ErrorCode, KafkaError
from strom.util.clock import TimerHandle

log = logging.getLogger(__name__)

METADATA, MEMBER, TARGET, TARGET_EPOCH, CURRENT = "cg_metadata", "cg_member", "cg_target", "cg_target_epoch", "cg_current"
JOIN_EPOCH, LEAVE_EPOCH, STATIC_LEAVE_EPOCH = 0, -1, -2
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})

Parts = dict[str, frozenset[int]]  # topic id -> partitions (no empty sets)


class MemberState(enum.Enum):
    """Kafka's MemberState (group-coordinator): where a member is in reconciling its current
    assignment towards its target one.  The value is what cg_current records store."""

    STABLE = "stable"  # owns exactly its target at its epoch (or is waiting for a newer target)
    UNREVOKED_PARTITIONS = "unrevoked_partitions"  # must stop owning pending_revocation before moving on
    UNRELEASED_PARTITIONS = "unreleased_partitions"  # at the target epoch, waiting for partitions others own
    UNKNOWN = "unknown"  # a state this version does not know (written by a newer one); only replay sets it


# Member reconciliation (``ConsumerGroupManager._reconcile``, Kafka's CurrentAssignmentBuilder), one
# heartbeat at a time.  Each row says how a member in ``source`` may leave it; a test drives
# ``_reconcile`` into every allowed transition and checks every other one is refused.
#   STABLE      at the target epoch: stays.  At an older epoch, towards the new target:
#                 -> UNREVOKED_PARTITIONS  it owns partitions the target takes away (epoch kept)
#                 -> UNRELEASED_PARTITIONS it gets the free new partitions, others are still owned
#                 -> STABLE                everything it is given is free (epoch = target epoch)
#   UNREVOKED_PARTITIONS  stays while the member still reports a partition pending revocation; once
#                 it has revoked them it moves on to epoch + 1 towards the (possibly newer) target:
#                 STABLE, UNRELEASED_PARTITIONS, or UNREVOKED_PARTITIONS again if that target takes
#                 away more.
#   UNRELEASED_PARTITIONS  retries every heartbeat: STABLE once the partitions are free, itself while
#                 they are not, UNREVOKED_PARTITIONS if a newer target takes partitions away.
#   UNKNOWN     a member reporting any owned partitions (or none at all) is fenced (FENCED_MEMBER_EPOCH,
#                 it rejoins from scratch); one reporting an empty set goes straight to the target
#                 epoch: STABLE or UNRELEASED_PARTITIONS, never UNREVOKED_PARTITIONS (it owns nothing).
# Nothing moves into UNKNOWN.  Leaving, fencing and static members' temporary leave change the member
# epoch (-1, -2) or remove the member; they are not reconciliation transitions.
MEMBER_TRANSITIONS: dict[MemberState, frozenset[MemberState]] = {
    MemberState.STABLE: frozenset({MemberState.STABLE, MemberState.UNREVOKED_PARTITIONS,
                                   MemberState.UNRELEASED_PARTITIONS}),
    MemberState.UNREVOKED_PARTITIONS: frozenset({MemberState.UNREVOKED_PARTITIONS, MemberState.STABLE,
                                                 MemberState.UNRELEASED_PARTITIONS}),
    MemberState.UNRELEASED_PARTITIONS: frozenset({MemberState.UNRELEASED_PARTITIONS, MemberState.STABLE,
                                                  MemberState.UNREVOKED_PARTITIONS}),
    MemberState.UNKNOWN: frozenset({MemberState.STABLE, MemberState.UNRELEASED_PARTITIONS}),
}


class IllegalMemberTransition(RuntimeError):
    """A reconciliation the table does not allow: a bug in the coordinator, never a client error."""


def check_member_transition(member_id: str, source: MemberState, target: MemberState) -> None:
    if target not in MEMBER_TRANSITIONS[source]:
        raise IllegalMemberTransition(f"member {member_id}: {source.value} -> {target.value}")


def member_state(value: str) -> MemberState:
    """The state stored in a cg_current record; UNKNOWN for one this version does not know."""
    try:
        return MemberState(value)
    except ValueError:
        return MemberState.UNKNOWN


class ConsumerGroupState(enum.Enum):
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


def _parts(raw: Mapping[Any, Iterable[int]] | None) -> Parts:
    return {str(t): frozenset(ps) for t, ps in (raw or {}).items() if ps}


def _raw(parts: Parts) -> dict[str, list[int]]:
    return {t: sorted(ps) for t, ps in sorted(parts.items())}


def new_member_id() -> str:
    """Like Kafka's Uuid.randomUuid().toString(): 22 URL-safe base64 characters."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@functools.lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """Raises KafkaError(INVALID_REGULAR_EXPRESSION) for a pattern Python cannot compile."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise KafkaError(f"SubscribedTopicRegex `{pattern}` is not a valid regular expression: {exc}.",
                         ErrorCode.INVALID_REGULAR_EXPRESSION) from None


@dataclass(frozen=True)
class Member:
    """One member: its subscription (cg_member) and its current assignment (cg_current)."""

    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    rebalance_timeout_ms: int = -1
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: MemberState = MemberState.STABLE
    assigned: Parts = field(default_factory=dict)
    pending_revocation: Parts = field(default_factory=dict)

    __hash__ = None  # type: ignore[assignment]

    def subscription(self) -> tuple[Any, ...]:
        return (self.instance_id, self.rack_id, self.client_id, self.client_host, self.subscribed_topic_names,
                self.subscribed_topic_regex, self.server_assignor, self.rebalance_timeout_ms)

    def current(self) -> tuple[Any, ...]:
        return (self.member_epoch, self.previous_member_epoch, self.state, self.assigned, self.pending_revocation)

    def reconciled_to(self, epoch: int) -> bool:
        return self.state is MemberState.STABLE and self.member_epoch == epoch

    def member_value(self) -> dict[str, Any]:
        return {"subscribed_topic_names": list(self.subscribed_topic_names),
                "subscribed_topic_regex": self.subscribed_topic_regex, "server_assignor": self.server_assignor,
                "rebalance_timeout": self.rebalance_timeout_ms, "client_id": self.client_id,
                "client_host": self.client_host, "instance_id": self.instance_id, "rack": self.rack_id}

    def current_value(self) -> dict[str, Any]:
        return {"member_epoch": self.member_epoch, "previous_member_epoch": self.previous_member_epoch,
                "state": self.state.value, "assigned": _raw(self.assigned),
                "pending_revocation": _raw(self.pending_revocation)}


class ConsumerGroup:
    """A KIP-848 group (the Group protocol of coordinator.py).  Mutated only by ConsumerGroupManager.replay."""

    group_type = "consumer"

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.group_epoch = 0
        self.assignment_epoch = 0
        self.subscription_metadata: dict[str, tuple[str, int]] = {}  # topic name -> (topic id, partitions)
        self.members: dict[str, Member] = {}
        self.target: dict[str, Parts] = {}
        self.static_members: dict[str, str] = {}  # instance id -> member id
        self.partition_epochs: dict[tuple[str, int], int] = {}  # owned (assigned or revoking) -> owner's epoch
        self.partition_owners: dict[tuple[str, int], str] = {}
        self.metadata_stale = True  # in-memory hint: recompute subscription metadata on the next heartbeat

    # ---------------------------------------------------------------- Group protocol
    @property
    def state(self) -> ConsumerGroupState:
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.group_epoch > self.assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        if any(not m.reconciled_to(self.assignment_epoch) for m in self.members.values()):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    @property
    def state_name(self) -> str:
        return self.state.value

    @property
    def protocol_type(self) -> str:
        return "consumer"

    def is_empty(self) -> bool:
        return not self.members

    def validate_offset_commit(self, member_id: str, generation_or_epoch: int, instance_id: str | None,
                               api_version: int) -> None:
        """Kafka's ConsumerGroup.validateOffsetCommit: epoch -1 commits (admin, manual assignment)
        only while the group is empty; members commit with OffsetCommit v9+ and their exact epoch."""
        if generation_or_epoch < 0 and not self.members:
            return
        member = self.members.get(member_id)
        if member is None:
            raise KafkaError(f"Member {member_id} is not a member of group {self.group_id}.",
                             ErrorCode.UNKNOWN_MEMBER_ID)
        if api_version < 9:
            raise KafkaError("OffsetCommit version 9 or above must be used by members using the modern group "
                             "protocol", ErrorCode.UNSUPPORTED_VERSION)
        self._validate_epoch(generation_or_epoch, member)

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> None:
        if not member_id and member_epoch < 0:
            return
        member = self.members.get(member_id or "")
        if member is None:
            raise KafkaError(f"Member {member_id} is not a member of group {self.group_id}.",
                             ErrorCode.UNKNOWN_MEMBER_ID)
        self._validate_epoch(member_epoch, member)

    @staticmethod
    def _validate_epoch(received: int, member: Member) -> None:
        if received != member.member_epoch:
            raise KafkaError(f"The received member epoch {received} does not match the expected member epoch "
                             f"{member.member_epoch}.", ErrorCode.STALE_MEMBER_EPOCH)

    def subscribed_topics(self) -> set[str] | None:
        names = {t for m in self.members.values() for t in m.subscribed_topic_names}
        return names | set(self.subscription_metadata)

    def delete_records(self) -> list[tuple[bytes, bytes | None]]:
        """Tombstones for the whole group, in Kafka's order."""
        g = self.group_id
        out: list[tuple[bytes, bytes | None]] = [(rec.key(CURRENT, g, member=m), None) for m in self.members]
        out += [(rec.key(TARGET, g, member=m), None) for m in self.members]
        out.append((rec.key(TARGET_EPOCH, g), None))
        out += [(rec.key(MEMBER, g, member=m), None) for m in self.members]
        out.append((rec.key(METADATA, g), None))
        return out

    # ---------------------------------------------------------------- helpers
    def static_member(self, instance_id: str) -> Member | None:
        member_id = self.static_members.get(instance_id)
        return self.members.get(member_id) if member_id is not None else None

    def partition_epoch(self, topic_id: str, partition: int) -> int:
        return self.partition_epochs.get((topic_id, partition), -1)

    def preferred_assignor(self, members: Iterable[Member], default: str) -> str:
        counts: dict[str, int] = {}
        for m in members:
            if m.server_assignor:
                counts[m.server_assignor] = counts.get(m.server_assignor, 0) + 1
        if not counts:
            return default
        return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]

    def _remove_ownership(self, member: Member) -> None:
        for parts in (member.assigned, member.pending_revocation):
            for t, ps in parts.items():
                for p in ps:
                    if self.partition_owners.get((t, p)) == member.member_id:
                        del self.partition_owners[(t, p)]
                        del self.partition_epochs[(t, p)]

    def _add_ownership(self, member: Member) -> None:
        for parts in (member.assigned, member.pending_revocation):
            for t, ps in parts.items():
                for p in ps:
                    owner = self.partition_owners.get((t, p))
                    if owner is not None and owner != member.member_id:
                        # Kafka throws IllegalStateException here; the reconciliation never does this
                        log.error("group %s: partition %s-%d owned by %s is also given to %s",
                                  self.group_id, t, p, owner, member.member_id)
                    self.partition_owners[(t, p)] = member.member_id
                    self.partition_epochs[(t, p)] = member.member_epoch


@dataclass
class _Timers:
    session_deadline: float
    rebalance_deadline: float | None = None
    rebalance_epoch: int = -1
    handle: TimerHandle | None = None


class ConsumerGroupManager:
    """Owns every ConsumerGroup of the coordinator (they live in ``coordinator.groups``)."""

    def __init__(self, coordinator: Any) -> None:
        self.coordinator = coordinator
        self._locks: dict[str, asyncio.Lock] = {}
        self._timers: dict[tuple[str, str], _Timers] = {}

    # ------------------------------------------------------------------ accessors
    @property
    def _groups(self) -> dict[str, Any]:
        return self.coordinator.groups

    def group(self, group_id: str) -> ConsumerGroup | None:
        g = self._groups.get(group_id)
        return g if isinstance(g, ConsumerGroup) else None

    def _lock(self, group_id: str) -> asyncio.Lock:
        return self._locks.setdefault(group_id, asyncio.Lock())

    def _now(self) -> float:
        return self.coordinator.clock.monotonic()

    # ------------------------------------------------------------------ replay
    def replay(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        kind = key["type"]
        group_id = key["group"]
        group = self.group(group_id)
        if value is None:
            if group is None:
                return
            if kind == METADATA:
                self._groups.pop(group_id, None)
                self._locks.pop(group_id, None)
                for mid in list(group.members):
                    self._forget_timers(group_id, mid)
            elif kind == MEMBER:
                member = group.members.pop(key["member"], None)
                if member is not None:
                    group._remove_ownership(member)
                    if member.instance_id and group.static_members.get(member.instance_id) == member.member_id:
                        del group.static_members[member.instance_id]
                self._forget_timers(group_id, key["member"])
            elif kind == TARGET:
                group.target.pop(key["member"], None)
            elif kind == CURRENT:
                member = group.members.get(key["member"])
                if member is not None:
                    group._remove_ownership(member)
                    group.members[member.member_id] = dataclasses.replace(
                        member, member_epoch=LEAVE_EPOCH, previous_member_epoch=LEAVE_EPOCH,
                        state=MemberState.STABLE, assigned={}, pending_revocation={})
            return
        if group is None:
            group = ConsumerGroup(group_id)
            self._groups[group_id] = group  # replaces an empty classic group (see heartbeat)
        if kind == METADATA:
            group.group_epoch = value["epoch"]
            group.subscription_metadata = {n: (tid, int(cnt)) for n, (tid, cnt)
                                           in value.get("subscription_metadata", {}).items()}
        elif kind == TARGET_EPOCH:
            group.assignment_epoch = value["assignment_epoch"]
        elif kind == TARGET:
            group.target[key["member"]] = _parts(value["partitions"])
        elif kind == MEMBER:
            mid = key["member"]
            old = group.members.get(mid)
            member = dataclasses.replace(
                old or Member(mid), instance_id=value.get("instance_id"), rack_id=value.get("rack"),
                client_id=value.get("client_id", ""), client_host=value.get("client_host", ""),
                subscribed_topic_names=tuple(value.get("subscribed_topic_names") or ()),
                subscribed_topic_regex=value.get("subscribed_topic_regex"),
                server_assignor=value.get("server_assignor"),
                rebalance_timeout_ms=value.get("rebalance_timeout", -1))
            if old is not None and old.instance_id and old.instance_id != member.instance_id:
                group.static_members.pop(old.instance_id, None)
            if member.instance_id:
                group.static_members[member.instance_id] = mid
            group.members[mid] = member
            if old is None and (group_id, mid) not in self._timers:
                self._touch_session(group_id, mid)  # a loaded or new member gets a session timeout
        elif kind == CURRENT:
            mid = key["member"]
            old = group.members.get(mid) or Member(mid)
            group._remove_ownership(old)
            member = dataclasses.replace(
                old, member_epoch=value["member_epoch"], previous_member_epoch=value["previous_member_epoch"],
                state=member_state(value["state"]), assigned=_parts(value["assigned"]),
                pending_revocation=_parts(value["pending_revocation"]))
            group.members[mid] = member
            group._add_ownership(member)
        else:
            log.warning("ignoring unknown consumer group record %r", kind)

    # ------------------------------------------------------------------ heartbeat
    async def heartbeat(self, group_id: str, member_id: str, member_epoch: int, instance_id: str | None = None,
                        rack_id: str | None = None, rebalance_timeout_ms: int = -1,
                        subscribed_topic_names: Iterable[str] | None = None, subscribed_topic_regex: str | None = None,
                        server_assignor: str | None = None,
                        topic_partitions: Iterable[tuple[Any, Iterable[int]]] | None = None,
                        client_id: str = "", client_host: str = "", *, api_version: int = 1) -> dict[str, Any]:
        """One ConsumerGroupHeartbeat; returns the response as a dict (errors included).

        ``topic_partitions`` are the partitions the member owns, as (topic_id, partitions)
        pairs, None when unchanged since the last heartbeat."""
        names = None if subscribed_topic_names is None else tuple(subscribed_topic_names)
        owned: Parts | None = None
        if topic_partitions is not None:
            owned = {}
            for t, ps in topic_partitions:
                if ps:
                    owned[str(t)] = owned.get(str(t), frozenset()) | frozenset(ps)
        try:
            self._validate(group_id, member_id, member_epoch, instance_id, rack_id, rebalance_timeout_ms, names,
                           subscribed_topic_regex, server_assignor, topic_partitions is not None, owned or {},
                           api_version)
            async with self._lock(group_id):
                if member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
                    records, response = self._leave(group_id, member_id, member_epoch, instance_id)
                    await self.coordinator.write(group_id, records)
                    if member_epoch == LEAVE_EPOCH:
                        self._forget_timers(group_id, response["member_id"])
                    return response
                records, response, member = self._heartbeat(
                    group_id, member_id, member_epoch, instance_id, rack_id, rebalance_timeout_ms, names,
                    subscribed_topic_regex, server_assignor, owned, client_id, client_host)
                await self.coordinator.write(group_id, records)
                written = self.group(group_id)
                if written is not None:
                    written.metadata_stale = False  # _heartbeat recomputed it when it was stale
                self._after_heartbeat(group_id, member)
                return response
        except KafkaError as exc:
            return {"error_code": exc.code, "error_message": exc.message, "member_id": None, "member_epoch": 0,
                    "heartbeat_interval_ms": 0, "assignment": None}

    def _validate(self, group_id: str, member_id: str, member_epoch: int, instance_id: str | None,
                  rack_id: str | None, rebalance_timeout_ms: int, names: tuple[str, ...] | None, regex: str | None,
                  server_assignor: str | None, has_owned: bool, owned: Parts, api_version: int) -> None:
        def invalid(msg: str) -> KafkaError:
            return KafkaError(msg, ErrorCode.INVALID_REQUEST)

        if not group_id:
            raise invalid("GroupId can't be empty.")
        if instance_id == "":
            raise invalid("InstanceId can't be empty.")
        if rack_id == "":
            raise invalid("RackId can't be empty.")
        if api_version >= 1 and not member_id:
            raise invalid("MemberId can't be empty.")
        if member_epoch > 0 or member_epoch == LEAVE_EPOCH:
            if not member_id:
                raise invalid("MemberId can't be empty.")
        elif member_epoch == JOIN_EPOCH:
            if rebalance_timeout_ms == -1:
                raise invalid("RebalanceTimeoutMs must be provided in first request.")
            if not has_owned or owned:
                raise invalid("TopicPartitions must be empty when (re-)joining.")
            if names is None and regex is None:
                raise invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when "
                              "(re-)joining.")
        elif member_epoch == STATIC_LEAVE_EPOCH:
            if not member_id:
                raise invalid("MemberId can't be empty.")
            if instance_id is None:
                raise invalid("InstanceId can't be null.")
        else:
            raise invalid("MemberEpoch is invalid.")
        if regex:
            compile_regex(regex)
        supported = [a for a in self.coordinator.config.consumer_assignors if a in ASSIGNORS]
        if server_assignor is not None and server_assignor not in supported:
            raise KafkaError(f"ServerAssignor {server_assignor} is not supported. Supported assignors: "
                             f"{', '.join(supported)}.", ErrorCode.UNSUPPORTED_ASSIGNOR)

    def _group_for(self, group_id: str, create: bool, records: list[tuple[bytes, bytes | None]]) -> ConsumerGroup:
        existing = self._groups.get(group_id)
        if existing is None:
            if not create:
                raise KafkaError(f"Consumer group {group_id} not found.", ErrorCode.GROUP_ID_NOT_FOUND)
            return ConsumerGroup(group_id)
        if isinstance(existing, ConsumerGroup):
            return existing
        if create and existing.is_empty():
            records.extend(existing.delete_records())  # Kafka: maybeDeleteEmptyClassicGroup
            return ConsumerGroup(group_id)
        raise KafkaError(f"Group {group_id} is not a consumer group.", ErrorCode.GROUP_ID_NOT_FOUND)

    def _heartbeat(self, group_id: str, member_id: str, member_epoch: int, instance_id: str | None,
                   rack_id: str | None, rebalance_timeout_ms: int, names: tuple[str, ...] | None, regex: str | None,
                   server_assignor: str | None, owned: Parts | None, client_id: str, client_host: str
                   ) -> tuple[list[tuple[bytes, bytes | None]], dict[str, Any], Member]:
        config = self.coordinator.config
        records: list[tuple[bytes, bytes | None]] = []
        joining = member_epoch == JOIN_EPOCH
        group = self._group_for(group_id, joining, records)
        if len(group.members) >= config.max_size and (not member_id or member_id not in group.members):
            raise KafkaError(f"The consumer group has reached its maximum capacity of {config.max_size} members.",
                             ErrorCode.GROUP_MAX_SIZE_REACHED)
        if not member_id:
            member_id = new_member_id()
        replaced: Member | None = None
        if instance_id is None:
            member = self._dynamic_member(group, member_id, member_epoch, owned)
        else:
            member, replaced = self._static_member(group, member_id, member_epoch, instance_id, owned)
        is_new = member_id not in group.members

        updated = dataclasses.replace(
            member,
            instance_id=instance_id if instance_id is not None else member.instance_id,
            rack_id=rack_id if rack_id is not None else member.rack_id,
            rebalance_timeout_ms=rebalance_timeout_ms if rebalance_timeout_ms != -1 else member.rebalance_timeout_ms,
            server_assignor=server_assignor if server_assignor is not None else member.server_assignor,
            subscribed_topic_names=names if names is not None else member.subscribed_topic_names,
            subscribed_topic_regex=regex if regex is not None else member.subscribed_topic_regex,
            client_id=client_id, client_host=client_host)

        # 1. the member and its subscription; bump the group epoch when they change
        if replaced is not None:
            self._replace_records(group, replaced, updated, records)
        elif is_new or updated.subscription() != member.subscription():
            records.append((rec.key(MEMBER, group_id, member=member_id), rec.value(updated.member_value())))
        bump = (group.group_epoch == 0 or (is_new and replaced is None)
                or updated.subscribed_topic_names != member.subscribed_topic_names
                or updated.subscribed_topic_regex != member.subscribed_topic_regex
                or updated.server_assignor != member.server_assignor)
        members_after = {m.member_id: m for m in group.members.values()
                         if replaced is None or m.member_id != replaced.member_id}
        members_after[member_id] = updated
        metadata = group.subscription_metadata
        if bump or group.metadata_stale:
            metadata = self._subscription_metadata(members_after.values())
            bump = bump or metadata != group.subscription_metadata
        group_epoch = group.group_epoch
        if bump:
            group_epoch += 1
            records.append(self._metadata_record(group_id, group_epoch, metadata))

        # 2. a new target assignment when the group epoch moved past it
        if group_epoch > group.assignment_epoch:
            target = self._compute_target(group, members_after, metadata, replaced, member_id, records)
            records.append((rec.key(TARGET_EPOCH, group_id), rec.value({"assignment_epoch": group_epoch})))
            assignor = group.preferred_assignor(members_after.values(), self._default_assignor())
            log.info("[GroupId %s] computed a new target assignment for epoch %d with the %s assignor: %d members",
                     group_id, group_epoch, assignor, len(members_after),
                     extra={"event": "rebalance_completed", "group": group_id, "group_protocol": "consumer",
                            "group_epoch": group_epoch, "members": len(members_after), "assignor": assignor})
            target_epoch = group_epoch
            member_target = target.get(member_id, {})
        else:
            target_epoch = group.assignment_epoch
            member_target = group.target.get(replaced.member_id if replaced else member_id, {})

        # 3. reconcile the member's current assignment towards its target
        reconciled = self._reconcile(group, updated, target_epoch, member_target, owned)
        if reconciled.current() != updated.current() or is_new:
            records.append((rec.key(CURRENT, group_id, member=member_id), rec.value(reconciled.current_value())))

        response: dict[str, Any] = {
            "error_code": ErrorCode.NONE, "error_message": None, "member_id": member_id,
            "member_epoch": reconciled.member_epoch,
            "heartbeat_interval_ms": config.consumer_heartbeat_interval_ms, "assignment": None}
        full = joining or (rebalance_timeout_ms != -1 and (names is not None or regex is not None)
                           and owned is not None)
        if full or reconciled.assigned != member.assigned:
            response["assignment"] = {"topic_partitions": [
                {"topic_id": uuid.UUID(t), "partitions": sorted(ps)} for t, ps in sorted(reconciled.assigned.items())]}
        return records, response, reconciled

    def _dynamic_member(self, group: ConsumerGroup, member_id: str, member_epoch: int, owned: Parts | None) -> Member:
        member = group.members.get(member_id)
        if member is None:
            if member_epoch != JOIN_EPOCH:
                raise KafkaError(f"Member {member_id} is not a member of group {group.group_id}.",
                                 ErrorCode.UNKNOWN_MEMBER_ID)
            return Member(member_id)
        self._check_epoch(member, member_epoch, owned)
        return member

    def _static_member(self, group: ConsumerGroup, member_id: str, member_epoch: int, instance_id: str,
                       owned: Parts | None) -> tuple[Member, Member | None]:
        existing = group.static_member(instance_id)
        if member_epoch == JOIN_EPOCH:
            if existing is None:
                return group.members.get(member_id) or Member(member_id), None
            if existing.member_id == member_id:
                return existing, None
            if existing.member_epoch != STATIC_LEAVE_EPOCH:
                raise KafkaError(f"Static member {member_id} with instance id {instance_id} cannot join the group "
                                 f"because the instance id is owned by {existing.member_id} member.",
                                 ErrorCode.UNRELEASED_INSTANCE_ID)
            new = dataclasses.replace(existing, member_id=member_id, member_epoch=0, previous_member_epoch=0)
            return new, existing
        if existing is None:
            raise KafkaError(f"Instance id {instance_id} is unknown.", ErrorCode.UNKNOWN_MEMBER_ID)
        if existing.member_id != member_id:
            raise KafkaError(f"Static member {member_id} with instance id {instance_id} was fenced by member "
                             f"{existing.member_id}.", ErrorCode.FENCED_INSTANCE_ID)
        self._check_epoch(existing, member_epoch, owned)
        return existing, None

    @staticmethod
    def _check_epoch(member: Member, received: int, owned: Parts | None) -> None:
        if received > member.member_epoch:
            raise KafkaError(f"The consumer group member has a greater member epoch ({received}) than the one "
                             f"known by the group coordinator ({member.member_epoch}). The member must abandon "
                             f"all its partitions and rejoin.", ErrorCode.FENCED_MEMBER_EPOCH)
        if received < member.member_epoch:
            # the response with the bumped epoch may have been lost: accept the previous epoch
            # if the member owns no more than its current assignment
            subset = owned is not None and all(ps <= member.assigned.get(t, frozenset()) for t, ps in owned.items())
            if received != member.previous_member_epoch or not subset:
                raise KafkaError(f"The consumer group member has a smaller member epoch ({received}) than the one "
                                 f"known by the group coordinator ({member.member_epoch}). The member must "
                                 f"abandon all its partitions and rejoin.", ErrorCode.FENCED_MEMBER_EPOCH)

    def _replace_records(self, group: ConsumerGroup, old: Member, new: Member,
                         records: list[tuple[bytes, bytes | None]]) -> None:
        """A static member rejoins under a new member id: it takes over the old one's assignment."""
        g = group.group_id
        records += [(rec.key(CURRENT, g, member=old.member_id), None), (rec.key(TARGET, g, member=old.member_id), None),
                    (rec.key(MEMBER, g, member=old.member_id), None),
                    (rec.key(MEMBER, g, member=new.member_id), rec.value(new.member_value())),
                    (rec.key(TARGET, g, member=new.member_id),
                     rec.value({"partitions": _raw(group.target.get(old.member_id, {}))})),
                    (rec.key(CURRENT, g, member=new.member_id), rec.value(new.current_value()))]

    def _member_topics(self, member: Member, all_topics: list[str] | None = None) -> set[str]:
        topics = set(member.subscribed_topic_names)
        if member.subscribed_topic_regex:
            pattern = compile_regex(member.subscribed_topic_regex)
            names = all_topics if all_topics is not None else self.coordinator.metadata.topic_names()
            topics.update(n for n in names if n not in INTERNAL_TOPICS and pattern.fullmatch(n))
        return topics

    def _subscription_metadata(self, members: Iterable[Member]) -> dict[str, tuple[str, int]]:
        md = self.coordinator.metadata
        members = list(members)
        all_topics = md.topic_names() if any(m.subscribed_topic_regex for m in members) else None
        out: dict[str, tuple[str, int]] = {}
        for name in sorted({t for m in members for t in self._member_topics(m, all_topics)}):
            count = md.topic_partitions(name)
            topic_id = md.topic_id(name)
            if count is not None and topic_id is not None:
                out[name] = (str(topic_id), count)
        return out

    @staticmethod
    def _metadata_record(group_id: str, epoch: int, metadata: dict[str, tuple[str, int]]) -> tuple[bytes, bytes | None]:
        return (rec.key(METADATA, group_id), rec.value({
            "epoch": epoch, "subscription_metadata": {n: [tid, cnt] for n, (tid, cnt) in sorted(metadata.items())}}))

    def _compute_target(self, group: ConsumerGroup, members: dict[str, Member], metadata: dict[str, tuple[str, int]],
                        replaced: Member | None, member_id: str, records: list[tuple[bytes, bytes | None]]
                        ) -> dict[str, Parts]:
        all_topics = (self.coordinator.metadata.topic_names()
                      if any(m.subscribed_topic_regex for m in members.values()) else None)
        subscriptions = {mid: {metadata[n][0] for n in self._member_topics(m, all_topics) if n in metadata}
                         for mid, m in members.items()}
        counts = {tid: cnt for tid, cnt in metadata.values()}
        current = {mid: group.target.get(mid, {}) for mid in members}
        if replaced is not None:
            current[member_id] = group.target.get(replaced.member_id, {})
        assignor = group.preferred_assignor(members.values(), self._default_assignor())
        target = {mid: dict(parts) for mid, parts in ASSIGNORS[assignor](subscriptions, counts, current).items()}
        for mid in sorted(members):
            old = current.get(mid, {})
            if target.get(mid, {}) != old or (replaced is not None and mid == member_id):
                records.append((rec.key(TARGET, group.group_id, member=mid),
                                rec.value({"partitions": _raw(target.get(mid, {}))})))
        return target

    def _default_assignor(self) -> str:
        for name in self.coordinator.config.consumer_assignors:
            if name in ASSIGNORS:
                return name
        return "uniform"

    @staticmethod
    def _reconcile(group: ConsumerGroup, member: Member, target_epoch: int, target: Parts,
                   owned: Parts | None) -> Member:
        """Kafka's CurrentAssignmentBuilder: the member's next current assignment."""
        if member.reconciled_to(target_epoch):
            return member

        def owns_any(parts: Parts) -> bool:
            if owned is None:
                return True  # not reported: assume it still owns them
            return any(owned.get(t, frozenset()) & ps for t, ps in parts.items())

        def next_assignment(epoch: int, current: Parts) -> Member:
            assigned: dict[str, frozenset[int]] = {}
            revoking: dict[str, frozenset[int]] = {}
            pending: dict[str, frozenset[int]] = {}
            unreleased = False
            for t in set(target) | set(current):
                want = target.get(t, frozenset())
                have = current.get(t, frozenset())
                keep = have & want
                free = set()
                for p in want - keep:
                    if group.partition_epoch(t, p) == -1:
                        free.add(p)
                    else:
                        unreleased = True
                if keep:
                    assigned[t] = keep
                if have - keep:
                    revoking[t] = have - keep
                if free:
                    pending[t] = frozenset(free)
            if revoking and owns_any(revoking):
                return dataclasses.replace(member, state=MemberState.UNREVOKED_PARTITIONS, member_epoch=epoch,
                                           previous_member_epoch=member.member_epoch, assigned=assigned,
                                           pending_revocation=revoking)
            for t, ps in pending.items():
                assigned[t] = assigned.get(t, frozenset()) | ps
            state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
            return dataclasses.replace(member, state=state, member_epoch=target_epoch,
                                       previous_member_epoch=member.member_epoch, assigned=assigned,
                                       pending_revocation={})

        if member.state is MemberState.STABLE:
            result = next_assignment(member.member_epoch, member.assigned)
        elif member.state is MemberState.UNREVOKED_PARTITIONS:
            result = (member if owns_any(member.pending_revocation)
                      else next_assignment(member.member_epoch + 1, member.assigned))
        elif member.state is MemberState.UNRELEASED_PARTITIONS:
            result = next_assignment(member.member_epoch, member.assigned)
        else:  # UNKNOWN: start again from nothing
            if owned is None or owned:
                raise KafkaError("The consumer group member is in a unknown state. The member must abandon all "
                                 "its partitions and rejoin.", ErrorCode.FENCED_MEMBER_EPOCH)
            result = next_assignment(target_epoch, member.assigned)
        check_member_transition(member.member_id, member.state, result.state)
        return result

    # ------------------------------------------------------------------ leave and fencing
    def _leave(self, group_id: str, member_id: str, member_epoch: int, instance_id: str | None
               ) -> tuple[list[tuple[bytes, bytes | None]], dict[str, Any]]:
        group = self.group(group_id)
        if group is None:
            msg = (f"Group {group_id} is not a consumer group." if group_id in self._groups
                   else f"Group {group_id} not found.")
            raise KafkaError(msg, ErrorCode.GROUP_ID_NOT_FOUND)
        response = {"error_code": ErrorCode.NONE, "error_message": None, "member_id": member_id,
                    "member_epoch": member_epoch, "heartbeat_interval_ms": 0, "assignment": None}
        if instance_id is None:
            member = group.members.get(member_id)
            if member is None:
                raise KafkaError(f"Member {member_id} is not a member of group {group_id}.",
                                 ErrorCode.UNKNOWN_MEMBER_ID)
            log.info("[GroupId %s] Member %s left the consumer group.", group_id, member_id,
                     extra={"event": "member_left", "group": group_id, "group_protocol": "consumer",
                            "member": member_id, "group_epoch": group.group_epoch + 1,
                            "members": len(group.members) - 1})
            return self._fence_records(group, member), response
        member = group.static_member(instance_id)
        if member is None:
            raise KafkaError(f"Instance id {instance_id} is unknown.", ErrorCode.UNKNOWN_MEMBER_ID)
        if member.member_id != member_id:
            raise KafkaError(f"Static member {member_id} with instance id {instance_id} was fenced by member "
                             f"{member.member_id}.", ErrorCode.FENCED_INSTANCE_ID)
        if member_epoch == STATIC_LEAVE_EPOCH:
            log.info("[GroupId %s] Static member %s with instance id %s temporarily left the consumer group.",
                     group_id, member_id, instance_id)
            leaving = dataclasses.replace(member, member_epoch=STATIC_LEAVE_EPOCH, pending_revocation={})
            return [(rec.key(CURRENT, group_id, member=member_id), rec.value(leaving.current_value()))], response
        log.info("[GroupId %s] Static member %s with instance id %s left the consumer group.",
                 group_id, member_id, instance_id,
                 extra={"event": "member_left", "group": group_id, "group_protocol": "consumer",
                        "member": member_id, "instance_id": instance_id, "group_epoch": group.group_epoch + 1,
                        "members": len(group.members) - 1})
        return self._fence_records(group, member), response

    def _fence_records(self, group: ConsumerGroup, member: Member) -> list[tuple[bytes, bytes | None]]:
        """Remove the member and bump the group epoch (its partitions go to others at the next assignment)."""
        g, mid = group.group_id, member.member_id
        records: list[tuple[bytes, bytes | None]] = [
            (rec.key(CURRENT, g, member=mid), None), (rec.key(TARGET, g, member=mid), None),
            (rec.key(MEMBER, g, member=mid), None)]
        others = [m for m in group.members.values() if m.member_id != mid]
        records.append(self._metadata_record(g, group.group_epoch + 1, self._subscription_metadata(others)))
        return records

    # ------------------------------------------------------------------ timers
    def _touch_session(self, group_id: str, member_id: str) -> None:
        deadline = self._now() + self.coordinator.config.consumer_session_timeout_ms / 1000
        t = self._timers.get((group_id, member_id))
        if t is None:
            self._timers[(group_id, member_id)] = _Timers(deadline)
        else:
            t.session_deadline = deadline
        self._arm((group_id, member_id))

    def _after_heartbeat(self, group_id: str, member: Member) -> None:
        key = (group_id, member.member_id)
        self._touch_session(group_id, member.member_id)
        t = self._timers[key]
        if member.state is MemberState.UNREVOKED_PARTITIONS:
            if t.rebalance_deadline is None or t.rebalance_epoch != member.member_epoch:
                timeout = max(member.rebalance_timeout_ms, 0) / 1000
                t.rebalance_deadline, t.rebalance_epoch = self._now() + timeout, member.member_epoch
                self._arm(key)
        else:
            t.rebalance_deadline, t.rebalance_epoch = None, -1

    def _forget_timers(self, group_id: str, member_id: str) -> None:
        t = self._timers.pop((group_id, member_id), None)
        if t is not None and t.handle is not None:
            t.handle.cancel()

    @staticmethod
    def _next_deadline(t: _Timers) -> float:
        return t.session_deadline if t.rebalance_deadline is None else min(t.session_deadline, t.rebalance_deadline)

    def _arm(self, key: tuple[str, str]) -> None:
        t = self._timers[key]
        if t.handle is not None:
            t.handle.cancel()
            t.handle = None
        try:
            t.handle = self.coordinator.clock.call_later(self._next_deadline(t) - self._now(), self._on_timer, key)
        except RuntimeError:
            return  # no loop (synchronous replay in a tool): expire_sessions() still works

    def _on_timer(self, key: tuple[str, str]) -> None:
        t = self._timers.get(key)
        if t is None:
            return
        t.handle = None
        if self._next_deadline(t) <= self._now():
            self.coordinator.spawn(self._expire_member(*key))
        else:
            self._arm(key)

    async def expire_sessions(self) -> list[tuple[str, str]]:
        """Fence every member whose session (or revocation) deadline has passed; returns (group, member)s."""
        fenced = []
        for key, t in list(self._timers.items()):
            if self._next_deadline(t) <= self._now() and await self._expire_member(*key):
                fenced.append(key)
        return fenced

    async def _expire_member(self, group_id: str, member_id: str) -> bool:
        try:
            async with self._lock(group_id):
                key = (group_id, member_id)
                t = self._timers.get(key)
                group = self.group(group_id)
                member = group.members.get(member_id) if group is not None else None
                if t is None or member is None:
                    self._forget_timers(group_id, member_id)
                    return False
                now = self._now()
                if t.session_deadline <= now:
                    reason = "session timeout"
                elif (t.rebalance_deadline is not None and t.rebalance_deadline <= now
                      and member.member_epoch == t.rebalance_epoch
                      and member.state is MemberState.UNREVOKED_PARTITIONS):
                    reason = "rebalance timeout (partitions not revoked in time)"
                else:
                    if t.rebalance_deadline is not None and t.rebalance_deadline <= now:
                        t.rebalance_deadline, t.rebalance_epoch = None, -1
                    self._arm(key)
                    return False
                log.info("[GroupId %s] Member %s fenced from the group because of its %s.",
                         group_id, member_id, reason,
                         extra={"event": "member_fenced", "group": group_id, "group_protocol": "consumer",
                                "member": member_id, "reason": reason, "group_epoch": group.group_epoch + 1,
                                "members": len(group.members) - 1})
                await self.coordinator.write(group_id, self._fence_records(group, member))
                self._forget_timers(group_id, member_id)
                return True
        except Exception:  # a spawned task must not take the node's TaskGroup down
            log.exception("fencing member %s of group %s failed", member_id, group_id)
            return False

    # ------------------------------------------------------------------ metadata changes
    def on_topics_changed(self, topics: dict[str, int]) -> None:
        """Topics were created, deleted or grew: groups whose subscription metadata changed get a new epoch."""
        for group_id, group in list(self._groups.items()):
            if not isinstance(group, ConsumerGroup) or not group.members:
                continue
            group.metadata_stale = True
            try:
                changed = self._subscription_metadata(group.members.values()) != group.subscription_metadata
            except KafkaError:
                changed = True
            if changed:
                self.coordinator.spawn(self._refresh(group_id))

    async def _refresh(self, group_id: str) -> None:
        try:
            async with self._lock(group_id):
                group = self.group(group_id)
                if group is None:
                    return
                metadata = self._subscription_metadata(group.members.values())
                if metadata != group.subscription_metadata:
                    log.info("[GroupId %s] subscribed topics changed; bumping the group epoch to %d",
                             group_id, group.group_epoch + 1,
                             extra={"event": "group_epoch_bumped", "group": group_id, "group_protocol": "consumer",
                                    "group_epoch": group.group_epoch + 1, "members": len(group.members)})
                    await self.coordinator.write(group_id, [
                        self._metadata_record(group_id, group.group_epoch + 1, metadata)])
                group.metadata_stale = False
        except Exception:
            log.exception("refreshing the metadata of group %s failed", group_id)

    # ------------------------------------------------------------------ describe
    def describe(self, group_ids: Iterable[str]) -> list[dict[str, Any]]:
        """ConsumerGroupDescribe: one dict per group id (DescribedGroup fields)."""
        out = []
        for group_id in group_ids:
            existing = self._groups.get(group_id)
            if not isinstance(existing, ConsumerGroup):
                msg = (f"Group {group_id} is not a consumer group." if existing is not None
                       else f"Group {group_id} not found.")
                out.append({"group_id": group_id, "error_code": ErrorCode.GROUP_ID_NOT_FOUND, "error_message": msg,
                            "members": []})
                continue
            g = existing
            out.append({
                "group_id": group_id, "error_code": ErrorCode.NONE, "error_message": None,
                "group_state": g.state_name, "group_epoch": g.group_epoch, "assignment_epoch": g.assignment_epoch,
                "assignor_name": g.preferred_assignor(g.members.values(), self._default_assignor()),
                "members": [{
                    "member_id": m.member_id, "instance_id": m.instance_id, "rack_id": m.rack_id,
                    "member_epoch": m.member_epoch, "client_id": m.client_id, "client_host": m.client_host,
                    "subscribed_topic_names": sorted(m.subscribed_topic_names),
                    "subscribed_topic_regex": m.subscribed_topic_regex,
                    "assignment": self._described_assignment(m.assigned),
                    "target_assignment": self._described_assignment(g.target.get(m.member_id, {})),
                    "member_type": 1,
                } for m in sorted(g.members.values(), key=lambda m: m.member_id)],
            })
        return out

    def _described_assignment(self, parts: Parts) -> dict[str, Any]:
        md = self.coordinator.metadata
        topic_partitions = []
        for t, ps in sorted(parts.items()):
            topic_id = uuid.UUID(t)
            name = md.topic_name(topic_id)
            if name is not None:
                topic_partitions.append({"topic_id": topic_id, "topic_name": name, "partitions": sorted(ps)})
        return {"topic_partitions": topic_partitions}
