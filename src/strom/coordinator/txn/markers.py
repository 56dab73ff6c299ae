"""LocalMarkerWriter: the transaction coordinator's markers on one node (WriteTxnMarkers in-process).

A marker for a ``__consumer_offsets`` partition goes through the group
coordinator (which appends it and replays it, turning the transaction's offset
commits into committed offsets or dropping them); any other partition gets the
marker appended by the PartitionWriter.  A cluster will send WriteTxnMarkers to
each partition's leader instead; this class is the seam.
"""
from __future__ import annotations

from strom.coordinator.group.coordinator import OFFSETS_TOPIC, GroupCoordinator
from strom.coordinator.runtime import PartitionWriter


class LocalMarkerWriter:
    def __init__(self, writer: PartitionWriter, groups: GroupCoordinator) -> None:
        self.writer = writer
        self.groups = groups

    async def write(self, topic: str, partition: int, *, producer_id: int, producer_epoch: int,
                    coordinator_epoch: int, commit: bool) -> None:
        if topic == OFFSETS_TOPIC:
            await self.groups.write_txn_marker(partition, producer_id, producer_epoch, coordinator_epoch, commit)
        else:
            self.writer.append_marker(topic, partition, producer_id=producer_id, producer_epoch=producer_epoch,
                                      coordinator_epoch=coordinator_epoch, commit=commit)
