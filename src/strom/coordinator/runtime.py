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

Transactions: a coordinator may write records inside a producer's transaction
(``write_transactional``: the group coordinator's TxnOffsetCommit) and the
transaction coordinator's markers land through ``write_marker``; both are
replayed (and loaded) through the optional ``replay_txn`` / ``replay_marker``
callbacks, so records of a transaction take effect only at its COMMIT marker.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol

Record = tuple[bytes, bytes | None]


class TxnInfo(NamedTuple):
    """What a loaded record says about transactions: its producer, and for a marker its outcome."""

    producer_id: int
    producer_epoch: int
    marker_commit: bool | None  # None: a record inside a transaction; True/False: a COMMIT/ABORT marker


class PartitionWriter(Protocol):
    def append(self, topic: str, partition: int, records: Sequence[Record], *, producer_id: int = -1,
               producer_epoch: int = -1, transactional: bool = False) -> int:
        """Append records as one batch (a transactional one when ``transactional``, without
        sequence numbers); returns the last offset.  Raises KafkaError (INVALID_PRODUCER_EPOCH for
        a stale epoch)."""

    def append_marker(self, topic: str, partition: int, *, producer_id: int, producer_epoch: int,
                      coordinator_epoch: int, commit: bool) -> int:
        """Append a COMMIT/ABORT transaction marker; returns its offset.  Raises KafkaError."""

    def read_all(self, topic: str, partition: int
                 ) -> Iterable[tuple[int, bytes | None, bytes | None, tuple[int, int, bool | None] | None]]:
        """Every (offset, key, value, txn) of the partition from its log start; ``txn`` is None
        for records outside transactions, else the fields of a TxnInfo."""

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

    def __init__(self, topic: str, writer: PartitionWriter, replay: Callable[[int, bytes, bytes | None], None],
                 *, replay_txn: Callable[[int, int, bytes, bytes | None], None] | None = None,
                 replay_marker: Callable[[int, int, bool], None] | None = None) -> None:
        """``replay(partition, key, value)``; ``replay_txn(partition, producer_id, key, value)`` for a
        record inside a transaction; ``replay_marker(partition, producer_id, commit)``."""
        self.topic = topic
        self.writer = writer
        self._replay = replay
        self._replay_txn = replay_txn
        self._replay_marker = replay_marker
        self._locks: dict[int, asyncio.Lock] = {}

    def load(self) -> int:
        """Replay every record of every led partition; returns how many were replayed."""
        count = 0
        for partition in self.writer.partitions(self.topic):
            for _offset, key, value, txn in self.writer.read_all(self.topic, partition):
                if txn is not None:
                    txn = TxnInfo(*txn)
                if txn is not None and txn.marker_commit is not None:
                    if self._replay_marker is not None:
                        self._replay_marker(partition, txn.producer_id, txn.marker_commit)
                    count += 1
                elif key is not None:
                    if txn is not None and self._replay_txn is not None:
                        self._replay_txn(partition, txn.producer_id, key, value)
                    else:
                        self._replay(partition, key, value)
                    count += 1
        return count

    def _lock(self, partition: int) -> asyncio.Lock:
        return self._locks.setdefault(partition, asyncio.Lock())

    async def write_transactional(self, partition: int, records: Sequence[Record], producer_id: int,
                                  producer_epoch: int) -> None:
        """Append ``records`` inside the producer's transaction and replay them as pending."""
        if not records or self._replay_txn is None:
            return
        async with self._lock(partition):
            self.writer.append(self.topic, partition, records, producer_id=producer_id,
                               producer_epoch=producer_epoch, transactional=True)
            for key, value in records:
                self._replay_txn(partition, producer_id, key, value)

    async def write_marker(self, partition: int, producer_id: int, producer_epoch: int, coordinator_epoch: int,
                           commit: bool) -> None:
        """Append a transaction marker to ``partition`` and replay it."""
        async with self._lock(partition):
            self.writer.append_marker(self.topic, partition, producer_id=producer_id, producer_epoch=producer_epoch,
                                      coordinator_epoch=coordinator_epoch, commit=commit)
            if self._replay_marker is not None:
                self._replay_marker(partition, producer_id, commit)

    async def write(self, partition: int, records: Sequence[Record]) -> None:
        """Append ``records`` to ``partition`` and replay them; raises KafkaError if the append fails."""
        if not records:
            return
        async with self._lock(partition):
            self.writer.append(self.topic, partition, records)
            for key, value in records:
                self._replay(partition, key, value)
