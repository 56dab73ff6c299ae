"""The metadata log: ``__cluster_metadata-0`` in the data dir, records as Kafka batches.

Single-voter stand-in for the KRaft log: ``append`` writes one batch of
metadata records and fsyncs it on a worker thread before returning, so a
change acknowledged to a client survives a crash, and returns the offset of
the batch's last record.  ``read_all`` yields every record from the start
(start-up replay).  Owned by the controller; the broker's cache reads it only
at start-up, before the controller commits anything.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

from strom.metadata.records import MetadataRecord, decode, encode
from strom.records.batch import NewRecord, build_batch, iter_records, validate_batches
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.util.clock import Clock

METADATA_TOPIC = "__cluster_metadata"
METADATA_DIR = f"{METADATA_TOPIC}-0"


class MetadataLog:
    def __init__(self, data_dir: Path, clock: Clock, *, clean: bool) -> None:
        config = LogConfig(segment_bytes=64 * 1024 * 1024, retention_ms=-1, retention_bytes=-1)
        path = data_dir / METADATA_DIR
        path.mkdir(parents=True, exist_ok=True)
        self._log = Log(path, config, clock=clock, clean=clean)
        self._clock = clock

    @property
    def end_offset(self) -> int:
        """The offset the next record will get (the last record's offset is one less)."""
        return self._log.log_end_offset

    def read_all(self) -> Iterator[MetadataRecord]:
        offset = self._log.log_start_offset
        while offset < self._log.log_end_offset:
            data = self._log.read(offset, 1 << 20, max_offset=self._log.log_end_offset)
            if not data:
                break
            for record in iter_records(data):
                if record.offset >= offset:
                    yield decode(record.key or b"", record.value or b"")
                    offset = record.offset + 1

    async def append(self, records: Sequence[MetadataRecord]) -> int:
        """Write one batch and fsync it; the offset of its last record."""
        batch = build_batch([NewRecord(*encode(r)) for r in records], timestamp_ms=self._clock.now_ms())
        result = self._log.append(batch, validate_batches(batch))
        await asyncio.to_thread(self._log.sync_all)
        return result.last_offset

    def close(self) -> None:
        self._log.close()
