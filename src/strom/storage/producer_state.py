"""Idempotent-producer state of one partition, and its snapshots.

Per producer id: the epoch and the metadata of its last 5 batches
(first/last sequence, first/last offset, max timestamp) — librdkafka and the
Java client keep up to 5 requests in flight, so a retry of any of them is
recognised as a duplicate and answered with the original offsets.

Rules (Apache Kafka's ProducerAppendInfo):
* epoch below the current one: INVALID_PRODUCER_EPOCH;
* epoch above the current one: the first sequence must be 0 (unless the
  current epoch is unknown), else OUT_OF_ORDER_SEQUENCE_NUMBER;
* same epoch: a batch whose (first, last) sequence matches a cached batch is a
  duplicate; otherwise its first sequence must follow the last one (wrapping
  at 2^31-1 to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER; with no state for the
  producer (new, expired or removed by retention) any sequence is accepted.

Snapshot file ``<20-digit offset>.snapshot`` in the partition directory: one
JSON document ``{"version": 1, "offset": N, "crc": C, "producers": [...]}``
where ``crc`` is the CRC-32C of the canonical JSON of ``producers``; it holds
the state after every batch below ``offset``.  Written at segment roll and
at close; the two newest are kept.  Owned by its Log (event-loop thread).
"""
from __future__ import annotations

import collections
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from strom.errors import InvalidProducerEpoch, OutOfOrderSequence
from strom.records.batch import INT32_MAX, BatchHeader, crc32c_of

MAX_CACHED_BATCHES = 5
SNAPSHOT_SUFFIX = ".snapshot"


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

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


def _next_seq(seq: int) -> int:
    return 0 if seq == INT32_MAX else seq + 1


class ProducerStateManager:
    def __init__(self, directory: Path, expiration_ms: int = 86_400_000) -> None:
        self.dir = directory
        self.expiration_ms = expiration_ms
        self.producers: dict[int, ProducerEntry] = {}

    # ------------------------------------------------------------------ checks
    def check(self, h: BatchHeader) -> BatchMeta | None:
        """Validate a batch before it is written; returns the cached batch when it is a duplicate."""
        entry = self.producers.get(h.producer_id)
        if entry is None:
            return None
        if h.producer_epoch < entry.epoch:
            raise InvalidProducerEpoch(f"producer {h.producer_id} epoch {h.producer_epoch} is older than "
                                       f"the current epoch {entry.epoch}")
        if h.producer_epoch > entry.epoch:
            if h.base_sequence != 0 and entry.epoch >= 0:
                raise OutOfOrderSequence(f"producer {h.producer_id}: new epoch {h.producer_epoch} must start at "
                                         f"sequence 0, got {h.base_sequence}")
            return None
        for meta in entry.batches:
            if meta.first_seq == h.base_sequence and meta.last_seq == h.last_sequence:
                return meta
        if entry.batches and h.base_sequence != _next_seq(entry.last_seq):
            raise OutOfOrderSequence(f"producer {h.producer_id}: expected sequence {_next_seq(entry.last_seq)}, "
                                     f"got {h.base_sequence}")
        return None

    def update(self, h: BatchHeader) -> None:
        """Record a written batch (append path and recovery replay)."""
        if h.producer_id < 0:
            return
        entry = self.producers.get(h.producer_id)
        if entry is None or h.producer_epoch > entry.epoch:
            entry = ProducerEntry(h.producer_epoch)
            self.producers[h.producer_id] = entry
        if h.base_sequence >= 0:
            entry.batches.append(BatchMeta(h.base_sequence, h.last_sequence, h.base_offset, h.last_offset,
                                           h.max_timestamp))
        entry.last_timestamp = max(entry.last_timestamp, h.max_timestamp)

    def expire(self, now_ms: int) -> int:
        """Forget producers idle for longer than the expiration; returns how many."""
        old = [pid for pid, e in self.producers.items() if now_ms - e.last_timestamp > self.expiration_ms]
        for pid in old:
            del self.producers[pid]
        return len(old)

    # ------------------------------------------------------------------ snapshots
    def _snapshot_files(self) -> list[tuple[int, Path]]:
        out = []
        for p in self.dir.glob(f"*{SNAPSHOT_SUFFIX}"):
            try:
                out.append((int(p.name[:-len(SNAPSHOT_SUFFIX)]), p))
            except ValueError:
                continue
        return sorted(out)

    def write_snapshot(self, offset: int) -> None:
        producers = [{"pid": pid, "epoch": e.epoch, "last_timestamp": e.last_timestamp,
                      "batches": [[b.first_seq, b.last_seq, b.first_offset, b.last_offset, b.timestamp]
                                  for b in e.batches]}
                     for pid, e in sorted(self.producers.items())]
        body = json.dumps(producers, separators=(",", ":"), sort_keys=True)
        doc = json.dumps({"version": 1, "offset": offset, "crc": crc32c_of(body.encode()), "producers": producers},
                         separators=(",", ":"), sort_keys=True)
        path = self.dir / f"{offset:020d}{SNAPSHOT_SUFFIX}"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(doc)
        os.replace(tmp, path)
        for _, old in self._snapshot_files()[:-2]:
            old.unlink(missing_ok=True)

    def load_snapshot(self, max_offset: int) -> int:
        """Load the newest valid snapshot at or below ``max_offset``; returns its offset (0 if none)."""
        self.producers = {}
        for offset, path in reversed(self._snapshot_files()):
            if offset > max_offset:
                path.unlink(missing_ok=True)
                continue
            try:
                doc = json.loads(path.read_text())
                body = json.dumps(doc["producers"], separators=(",", ":"), sort_keys=True)
                if crc32c_of(body.encode()) != doc["crc"]:
                    raise ValueError("crc mismatch")
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)
                continue
            for p in doc["producers"]:
                entry = ProducerEntry(p["epoch"], last_timestamp=p["last_timestamp"])
                for b in p["batches"]:
                    entry.batches.append(BatchMeta(*b))
                self.producers[p["pid"]] = entry
            return offset
        return 0

    def truncate_snapshots_after(self, offset: int) -> None:
        for off, path in self._snapshot_files():
            if off > offset:
                path.unlink(missing_ok=True)
