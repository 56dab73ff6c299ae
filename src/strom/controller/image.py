"""MetadataImage: the cluster metadata as of the last replayed record.

Owned by the controller on the event loop; it changes only in ``replay``.
Readers (handlers, the broker's log wiring) treat it as read-only.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from strom.controller.records import (
    BROKER_RESOURCE, ConfigRecord, MetadataRecord, PartitionRecord, ProducerIdsRecord,
    RemoveTopicRecord, TopicRecord,
)


@dataclass(frozen=True)
class PartitionState:
    partition: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int


@dataclass
class TopicImage:
    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionState] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)  # explicit topic-level overrides

    @property
    def internal(self) -> bool:
        return self.name.startswith("__")


class MetadataImage:
    def __init__(self) -> None:
        self.topics: dict[str, TopicImage] = {}
        self.topics_by_id: dict[uuid.UUID, TopicImage] = {}
        self.broker_configs: dict[str, dict[str, str]] = {}  # broker id ("" = cluster default) -> overrides
        self.next_producer_id = 0
        self.offset = -1  # offset of the last replayed record

    def replay(self, record: MetadataRecord) -> None:
        if isinstance(record, TopicRecord):
            topic = TopicImage(record.name, uuid.UUID(record.topic_id))
            self.topics[record.name] = topic
            self.topics_by_id[topic.topic_id] = topic
        elif isinstance(record, PartitionRecord):
            topic = self.topics_by_id[uuid.UUID(record.topic_id)]
            topic.partitions[record.partition] = PartitionState(
                record.partition, tuple(record.replicas), tuple(record.isr), record.leader,
                record.leader_epoch, record.partition_epoch)
        elif isinstance(record, RemoveTopicRecord):
            topic = self.topics_by_id.pop(uuid.UUID(record.topic_id), None)
            if topic is not None:
                self.topics.pop(topic.name, None)
        elif isinstance(record, ConfigRecord):
            if record.resource_type == BROKER_RESOURCE:
                target = self.broker_configs.setdefault(record.resource_name, {})
            else:
                t = self.topics.get(record.resource_name)
                if t is None:
                    return
                target = t.configs
            if record.value is None:
                target.pop(record.name, None)
            else:
                target[record.name] = record.value
        elif isinstance(record, ProducerIdsRecord):
            self.next_producer_id = max(self.next_producer_id, record.next_producer_id)
        else:  # pragma: no cover
            raise TypeError(f"unknown metadata record {record!r}")
