"""MetadataImage: the cluster metadata as of one offset of the metadata log, as an immutable value.

An image never changes once built: its mappings are read-only views of
dictionaries nobody else holds, and every value in them is frozen.  A change
is made by a ``MetadataDelta``: it starts from a base image, replays records
(copying only what they touch: the topic map, and the topics and configs they
change) and ``apply`` builds the next image; topics the records did not touch
are shared between the two images.  So a reader that holds an image (a
handler across an ``await``, a listener) sees one consistent state, never a
half-applied batch.

Both roles build images the same way: the controller for validation, the
broker's ``MetadataCache`` for everything a handler reads.  Replaying the
whole log from the start rebuilds the image after a restart.
"""
from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from strom.config import DYNAMIC_BROKER_CONFIGS, BrokerConfig, validate_topic_configs
from strom.metadata.acls import AclBinding
from strom.metadata.records import (
    BROKER_RESOURCE, BrokerEndpoint, BrokerRegistrationChangeRecord, ConfigRecord, MetadataRecord, PartitionRecord,
    ProducerIdsRecord, RegisterBrokerRecord, RemoveTopicRecord, TopicRecord, UnregisterBrokerRecord,
)
from strom.metadata.records import (
    AccessControlEntryRecord, RemoveAccessControlEntryRecord, RemoveUserScramCredentialRecord,
    UserScramCredentialRecord,
)
from strom.metadata.scram import ScramCredential, ScramMechanism

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


def _frozen(d: dict[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(d) if d else _EMPTY


@dataclass(frozen=True)
class PartitionState:
    partition: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int


@dataclass(frozen=True)
class TopicImage:
    name: str
    topic_id: uuid.UUID
    partitions: Mapping[int, PartitionState] = field(default_factory=lambda: _EMPTY)
    configs: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # explicit topic-level overrides

    @property
    def internal(self) -> bool:
        return self.name.startswith("__")


@dataclass(frozen=True)
class BrokerRegistration:
    """A registered broker (Kafka's BrokerRegistration): ``epoch`` is the offset of its registration
    record; ``fenced`` brokers lead nothing and get no new replicas; one ``in_controlled_shutdown``
    is handing its leaderships over before it stops."""

    broker_id: int
    incarnation_id: str
    epoch: int
    endpoints: tuple[BrokerEndpoint, ...]
    rack: str | None
    fenced: bool
    in_controlled_shutdown: bool

    def endpoint(self, listener_name: str | None = None) -> BrokerEndpoint | None:
        """The endpoint of listener ``listener_name``; the first one when it has none of that name."""
        for e in self.endpoints:
            if e.name == listener_name:
                return e
        return self.endpoints[0] if self.endpoints else None


@dataclass(frozen=True)
class MetadataImage:
    """``offset``: offset of the last record applied (-1: none).  ``broker_configs``: broker id
    ("" = cluster-wide default) -> dynamic overrides.  ``brokers``: registered brokers by id.
    ``acls``: ACL bindings by id (stored, not enforced).  ``scram_credentials``: user -> mechanism ->
    credential."""

    topics: Mapping[str, TopicImage] = field(default_factory=lambda: _EMPTY)
    topics_by_id: Mapping[uuid.UUID, TopicImage] = field(default_factory=lambda: _EMPTY)
    broker_configs: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: _EMPTY)
    next_producer_id: int = 0
    offset: int = -1
    brokers: Mapping[int, BrokerRegistration] = field(default_factory=lambda: _EMPTY)
    acls: Mapping[str, AclBinding] = field(default_factory=lambda: _EMPTY)
    scram_credentials: Mapping[str, Mapping[ScramMechanism, ScramCredential]] = field(
        default_factory=lambda: _EMPTY)

    @property
    def live_brokers(self) -> list[int]:
        """Ids of the registered, unfenced brokers, ascending: the brokers that may lead partitions."""
        return sorted(b for b, reg in self.brokers.items() if not reg.fenced)

    @property
    def usable_brokers(self) -> list[BrokerRegistration]:
        """Live brokers not in controlled shutdown, ascending by id: where new replicas may go."""
        return [reg for _b, reg in sorted(self.brokers.items()) if not reg.fenced and not reg.in_controlled_shutdown]

    def replay(self, records: Iterable[MetadataRecord], offset: int) -> MetadataImage:
        """The image after ``records``, whose last record sits at ``offset``."""
        delta = MetadataDelta(self)
        for record in records:
            delta.replay(record)
        return delta.apply(offset)

    # ---------------------------------------------------------------- the broker's questions
    def topic(self, name: str) -> TopicImage | None:
        return self.topics.get(name)

    def dynamic_broker_configs(self, node_id: int) -> tuple[Mapping[str, str], Mapping[str, str]]:
        """(node ``node_id``'s, cluster-wide) dynamic broker overrides; the node's win. Settings that are
        not dynamic (``strom.config.DYNAMIC_BROKER_CONFIGS``) are left out, as Kafka ignores them when it
        loads them: an older Strom may have stored one that is read-only now."""
        node, cluster = self.broker_configs.get(str(node_id), _EMPTY), self.broker_configs.get("", _EMPTY)
        return ({k: v for k, v in node.items() if k in DYNAMIC_BROKER_CONFIGS},
                {k: v for k, v in cluster.items() if k in DYNAMIC_BROKER_CONFIGS})

    def effective_broker_config(self, static: BrokerConfig, node_id: int) -> BrokerConfig:
        """``static`` overlaid with the dynamic cluster-wide ("") then per-node overrides."""
        node_dynamic, cluster_dynamic = self.dynamic_broker_configs(node_id)
        dynamic = {**cluster_dynamic, **node_dynamic}
        return static.with_overrides(**dynamic) if dynamic else static

    def topic_config_values(self, name: str, static: BrokerConfig, node_id: int) -> dict[str, Any]:
        """Effective typed topic config: broker defaults (static and dynamic) overlaid with the topic's overrides."""
        topic = self.topics.get(name)
        values = dict(self.effective_broker_config(static, node_id).topic_defaults())
        if topic is not None and topic.configs:
            values.update(validate_topic_configs(dict(topic.configs)))
        return values


EMPTY_IMAGE = MetadataImage()


class MetadataDelta:
    """Records replayed on top of ``base``; ``apply`` builds the next image.  ``records`` keeps them
    in order (what listeners are told).  Owned by one caller; ``base`` is never changed."""

    def __init__(self, base: MetadataImage) -> None:
        self.base = base
        self.records: list[MetadataRecord] = []
        self._topics: dict[uuid.UUID, TopicImage | None] = {}  # changed topics by id; None = removed
        self._created: dict[str, uuid.UUID] = {}  # topics created in this delta by name
        self._partitions: dict[uuid.UUID, dict[int, PartitionState]] = {}
        self._topic_configs: dict[uuid.UUID, dict[str, str]] = {}
        self._broker_configs: dict[str, dict[str, str]] = {}
        self._brokers: dict[int, BrokerRegistration | None] = {}  # changed registrations; None = unregistered
        self._next_producer_id = base.next_producer_id
        self._acls: dict[str, AclBinding] | None = None  # copied on the first ACL record
        self._scram: dict[str, dict[ScramMechanism, ScramCredential]] = {}  # changed users (copies)

    def _topic_by_id(self, topic_id: uuid.UUID) -> TopicImage | None:
        if topic_id in self._topics:
            return self._topics[topic_id]
        return self.base.topics_by_id.get(topic_id)

    def _topic_by_name(self, name: str) -> TopicImage | None:
        topic_id = self._created.get(name)
        if topic_id is None:
            topic = self.base.topics.get(name)
            if topic is None:
                return None
            topic_id = topic.topic_id
        return self._topic_by_id(topic_id)

    def replay(self, record: MetadataRecord) -> None:
        self.records.append(record)
        if isinstance(record, TopicRecord):
            topic = TopicImage(record.name, uuid.UUID(record.topic_id))
            self._topics[topic.topic_id] = topic
            self._created[topic.name] = topic.topic_id
            self._partitions[topic.topic_id] = {}
            self._topic_configs[topic.topic_id] = {}
        elif isinstance(record, PartitionRecord):
            topic_id = uuid.UUID(record.topic_id)
            topic = self._topic_by_id(topic_id)
            if topic is None:
                raise KeyError(f"partition record for unknown topic id {topic_id}")
            self._touch(topic)
            self._partitions[topic_id][record.partition] = PartitionState(
                record.partition, tuple(record.replicas), tuple(record.isr), record.leader,
                record.leader_epoch, record.partition_epoch)
        elif isinstance(record, RemoveTopicRecord):
            topic_id = uuid.UUID(record.topic_id)
            if self._topic_by_id(topic_id) is not None:
                self._topics[topic_id] = None
                self._partitions.pop(topic_id, None)
                self._topic_configs.pop(topic_id, None)
        elif isinstance(record, ConfigRecord):
            if record.resource_type == BROKER_RESOURCE:
                target = self._broker_configs.get(record.resource_name)
                if target is None:
                    target = dict(self.base.broker_configs.get(record.resource_name, _EMPTY))
                    self._broker_configs[record.resource_name] = target
            else:
                t = self._topic_by_name(record.resource_name)
                if t is None:
                    return
                self._touch(t)
                target = self._topic_configs[t.topic_id]
            if record.value is None:
                target.pop(record.name, None)
            else:
                target[record.name] = record.value
        elif isinstance(record, ProducerIdsRecord):
            self._next_producer_id = max(self._next_producer_id, record.next_producer_id)
        elif isinstance(record, RegisterBrokerRecord):
            self._brokers[record.broker_id] = BrokerRegistration(
                record.broker_id, record.incarnation_id, record.broker_epoch, tuple(record.endpoints), record.rack,
                record.fenced, record.in_controlled_shutdown)
        elif isinstance(record, UnregisterBrokerRecord):
            current = self.broker(record.broker_id)
            if current is not None and current.epoch == record.broker_epoch:
                self._brokers[record.broker_id] = None
        elif isinstance(record, BrokerRegistrationChangeRecord):
            current = self.broker(record.broker_id)
            if current is None or current.epoch != record.broker_epoch:
                return  # a change of an older registration: superseded
            self._brokers[record.broker_id] = replace(
                current,
                fenced=current.fenced if record.fenced is None else record.fenced,
                in_controlled_shutdown=(current.in_controlled_shutdown if record.in_controlled_shutdown is None
                                        else record.in_controlled_shutdown))
        elif isinstance(record, (AccessControlEntryRecord, RemoveAccessControlEntryRecord)):
            self._replay_acl(record)
        elif isinstance(record, (UserScramCredentialRecord, RemoveUserScramCredentialRecord)):
            self._replay_scram(record)
        else:  # pragma: no cover
            raise TypeError(f"unknown metadata record {record!r}")

    def _replay_acl(self, record: AccessControlEntryRecord | RemoveAccessControlEntryRecord) -> None:
        if self._acls is None:
            self._acls = dict(self.base.acls)
        if isinstance(record, RemoveAccessControlEntryRecord):
            self._acls.pop(record.id, None)
        else:
            self._acls[record.id] = AclBinding(record.resource_type, record.resource_name, record.pattern_type,
                                               record.principal, record.host, record.operation,
                                               record.permission_type)

    def _replay_scram(self, record: UserScramCredentialRecord | RemoveUserScramCredentialRecord) -> None:
        user = self._scram.get(record.name)
        if user is None:
            user = self._scram[record.name] = dict(self.base.scram_credentials.get(record.name, _EMPTY))
        mechanism = ScramMechanism(record.mechanism)
        if isinstance(record, RemoveUserScramCredentialRecord):
            user.pop(mechanism, None)
        else:
            user[mechanism] = ScramCredential(mechanism, base64.b64decode(record.salt),
                                              base64.b64decode(record.stored_key),
                                              base64.b64decode(record.server_key), record.iterations)

    def broker(self, broker_id: int) -> BrokerRegistration | None:
        """The registration of ``broker_id`` as of the records replayed so far."""
        if broker_id in self._brokers:
            return self._brokers[broker_id]
        return self.base.brokers.get(broker_id)

    def _touch(self, topic: TopicImage) -> None:
        """Copy ``topic``'s partitions and configs for change (once per delta)."""
        if topic.topic_id not in self._partitions:
            self._topics[topic.topic_id] = topic
            self._partitions[topic.topic_id] = dict(topic.partitions)
            self._topic_configs[topic.topic_id] = dict(topic.configs)

    @property
    def removed_topics(self) -> list[TopicImage]:
        """Topics of the base image that this delta removes."""
        return [t for tid, new in self._topics.items() if new is None
                for t in (self.base.topics_by_id.get(tid),) if t is not None]

    def apply(self, offset: int) -> MetadataImage:
        base = self.base
        topics, topics_by_id = base.topics, base.topics_by_id
        if self._topics:
            by_name = dict(base.topics)
            by_id = dict(base.topics_by_id)
            for topic_id, topic in self._topics.items():
                old = base.topics_by_id.get(topic_id)
                if old is not None:
                    del by_id[topic_id]
                    if by_name.get(old.name) is old:  # not yet replaced by a new topic of that name
                        del by_name[old.name]
                if topic is None:
                    continue
                new = TopicImage(topic.name, topic_id, _frozen(self._partitions[topic_id]),
                                 _frozen(self._topic_configs[topic_id]))
                by_name[new.name] = new
                by_id[topic_id] = new
            topics, topics_by_id = _frozen(by_name), _frozen(by_id)
        broker_configs = base.broker_configs
        if self._broker_configs:
            merged = dict(base.broker_configs)
            for name, values in self._broker_configs.items():
                if values:
                    merged[name] = _frozen(values)
                else:
                    merged.pop(name, None)
            broker_configs = _frozen(merged)
        brokers = base.brokers
        if self._brokers:
            changed = dict(base.brokers)
            for broker_id, reg in self._brokers.items():
                if reg is None:
                    changed.pop(broker_id, None)
                else:
                    changed[broker_id] = reg
            brokers = _frozen(changed)
        acls = base.acls if self._acls is None else _frozen(self._acls)
        scram = base.scram_credentials
        if self._scram:
            users = dict(base.scram_credentials)
            for name, credentials in self._scram.items():
                if credentials:
                    users[name] = _frozen(credentials)
                else:
                    users.pop(name, None)
            scram = _frozen(users)
        return MetadataImage(topics, topics_by_id, broker_configs, self._next_producer_id, offset, brokers,
                             acls=acls, scram_credentials=scram)
