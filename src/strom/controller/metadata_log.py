"""The metadata log: ``__cluster_metadata-0`` in the data dir, committed through raft.

A ``FileRaftLog`` (record batches with leader epochs, ``quorum-state``, snapshot files) run by a
``RaftHost``. Today the quorum is this node alone (the embedded single voter): it elects itself
at start-up, and ``append`` commits once its batch is fsynced, as the stand-in before it did.
Data records keep the metadata record encoding (``strom.metadata.records``); the raft control
records (LeaderChange) sit in control batches of their own, which ``read_all`` and the commit
listeners skip. Logs written before raft (batches with leader epoch -1) load unchanged.

``read_all`` yields the latest snapshot's records, then every metadata record of the log after it
(start-up replay, before anything is appended). A metadata snapshot is the raft core's
``voters=`` header line, then record batches of metadata records (``encode_snapshot``); nothing
writes one yet (the controller is not the core's snapshot writer), so the log start stays 0. ``run`` is the host's timer loop (a task of the node's TaskGroup); a lone
voter commits without it.

Owned by the controller; the broker's cache follows it through ``add_commit_listener``.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from strom.metadata.records import MetadataRecord, decode, encode
from strom.raft.core import RaftConfig, RaftNode
from strom.raft.file_log import FileRaftLog, QuorumStateFile, decode_batches
from strom.raft.host import LoopbackNetwork, RaftHost
from strom.raft.messages import Record
from strom.records.batch import NewRecord, build_batch
from strom.util.clock import Scheduler

METADATA_TOPIC = "__cluster_metadata"
METADATA_DIR = f"{METADATA_TOPIC}-0"

# Called with the metadata records of each committed run and the offset of the last one.
MetadataListener = Callable[[Sequence[MetadataRecord], int], None]


class MetadataLog:
    def __init__(self, data_dir: Path, scheduler: Scheduler, *, clean: bool, node_id: int = 1,
                 cluster_id: str = "", raft_config: RaftConfig = RaftConfig()) -> None:
        path = data_dir / METADATA_DIR
        self._log = FileRaftLog(path, scheduler, clean=clean)
        store = QuorumStateFile(path)
        try:
            state = store.read()
        except ValueError as exc:
            raise ValueError(f"{store.path}: {exc}") from None
        node = RaftNode(node_id, {node_id}, self._log, cluster_id=cluster_id, now=scheduler.now_ms(),
                        rng=random.Random(), config=raft_config, quorum_state=state)
        # a lone voter has no peers: the loopback network has nobody registered to deliver to
        self.host = RaftHost(node, scheduler=scheduler, channel=LoopbackNetwork(), quorum_state=store,
                             committed_offset=self._log.end_offset)

    @property
    def end_offset(self) -> int:
        """The offset the next record will get (the last record's offset is one less)."""
        return self._log.end_offset

    def read_all(self) -> Iterator[MetadataRecord]:
        """The latest snapshot's records, then every metadata record of the log after it."""
        snapshot = self._log.latest_snapshot()
        if snapshot is not None:
            data = self._log.snapshot_bytes(snapshot)
            if data is None:
                raise ValueError(f"the metadata snapshot {snapshot} cannot be read")
            yield from snapshot_records(data)
        offset = self._log.start_offset
        while offset < self._log.end_offset:
            records = self._log.read(offset, 1024)
            if not records:
                break
            for record in records:
                if not record.control:
                    yield _decode(record)
            offset = records[-1].offset + 1

    async def append(self, records: Sequence[MetadataRecord]) -> int:
        """Commit one run of records (durable once committed); the offset of its last record.
        Raises NotController when this node cannot commit (not the leader)."""
        return await self.host.append([encode(r) for r in records])

    def add_commit_listener(self, listener: MetadataListener) -> None:
        """Call ``listener(records, last offset)`` with the metadata records of every committed run."""
        def on_commit(records: tuple[Record, ...]) -> None:
            data = [r for r in records if not r.control]
            if data:
                listener([_decode(r) for r in data], data[-1].offset)
        self.host.add_listener(on_commit)

    async def run(self) -> None:
        await self.host.run()

    def close(self) -> None:
        self.host.close()
        self._log.close()


def encode_snapshot(records: Sequence[MetadataRecord]) -> bytes:
    """The state-machine part of a metadata snapshot: the records that rebuild the image, as one
    record batch (after the raft core's ``voters=`` header line, which the core adds)."""
    if not records:
        return b""
    return build_batch([NewRecord(*encode(r)) for r in records], timestamp_ms=0)


def snapshot_records(data: bytes) -> Iterator[MetadataRecord]:
    """The metadata records of a snapshot file's bytes (header line, then record batches)."""
    if data.startswith(b"voters="):
        data = data[data.index(b"\n") + 1:] if b"\n" in data else b""
    for record in decode_batches(data):
        if not record.control:
            yield _decode(record)


def _decode(record: Record) -> MetadataRecord:
    key, value = record.value  # type: ignore[misc]
    return decode(key or b"", value or b"")
