"""LogCleanerManager: schedules compaction of the hosted ``cleanup.policy=compact`` logs.

``log.cleaner.threads`` tasks in the node's TaskGroup each loop: pick the
dirtiest log that is due (strom.storage.cleaner.is_due; overdue logs by
``max.compaction.lag.ms`` first) and not being cleaned by another task, plan
the clean on the event loop, run it in a worker thread (``asyncio.to_thread``:
the loop never blocks on it), and swap the cleaned segments in on the loop.
With nothing due, or after a failed or discarded clean, a task sleeps
``log.cleaner.backoff.ms``; an error is logged, never raised into the TaskGroup.

Ownership: a Log and its Segment objects belong to the event loop.  While a
clean runs, the worker holds only descriptors it opened on the segment files
and writes only ``*.cleaned`` files; appends (active segment only), reads,
retention and truncation carry on.  ``cleaner.swap`` runs on the loop without
an await and first checks that every cleaned segment is still in the log
unchanged (same base offset, size and next offset); if retention, truncation
or a topic deletion got there first, the result is discarded.  A log is
cleaned by one task at a time (``_in_progress``).

Each clean logs one line (``cleaned <topic>-<p> ... read N bytes ..., wrote M
bytes ... in S s``) and is kept as ``Log.last_clean``.  An idle active segment
of a compacted log older than ``segment.ms`` (or ``max.compaction.lag.ms``)
is rolled here, so its records become cleanable without a further append
(Kafka rolls only on append).  At shutdown the cancel flag stops a running
clean between two batches; its ``.cleaned`` files are removed (or, after a
kill, at the next start).
"""
from __future__ import annotations

import asyncio
import logging
import threading

from dataclasses import dataclass

from strom.replication.replica_manager import ReplicaManager
from strom.storage import cleaner
from strom.storage.log import Log
from strom.util.clock import Scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CleanerPartitionState:
    """What ``strom topic describe --cleaner`` is to show per partition (served by the HTTP admin
    port once it exists; see docs/operations.md#compaction)."""

    topic: str
    partition: int
    dirty_ratio: float
    first_dirty_offset: int
    last_clean: str | None  # the broker log's line of the last clean, None before the first


class LogCleanerManager:
    def __init__(self, replicas: ReplicaManager, clock: Scheduler, *, threads: int = 1,
                 dedupe_buffer_size: int = 128 << 20, backoff_ms: int = 15_000) -> None:
        self.replicas = replicas
        self.clock = clock
        self.threads = threads
        self.max_map_entries = max(dedupe_buffer_size // max(threads, 1) // cleaner.MAP_ENTRY_BYTES, 1)
        self.backoff_s = backoff_ms / 1000
        self._in_progress: set[int] = set()  # id() of logs being cleaned
        self._cancel = threading.Event()
        self._tg: asyncio.TaskGroup | None = None
        self.cleans = 0  # completed cleans (tests, metrics)

    def start(self, tg: asyncio.TaskGroup) -> None:
        self._tg = tg
        for _ in range(self.threads):
            tg.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                try:
                    the_log = self.pick()
                    if the_log is not None and await self.clean_log(the_log) is not None:
                        continue  # more may be due; a failed or discarded clean backs off first
                except Exception:  # never take the node down: log, back off, try again
                    log.exception("the log cleaner failed; retrying in %.1f s", self.backoff_s)
                await self.clock.sleep(self.backoff_s)
        finally:
            self._cancel.set()  # shutdown: a clean still running in its thread stops at the next batch

    def pick(self) -> Log | None:
        """The compacted log most in need of a clean (overdue first, then the highest dirty ratio)."""
        now = self.clock.now_ms()
        best: tuple[bool, float] | None = None
        chosen = None
        for part in list(self.replicas.partitions.values()):
            the_log = part.log
            if not the_log.config.compact or id(the_log) in self._in_progress:
                continue
            self._maybe_roll_idle(the_log, now)
            info = cleaner.cleanable_info(the_log, now)
            if not cleaner.is_due(info, the_log.config):
                continue
            rank = (info.overdue, info.dirty_ratio)
            if best is None or rank > best:
                best, chosen = rank, the_log
        return chosen

    @staticmethod
    def _maybe_roll_idle(the_log: Log, now: int) -> None:
        active = the_log.active
        if active.size and active.time_waited_for_roll(now, now) > the_log.config.max_segment_ms:
            try:
                the_log.roll(now)
            except OSError as exc:
                log.warning("could not roll the idle active segment of %s-%d: %s", the_log.topic,
                            the_log.partition, exc)

    async def clean_log(self, the_log: Log) -> cleaner.CleanResult | None:
        """Clean ``the_log`` once if it is due (the caller picked it); returns the result or None."""
        plan = cleaner.plan_clean(the_log, self.clock.now_ms(), self.max_map_entries)
        if plan is None:
            return None
        self._in_progress.add(id(the_log))
        try:
            try:
                result = await asyncio.to_thread(cleaner.clean, plan, self._cancel)
            except cleaner.CleanerCancelled:
                return None
            except Exception:
                log.exception("compaction of %s-%d failed", the_log.topic, the_log.partition)
                return None
            part = self.replicas.get(the_log.topic, the_log.partition)
            if part is None or part.log is not the_log or the_log.active.closed:
                await asyncio.to_thread(cleaner.discard, plan.fs, plan.dir, [g.base_offset for g in result.groups])
                return None
            try:
                old = cleaner.swap(the_log, result)
            except OSError:
                log.exception("swapping the cleaned segments of %s-%d in failed", the_log.topic, the_log.partition)
                return None
            if old is None:
                log.info("compaction of %s-%d discarded: the log changed during the clean", the_log.topic,
                         the_log.partition)
                return None
            the_log.last_clean = result
            self.cleans += 1
            log.info("%s", result.summary(), extra=result.fields())
            if self._tg is not None:
                self._tg.create_task(self._delete_later(the_log, old, the_log.config.file_delete_delay_ms / 1000))
            return result
        finally:
            self._in_progress.discard(id(the_log))

    def describe(self, topic: str) -> list[CleanerPartitionState]:
        """Loop thread: the dirty ratio and last clean of each hosted partition of ``topic``."""
        now = self.clock.now_ms()
        out = []
        for (name, index), part in sorted(self.replicas.partitions.items()):
            if name != topic:
                continue
            info = cleaner.cleanable_info(part.log, now)
            last = part.log.last_clean
            out.append(CleanerPartitionState(name, index, info.dirty_ratio, info.first_dirty,
                                             last.summary() if last is not None else None))
        return out

    async def _delete_later(self, the_log: Log, old, delay: float) -> None:  # type: ignore[no-untyped-def]
        """Unlink the replaced segments' files after ``file.delete.delay.ms`` (worker), once the
        directory is fsynced: the swap's renames are durable before the old data goes."""
        if delay > 0:
            await self.clock.sleep(delay)
        try:
            await asyncio.to_thread(the_log.fs.fsync_path, the_log.dir)
        except OSError as exc:  # deleted meanwhile (its directory is removed whole) or unreadable
            log.info("not removing the replaced segments of %s-%d yet: %s", the_log.topic, the_log.partition, exc)
            return
        await asyncio.to_thread(cleaner.crash_point, "deleting-old")
        for seg in old:
            await asyncio.to_thread(seg.delete_files)
