"""ReplicaManager: the partitions this broker hosts, and the background log work.

Owns every ``Partition`` (on the event loop).  The node wires it to metadata
changes (``ensure_partition`` / ``remove_topic`` / ``update_config``).  It runs
the log's blocking work on worker threads, never on the loop:

* flush: after an append, a log whose ``flush.messages``/``flush.ms`` policy is
  due gets one fsync on a worker (appends that arrive meanwhile are covered
  by the next one: many appends, one fsync); a periodic check covers flush.ms.
* retention: every ``log.retention.check.interval.ms`` each log gives up its
  expired segments; their files are renamed at once and unlinked on a worker
  after ``file.delete.delay.ms``.
* topic deletion: the partition directory is renamed at once and removed on a worker.
* leader-epoch checkpoint: after an append that started a new leader epoch, the
  log's ``leader-epoch-checkpoint`` is written (fsynced) on a worker.
* DeleteRecords (``delete_records``): the log start offset moves on the loop,
  the ``log-start-offset-checkpoint`` is written on a worker before the call
  returns (one writer at a time), then the segments wholly below the new start
  go as retention's do.  Topic deletion rewrites that checkpoint too, so a
  stale entry cannot raise the start of a topic created again under its name.

Every task it starts belongs to the TaskGroup handed to ``start``.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from strom.errors import ErrorCode, KafkaError, KafkaStorageError, PolicyViolation
from strom.replication.partition import Partition
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.util.clock import Scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplicaLogInfo:
    """One hosted replica's log as DescribeLogDirs reports it."""

    topic: str
    partition: int
    size_bytes: int  # the bytes of its segment files (indexes not counted, as in Kafka)
    offset_lag: int  # max(high watermark - log end offset, 0): 0 for a current log


@dataclass(frozen=True, slots=True)
class LogDirInfo:
    """One log directory: its absolute path, ``error`` (NONE, or KAFKA_STORAGE_ERROR when it cannot
    be read), the total and usable bytes of its file system (-1 when unknown) and its replicas."""

    path: str
    error: ErrorCode
    total_bytes: int
    usable_bytes: int
    replicas: tuple[ReplicaLogInfo, ...]


class ReplicaManager:
    def __init__(self, log_manager: LogManager, node_id: int, clock: Scheduler, *,
                 retention_check_interval_ms: int = 300_000, flush_check_interval_ms: int = 1000) -> None:
        self.logs = log_manager
        self.node_id = node_id
        self.clock = clock
        self.partitions: dict[tuple[str, int], Partition] = {}
        self._retention_interval = retention_check_interval_ms / 1000
        self._flush_interval = flush_check_interval_ms / 1000
        self._flushing: set[int] = set()  # id() of logs with a flush in progress
        self._checkpointing: set[int] = set()  # id() of logs with a leader-epoch checkpoint write in progress
        self._tg: asyncio.TaskGroup | None = None
        self._start_checkpoint_lock = asyncio.Lock()  # one log-start-offset-checkpoint writer at a time

    # ------------------------------------------------------------------ lookup
    def get(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get((topic, partition))

    # ------------------------------------------------------------------ log directories
    @property
    def log_dirs(self) -> tuple[str, ...]:
        """The absolute paths of the log directories in use (only the first of ``log.dirs`` for now)."""
        return (str(self.logs.dir.absolute()),)

    def log_dir_of(self, topic: str, partition: int) -> str | None:
        """The log directory holding a hosted replica, or None if this broker does not host it."""
        return self.log_dirs[0] if (topic, partition) in self.partitions else None

    async def describe_log_dirs(self, wanted: Collection[tuple[str, int]] | None = None) -> list[LogDirInfo]:
        """Every log directory with the size of each hosted replica (only those in ``wanted``
        unless it is None).  Sizes are read on the loop (segment sizes are kept in memory); the
        file system's total and usable bytes (statvfs) on a worker thread."""
        keys = sorted(self.partitions if wanted is None else set(wanted) & self.partitions.keys())
        replicas = []
        for key in keys:
            part = self.partitions[key]
            lag = max(part.high_watermark - part.log_end_offset, 0)
            replicas.append(ReplicaLogInfo(key[0], key[1], part.log.size_bytes, lag))
        path = self.log_dirs[0]
        try:
            usage = await asyncio.to_thread(shutil.disk_usage, path)
        except OSError as exc:
            log.warning("log directory %s cannot be read: %s", path, exc)
            return [LogDirInfo(path, ErrorCode.KAFKA_STORAGE_ERROR, -1, -1, ())]
        return [LogDirInfo(path, ErrorCode.NONE, usage.total, usage.free, tuple(replicas))]

    # ------------------------------------------------------------------ metadata wiring
    def ensure_partition(self, topic: str, topic_id: uuid.UUID, index: int, config: LogConfig, *,
                         leader_id: int, leader_epoch: int) -> Partition:
        part = self.partitions.get((topic, index))
        if part is None:
            the_log = self.logs.create(topic, index, config)  # opens or reuses the local log
            part = Partition(topic, index, topic_id, the_log, leader_id=leader_id, leader_epoch=leader_epoch)
            self.partitions[(topic, index)] = part
        else:
            if (part.leader_id, part.leader_epoch) != (leader_id, leader_epoch):
                role = "leader" if leader_id == self.node_id else "follower"
                log.info("%s-%d: leader is now %d at epoch %d (was %d at epoch %d); this node is a %s", topic,
                         index, leader_id, leader_epoch, part.leader_id, part.leader_epoch, role,
                         extra={"event": "leader_change", "topic": topic, "partition": index,
                                "leader": leader_id, "leader_epoch": leader_epoch,
                                "previous_leader": part.leader_id, "previous_leader_epoch": part.leader_epoch,
                                "role": role})
            part.leader_id, part.leader_epoch = leader_id, leader_epoch
            part.log.update_config(config)
        return part

    def update_config(self, topic: str, config: LogConfig) -> None:
        for (name, _), part in self.partitions.items():
            if name == topic:
                part.log.update_config(config)

    def remove_topic(self, topic: str) -> None:
        removed = False
        for key in [k for k in self.partitions if k[0] == topic]:
            part = self.partitions.pop(key)
            part._wake()
            path = self.logs.delete(topic, key[1])
            if path is not None:
                removed = True
                self._spawn(asyncio.to_thread(shutil.rmtree, path, True))
        if removed:
            self._spawn(self._checkpoint_log_starts_logged())

    def purge_unknown(self, known: Iterable[tuple[str, int]]) -> None:
        """Delete local logs of partitions that metadata no longer has (deleted while we were down)."""
        known = set(known)
        purged = False
        for the_log in list(self.logs.logs()):
            key = (the_log.topic, the_log.partition)
            if key not in known:
                log.info("deleting log %s-%d: its topic no longer exists", *key)
                path = self.logs.delete(*key)
                if path is not None:
                    purged = True
                    self._spawn(asyncio.to_thread(shutil.rmtree, path, True))
        if purged:
            self._spawn(self._checkpoint_log_starts_logged())

    # ------------------------------------------------------------------ DeleteRecords
    async def delete_records(self, wanted: list[tuple[Partition, int]]) -> list[int | KafkaError]:
        """Kafka's deleteRecordsOnLeader for each (partition, offset): move the log start offset to
        ``offset`` (-1: the high watermark); the answer per entry is the new low watermark (the
        log start offset) or the KafkaError that left it unchanged: OffsetOutOfRange for a
        negative offset or one beyond the high watermark, PolicyViolation when cleanup.policy
        lacks ``delete``.  Returns once the new starts are durable (one checkpoint write for the
        whole call; if it fails, every moved entry answers KafkaStorageError — the starts stay
        moved in memory and are written again by the next write or at shutdown); the segments
        below them are removed after that."""
        results: list[int | KafkaError] = []
        moved: list[Partition] = []
        for part, offset in wanted:
            the_log = part.log
            try:
                if "delete" not in the_log.config.cleanup_policy:
                    raise PolicyViolation(f"records of {part.topic}-{part.index} cannot be deleted: its "
                                          f"cleanup.policy is {the_log.config.cleanup_policy!r}")
                if the_log.increment_log_start_offset(part.high_watermark if offset == -1 else offset):
                    moved.append(part)
                results.append(-1)
            except KafkaError as exc:
                results.append(exc)
        failure: KafkaError | None = None
        if moved:
            try:
                await self._checkpoint_log_starts()
            except OSError as exc:
                failure = KafkaStorageError(f"could not write the log-start-offset checkpoint: {exc}")
            now = self.clock.now_ms()
            for part in moved:
                if self.partitions.get((part.topic, part.index)) is part:  # not deleted meanwhile
                    self._retain(part, now)
        return [r if isinstance(r, KafkaError) else
                (failure if failure is not None and part in moved else part.log_start_offset)
                for (part, _), r in zip(wanted, results, strict=True)]

    async def _checkpoint_log_starts(self) -> None:
        async with self._start_checkpoint_lock:
            await asyncio.to_thread(self.logs.log_start_checkpoint_plan())

    async def _checkpoint_log_starts_logged(self) -> None:
        try:
            await self._checkpoint_log_starts()
        except OSError as exc:  # rewritten by the next DeleteRecords, topic deletion or shutdown
            log.warning("could not write the log-start-offset checkpoint: %s", exc)

    # ------------------------------------------------------------------ appends and waits
    def after_append(self, part: Partition) -> None:
        """Called by the produce path: start a flush if the log's policy says so, and a
        leader-epoch checkpoint write if the append started a new epoch."""
        the_log = part.log
        if the_log.needs_flush(self.clock.now_ms()):
            self._start_flush(the_log)
        if the_log.leader_epoch_cache.dirty:
            self._start_epoch_checkpoint(the_log)

    async def wait_for_data(self, parts: list[Partition], timeout_s: float) -> None:
        """Return when any of ``parts`` gets an append, or after ``timeout_s``.  With no partitions
        it just waits: a long-poll fetch of nothing (an empty incremental fetch) must park, not spin."""
        if timeout_s <= 0:
            return
        if not parts:
            await self.clock.sleep(timeout_s)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for p in parts:
            p.add_waiter(fut)
        handle = self.clock.call_later(timeout_s, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            handle.cancel()
            for p in parts:
                p.remove_waiter(fut)

    # ------------------------------------------------------------------ background work
    def start(self, tg: asyncio.TaskGroup) -> None:
        self._tg = tg
        tg.create_task(self._flush_loop())
        tg.create_task(self._retention_loop())

    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        if self._tg is None:
            coro.close()
            return
        self._tg.create_task(coro)

    def _start_flush(self, the_log: Log) -> None:
        if id(the_log) in self._flushing or self._tg is None:
            return
        self._flushing.add(id(the_log))
        self._spawn(self._flush(the_log))

    async def _flush(self, the_log: Log) -> None:
        try:
            plan = the_log.flush_plan()
            if plan is not None:
                offset = await asyncio.to_thread(plan)
                the_log.flush_done(offset)
        except Exception:
            log.exception("flush of %s-%d failed", the_log.topic, the_log.partition)
        finally:
            self._flushing.discard(id(the_log))

    def _start_epoch_checkpoint(self, the_log: Log) -> None:
        if id(the_log) in self._checkpointing or self._tg is None:
            return
        self._checkpointing.add(id(the_log))
        self._spawn(self._write_epoch_checkpoint(the_log))

    async def _write_epoch_checkpoint(self, the_log: Log) -> None:
        try:
            plan = the_log.leader_epoch_cache.checkpoint_plan()
            if plan is not None:
                await asyncio.to_thread(plan)
        except OSError as exc:  # retried by the next flush, epoch change or close
            log.warning("could not write the leader-epoch checkpoint of %s-%d: %s", the_log.topic,
                        the_log.partition, exc)
        finally:
            self._checkpointing.discard(id(the_log))

    async def _flush_loop(self) -> None:
        while True:
            await self.clock.sleep(self._flush_interval)
            now = self.clock.now_ms()
            for part in list(self.partitions.values()):
                if part.log.needs_flush(now):
                    self._start_flush(part.log)

    async def _retention_loop(self) -> None:
        while True:
            await self.clock.sleep(self._retention_interval)
            self.enforce_retention()

    def enforce_retention(self) -> None:
        now = self.clock.now_ms()
        for part in list(self.partitions.values()):
            self._retain(part, now)

    def _retain(self, part: Partition, now: int) -> None:
        """Remove the segments of ``part`` that retention or its log start offset let go: renamed
        now, unlinked on a worker after file.delete.delay.ms."""
        try:
            segments = part.log.segments_to_delete(now)
            if not segments:
                return
            delay = part.log.config.file_delete_delay_ms / 1000
            size = sum(seg.size for seg in segments)
            removed = part.log.remove_segments(segments)
            log.info("retention: deleted %d segment(s) (%d bytes) of %s-%d; log start offset now %d",
                     len(segments), size, part.topic, part.index, part.log.log_start_offset,
                     extra={"event": "retention_delete", "topic": part.topic, "partition": part.index,
                            "segments": len(segments), "bytes": size,
                            "log_start_offset": part.log.log_start_offset})
            self._spawn(self._delete_later(removed, delay))
        except Exception:
            log.exception("retention of %s-%d failed", part.topic, part.index)

    async def _delete_later(self, removed, delay: float) -> None:  # type: ignore[no-untyped-def]
        if delay > 0:
            await self.clock.sleep(delay)
        for seg in removed:
            await asyncio.to_thread(seg.delete_files)

    def close(self) -> None:
        self.partitions.clear()


