"""GroupCoordinator: consumer groups (classic and KIP-848) and committed offsets.

State lives in memory and changes only by replaying records of
``__consumer_offsets`` (see records.py); every change is written there first
through the CoordinatorRuntime.  A group id maps to partition
``abs(hash(group_id)) % offsets.topic.num.partitions`` like Kafka, so a
cluster spreads coordinators across the partition leaders.

The two protocols live in their own modules and share this object:
``classic.ClassicGroupManager`` (JoinGroup/SyncGroup/Heartbeat/LeaveGroup)
and ``consumer_group.ConsumerGroupManager`` (ConsumerGroupHeartbeat).  Both
keep their groups in ``self.groups`` (one namespace: a group id is either
classic or consumer) and write through ``self.write``.

Transactional offset commits (TxnOffsetCommit) are written inside the
producer's transaction (a transactional batch with its producer id and epoch)
and replayed into ``pending_txn``; they become committed offsets when the
COMMIT marker of that producer reaches the group's partition (written by the
transaction coordinator through ``write_txn_marker``, or met while loading) and
vanish at an ABORT marker.  OffsetFetch with ``require_stable`` answers
UNSTABLE_OFFSET_COMMIT while a partition has a pending one.

Concurrency: event-loop thread only; timers run as callbacks of the injected
Scheduler (``self.clock``) or tasks in the node's TaskGroup.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from strom.coordinator.group import records as rec
from strom.coordinator.runtime import CoordinatorRuntime, PartitionWriter, partition_for
from strom.errors import ErrorCode, KafkaError
from strom.util.clock import Scheduler

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
MAX_METADATA_BYTES = 4096  # Kafka's offset.metadata.max.bytes


@dataclass(frozen=True)
class GroupConfig:
    num_partitions: int = 50
    offsets_retention_ms: int = 7 * 24 * 3600 * 1000
    initial_rebalance_delay_ms: int = 3000
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1800000
    max_size: int = 2**31 - 1
    offset_metadata_max_bytes: int = MAX_METADATA_BYTES
    consumer_session_timeout_ms: int = 45000  # group.consumer.session.timeout.ms (KIP-848)
    consumer_heartbeat_interval_ms: int = 5000  # group.consumer.heartbeat.interval.ms
    consumer_assignors: tuple[str, ...] = ("uniform", "range")


@dataclass
class OffsetAndMetadata:
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int


class Group(Protocol):
    """What the coordinator needs from a group of either protocol."""

    group_id: str
    group_type: str  # "classic" or "consumer"

    @property
    def state_name(self) -> str: ...  # Kafka's state names (Empty, Stable, ...)

    @property
    def protocol_type(self) -> str: ...

    def is_empty(self) -> bool: ...

    def validate_offset_commit(self, member_id: str, generation_or_epoch: int, instance_id: str | None,
                               api_version: int) -> None:
        """Raise KafkaError (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, STALE_MEMBER_EPOCH, ...) when refused."""

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> None: ...

    def subscribed_topics(self) -> set[str] | None: ...

    def delete_records(self) -> list[tuple[bytes, bytes | None]]:
        """Tombstones that remove the group itself (DeleteGroups)."""


class MetadataView(Protocol):
    """Read-only topic metadata for the coordinator (the node passes the broker's MetadataCache)."""

    def topic_partitions(self, name: str) -> int | None:
        """Partition count of a topic, None if it does not exist."""

    def topic_id(self, name: str) -> uuid.UUID | None: ...

    def topic_name(self, topic_id: uuid.UUID) -> str | None: ...

    def topic_names(self) -> list[str]: ...


class GroupCoordinator:
    def __init__(self, writer: PartitionWriter, config: GroupConfig, clock: Scheduler, metadata: MetadataView,
                 spawn: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        """``clock`` reads time and arms every timer of the groups (sessions, rebalances, delays);
        ``spawn`` starts a task in the node's TaskGroup (timers that must do async work use it)."""
        from strom.coordinator.group.classic import ClassicGroupManager
        from strom.coordinator.group.consumer_group import ConsumerGroupManager

        self.config = config
        self.clock = clock
        self.metadata = metadata
        self.spawn = spawn
        self.runtime = CoordinatorRuntime(OFFSETS_TOPIC, writer, self._replay, replay_txn=self._replay_txn,
                                          replay_marker=self._replay_marker)
        self.groups: dict[str, Any] = {}
        self.offsets: dict[str, dict[tuple[str, int], OffsetAndMetadata]] = {}
        # producer id -> group id -> (topic, partition) -> offset committed inside its open transaction
        self.pending_txn: dict[int, dict[str, dict[tuple[str, int], OffsetAndMetadata]]] = {}
        self.classic = ClassicGroupManager(self)
        self.consumer = ConsumerGroupManager(self)

    # ------------------------------------------------------------------ runtime
    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.config.num_partitions)

    def load(self) -> int:
        return self.runtime.load()

    async def write(self, group_id: str, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        await self.runtime.write(self.partition_for(group_id), records)

    def _replay(self, partition: int, key: bytes, value: bytes | None) -> None:
        k, v = rec.decode(key, value)
        kind = k.get("type")
        if kind == rec.OFFSET:
            group_offsets = self.offsets.setdefault(k["group"], {})
            tp = (k["topic"], k["partition"])
            if v is None:
                group_offsets.pop(tp, None)
                if not group_offsets:
                    self.offsets.pop(k["group"], None)
            else:
                group_offsets[tp] = OffsetAndMetadata(v["offset"], v["leader_epoch"], v["metadata"],
                                                      v["commit_timestamp"])
        elif kind == rec.GROUP:
            self.classic.replay(k, v)
        elif isinstance(kind, str) and kind.startswith("cg_"):
            self.consumer.replay(k, v)
        else:
            log.warning("ignoring unknown record type %r in %s", kind, OFFSETS_TOPIC)

    def _replay_txn(self, partition: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        k, v = rec.decode(key, value)
        if k.get("type") != rec.OFFSET or v is None:
            log.warning("ignoring a transactional record of type %r in %s", k.get("type"), OFFSETS_TOPIC)
            return
        self.pending_txn.setdefault(producer_id, {}).setdefault(k["group"], {})[(k["topic"], k["partition"])] = \
            OffsetAndMetadata(v["offset"], v["leader_epoch"], v["metadata"], v["commit_timestamp"])

    def _replay_marker(self, partition: int, producer_id: int, commit: bool) -> None:
        groups = self.pending_txn.get(producer_id)
        if not groups:
            return
        for group_id in [g for g in groups if self.partition_for(g) == partition]:
            pending = groups.pop(group_id)
            if commit:
                self.offsets.setdefault(group_id, {}).update(pending)
        if not groups:
            del self.pending_txn[producer_id]

    def has_pending_offsets(self, group_id: str, tp: tuple[str, int] | None = None) -> bool:
        """Whether an open transaction has committed an offset of the group (of ``tp`` if given)."""
        for groups in self.pending_txn.values():
            pending = groups.get(group_id)
            if pending and (tp is None or tp in pending):
                return True
        return False

    async def write_txn_marker(self, partition: int, producer_id: int, producer_epoch: int, coordinator_epoch: int,
                               commit: bool) -> None:
        """The transaction coordinator's marker for one ``__consumer_offsets`` partition."""
        await self.runtime.write_marker(partition, producer_id, producer_epoch, coordinator_epoch, commit)

    async def commit_txn_offsets(self, group_id: str, producer_id: int, producer_epoch: int, member_id: str,
                                 generation_or_epoch: int, instance_id: str | None,
                                 offsets: Sequence[tuple[str, int, int, int, str | None]]
                                 ) -> dict[tuple[str, int], ErrorCode]:
        """TxnOffsetCommit: like ``commit_offsets``, written inside the producer's transaction.
        Without member information (v0-2 clients) any group accepts it, as in Kafka; with it the
        member and generation (or member epoch) are checked.  Raises KafkaError for group-level
        refusals and INVALID_PRODUCER_EPOCH when the producer has a newer epoch in the log."""
        if not group_id:
            raise KafkaError("group id is empty", ErrorCode.INVALID_GROUP_ID)
        group = self.groups.get(group_id)
        if group is not None and (member_id or generation_or_epoch >= 0 or instance_id is not None):
            group.validate_offset_commit(member_id, generation_or_epoch, instance_id, 9)
        results, records = self._offset_records(group_id, offsets)
        await self.runtime.write_transactional(self.partition_for(group_id), records, producer_id, producer_epoch)
        return results

    # ------------------------------------------------------------------ offsets
    def _offset_records(self, group_id: str, offsets: Sequence[tuple[str, int, int, int, str | None]]
                        ) -> tuple[dict[tuple[str, int], ErrorCode], list[tuple[bytes, bytes | None]]]:
        """Per-partition results and the offset-commit records of (topic, partition, offset,
        leader_epoch, metadata) entries; metadata over ``offset.metadata.max.bytes`` is refused."""
        now = self.clock.now_ms()
        results: dict[tuple[str, int], ErrorCode] = {}
        records = []
        for topic, partition, offset, leader_epoch, metadata in offsets:
            if metadata is not None and len(metadata.encode()) > self.config.offset_metadata_max_bytes:
                results[(topic, partition)] = ErrorCode.OFFSET_METADATA_TOO_LARGE
                continue
            results[(topic, partition)] = ErrorCode.NONE
            records.append((rec.offset_key(group_id, topic, partition),
                            rec.value({"offset": offset, "leader_epoch": leader_epoch, "metadata": metadata or "",
                                       "commit_timestamp": now})))
        return results, records

    async def commit_offsets(self, group_id: str, member_id: str, generation_or_epoch: int,
                             instance_id: str | None, offsets: Sequence[tuple[str, int, int, int, str | None]],
                             *, api_version: int) -> dict[tuple[str, int], ErrorCode]:
        """Commit (topic, partition, offset, leader_epoch, metadata) entries; per-partition errors.

        A group that does not exist accepts commits from anyone with generation -1
        (manual assignment, "simple" consumers), like Kafka; a live group checks the member.
        Raises KafkaError for group-level refusals (the handler puts the code on every partition)."""
        if not group_id:
            raise KafkaError("group id is empty", ErrorCode.INVALID_GROUP_ID)
        group = self.groups.get(group_id)
        if group is not None:
            group.validate_offset_commit(member_id, generation_or_epoch, instance_id, api_version)
        elif generation_or_epoch >= 0 and member_id:
            # a member of a group this coordinator does not know: the group is gone or moved
            raise KafkaError(f"unknown member {member_id} of group {group_id}",
                             ErrorCode.ILLEGAL_GENERATION if api_version < 9 else ErrorCode.UNKNOWN_MEMBER_ID)
        results, records = self._offset_records(group_id, offsets)
        await self.write(group_id, records)
        return results

    def fetch_offsets(self, group_id: str, partitions: Iterable[tuple[str, int]] | None
                      ) -> dict[tuple[str, int], OffsetAndMetadata | None]:
        """Committed offsets of a group (all of them when ``partitions`` is None); None = no commit."""
        committed = self.offsets.get(group_id, {})
        if partitions is None:
            return dict(committed)
        return {tp: committed.get(tp) for tp in partitions}

    async def delete_offsets(self, group_id: str, partitions: Sequence[tuple[str, int]]
                             ) -> dict[tuple[str, int], ErrorCode]:
        """OffsetDelete: refuse partitions of topics the live group subscribes to."""
        group = self.groups.get(group_id)
        if group is None and group_id not in self.offsets:
            raise KafkaError(f"group {group_id} does not exist", ErrorCode.GROUP_ID_NOT_FOUND)
        subscribed = group.subscribed_topics() if group is not None and not group.is_empty() else set()
        results = {}
        records = []
        for tp in partitions:
            if subscribed is None or tp[0] in subscribed:
                results[tp] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                continue
            results[tp] = ErrorCode.NONE
            if tp in self.offsets.get(group_id, {}):
                records.append((rec.offset_key(group_id, *tp), None))
        await self.write(group_id, records)
        return results

    async def expire_offsets(self) -> int:
        """Remove offsets older than offsets.retention.minutes of groups that are empty (or unknown)."""
        now = self.clock.now_ms()
        expired = 0
        for group_id, committed in list(self.offsets.items()):
            group = self.groups.get(group_id)
            if group is not None and not group.is_empty():
                continue
            old = [tp for tp, om in committed.items()
                   if now - om.commit_timestamp > self.config.offsets_retention_ms]
            if old:
                await self.write(group_id, [(rec.offset_key(group_id, *tp), None) for tp in old])
                expired += len(old)
        return expired

    # ------------------------------------------------------------------ groups
    def list_groups(self, states: Sequence[str] = (), types: Sequence[str] = ()) -> list[tuple[str, str, str, str]]:
        """(group_id, protocol_type, state, group_type) of every group, filtered like Kafka
        (states/types compared case-insensitively; empty filter = all).  Groups known only by
        their committed offsets are listed as Empty classic groups with no protocol type."""
        wanted_states = {s.lower() for s in states}
        wanted_types = {t.lower() for t in types}
        out = []
        ids = set(self.groups) | set(self.offsets)
        for group_id in sorted(ids):
            group = self.groups.get(group_id)
            if group is None:
                row = (group_id, "", "Empty", "classic")
            else:
                row = (group_id, group.protocol_type, group.state_name, group.group_type)
            if wanted_states and row[2].lower() not in wanted_states:
                continue
            if wanted_types and row[3].lower() not in wanted_types:
                continue
            out.append(row)
        return out

    async def delete_group(self, group_id: str) -> None:
        group = self.groups.get(group_id)
        if group is None and group_id not in self.offsets:
            raise KafkaError(f"group {group_id} does not exist", ErrorCode.GROUP_ID_NOT_FOUND)
        if group is not None and not group.is_empty():
            raise KafkaError(f"group {group_id} is not empty", ErrorCode.NON_EMPTY_GROUP)
        records = [(rec.offset_key(group_id, *tp), None) for tp in self.offsets.get(group_id, {})]
        if group is not None:
            records += group.delete_records()
        await self.write(group_id, records)
        self.groups.pop(group_id, None)

    def on_topics_changed(self, topics: dict[str, int]) -> None:
        """Metadata changed (partition counts, deletions): groups whose subscriptions are affected rebalance.
        ``topics`` maps every existing topic name to its partition count."""
        self.classic.on_topics_changed(topics)
        self.consumer.on_topics_changed(topics)
