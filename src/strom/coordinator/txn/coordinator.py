"""TransactionCoordinator: transactional ids, producer epochs and the two-phase end of a transaction.

State lives in memory (``txns``: transactional id -> TransactionMetadata, see
state.py for the states and their table) and changes only by replaying records
of ``__transaction_state`` (see records.py), written through the
CoordinatorRuntime.  An id maps to partition ``abs(hash(id)) %
transaction.state.log.num.partitions`` like Kafka.

How each request is answered, by state (Kafka's transaction protocol v1; the
fencing errors are PRODUCER_FENCED, which the handlers turn into
INVALID_PRODUCER_EPOCH for the request versions that predate it):

* InitProducerId: a new id gets a producer id from the controller, epoch 0,
  Empty.  Empty/CompleteCommit/CompleteAbort bump the epoch (a new producer id
  once the epoch is exhausted); Ongoing is fenced first — the epoch is bumped
  (PrepareEpochFence), the open transaction aborted with ABORT markers at that
  epoch, so the older producer gets PRODUCER_FENCED / INVALID_PRODUCER_EPOCH
  wherever it turns up — and then bumped once more for the caller.  A given
  (producer id, epoch) (KIP-360, v3+) must be the current one, or the previous
  one of a retried call (answered with the current); else PRODUCER_FENCED.
  Prepare* answer CONCURRENT_TRANSACTIONS.
* AddPartitionsToTxn / AddOffsetsToTxn: unknown id or other producer id:
  INVALID_PRODUCER_ID_MAPPING; other epoch: PRODUCER_FENCED; Prepare*:
  CONCURRENT_TRANSACTIONS; otherwise the partitions join and the state is
  Ongoing (the transaction's start time is set when it leaves Empty/Complete*).
* EndTxn: the same checks; Ongoing goes PrepareCommit/PrepareAbort, every
  partition of the transaction gets its marker (``MarkerWriter``; on one node an
  in-process append — the ``__consumer_offsets`` ones through the group
  coordinator), then CompleteCommit/CompleteAbort, and only then the answer.  A
  retry after completion answers NONE when the outcome matches and
  INVALID_TXN_STATE when it does not; Empty answers INVALID_TXN_STATE.
* Timers (``run_timers``, on the injected Scheduler): every
  ``transaction.abort.timed.out.transaction.cleanup.interval.ms`` an Ongoing
  transaction older than its ``transaction.timeout.ms`` is fenced and aborted
  as above, and Prepare* states left by a failed marker write are completed;
  every ``transaction.remove.expired.transaction.cleanup.interval.ms`` ids idle
  (Empty/Complete*) for ``transactional.id.expiration.ms`` are removed with a
  tombstone (Dead).
* Load (start-up): after replaying the partitions, every Prepare* state is
  completed (its markers written again: a second marker for a finished
  transaction changes nothing); Ongoing ones run into their time-out.

Operations on one transactional id are serialised by a lock per id, so a
request never sees a half-finished EndTxn of the same id.  Simplifications:
the coordinator epoch in markers is 0 (one node, no coordinator failover yet);
transaction protocol v2 (KIP-890 part 2) is not served (EndTxn up to v4).
Event-loop thread only.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from strom.coordinator.runtime import CoordinatorRuntime, PartitionWriter, partition_for
from strom.coordinator.txn import records as rec
from strom.coordinator.txn.state import TransactionMetadata, TxnState
from strom.errors import ErrorCode, KafkaError
from strom.util.clock import Scheduler

log = logging.getLogger(__name__)

TRANSACTION_STATE_TOPIC = "__transaction_state"
MAX_PRODUCER_EPOCH = 32767
MAX_TRANSACTIONAL_ID_BYTES = 32767  # the int16 length of a STRING, as in Kafka's record key
COORDINATOR_EPOCH = 0

S = TxnState


@dataclass(frozen=True)
class TxnConfig:
    num_partitions: int = 50
    max_timeout_ms: int = 900_000  # transaction.max.timeout.ms
    id_expiration_ms: int = 604_800_000  # transactional.id.expiration.ms
    abort_interval_ms: int = 10_000  # transaction.abort.timed.out.transaction.cleanup.interval.ms
    expire_interval_ms: int = 3_600_000  # transaction.remove.expired.transaction.cleanup.interval.ms


class MarkerWriter(Protocol):
    async def write(self, topic: str, partition: int, *, producer_id: int, producer_epoch: int,
                    coordinator_epoch: int, commit: bool) -> None:
        """Write one COMMIT/ABORT marker; raises KafkaError (UNKNOWN_TOPIC_OR_PARTITION: gone)."""


def _fenced(m: TransactionMetadata, epoch: int) -> KafkaError:
    return KafkaError(f"producer epoch {epoch} of {m.transactional_id!r} is not the current epoch "
                      f"{m.producer_epoch}: a newer producer took over", ErrorCode.PRODUCER_FENCED)


class TransactionCoordinator:
    def __init__(self, writer: PartitionWriter, config: TxnConfig, clock: Scheduler,
                 allocate_producer_id: Callable[[], Awaitable[int]], markers: MarkerWriter) -> None:
        self.config = config
        self.clock = clock
        self.allocate_producer_id = allocate_producer_id
        self.markers = markers
        self.runtime = CoordinatorRuntime(TRANSACTION_STATE_TOPIC, writer, self._replay)
        self.txns: dict[str, TransactionMetadata] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ records
    def partition_for(self, transactional_id: str) -> int:
        return partition_for(transactional_id, self.config.num_partitions)

    def _replay(self, partition: int, key: bytes, value: bytes | None) -> None:
        try:
            tid, meta = rec.decode(key, value)
        except (ValueError, KeyError) as exc:
            log.warning("ignoring a record of %s: %s", TRANSACTION_STATE_TOPIC, exc)
            return
        if meta is None:
            self.txns.pop(tid, None)
        else:
            self.txns[tid] = meta

    async def _write(self, meta: TransactionMetadata) -> None:
        await self.runtime.write(self.partition_for(meta.transactional_id),
                                 [(rec.key(meta.transactional_id), rec.value(meta))])

    def load(self) -> int:
        return self.runtime.load()

    async def complete_pending(self) -> int:
        """Finish every transaction left in a Prepare* state (start-up, failed marker writes)."""
        done = 0
        for tid, meta in list(self.txns.items()):
            if meta.state.is_prepare:
                async with self._lock(tid):
                    meta = self.txns.get(tid)
                    if meta is not None and meta.state.is_prepare:
                        try:
                            await self._finish(meta)
                            done += 1
                        except KafkaError as exc:
                            log.warning("could not complete the transaction of %r: %s (retried later)", tid, exc)
        return done

    def _lock(self, transactional_id: str) -> asyncio.Lock:
        return self._locks.setdefault(transactional_id, asyncio.Lock())

    # ------------------------------------------------------------------ checks
    def _checked(self, transactional_id: str, producer_id: int, producer_epoch: int) -> TransactionMetadata:
        meta = self.txns.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            raise KafkaError(f"producer id {producer_id} is not the one of transactional id {transactional_id!r}",
                             ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if meta.producer_epoch != producer_epoch:
            raise _fenced(meta, producer_epoch)
        if meta.state.is_prepare:
            raise KafkaError(f"the transaction of {transactional_id!r} is completing",
                             ErrorCode.CONCURRENT_TRANSACTIONS)
        return meta

    def verify(self, transactional_id: str | None, producer_id: int, producer_epoch: int,
               topic: str, partition: int) -> ErrorCode:
        """Whether a transactional write (produce, TxnOffsetCommit) to ``topic``-``partition`` belongs
        to the producer's open transaction (KIP-890 part 1's check, in-process): NONE, or
        INVALID_PRODUCER_ID_MAPPING, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE (not added)."""
        meta = self.txns.get(transactional_id) if transactional_id is not None else None
        if meta is None or meta.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if meta.producer_epoch != producer_epoch:
            return ErrorCode.INVALID_PRODUCER_EPOCH
        if meta.state is not S.ONGOING or (topic, partition) not in meta.partitions:
            return ErrorCode.INVALID_TXN_STATE
        return ErrorCode.NONE

    # ------------------------------------------------------------------ InitProducerId
    async def init_producer_id(self, transactional_id: str, timeout_ms: int, producer_id: int = -1,
                               producer_epoch: int = -1) -> tuple[int, int]:
        """(producer id, epoch) for a transactional producer; raises KafkaError (see the module doc)."""
        if not transactional_id:
            raise KafkaError("transactional id is empty", ErrorCode.INVALID_REQUEST)
        if len(transactional_id.encode()) > MAX_TRANSACTIONAL_ID_BYTES:
            raise KafkaError(f"transactional id is longer than {MAX_TRANSACTIONAL_ID_BYTES} bytes",
                             ErrorCode.INVALID_REQUEST)
        if timeout_ms <= 0 or timeout_ms > self.config.max_timeout_ms:
            raise KafkaError(f"transaction.timeout.ms {timeout_ms} is not in [1, transaction.max.timeout.ms="
                             f"{self.config.max_timeout_ms}]", ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        async with self._lock(transactional_id):
            now = self.clock.now_ms()
            meta = self.txns.get(transactional_id)
            if meta is None:
                pid = await self.allocate_producer_id()
                new = TransactionMetadata(transactional_id, pid, 0, timeout_ms, S.EMPTY, last_update_ms=now)
                await self._write(new)
                return pid, 0
            if producer_id >= 0:
                if (producer_id, producer_epoch) == (meta.last_producer_id, meta.last_producer_epoch) \
                        and meta.state.is_complete_or_empty:
                    return meta.producer_id, meta.producer_epoch  # a retry of the call that bumped it
                if (producer_id, producer_epoch) != (meta.producer_id, meta.producer_epoch):
                    raise _fenced(meta, producer_epoch)
            if meta.state.is_prepare:
                raise KafkaError(f"the transaction of {transactional_id!r} is completing",
                                 ErrorCode.CONCURRENT_TRANSACTIONS)
            if meta.state is S.ONGOING:
                meta = await self._fence_and_abort(meta)
            pid, epoch = meta.producer_id, meta.producer_epoch + 1
            if epoch >= MAX_PRODUCER_EPOCH:
                pid, epoch = await self.allocate_producer_id(), 0
            new = meta.transition(S.EMPTY, producer_id=pid, producer_epoch=epoch, last_producer_id=meta.producer_id,
                                  last_producer_epoch=meta.producer_epoch, timeout_ms=timeout_ms,
                                  partitions=frozenset(), txn_start_ms=-1, last_update_ms=now)
            await self._write(new)
            return pid, epoch

    async def _fence_and_abort(self, meta: TransactionMetadata) -> TransactionMetadata:
        """Ongoing -> PrepareEpochFence (epoch + 1) -> PrepareAbort -> markers -> CompleteAbort."""
        now = self.clock.now_ms()
        epoch = min(meta.producer_epoch + 1, MAX_PRODUCER_EPOCH - 1)
        fence = meta.transition(S.PREPARE_EPOCH_FENCE, producer_epoch=epoch, last_producer_id=meta.producer_id,
                                last_producer_epoch=meta.producer_epoch, last_update_ms=now)
        await self._write(fence)
        await self._write(self.txns[meta.transactional_id].transition(S.PREPARE_ABORT, last_update_ms=now))
        return await self._finish(self.txns[meta.transactional_id])

    async def _finish(self, meta: TransactionMetadata) -> TransactionMetadata:
        """Prepare* -> markers in every partition -> Complete*; returns the completed metadata."""
        if meta.state is S.PREPARE_EPOCH_FENCE:
            await self._write(meta.transition(S.PREPARE_ABORT, last_update_ms=self.clock.now_ms()))
            meta = self.txns[meta.transactional_id]
        commit = meta.state is S.PREPARE_COMMIT
        for topic, partition in sorted(meta.partitions):
            try:
                await self.markers.write(topic, partition, producer_id=meta.producer_id,
                                         producer_epoch=meta.producer_epoch, coordinator_epoch=COORDINATOR_EPOCH,
                                         commit=commit)
            except KafkaError as exc:
                if exc.code is not ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
                    raise
                log.info("no %s marker for %s-%d of %r: the partition is gone", "COMMIT" if commit else "ABORT",
                         topic, partition, meta.transactional_id)
        done = meta.transition(S.COMPLETE_COMMIT if commit else S.COMPLETE_ABORT, partitions=frozenset(),
                               last_update_ms=self.clock.now_ms())
        await self._write(done)
        return self.txns[meta.transactional_id]

    # ------------------------------------------------------------------ AddPartitionsToTxn / AddOffsetsToTxn
    async def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                             partitions: Iterable[tuple[str, int]]) -> None:
        """Add partitions to the producer's transaction (starting it); raises KafkaError."""
        wanted = frozenset(partitions)
        async with self._lock(transactional_id):
            meta = self._checked(transactional_id, producer_id, producer_epoch)
            if meta.state is S.ONGOING and wanted <= meta.partitions:
                return
            now = self.clock.now_ms()
            start = meta.txn_start_ms if meta.state is S.ONGOING else now
            await self._write(meta.transition(S.ONGOING, partitions=meta.partitions | wanted, txn_start_ms=start,
                                              last_update_ms=now))

    # ------------------------------------------------------------------ EndTxn
    async def end_txn(self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool) -> None:
        """Commit or abort the producer's transaction; returns once every marker is written."""
        async with self._lock(transactional_id):
            meta = self.txns.get(transactional_id)
            if meta is not None and meta.producer_id == producer_id and meta.producer_epoch == producer_epoch:
                if meta.state is (S.COMPLETE_COMMIT if commit else S.COMPLETE_ABORT):
                    return  # a retry of a finished EndTxn
                if meta.state in (S.COMPLETE_COMMIT, S.COMPLETE_ABORT, S.EMPTY):
                    raise KafkaError(f"{transactional_id!r} has no open transaction to "
                                     f"{'commit' if commit else 'abort'} (state {meta.state.value})",
                                     ErrorCode.INVALID_TXN_STATE)
            meta = self._checked(transactional_id, producer_id, producer_epoch)
            now = self.clock.now_ms()
            await self._write(meta.transition(S.PREPARE_COMMIT if commit else S.PREPARE_ABORT, last_update_ms=now))
            await self._finish(self.txns[transactional_id])

    # ------------------------------------------------------------------ timers
    async def abort_timed_out(self) -> int:
        """Fence and abort Ongoing transactions past their time-out; complete stuck Prepare* states."""
        now = self.clock.now_ms()
        aborted = 0
        for tid, meta in list(self.txns.items()):
            if meta.state is S.ONGOING and now - meta.txn_start_ms > meta.timeout_ms:
                async with self._lock(tid):
                    meta = self.txns.get(tid)
                    if meta is None or meta.state is not S.ONGOING or now - meta.txn_start_ms <= meta.timeout_ms:
                        continue
                    log.info("aborting the transaction of %r (producer %d, epoch %d): open for more than "
                             "transaction.timeout.ms=%d", tid, meta.producer_id, meta.producer_epoch, meta.timeout_ms)
                    try:
                        await self._fence_and_abort(meta)
                        aborted += 1
                    except KafkaError as exc:
                        log.warning("could not abort the timed-out transaction of %r: %s", tid, exc)
        await self.complete_pending()
        return aborted

    async def expire_ids(self) -> int:
        """Remove ids idle for transactional.id.expiration.ms (Empty/Complete* only)."""
        now = self.clock.now_ms()
        expired = 0
        for tid, meta in list(self.txns.items()):
            if meta.state.is_complete_or_empty and now - meta.last_update_ms >= self.config.id_expiration_ms:
                async with self._lock(tid):
                    meta = self.txns.get(tid)
                    if meta is None or not meta.state.is_complete_or_empty:
                        continue
                    meta.transition(S.DEAD)  # checks the table
                    await self.runtime.write(self.partition_for(tid), [(rec.key(tid), None)])
                    self._locks.pop(tid, None)
                    expired += 1
        return expired

    async def run_abort_timer(self) -> None:
        while True:
            await self.clock.sleep(self.config.abort_interval_ms / 1000)
            try:
                await self.abort_timed_out()
            except Exception:
                log.exception("aborting timed-out transactions failed")

    async def run_expire_timer(self) -> None:
        while True:
            await self.clock.sleep(self.config.expire_interval_ms / 1000)
            try:
                expired = await self.expire_ids()
                if expired:
                    log.info("expired %d transactional id(s)", expired)
            except Exception:
                log.exception("expiring transactional ids failed")

    # ------------------------------------------------------------------ describe / list
    def describe(self, transactional_id: str) -> TransactionMetadata:
        meta = self.txns.get(transactional_id)
        if meta is None:
            raise KafkaError(f"transactional id {transactional_id!r} is not known",
                             ErrorCode.TRANSACTIONAL_ID_NOT_FOUND)
        return meta

    def list_transactions(self, states: Sequence[str] = (), producer_ids: Sequence[int] = (), min_duration_ms: int = -1,
             pattern: str | None = None) -> tuple[list[TransactionMetadata], list[str]]:
        """(matching transactions, unknown state filters) — ListTransactions' filters."""
        known = {s.value for s in TxnState}
        unknown = [s for s in states if s not in known]
        wanted = {s for s in states if s in known}
        regex = re.compile(pattern) if pattern else None
        now = self.clock.now_ms()
        out = []
        for tid, meta in sorted(self.txns.items()):
            if wanted and meta.state.value not in wanted:
                continue
            if producer_ids and meta.producer_id not in producer_ids:
                continue
            if min_duration_ms >= 0 and (meta.state is not S.ONGOING or now - meta.txn_start_ms < min_duration_ms):
                continue
            if regex is not None and not regex.search(tid):
                continue
            out.append(meta)
        return out, unknown

