"""ReplicaManager.delete_records: the log start offset moves, the log-start-offset checkpoint is
written on a worker before the call returns (so a crash keeps the new start), segments below it
go, and bad offsets or a compacted topic change nothing."""
from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from strom.errors import ErrorCode, KafkaError
from strom.records.batch import NewRecord, build_batch, validate_batches
from strom.replication.replica_manager import ReplicaManager
from strom.storage.files import OsFileSystem
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LOG_START_CHECKPOINT, LogManager, read_checkpoint
from strom.util.clock import FakeClock

pytestmark = pytest.mark.timeout(20)


class ThreadRecordingFileSystem(OsFileSystem):
    """Records the thread of every rename onto the log-start-offset checkpoint."""

    def __init__(self) -> None:
        self.replace_threads: list[int] = []

    def replace(self, src, dst):
        if str(dst).endswith(LOG_START_CHECKPOINT):
            self.replace_threads.append(threading.get_ident())
        super().replace(src, dst)


class Stop(Exception):
    pass


def test_delete_records_is_durable_before_it_answers(tmp_path):
    fs = ThreadRecordingFileSystem()
    clock = FakeClock()
    config = LogConfig(segment_bytes=500, file_delete_delay_ms=0)
    results = []

    async def main() -> None:
        logs = LogManager([tmp_path], config, clock=clock, fs=fs)
        logs.load()
        replicas = ReplicaManager(logs, 1, clock)
        part = replicas.ensure_partition("t", uuid.uuid4(), 0, config, leader_id=1, leader_epoch=0)
        other = replicas.ensure_partition("c", uuid.uuid4(), 0, LogConfig(cleanup_policy="compact"),
                                          leader_id=1, leader_epoch=0)
        for i in range(30):
            data = build_batch([NewRecord(None, b"x" * 50)], timestamp_ms=clock.now_ms())
            part.append(data, validate_batches(data), clock.now_ms())
            keyed = build_batch([NewRecord(b"k%d" % i, b"x" * 50)], timestamp_ms=clock.now_ms())  # compacted: keys
            other.append(keyed, validate_batches(keyed), clock.now_ms())
        segments_before = len(part.log.segments)
        try:
            async with asyncio.TaskGroup() as tg:
                replicas.start(tg)
                results.extend(await replicas.delete_records([(part, 17), (part, 31), (part, -2), (other, 1)]))
                assert read_checkpoint(tmp_path / LOG_START_CHECKPOINT)[("t", 0)] == 17  # before the answer
                assert part.log.segments[0].base_offset <= 17 < part.log.segments[1].base_offset  # the ones below went
                assert len(part.log.segments) < segments_before
                results.extend(await replicas.delete_records([(part, -1)]))
                raise Stop
        except* Stop:
            pass
        assert fs.replace_threads and threading.get_ident() not in fs.replace_threads
        # a crash now (no shutdown, no clean marker): the next start keeps the new start
        reopened = LogManager([tmp_path], config, clock=clock)
        reopened.load()
        assert reopened.get("t", 0).log_start_offset == 30
        assert reopened.get("c", 0).log_start_offset == 0

    asyncio.run(main(), debug=True)
    assert results[0] == 17
    assert [r.code for r in results[1:4]] == [ErrorCode.OFFSET_OUT_OF_RANGE, ErrorCode.OFFSET_OUT_OF_RANGE,
                                             ErrorCode.POLICY_VIOLATION]
    assert all(isinstance(r, KafkaError) for r in results[1:4])
    assert results[4] == 30
