"""The replicated log seam of the raft core, and its in-memory implementation.

``RaftLog`` is what :class:`strom.raft.core.RaftNode` needs of the metadata log: records with
offsets and leader epochs, the log start offset (moved up by a snapshot), truncation, and a
durable part. Appends and truncations change the page cache; ``flush`` makes everything up to the
current end durable (fsync). A crash loses what was not flushed. Snapshots are written whole and
durably (the file wiring will use write-then-rename, ``<end_offset>-<epoch>.checkpoint``).

Ownership: one RaftNode owns its log; not thread-safe.

``MemoryRaftLog`` also keeps, per record, a chained digest of the whole prefix ending at that
record, so the simulator can check log matching and committed prefixes in O(1) per record. A
snapshot's bytes in the simulator are that digest (the simulated state machine *is* the digest).
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Protocol

from strom.raft.messages import EpochEndOffset, Record, SnapshotId

RECORD_BYTES = 64
"""Nominal size of one in-memory record, for ``metadata.log.max.record.bytes.between.snapshots``."""



def epoch_end_offset(epoch: int, epoch_starts: list[int], epoch_offsets: list[int], start_epoch: int,
                     knows_start: bool, end_offset: int) -> EpochEndOffset:
    """OffsetForLeaderEpoch over an epoch index: ``epoch_starts[i]`` began at ``epoch_offsets[i]``
    (both ascending); ``start_epoch`` is the epoch at the log start, known when ``knows_start``
    (a snapshot, or a log that starts at 0).  The answer is the largest epoch <= ``epoch`` and the
    offset where the next one begins (``end_offset`` for the last), or (-1, -1) when unknown."""
    i = bisect_right(epoch_starts, epoch) - 1
    if i < 0:
        if start_epoch <= epoch and knows_start:
            return EpochEndOffset(start_epoch, epoch_offsets[0] if epoch_offsets else end_offset)
        return EpochEndOffset(-1, -1)
    return EpochEndOffset(epoch_starts[i], epoch_offsets[i + 1] if i + 1 < len(epoch_offsets) else end_offset)

class RaftLog(Protocol):
    @property
    def start_offset(self) -> int:
        """First offset held in the log; the latest snapshot covers everything below it."""

    @property
    def end_offset(self) -> int:
        """Offset the next record gets (log end offset)."""

    @property
    def flushed_end_offset(self) -> int:
        """Records below this offset survive a crash."""

    @property
    def last_epoch(self) -> int:
        """Epoch of the last record, else of the latest snapshot, else 0."""

    def epoch_at(self, offset: int) -> int:
        """Epoch of the record at ``offset``; ``start_offset - 1`` gives the snapshot's epoch."""

    def end_offset_for_epoch(self, epoch: int) -> EpochEndOffset:
        """The largest epoch ``<= epoch`` known here and the offset where it ends (Kafka's leader
        epoch cache); ``EpochEndOffset(-1, -1)`` when the log knows no such epoch."""

    def read(self, offset: int, max_records: int) -> tuple[Record, ...]: ...

    def append(self, records: tuple[Record, ...]) -> None:
        """Append records whose offsets start at ``end_offset`` and epochs never decrease."""

    def truncate_to(self, offset: int) -> None:
        """Drop records at ``offset`` and above (``start_offset <= offset <= end_offset``)."""

    def flush(self) -> None:
        """Make every record below ``end_offset`` durable."""

    def bytes_since_snapshot(self, offset: int) -> int:
        """Record bytes between the latest snapshot and ``offset``."""

    def latest_snapshot(self) -> SnapshotId | None: ...

    def snapshot_bytes(self, snapshot_id: SnapshotId) -> bytes | None: ...

    def create_snapshot(self, end_offset: int, data: bytes) -> SnapshotId:
        """Durably store a snapshot of ``[0, end_offset)`` and move the log start up to it."""

    def install_snapshot(self, snapshot_id: SnapshotId, data: bytes) -> None:
        """Replace the whole log by a snapshot fetched from the leader (durably)."""


class MemoryRaftLog:
    """A ``RaftLog`` in memory with a durable/unflushed split (the simulator's disk)."""

    __slots__ = ("_start", "_records", "_digests", "_start_digest", "_start_epoch", "_flushed",
                 "_epoch_starts", "_epoch_offsets", "_snapshot", "_snapshot_data", "_dirty")

    def __init__(self) -> None:
        self._start = 0
        self._records: list[Record] = []
        self._digests: list[int] = []  # _digests[i]: digest of the prefix ending at records[i]
        self._start_digest = 0
        self._start_epoch = 0
        self._flushed = 0
        self._epoch_starts: list[int] = []  # epochs in increasing order ...
        self._epoch_offsets: list[int] = []  # ... and the offset of each one's first record
        self._snapshot: SnapshotId | None = None
        self._snapshot_data = b""
        self._dirty: int | None = None

    # ------------------------------------------------------------------------------ reading
    @property
    def start_offset(self) -> int:
        return self._start

    @property
    def end_offset(self) -> int:
        return self._start + len(self._records)

    @property
    def flushed_end_offset(self) -> int:
        return self._flushed

    @property
    def last_epoch(self) -> int:
        return self._records[-1].epoch if self._records else self._start_epoch

    def epoch_at(self, offset: int) -> int:
        if offset == self._start - 1 or (offset < self._start and not self._records):
            return self._start_epoch
        return self._records[offset - self._start].epoch

    def end_offset_for_epoch(self, epoch: int) -> EpochEndOffset:
        return epoch_end_offset(epoch, self._epoch_starts, self._epoch_offsets, self._start_epoch,
                                self._snapshot is not None or self._start == 0, self.end_offset)

    def read(self, offset: int, max_records: int) -> tuple[Record, ...]:
        i = offset - self._start
        return tuple(self._records[i:i + max_records])

    def digest_at(self, offset: int) -> int:
        """Digest of the prefix ``[0, offset)`` (``start_offset <= offset <= end_offset``)."""
        if offset == self._start:
            return self._start_digest
        return self._digests[offset - self._start - 1]

    def take_dirty(self) -> int | None:
        """Lowest offset appended, truncated or replaced since the last call (for the checker)."""
        dirty, self._dirty = self._dirty, None
        return dirty

    # ------------------------------------------------------------------------------ writing
    def _touch(self, offset: int) -> None:
        if self._dirty is None or offset < self._dirty:
            self._dirty = offset

    def append(self, records: tuple[Record, ...]) -> None:
        if not records:
            return
        end = self.end_offset
        if records[0].offset != end:
            raise ValueError(f"append at {records[0].offset}, log end is {end}")
        self._touch(end)
        digest = self._digests[-1] if self._digests else self._start_digest
        for record in records:
            if not self._epoch_starts or record.epoch > self._epoch_starts[-1]:
                self._epoch_starts.append(record.epoch)
                self._epoch_offsets.append(record.offset)
            elif record.epoch < self._epoch_starts[-1]:
                raise ValueError(f"epoch {record.epoch} after {self._epoch_starts[-1]}")
            digest = hash((digest, record.epoch, record.value))
            self._records.append(record)
            self._digests.append(digest)

    def truncate_to(self, offset: int) -> None:
        if offset >= self.end_offset:
            return
        if offset < self._start:
            raise ValueError(f"truncate to {offset} below log start {self._start}")
        self._touch(offset)
        del self._records[offset - self._start:]
        del self._digests[offset - self._start:]
        while self._epoch_offsets and self._epoch_offsets[-1] >= offset:
            self._epoch_offsets.pop()
            self._epoch_starts.pop()
        self._flushed = min(self._flushed, offset)

    def flush(self) -> None:
        self._flushed = self.end_offset

    def lose_unflushed(self) -> None:
        """A crash: the page cache is gone, the durable part stays."""
        self.truncate_to(max(self._flushed, self._start))

    # ---------------------------------------------------------------------------- snapshots
    def bytes_since_snapshot(self, offset: int) -> int:
        return max(0, offset - self._start) * RECORD_BYTES

    def latest_snapshot(self) -> SnapshotId | None:
        return self._snapshot

    def snapshot_bytes(self, snapshot_id: SnapshotId) -> bytes | None:
        return self._snapshot_data if snapshot_id == self._snapshot else None

    def create_snapshot(self, end_offset: int, data: bytes) -> SnapshotId:
        if not self._start < end_offset <= self._flushed:
            raise ValueError(f"snapshot at {end_offset} outside ({self._start}, {self._flushed}]")
        snapshot_id = SnapshotId(end_offset, self.epoch_at(end_offset - 1))
        self._start_digest = self.digest_at(end_offset)
        self._drop_prefix(end_offset, snapshot_id.epoch)
        self._snapshot, self._snapshot_data = snapshot_id, data
        return snapshot_id

    def install_snapshot(self, snapshot_id: SnapshotId, data: bytes) -> None:
        self._records.clear()
        self._digests.clear()
        self._epoch_starts.clear()
        self._epoch_offsets.clear()
        self._start = self._flushed = snapshot_id.end_offset
        self._start_epoch = snapshot_id.epoch
        state = data.rsplit(b"\n", 1)[-1]  # after the raft header, the simulator's digest
        self._start_digest = int(state) if state.lstrip(b"-").isdigit() else hash(data)
        self._snapshot, self._snapshot_data = snapshot_id, data
        self._touch(snapshot_id.end_offset)

    def _drop_prefix(self, offset: int, epoch: int) -> None:
        cut = offset - self._start
        del self._records[:cut]
        del self._digests[:cut]
        self._start = offset
        self._start_epoch = epoch
        # Keep the epoch of the first remaining record as an epoch start.
        while len(self._epoch_offsets) > 1 and self._epoch_offsets[1] <= offset:
            self._epoch_offsets.pop(0)
            self._epoch_starts.pop(0)
        if self._epoch_offsets:
            if self._records:
                self._epoch_offsets[0] = max(self._epoch_offsets[0], offset)
            else:
                self._epoch_offsets.clear()
                self._epoch_starts.clear()
