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

Broker lifecycle (Kafka's ClusterControlManager and BrokerHeartbeatManager):
``plan_broker_registration`` and ``plan_broker_heartbeat`` return
``(records, response)`` from the current image; ``register_broker`` and
``broker_heartbeat`` commit them.  A broker's epoch is the offset of its
registration record.  Sessions and the control state machine live in
``strom.controller.broker_heartbeats``; ``run`` (a task of the node's
TaskGroup) fences brokers whose session expired.  Replica placement is
``strom.controller.placement``.

Concurrency: methods run on the event loop; commits are serialised by one
lock so validation and commit never interleave.
"""
from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from strom.config import (
    DYNAMIC_BROKER_CONFIGS, TOPIC_CONFIGS, BrokerConfig, ConfigError, check_topic_configs_implemented,
    validate_topic_configs,
)
from strom.controller import placement
from strom.controller.acl_control import plan_create_acls, plan_delete_acls
from strom.controller.broker_heartbeats import BrokerControlState, BrokerHeartbeatManager, next_state, state_of
from strom.controller.metadata_log import MetadataLog
from strom.controller.scram_control import plan_alter_scram
from strom.errors import ErrorCode, KafkaError
from strom.metadata.acls import AclBinding, AclFilter
from strom.metadata.controller_client import (
    AclCreateResult, AclDeleteResult, BrokerHeartbeat, BrokerHeartbeatResult, EntryResult, RegisterBroker,
    RegisterBrokerResult, ScramDeletion, ScramUpsertion, TopicResult,
)
from strom.metadata.image import EMPTY_IMAGE, BrokerRegistration, PartitionState, TopicImage
from strom.metadata.names import MAX_TOPIC_NAME, validate_topic_name
from strom.metadata.records import (
    BROKER_RESOURCE, TOPIC_RESOURCE, BrokerRegistrationChangeRecord, ConfigRecord, MetadataRecord, PartitionRecord,
    ProducerIdsRecord, RegisterBrokerRecord, RemoveTopicRecord, TopicRecord,
)
from strom.util.clock import SYSTEM_CLOCK, Scheduler

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
                 max_partitions: int = 2**31 - 1, scheduler: Scheduler = SYSTEM_CLOCK,
                 rng: random.Random | None = None, cluster_id: str | None = None,
                 local_broker_id: int | None = None) -> None:
        """``max_partitions``: how many partitions this node may hold in all (the node derives it from
        its open-file limit); creations beyond it get INVALID_PARTITIONS instead of failing half way
        when the files cannot be opened.  ``scheduler``: broker session timers.  ``rng``: replica
        placement (seed it for deterministic tests).  ``cluster_id``: registrations from another
        cluster get INCONSISTENT_CLUSTER_ID (None: not checked).  ``local_broker_id``: the broker role
        of this same process (combined mode), whose registration found in the log at ``load`` belongs
        to a previous run of this process and so gets no session: it may re-register at once."""
        self.log = metadata_log
        self.config = config
        self.node_id = node_id
        self.max_partitions = max_partitions
        self.scheduler = scheduler
        self.rng = rng if rng is not None else random.Random()
        self.cluster_id = cluster_id
        self.local_broker_id = local_broker_id
        self._expired_wakeup = asyncio.Event()
        self.heartbeats = BrokerHeartbeatManager(scheduler, config["broker.session.timeout.ms"],
                                                 self._expired_wakeup.set)
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
        # a new active controller gives every unfenced broker a fresh session (Kafka's activate())
        for broker_id, reg in self.image.brokers.items():
            if not reg.fenced and broker_id != self.local_broker_id:
                self.heartbeats.touch(broker_id, reg.epoch)

    async def run(self) -> None:
        """Fence brokers whose session expired, until cancelled (a task of the node's TaskGroup)."""
        while True:
            await self._expired_wakeup.wait()
            self._expired_wakeup.clear()
            try:
                await self.fence_expired_brokers()
            except Exception:
                log.exception("fencing brokers whose session expired failed")

    async def fence_expired_brokers(self) -> None:
        async with self._lock:
            records: list[MetadataRecord] = []
            for broker_id, epoch in sorted(self.heartbeats.take_expired().items()):
                reg = self.image.brokers.get(broker_id)
                if reg is None or reg.epoch != epoch or reg.fenced:
                    continue
                log.info("broker %d (epoch %d) sent no heartbeat for broker.session.timeout.ms=%d: fencing it",
                         broker_id, epoch, self.config["broker.session.timeout.ms"],
                         extra={"event": "broker_fenced", "broker": broker_id, "broker_epoch": epoch,
                                "reason": "session timeout"})
                records.append(BrokerRegistrationChangeRecord(broker_id, epoch, fenced=True))
                records.extend(self.leadership_moves(broker_id))
            await self._commit(records)

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

    # ------------------------------------------------------------------ broker lifecycle
    @property
    def live_brokers(self) -> list[int]:
        """Registered, unfenced brokers (ascending ids)."""
        return self.image.live_brokers

    def plan_broker_registration(self, request: RegisterBroker) -> tuple[list[MetadataRecord], RegisterBrokerResult]:
        """BrokerRegistration: a new registration record (fenced) whose offset is the broker's epoch.
        Refused with DUPLICATE_BROKER_REGISTRATION while another incarnation of that broker id is
        registered, unfenced and within its session."""
        if self.cluster_id is not None and request.cluster_id != self.cluster_id:
            return [], RegisterBrokerResult(ErrorCode.INCONSISTENT_CLUSTER_ID,
                                            f"Expected cluster ID {self.cluster_id}, but got cluster ID "
                                            f"{request.cluster_id}.")
        if request.broker_id < 0:
            return [], RegisterBrokerResult(ErrorCode.INVALID_REGISTRATION, f"invalid broker id {request.broker_id}")
        existing = self.image.brokers.get(request.broker_id)
        incarnation = str(request.incarnation_id)
        if (existing is not None and existing.incarnation_id != incarnation and not existing.fenced
                and self.heartbeats.has_valid_session(request.broker_id)):
            return [], RegisterBrokerResult(
                ErrorCode.DUPLICATE_BROKER_REGISTRATION,
                f"Another broker is registered with that broker id ({request.broker_id}, incarnation "
                f"{existing.incarnation_id}); two processes must not share a node.id.")
        epoch = self.log.end_offset  # the offset the record will get: it is first in its batch
        record = RegisterBrokerRecord(request.broker_id, incarnation, epoch, tuple(request.listeners), request.rack,
                                      fenced=True, in_controlled_shutdown=False)
        return [record], RegisterBrokerResult(broker_epoch=epoch)

    async def register_broker(self, request: RegisterBroker) -> RegisterBrokerResult:
        async with self._lock:
            records, result = self.plan_broker_registration(request)
            if records:
                await self._commit(records)
                self.heartbeats.touch(request.broker_id, result.broker_epoch)
                log.info("broker %d registered (epoch %d, incarnation %s, rack %s)", request.broker_id,
                         result.broker_epoch, request.incarnation_id, request.rack,
                         extra={"event": "broker_registered", "broker": request.broker_id,
                                "broker_epoch": result.broker_epoch, "incarnation_id": str(request.incarnation_id),
                                "rack": request.rack})
            return result

    def plan_broker_heartbeat(self, request: BrokerHeartbeat) -> tuple[list[MetadataRecord], BrokerHeartbeatResult]:
        """BrokerHeartbeat: the records of the broker's next control state (see broker_heartbeats)."""
        reg = self.image.brokers.get(request.broker_id)
        if reg is None:
            return [], BrokerHeartbeatResult(ErrorCode.BROKER_ID_NOT_REGISTERED,
                                             f"Broker {request.broker_id} is not registered.")
        if reg.epoch != request.broker_epoch:
            return [], BrokerHeartbeatResult(ErrorCode.STALE_BROKER_EPOCH,
                                             f"Expected broker epoch {reg.epoch}, but got broker epoch "
                                             f"{request.broker_epoch}.")
        current = state_of(reg)
        caught_up = request.current_metadata_offset >= reg.epoch
        has_leaderships = bool(self.movable_leaderships(request.broker_id))
        new = next_state(current, want_fence=request.want_fence, want_shut_down=request.want_shut_down,
                         caught_up=caught_up, has_leaderships=has_leaderships)
        records = self._transition_records(reg, current, new)
        fenced = new in (BrokerControlState.FENCED, BrokerControlState.SHUTDOWN_NOW)
        return records, BrokerHeartbeatResult(is_caught_up=caught_up, is_fenced=fenced,
                                              should_shut_down=new is BrokerControlState.SHUTDOWN_NOW)

    def _transition_records(self, reg: BrokerRegistration, current: BrokerControlState,
                            new: BrokerControlState) -> list[MetadataRecord]:
        s = BrokerControlState
        b, e = reg.broker_id, reg.epoch
        if current is new:
            return []
        if new is s.UNFENCED:
            return [BrokerRegistrationChangeRecord(b, e, fenced=False)]
        if new is s.FENCED:
            return [BrokerRegistrationChangeRecord(b, e, fenced=True), *self.leadership_moves(b)]
        if new is s.CONTROLLED_SHUTDOWN:
            return [BrokerRegistrationChangeRecord(b, e, in_controlled_shutdown=True), *self.leadership_moves(b)]
        if current is s.FENCED:  # SHUTDOWN_NOW of a fenced broker: nothing to change
            return []
        return [BrokerRegistrationChangeRecord(b, e, fenced=True, in_controlled_shutdown=True)]

    async def broker_heartbeat(self, request: BrokerHeartbeat) -> BrokerHeartbeatResult:
        async with self._lock:
            records, result = self.plan_broker_heartbeat(request)
            if result.error_code:
                return result
            if result.should_shut_down:
                self.heartbeats.end(request.broker_id)
                log.info("broker %d may shut down (controlled shutdown)", request.broker_id,
                         extra={"event": "broker_shutdown_allowed", "broker": request.broker_id,
                                "broker_epoch": request.broker_epoch})
            else:
                self.heartbeats.touch(request.broker_id, request.broker_epoch)
            await self._commit(records)
            for record in records:
                if isinstance(record, BrokerRegistrationChangeRecord):
                    _log_registration_change(record)
            return result

    def movable_leaderships(self, broker_id: int) -> list[tuple[str, int]]:
        """(topic, partition) led by ``broker_id`` that another usable in-sync replica could take
        over: what a controlled shutdown waits for.  On one node nothing can move, so it is empty."""
        usable = {b.broker_id for b in self.image.usable_brokers} - {broker_id}
        return [(t.name, p.partition) for t in self.image.topics.values() for p in t.partitions.values()
                if p.leader == broker_id and any(r in usable for r in p.isr)]

    def leadership_moves(self, broker_id: int) -> list[MetadataRecord]:
        """Records moving leaderships (and ISR membership) away from ``broker_id`` as it is fenced or
        shuts down.  The seam for part 2 of the cluster work (partition change records through the
        controller's log); until then leaders stay and a controlled shutdown of a broker that leads a
        partition with another usable in-sync replica waits (the broker gives up after its timeout)."""
        return []

    # ------------------------------------------------------------------ topics
    def _usable(self) -> list[BrokerRegistration]:
        return self.image.usable_brokers

    def _manual_replicas(self, partition: int, replicas: Sequence[int]) -> PartitionState:
        """Validate one manual assignment against the registered brokers; its ISR is the usable
        replicas and the first of them leads."""
        if not replicas or len(set(replicas)) != len(replicas):
            raise KafkaError(f"invalid replica assignment {list(replicas)} for partition {partition}: it must name "
                             f"distinct brokers", ErrorCode.INVALID_REPLICA_ASSIGNMENT)
        for b in replicas:
            if b not in self.image.brokers:
                raise KafkaError(f"The manual partition assignment includes broker {b}, but no such broker is "
                                 f"registered.", ErrorCode.INVALID_REPLICA_ASSIGNMENT)
        usable = {b.broker_id for b in self._usable()}
        isr = tuple(b for b in replicas if b in usable)
        if not isr:
            raise KafkaError(f"All brokers specified in the manual partition assignment for partition {partition} "
                             f"are fenced or in controlled shutdown.", ErrorCode.INVALID_REPLICA_ASSIGNMENT)
        return PartitionState(partition, tuple(replicas), isr, isr[0], 0, 0)

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
        if assignments:
            if spec.get("num_partitions", -1) != -1 or spec.get("replication_factor", -1) != -1:
                raise KafkaError("both manual assignments and partitions/replication factor were given",
                                 ErrorCode.INVALID_REQUEST)
            plan = []
            for index, (partition, replicas) in enumerate(sorted(assignments)):
                if partition != index:
                    raise KafkaError("partitions of a manual assignment must be 0..n-1",
                                     ErrorCode.INVALID_REPLICA_ASSIGNMENT)
                plan.append(self._manual_replicas(partition, replicas))
        else:
            partitions = spec.get("num_partitions", -1)
            rf = spec.get("replication_factor", -1)
            if partitions == -1:
                partitions = self.config["num.partitions"]
            if rf == -1:
                rf = self.config["default.replication.factor"]
            if partitions <= 0 or partitions > MAX_PARTITIONS_PER_REQUEST:
                raise KafkaError("Number of partitions must be larger than 0.", ErrorCode.INVALID_PARTITIONS)
            plan = [PartitionState(p, tuple(r), tuple(r), r[0], 0, 0)
                    for p, r in enumerate(placement.place(partitions, rf, self._usable(), self.rng))]
        topic_id = str(uuid.uuid4())
        records: list[MetadataRecord] = [TopicRecord(name, topic_id)]
        for p in plan:
            records.append(PartitionRecord(topic_id, p.partition, list(p.replicas), list(p.isr), p.leader, 0, 0))
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
            if assignments is not None:
                if len(assignments) != count - current:
                    raise KafkaError(f"Increasing the number of partitions by {count - current} but "
                                     f"{len(assignments)} assignments provided.", ErrorCode.INVALID_REPLICA_ASSIGNMENT)
                plan = []
                for i, replicas in enumerate(assignments):
                    if len(replicas) != rf:
                        raise KafkaError(f"replica assignment {list(replicas)} has {len(replicas)} replicas; the "
                                         f"topic's partitions have {rf}", ErrorCode.INVALID_REPLICA_ASSIGNMENT)
                    plan.append(self._manual_replicas(current + i, replicas))
            else:
                plan = [PartitionState(current + i, tuple(r), tuple(r), r[0], 0, 0)
                        for i, r in enumerate(placement.place(count - current, rf, self._usable(), self.rng))]
            if validate_only:
                return
            records: list[MetadataRecord] = [
                PartitionRecord(str(topic.topic_id), p.partition, list(p.replicas), list(p.isr), p.leader, 0, 0)
                for p in plan]
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

    # ------------------------------------------------------------------ ACLs and SCRAM credentials
    async def create_acls(self, creations: Sequence[AclBinding]) -> list[AclCreateResult]:
        """Store ACL bindings (``strom.controller.acl_control``); one result per creation."""
        async with self._lock:
            records, results = plan_create_acls(self.image, creations)
            await self._commit(records)
            return results

    async def delete_acls(self, filters: Sequence[AclFilter]) -> list[AclDeleteResult]:
        """Delete the bindings each filter matches; one result per filter."""
        async with self._lock:
            records, results = plan_delete_acls(self.image, filters)
            await self._commit(records)
            return results

    async def alter_user_scram_credentials(self, deletions: Sequence[ScramDeletion],
                                           upsertions: Sequence[ScramUpsertion]) -> list[EntryResult]:
        """Store or delete SCRAM credentials (``strom.controller.scram_control``); one result per user."""
        async with self._lock:
            records, results = plan_alter_scram(self.image, deletions, upsertions)
            await self._commit(records)
            return results

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


def _log_registration_change(record: BrokerRegistrationChangeRecord) -> None:
    """One info line for a committed fence, unfence or controlled-shutdown change of a broker."""
    if record.in_controlled_shutdown:
        what, event = "is in controlled shutdown", "broker_controlled_shutdown"
    elif record.fenced:
        what, event = "is fenced", "broker_fenced"
    elif record.fenced is False:
        what, event = "is unfenced", "broker_unfenced"
    else:
        return
    log.info("broker %d (epoch %d) %s", record.broker_id, record.broker_epoch, what,
             extra={"event": event, "broker": record.broker_id, "broker_epoch": record.broker_epoch})
