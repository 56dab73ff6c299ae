"""LocalPartitionWriter: the coordinators' PartitionWriter over this broker's partitions.

Coordinator records become one record batch appended to the local partition
(the leader's log); the replication issue makes it wait for the ISR like an
acks=all produce.  Event-loop thread only.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from strom.errors import ErrorCode, KafkaError
from strom.records.batch import NewRecord, build_batch, decode_batch, iter_batches, validate_batches
from strom.replication.replica_manager import ReplicaManager


class LocalPartitionWriter:
    def __init__(self, replicas: ReplicaManager) -> None:
        self.replicas = replicas

    def _partition(self, topic: str, partition: int):  # type: ignore[no-untyped-def]
        part = self.replicas.get(topic, partition)
        if part is None:
            raise KafkaError(f"{topic}-{partition} is not hosted here", ErrorCode.NOT_COORDINATOR)
        return part

    def append(self, topic: str, partition: int, records: Sequence[tuple[bytes, bytes | None]]) -> int:
        part = self._partition(topic, partition)
        now = self.replicas.clock.now_ms()
        batch = build_batch([NewRecord(k, v) for k, v in records], timestamp_ms=now)
        result = part.append(batch, validate_batches(batch), now)
        self.replicas.after_append(part)
        return result.last_offset

    def read_all(self, topic: str, partition: int) -> Iterator[tuple[int, bytes | None, bytes | None]]:
        log = self._partition(topic, partition).log
        offset = log.log_start_offset
        end = log.high_watermark
        while offset < end:
            data = log.read(offset, 4 << 20, max_offset=end)
            if not data:
                break
            start = offset
            for header, batch in iter_batches(data):
                for record in decode_batch(batch)[1]:
                    if record.offset >= offset:
                        yield record.offset, record.key, record.value
                offset = max(offset, header.next_offset)  # compacted logs have gaps and empty batches
            if offset == start:  # pragma: no cover - a read returns whole batches
                break

    def partitions(self, topic: str) -> list[int]:
        return sorted(p for (t, p) in self.replicas.partitions if t == topic)
