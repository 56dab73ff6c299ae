"""Shared runtime for coordinators that are state machines over an internal topic.

A coordinator (groups now, transactions later) owns the partitions of its
internal topic that this broker leads.  A request handler asks it for a
change; it answers with records plus a response; ``CoordinatorRuntime.write``
appends the records to the partition and then replays them into the
in-memory state (``replay`` is also the load path after a restart or a
failover), and only then is the response sent.

Records are Kafka records in the internal topic's log: the key identifies what
the record is about (so compaction keeps the newest per key), the value is the
state, and a null value is a tombstone.  The encoding is chosen by each
coordinator (see ``strom.coordinator.group.records``).

``PartitionWriter`` is the narrow seam to the log: the node wires it to the
ReplicaManager; simulations can use an in-memory one.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

Record = tuple[bytes, bytes | None]


class PartitionWriter(Protocol):
    def append(self, topic: str, partition: int, records: Sequence[Record]) -> int:
        """Append records as one batch; returns the last offset.  Raises KafkaError."""

    def read_all(self, topic: str, partition: int) -> Iterable[tuple[int, bytes | None, bytes | None]]:
        """Every (offset, key, value) of the partition from its log start."""

    def partitions(self, topic: str) -> list[int]:
        """The partitions of ``topic`` this broker leads."""


def java_string_hash(s: str) -> int:
    """Java's String.hashCode (over UTF-16 code units), as a signed 32-bit int."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def partition_for(key: str, num_partitions: int) -> int:
    """Kafka's coordinator partition: Utils.abs(key.hashCode()) % partitions."""
    return (java_string_hash(key) & 0x7FFFFFFF) % num_partitions


class CoordinatorRuntime:
    """Serialises writes per partition and replays written records into the state machine."""

    def __init__(self, topic: str, writer: PartitionWriter, replay: Callable[[int, bytes, bytes | None], None]) -> None:
        self.topic = topic
        self.writer = writer
        self._replay = replay
        self._locks: dict[int, asyncio.Lock] = {}

    def load(self) -> int:
        """Replay every record of every led partition; returns how many were replayed."""
        count = 0
        for partition in self.writer.partitions(self.topic):
            for _offset, key, value in self.writer.read_all(self.topic, partition):
                if key is not None:
                    self._replay(partition, key, value)
                    count += 1
        return count

    async def write(self, partition: int, records: Sequence[Record]) -> None:
        """Append ``records`` to ``partition`` and replay them; raises KafkaError if the append fails."""
        if not records:
            return
        lock = self._locks.setdefault(partition, asyncio.Lock())
        async with lock:
            self.writer.append(self.topic, partition, records)
            for key, value in records:
                self._replay(partition, key, value)
