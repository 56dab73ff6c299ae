"""Idempotent-producer state of one partition, and its snapshots.

Per producer id: the epoch and the metadata of its last 5 batches
(first/last sequence, first/last offset, max timestamp) — librdkafka and the
Java client keep up to 5 requests in flight, so a retry of any of them is
recognised as a duplicate and answered with the original offsets.

Rules (Apache Kafka's ProducerAppendInfo / UnifiedLog.analyzeAndValidateProducerState):

* epoch below the current one: INVALID_PRODUCER_EPOCH;
* epoch above the current one: the first sequence must be 0, unless the
  current epoch is unknown (-1), else OUT_OF_ORDER_SEQUENCE_NUMBER;
* same epoch: a batch whose (first, last) sequence matches one of the cached
  batches is a duplicate (nothing is written; the caller returns the cached
  offsets); otherwise its first sequence must follow the last one (wrapping
  at 2^31-1 to 0; with an entry but no cached batch, e.g. after a transaction
  marker, it must be 0), else OUT_OF_ORDER_SEQUENCE_NUMBER;
* no state for the producer (new, expired): any sequence is accepted.

Several batches of one append are checked in order against the state as the
earlier ones would leave it (``check_batches``); state changes only in
``update``, called for each batch actually written and when replaying the
log.  Producers are expired ``producer.id.expiration.ms`` after their last
batch timestamp by ``expire``, which the broker calls periodically (Kafka also drops
expired producers when loading a snapshot; we do not, so a restart never forgets
a producer that a retry may still need).

Snapshot file ``<20-digit offset>.snapshot`` in the partition directory, one
JSON document::

    {"version": 1, "offset": N, "crc": C, "producers": [
        {"pid": .., "epoch": .., "last_timestamp": .., "txn_first_offset": ..,
         "batches": [[first_seq, last_seq, first_offset, last_offset, timestamp], ...]}, ...]}

where ``crc`` is the CRC-32C of the canonical JSON (sorted keys, no spaces)
of ``producers``.  It holds the state after every batch below ``offset``.
Written (temp file + rename, no fsync: a torn or lost snapshot only costs a
longer replay, and one above the recovered log end is discarded) at segment
roll and at close; the two newest are kept.  On open the Log loads the newest
valid snapshot at or below its end and replays batch headers from there.
Transactions: a transactional batch of a producer with no ongoing transaction
starts one at its base offset (``txn_first_offset``; ``ongoing`` maps producer
id to it, so the first unstable offset is the smallest value there, and the
last stable offset equals the high watermark while it is empty).  A
transaction marker (control batch, written only by the transaction
coordinator) completes it: ``update`` returns the (producer id, first offset)
of a transaction an ABORT marker ended, for the Log's transaction index.  A
marker's epoch may be above the producer's (a fenced or timed-out
transaction), never below (INVALID_PRODUCER_EPOCH); markers and batches
without a sequence (the group coordinator's transactional offset commits)
bypass the sequence checks.  Producers with an ongoing transaction never expire.  Each
producer's ``txn_first_offset`` is in the snapshot (-1 when none; a snapshot
without the field reads as -1).  Owned by its Log (event-loop thread).
"""
from __future__ import annotations

import collections
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from strom.errors import InvalidProducerEpoch, OutOfOrderSequence
from strom.records.batch import INT32_MAX, NO_PRODUCER_EPOCH, NO_SEQUENCE, BatchHeader, crc32c_of
from strom.storage.files import OS_FS, FileSystem, write_atomically

MAX_CACHED_BATCHES = 5
SNAPSHOT_SUFFIX = ".snapshot"
SNAPSHOT_VERSION = 1
SNAPSHOTS_KEPT = 2


@dataclass
class BatchMeta:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


@dataclass
class ProducerEntry:
    epoch: int
    batches: collections.deque[BatchMeta] = field(default_factory=lambda: collections.deque(maxlen=MAX_CACHED_BATCHES))
    last_timestamp: int = -1
    txn_first_offset: int = -1  # first offset of the ongoing transaction in this partition, -1 when none

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    def find_duplicate(self, h: BatchHeader) -> BatchMeta | None:
        if h.producer_epoch != self.epoch:
            return None
        last_seq = h.last_sequence
        for meta in self.batches:
            if meta.first_seq == h.base_sequence and meta.last_seq == last_seq:
                return meta
        return None


def next_sequence(seq: int) -> int:
    return 0 if seq == INT32_MAX else seq + 1


def _check_sequence(pid: int, epoch: int, last_seq: int, h: BatchHeader) -> None:
    """Kafka's checkProducerEpoch + checkSequence against a known entry (epoch, last sequence)."""
    if h.producer_epoch < epoch:
        raise InvalidProducerEpoch(f"producer {pid}: epoch {h.producer_epoch} is older than the current "
                                   f"epoch {epoch}")
    if h.producer_epoch > epoch:
        if h.base_sequence != 0 and epoch != NO_PRODUCER_EPOCH:
            raise OutOfOrderSequence(f"producer {pid}: new epoch {h.producer_epoch} must start at sequence 0, "
                                     f"got {h.base_sequence}")
        return
    if epoch != NO_PRODUCER_EPOCH and h.base_sequence != next_sequence(last_seq):
        raise OutOfOrderSequence(f"producer {pid}: expected sequence {next_sequence(last_seq)}, "
                                 f"got {h.base_sequence} (epoch {epoch})")


def _check_marker(pid: int, epoch: int, h: BatchHeader) -> None:
    """A transaction marker may carry a newer epoch (fencing), never an older one."""
    if h.producer_epoch < epoch:
        raise InvalidProducerEpoch(f"producer {pid}: marker epoch {h.producer_epoch} is older than the current "
                                   f"epoch {epoch}")


class ProducerStateManager:
    def __init__(self, directory: Path, expiration_ms: int = 86_400_000, *, fs: FileSystem = OS_FS) -> None:
        self.dir = directory
        self.fs = fs
        self.expiration_ms = expiration_ms
        self.producers: dict[int, ProducerEntry] = {}
        self.ongoing: dict[int, int] = {}  # producer id -> first offset of its ongoing transaction

    # ------------------------------------------------------------------ checks
    def check(self, h: BatchHeader) -> BatchMeta | None:
        """Validate one batch before it is written; returns the cached batch when it is a duplicate.
        Raises InvalidProducerEpoch / OutOfOrderSequence.  Transaction markers (control batches) and
        batches without a sequence skip the sequence checks; only their epoch is checked (``_check_marker``)."""
        if h.producer_id < 0:
            return None
        entry = self.producers.get(h.producer_id)
        if entry is None:
            return None
        if h.is_control or h.base_sequence < 0:
            _check_marker(h.producer_id, entry.epoch, h)
            return None
        dup = entry.find_duplicate(h)
        if dup is not None:
            return dup
        _check_sequence(h.producer_id, entry.epoch, entry.last_seq, h)
        return None

    def check_batches(self, headers: Iterable[BatchHeader]) -> BatchMeta | None:
        """``check`` for every batch of one append, each against the state the earlier ones leave.
        Returns the cached metadata when a batch is a duplicate (the whole append is then one)."""
        staged: dict[int, tuple[int, int]] = {}
        for h in headers:
            pid = h.producer_id
            if pid < 0:
                continue
            prior = staged.get(pid)
            if h.is_control or h.base_sequence < 0:
                if prior is not None:
                    _check_marker(pid, prior[0], h)
                else:
                    self.check(h)
                staged[pid] = (h.producer_epoch, NO_SEQUENCE)
                continue
            if prior is None:
                dup = self.check(h)
                if dup is not None:
                    return dup
            else:
                _check_sequence(pid, prior[0], prior[1], h)
            staged[pid] = (h.producer_epoch, h.last_sequence)
        return None

    def update(self, h: BatchHeader) -> tuple[int, int] | None:
        """Record a written batch (append path and recovery replay).  For a control batch
        (a transaction marker) returns (producer id, first offset) of the transaction it ended,
        None when there was none; the caller decides (by the marker type) whether to index it."""
        pid = h.producer_id
        if pid < 0:
            return None
        entry = self.producers.get(pid)
        if entry is None or h.producer_epoch != entry.epoch:
            if entry is not None and h.producer_epoch < entry.epoch:
                return None  # replaying a stale batch (e.g. an old marker): keep the newer epoch
            txn_first = entry.txn_first_offset if entry is not None else -1
            entry = ProducerEntry(h.producer_epoch, txn_first_offset=txn_first)
            self.producers[pid] = entry
        entry.last_timestamp = max(entry.last_timestamp, h.max_timestamp)
        if h.is_control:
            first = entry.txn_first_offset
            if first < 0:
                return None
            entry.txn_first_offset = -1
            self.ongoing.pop(pid, None)
            return pid, first
        if h.base_sequence >= 0:
            entry.batches.append(BatchMeta(h.base_sequence, h.last_sequence, h.base_offset, h.last_offset,
                                           h.max_timestamp))
        if h.is_transactional and entry.txn_first_offset < 0:
            entry.txn_first_offset = h.base_offset
            self.ongoing[pid] = h.base_offset
        return None

    def first_unstable_offset(self) -> int | None:
        """The first offset of the oldest ongoing transaction, None when there is none."""
        ongoing = self.ongoing
        return min(ongoing.values()) if ongoing else None

    def last_entry(self, producer_id: int) -> ProducerEntry | None:
        return self.producers.get(producer_id)

    def expire(self, now_ms: int) -> int:
        """Forget producers whose last batch timestamp is ``producer.id.expiration.ms`` or more in
        the past; returns how many."""
        old = [pid for pid, e in self.producers.items()
               if now_ms - e.last_timestamp >= self.expiration_ms and e.txn_first_offset < 0]
        for pid in old:
            del self.producers[pid]
        return len(old)

    # ------------------------------------------------------------------ snapshots
    def snapshot_files(self) -> list[tuple[int, Path]]:
        """(offset, path) of the snapshot files, oldest first."""
        out = []
        try:
            names = self.fs.listdir(self.dir)
        except FileNotFoundError:
            return []
        for name in names:
            stem = name[:-len(SNAPSHOT_SUFFIX)]
            if name.endswith(SNAPSHOT_SUFFIX) and stem.isdigit():
                out.append((int(stem), self.dir / name))
        return sorted(out)

    def latest_snapshot_offset(self) -> int | None:
        files = self.snapshot_files()
        return files[-1][0] if files else None

    @staticmethod
    def _canonical(producers: list) -> bytes:
        return json.dumps(producers, separators=(",", ":"), sort_keys=True).encode()

    def write_snapshot(self, offset: int) -> Path:
        """Write the state as of ``offset`` (every batch below it applied); keep the 2 newest files."""
        producers = [{"pid": pid, "epoch": e.epoch, "last_timestamp": e.last_timestamp,
                      "txn_first_offset": e.txn_first_offset,
                      "batches": [[b.first_seq, b.last_seq, b.first_offset, b.last_offset, b.timestamp]
                                  for b in e.batches]}
                     for pid, e in sorted(self.producers.items())]
        doc = {"version": SNAPSHOT_VERSION, "offset": offset, "crc": crc32c_of(self._canonical(producers)),
               "producers": producers}
        path = self.dir / f"{offset:020d}{SNAPSHOT_SUFFIX}"
        write_atomically(path, json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(), fs=self.fs)
        for _, old in self.snapshot_files()[:-SNAPSHOTS_KEPT]:
            self.fs.unlink(old, missing_ok=True)
        return path

    def _read_snapshot(self, path: Path, offset: int) -> dict[int, ProducerEntry]:
        doc = json.loads(self.fs.read_bytes(path))
        if doc.get("version") != SNAPSHOT_VERSION or doc.get("offset") != offset:
            raise ValueError("unknown version or offset mismatch")
        if crc32c_of(self._canonical(doc["producers"])) != doc["crc"]:
            raise ValueError("crc mismatch")
        producers = {}
        for p in doc["producers"]:
            entry = ProducerEntry(int(p["epoch"]), last_timestamp=int(p["last_timestamp"]),
                                  txn_first_offset=int(p.get("txn_first_offset", -1)))
            for b in p["batches"]:
                entry.batches.append(BatchMeta(*(int(x) for x in b)))
            producers[int(p["pid"])] = entry
        return producers

    def load_snapshot(self, max_offset: int) -> int:
        """Load the newest valid snapshot at or below ``max_offset`` (deleting newer and invalid
        ones); returns its offset, or 0 (empty state) when there is none."""
        self.producers = {}
        self.ongoing = {}
        for offset, path in reversed(self.snapshot_files()):
            if offset > max_offset:
                self.fs.unlink(path, missing_ok=True)
                continue
            try:
                self.producers = self._read_snapshot(path, offset)
            except (OSError, ValueError, KeyError, TypeError):
                self.fs.unlink(path, missing_ok=True)
                continue
            self.ongoing = {pid: e.txn_first_offset for pid, e in self.producers.items() if e.txn_first_offset >= 0}
            return offset
        return 0

    def truncate_snapshots_after(self, offset: int) -> None:
        """Delete snapshots above ``offset`` (log truncation)."""
        for off, path in self.snapshot_files():
            if off > offset:
                self.fs.unlink(path, missing_ok=True)

    def delete_all_snapshots(self) -> None:
        for _, path in self.snapshot_files():
            self.fs.unlink(path, missing_ok=True)
