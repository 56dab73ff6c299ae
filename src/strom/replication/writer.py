"""LocalPartitionWriter: the coordinators' PartitionWriter over this broker's partitions.

Coordinator records become one record batch appended to the local partition
(the leader's log); the replication issue makes it wait for the ISR like an
acks=all produce.  Event-loop thread only.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from strom.errors import ErrorCode, KafkaError
from strom.records.batch import (
    CONTROL_COMMIT, NewRecord, build_batch, build_end_txn_marker, control_record_type, decode_batch, iter_batches,
    read_header, validate_batches,
)
from strom.replication.replica_manager import ReplicaManager


class LocalPartitionWriter:
    def __init__(self, replicas: ReplicaManager) -> None:
        self.replicas = replicas

    def _partition(self, topic: str, partition: int):  # type: ignore[no-untyped-def]
        part = self.replicas.get(topic, partition)
        if part is None:
            raise KafkaError(f"{topic}-{partition} is not hosted here", ErrorCode.NOT_COORDINATOR)
        return part

    def append(self, topic: str, partition: int, records: Sequence[tuple[bytes, bytes | None]], *,
               producer_id: int = -1, producer_epoch: int = -1, transactional: bool = False) -> int:
        part = self._partition(topic, partition)
        now = self.replicas.clock.now_ms()
        batch = build_batch([NewRecord(k, v) for k, v in records], timestamp_ms=now, producer_id=producer_id,
                            producer_epoch=producer_epoch, transactional=transactional)
        # built here: no client-origin checks (a transactional batch of the coordinator has no sequence)
        result = part.append(batch, [read_header(batch)], now)
        self.replicas.after_append(part)
        return result.last_offset

    def append_marker(self, topic: str, partition: int, *, producer_id: int, producer_epoch: int,
                      coordinator_epoch: int, commit: bool) -> int:
        return write_txn_marker(self.replicas, topic, partition, producer_id=producer_id,
                                producer_epoch=producer_epoch, coordinator_epoch=coordinator_epoch, commit=commit)

    def read_all(self, topic: str, partition: int) -> Iterator[tuple[int, bytes | None, bytes | None, tuple[int, int, bool | None] | None]]:
        log = self._partition(topic, partition).log
        offset = log.log_start_offset
        end = log.high_watermark
        while offset < end:
            data = log.read(offset, 4 << 20, max_offset=end)
            if not data:
                break
            start = offset
            for h, raw in iter_batches(data):
                records = decode_batch(raw)[1]
                txn: tuple[int, int, bool | None] | None = None
                if h.is_control:
                    if records and records[0].offset >= offset:
                        commit = control_record_type(records[0]) == CONTROL_COMMIT
                        yield records[0].offset, None, None, (h.producer_id, h.producer_epoch, commit)
                else:
                    if h.is_transactional:
                        txn = (h.producer_id, h.producer_epoch, None)
                    for record in records:
                        if record.offset >= offset:
                            yield record.offset, record.key, record.value, txn
                offset = max(offset, h.next_offset)  # compacted logs have gaps and empty batches
            if offset == start:  # pragma: no cover - a read returns whole batches
                break

    def partitions(self, topic: str) -> list[int]:
        return sorted(p for (t, p) in self.replicas.partitions if t == topic)


def write_txn_marker(replicas: ReplicaManager, topic: str, partition: int, *, producer_id: int, producer_epoch: int,
                     coordinator_epoch: int, commit: bool) -> int:
    """Append a COMMIT/ABORT marker to a local partition (the transaction coordinator's marker
    writer and WriteTxnMarkers); returns its offset.  Raises KafkaError: NOT_LEADER_OR_FOLLOWER
    (UNKNOWN_TOPIC_OR_PARTITION) when the partition is not here, INVALID_PRODUCER_EPOCH when the
    producer already has a newer epoch there."""
    part = replicas.get(topic, partition)
    if part is None:
        raise KafkaError(f"{topic}-{partition} is not hosted here", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    now = replicas.clock.now_ms()
    batch = build_end_txn_marker(commit, producer_id=producer_id, producer_epoch=producer_epoch,
                                 coordinator_epoch=coordinator_epoch, timestamp_ms=now)
    result = part.append(batch, validate_batches(batch, allow_control=True), now)
    replicas.after_append(part)
    return result.last_offset
