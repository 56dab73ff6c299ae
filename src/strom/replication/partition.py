"""Partition: one replica of a topic partition hosted by this broker.

Single-node for now: this broker is the leader, the ISR is itself, and the
high watermark follows the log end offset after every append.  The last
stable offset (read_committed) comes from the log's producer state.  Appends are
leader appends: every batch is stamped with ``leader_epoch`` and the log's
leader-epoch cache (``Log.leader_epoch_cache``) records where each epoch
starts.  The replication issue adds follower state and ISR changes here
without changing the interface the handlers use.

Owned by the ReplicaManager on the event loop.  Fetchers waiting for data
(long poll) park a future in ``_waiters``; every append wakes them.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from strom.records.batch import BatchHeader
from strom.storage.log import AppendResult, Log


@dataclass
class ReadResult:
    records: bytes
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    aborted_transactions: list[tuple[int, int]] | None = None  # (producer id, first offset); read_committed only


class Partition:
    def __init__(self, topic: str, index: int, topic_id: uuid.UUID, log: Log, *, leader_id: int,
                 leader_epoch: int = 0) -> None:
        self.topic = topic
        self.index = index
        self.topic_id = topic_id
        self.log = log
        self.leader_id = leader_id
        self.leader_epoch = leader_epoch
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def isr(self) -> tuple[int, ...]:
        """In-sync replicas: only the leader while there is no replication."""
        return (self.leader_id,)

    @property
    def high_watermark(self) -> int:
        return self.log.high_watermark

    @property
    def last_stable_offset(self) -> int:
        """Below it every transaction is decided; the high watermark while none is open."""
        return self.log.last_stable_offset

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    def append(self, data: bytes, headers: list[BatchHeader], now_ms: int) -> AppendResult:
        result = self.log.append(data, headers, now_ms=now_ms, leader_epoch=self.leader_epoch)
        self.log.high_watermark = self.log.log_end_offset
        if not result.duplicate:
            self._wake()
        return result

    def epoch_for_offset(self, offset: int) -> int:
        """Leader epoch of the record at ``offset`` (-1 when unknown)."""
        return self.log.epoch_for_offset(offset)

    def read(self, offset: int, max_bytes: int, *, min_one_batch: bool, read_committed: bool) -> ReadResult:
        """read_uncommitted reads up to the high watermark; read_committed up to the last stable
        offset, with the aborted transactions among what it read."""
        the_log = self.log
        hw = the_log.high_watermark
        lso = the_log.last_stable_offset
        if not read_committed:
            data = the_log.read(offset, max_bytes, max_offset=hw, min_one_batch=min_one_batch)
            return ReadResult(data, hw, lso, the_log.log_start_offset)
        data = the_log.read(offset, max_bytes, max_offset=lso, min_one_batch=min_one_batch)
        aborted = [(a.producer_id, a.first_offset) for a in the_log.aborted_transactions(offset, lso)] if data else []
        return ReadResult(data, hw, lso, the_log.log_start_offset, aborted)

    def add_waiter(self, fut: asyncio.Future[None]) -> None:
        self._waiters.append(fut)

    def remove_waiter(self, fut: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(fut)
        except ValueError:
            pass

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
