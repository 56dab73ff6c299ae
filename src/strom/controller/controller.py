"""The controller: decides metadata changes and commits them as records.

Single-node (KRaft combined mode, one voter): the broker's controller client
(``strom.controller.client.LocalControllerClient``) calls a method here; it
validates against the controller's own image, builds metadata records,
appends them to the metadata log, waits for them to be durable, then replays
them into its image and hands the committed batch ``(records, offset)`` to
the commit listeners (the node feeds it to the broker's ``MetadataCache``).
Images are immutable (``strom.metadata.image``); state changes only by
replaying records, which is also the recovery path.  The raft quorum of a
later issue slots in at ``MetadataLog``.

Concurrency: methods run on the event loop; commits are serialised by one
lock so validation and commit never interleave.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from strom.config import (
    DYNAMIC_BROKER_CONFIGS, TOPIC_CONFIGS, BrokerConfig, ConfigError, check_topic_configs_implemented,
    validate_topic_configs,
)
from strom.controller.metadata_log import MetadataLog
from strom.errors import ErrorCode, KafkaError
from strom.metadata.controller_client import TopicResult
from strom.metadata.image import EMPTY_IMAGE, TopicImage
from strom.metadata.names import MAX_TOPIC_NAME, validate_topic_name
from strom.metadata.records import (
    BROKER_RESOURCE, TOPIC_RESOURCE, ConfigRecord, MetadataRecord, PartitionRecord, ProducerIdsRecord,
    RemoveTopicRecord, TopicRecord,
)

log = logging.getLogger(__name__)

PRODUCER_ID_BLOCK = 1000
# The brokers' own topics (compacted, as in Kafka): created by the brokers, exempt from
# ``check_topic_configs_implemented`` (which refuses nothing today).
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
MAX_PARTITIONS_PER_REQUEST = 100_000

# Called with each committed batch: its records and the offset of the last one.
CommitListener = Callable[[Sequence[MetadataRecord], int], None]

__all__ = ["Controller", "TopicResult", "validate_topic_name", "MAX_TOPIC_NAME", "DYNAMIC_BROKER_CONFIGS"]


class Controller:
    def __init__(self, metadata_log: MetadataLog, config: BrokerConfig, node_id: int, *,
                 max_partitions: int = 2**31 - 1) -> None:
        """``max_partitions``: how many partitions this node may hold in all (the node derives it from
        its open-file limit); creations beyond it get INVALID_PARTITIONS instead of failing half way
        when the files cannot be opened."""
        self.log = metadata_log
        self.config = config
        self.node_id = node_id
        self.max_partitions = max_partitions
        self.image = EMPTY_IMAGE
        self.committed_offset = -1  # offset of the last committed record
        self._lock = asyncio.Lock()
        self._listeners: list[CommitListener] = []
        self._pid_next = 0
        self._pid_block_end = 0

    # ------------------------------------------------------------------ lifecycle
    def load(self) -> None:
        """Replay the whole metadata log into the image (start-up and recovery)."""
        self.committed_offset = self.log.end_offset - 1
        self.image = EMPTY_IMAGE.replay(self.log.read_all(), self.committed_offset)
        # never hand out an id from a block that may have been used before the restart
        self._pid_next = self._pid_block_end = self.image.next_producer_id

    def add_listener(self, listener: CommitListener) -> None:
        """Call ``listener(records, offset)`` with every batch committed from now on, in order."""
        self._listeners.append(listener)

    async def _commit(self, records: Sequence[MetadataRecord]) -> None:
        if not records:
            return
        offset = await self.log.append(records)
        self.image = self.image.replay(records, offset)
        self.committed_offset = offset
        for listener in self._listeners:
            listener(records, offset)

    # ------------------------------------------------------------------ topics
    @property
    def live_brokers(self) -> list[int]:
        return [self.node_id]

    def topic(self, name: str) -> TopicImage | None:
        return self.image.topics.get(name)

    async def create_topics(self, specs: Sequence[Mapping[str, Any]], *, validate_only: bool = False
                            ) -> list[TopicResult]:
        """Create topics; each spec has name, num_partitions, replication_factor,
        assignments (list of (partition, [broker ids])) and configs ({name: value}).

        Configs Strom cannot honour yet (``check_topic_configs_implemented``; none today) are
        INVALID_CONFIG, except for the brokers' own topics (``INTERNAL_TOPICS``)."""
        async with self._lock:
            results: list[TopicResult] = []
            records: list[MetadataRecord] = []
            seen: set[str] = set()
            planned = 0  # partitions of the topics accepted so far in this request
            for spec in specs:
                name = spec["name"]
                result = TopicResult(name)
                results.append(result)
                try:
                    if name in seen:
                        raise KafkaError(f"topic '{name}' appears more than once in the request",
                                         ErrorCode.INVALID_REQUEST)
                    seen.add(name)
                    topic_records = self._plan_topic(spec)
                    parts = [r for r in topic_records if isinstance(r, PartitionRecord)]
                    self._check_partition_budget(planned + len(parts))
                except KafkaError as exc:
                    result.error_code, result.error_message = exc.code, exc.message
                    continue
                topic_rec = topic_records[0]
                assert isinstance(topic_rec, TopicRecord)
                result.topic_id = uuid.UUID(topic_rec.topic_id)
                result.num_partitions = len(parts)
                result.replication_factor = len(parts[0].replicas) if parts else 0
                result.configs = {r.name: r.value for r in topic_records
                                  if isinstance(r, ConfigRecord) and r.value is not None}
                planned += result.num_partitions
                if not validate_only:
                    records.extend(topic_records)
            await self._commit(records)
            return results

    def _check_partition_budget(self, new_partitions: int) -> None:
        total = sum(len(t.partitions) for t in self.image.topics.values()) + new_partitions
        if total > self.max_partitions:
            raise KafkaError(f"this node would hold {total} partitions, more than the {self.max_partitions} its "
                             f"open-file limit allows (each partition may keep 3 files open); raise the limit "
                             f"(ulimit -n) to create more", ErrorCode.INVALID_PARTITIONS)

    def _plan_topic(self, spec: Mapping[str, Any]) -> list[MetadataRecord]:
        name = spec["name"]
        validate_topic_name(name)
        if name in self.image.topics:
            raise KafkaError(f"Topic '{name}' already exists.", ErrorCode.TOPIC_ALREADY_EXISTS)
        assignments = spec.get("assignments") or []
        configs = {k: v for k, v in (spec.get("configs") or {}).items()}
        try:
            validate_topic_configs(configs)
            if name not in INTERNAL_TOPICS:
                check_topic_configs_implemented(configs)
        except ConfigError as exc:
            raise KafkaError(str(exc), ErrorCode.INVALID_CONFIG) from None
        brokers = self.live_brokers
        if assignments:
            if spec.get("num_partitions", -1) != -1 or spec.get("replication_factor", -1) != -1:
                raise KafkaError("both manual assignments and partitions/replication factor were given",
                                 ErrorCode.INVALID_REQUEST)
            plan = []
            for index, (partition, replicas) in enumerate(sorted(assignments)):
                if partition != index:
                    raise KafkaError("partitions of a manual assignment must be 0..n-1",
                                     ErrorCode.INVALID_REPLICA_ASSIGNMENT)
                if not replicas or len(set(replicas)) != len(replicas) or any(b not in brokers for b in replicas):
                    raise KafkaError(f"invalid replica assignment {replicas} (live brokers: {brokers})",
                                     ErrorCode.INVALID_REPLICA_ASSIGNMENT)
                plan.append(list(replicas))
        else:
            partitions = spec.get("num_partitions", -1)
            rf = spec.get("replication_factor", -1)
            if partitions == -1:
                partitions = self.config["num.partitions"]
            if rf == -1:
                rf = self.config["default.replication.factor"]
            if partitions <= 0 or partitions > MAX_PARTITIONS_PER_REQUEST:
                raise KafkaError("Number of partitions must be larger than 0.", ErrorCode.INVALID_PARTITIONS)
            if rf <= 0:
                raise KafkaError("Replication factor must be larger than 0.", ErrorCode.INVALID_REPLICATION_FACTOR)
            if rf > len(brokers):
                raise KafkaError(f"Unable to replicate the partition {rf} time(s): "
                                 f"The target replication factor of {rf} cannot be reached because only "
                                 f"{len(brokers)} broker(s) are registered.", ErrorCode.INVALID_REPLICATION_FACTOR)
            plan = [[brokers[(p + i) % len(brokers)] for i in range(rf)] for p in range(partitions)]
        topic_id = str(uuid.uuid4())
        records: list[MetadataRecord] = [TopicRecord(name, topic_id)]
        for partition, replicas in enumerate(plan):
            records.append(PartitionRecord(topic_id, partition, replicas, list(replicas), replicas[0], 0, 0))
        for key, value in configs.items():
            records.append(ConfigRecord(TOPIC_RESOURCE, name, key, None if value is None else str(value)))
        return records

    async def delete_topic(self, name: str | None = None, topic_id: uuid.UUID | None = None) -> TopicImage:
        async with self._lock:
            topic = self.image.topics.get(name) if name is not None else self.image.topics_by_id.get(topic_id)
            if topic is None:
                if name is None:
                    raise KafkaError("unknown topic id", ErrorCode.UNKNOWN_TOPIC_ID)
                raise KafkaError(f"unknown topic '{name}'", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            if not self.config["delete.topic.enable"]:
                raise KafkaError("topic deletion is disabled (delete.topic.enable=false)",
                                 ErrorCode.TOPIC_DELETION_DISABLED)
            await self._commit([RemoveTopicRecord(str(topic.topic_id))])
            return topic

    async def create_partitions(self, name: str, count: int, assignments: Sequence[Sequence[int]] | None,
                                *, validate_only: bool = False) -> None:
        async with self._lock:
            topic = self.image.topics.get(name)
            if topic is None:
                raise KafkaError(f"The topic '{name}' does not exist.", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            current = len(topic.partitions)
            if count <= current:
                code = ErrorCode.INVALID_PARTITIONS
                raise KafkaError(f"Topic currently has {current} partitions, which is higher than the requested {count}."
                                 if count < current else f"Topic already has {current} partitions.", code)
            if count > MAX_PARTITIONS_PER_REQUEST:
                raise KafkaError(f"too many partitions: {count}", ErrorCode.INVALID_PARTITIONS)
            self._check_partition_budget(count - current)
            rf = len(topic.partitions[0].replicas) if topic.partitions else 1
            brokers = self.live_brokers
            if assignments is not None:
                if len(assignments) != count - current:
                    raise KafkaError(f"Increasing the number of partitions by {count - current} but "
                                     f"{len(assignments)} assignments provided.", ErrorCode.INVALID_REPLICA_ASSIGNMENT)
                for replicas in assignments:
                    if not replicas or any(b not in brokers for b in replicas):
                        raise KafkaError(f"invalid replica assignment {list(replicas)} (live brokers: {brokers})",
                                         ErrorCode.INVALID_REPLICA_ASSIGNMENT)
                    if len(set(replicas)) != len(replicas):
                        raise KafkaError(f"duplicate brokers in replica assignment {list(replicas)}",
                                         ErrorCode.INVALID_REPLICA_ASSIGNMENT)
                    if len(replicas) != rf:
                        raise KafkaError(f"replica assignment {list(replicas)} has {len(replicas)} replicas; the "
                                         f"topic's partitions have {rf}", ErrorCode.INVALID_REPLICA_ASSIGNMENT)
                plan = [list(r) for r in assignments]
            else:
                plan = [[brokers[(p + i) % len(brokers)] for i in range(rf)] for p in range(current, count)]
            if validate_only:
                return
            records: list[MetadataRecord] = [
                PartitionRecord(str(topic.topic_id), current + i, replicas, list(replicas), replicas[0], 0, 0)
                for i, replicas in enumerate(plan)]
            await self._commit(records)

    # ------------------------------------------------------------------ configs
    async def alter_topic_configs(self, name: str, changes: Mapping[str, str | None], *, replace: bool,
                                  validate_only: bool = False) -> None:
        """Set (value) or delete (None) topic overrides; ``replace`` drops every override not named
        (the legacy AlterConfigs semantics)."""
        async with self._lock:
            topic = self.image.topics.get(name)
            if topic is None:
                raise KafkaError(f"unknown topic '{name}'", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            new = {} if replace else dict(topic.configs)
            for key, value in changes.items():
                if key not in TOPIC_CONFIGS:
                    raise KafkaError(f"Unknown topic config name: {key}", ErrorCode.INVALID_CONFIG)
                if value is None:
                    new.pop(key, None)
                else:
                    new[key] = value
            try:
                validate_topic_configs(new)
                check_topic_configs_implemented({k: v for k, v in changes.items() if v is not None})
            except ConfigError as exc:
                raise KafkaError(str(exc), ErrorCode.INVALID_CONFIG) from None
            if validate_only:
                return
            records: list[MetadataRecord] = []
            for key in set(topic.configs) | set(new):
                if topic.configs.get(key) != new.get(key):
                    records.append(ConfigRecord(TOPIC_RESOURCE, name, key, new.get(key)))
            await self._commit(records)

    async def alter_broker_configs(self, broker: str, changes: Mapping[str, str | None], *, replace: bool,
                                   validate_only: bool = False) -> None:
        """Dynamic broker configs (stored and reported; see docs for which take effect live)."""
        async with self._lock:
            current = self.image.broker_configs.get(broker, {})
            new: dict[str, str | None] = {} if replace else dict(current)
            static = sorted(k for k in changes if k not in DYNAMIC_BROKER_CONFIGS)
            if static:
                raise KafkaError(f"Cannot update these configs dynamically: {static}", ErrorCode.INVALID_CONFIG)
            for key, value in changes.items():
                if value is None:
                    new.pop(key, None)
                else:
                    new[key] = value
            try:
                BrokerConfig.load(overrides=[f"{k}={v}" for k, v in new.items()], env={})
                check_topic_configs_implemented({k: v for k, v in changes.items() if v is not None})
            except ConfigError as exc:
                raise KafkaError(str(exc), ErrorCode.INVALID_CONFIG) from None
            if validate_only:
                return
            records: list[MetadataRecord] = [ConfigRecord(BROKER_RESOURCE, broker, k, new.get(k))
                                             for k in set(current) | set(new) if current.get(k) != new.get(k)]
            await self._commit(records)

    # ------------------------------------------------------------------ producer ids
    async def allocate_producer_id(self) -> int:
        async with self._lock:
            if self._pid_next >= self._pid_block_end:
                start = max(self._pid_next, self.image.next_producer_id)
                await self._commit([ProducerIdsRecord(self.node_id, start + PRODUCER_ID_BLOCK)])
                self._pid_next, self._pid_block_end = start, start + PRODUCER_ID_BLOCK
            pid = self._pid_next
            self._pid_next += 1
            return pid
