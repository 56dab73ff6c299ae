"""The operator's info lines of ReplicaManager: retention deletes and leadership changes, with their fields."""
from __future__ import annotations

import logging
import uuid
from pathlib import Path

from strom.records.batch import NewRecord, build_batch, validate_batches
from strom.replication.replica_manager import ReplicaManager
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.util.clock import VirtualScheduler

LOGGER = "strom.replication.replica_manager"


def manager(tmp_path: Path) -> tuple[VirtualScheduler, ReplicaManager]:
    clock = VirtualScheduler()
    return clock, ReplicaManager(LogManager([tmp_path], LogConfig(), clock=clock), 1, clock)


def events(caplog, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and getattr(r, "event", None) == name]


def test_retention_logs_one_line_with_segments_bytes_and_the_new_log_start(tmp_path: Path, caplog):
    clock, replicas = manager(tmp_path)
    config = LogConfig(segment_bytes=200, retention_ms=1000, file_delete_delay_ms=0)
    part = replicas.ensure_partition("r", uuid.uuid4(), 0, config, leader_id=1, leader_epoch=0)
    for i in range(10):
        data = build_batch([NewRecord(b"k", b"v%d" % i)], timestamp_ms=clock.now_ms())
        part.append(data, validate_batches(data), clock.now_ms())
    segments = len(part.log.segments)
    assert segments > 2
    size = sum(s.size for s in part.log.segments)
    clock.advance(1001)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        replicas.enforce_retention()
        replicas.enforce_retention()  # nothing left to delete: no second line
    [line] = events(caplog, "retention_delete")
    assert line.levelno == logging.INFO and (line.topic, line.partition) == ("r", 0)
    assert line.segments == segments and line.bytes == size  # the active one was rolled and went too
    assert line.log_start_offset == part.log.log_start_offset == 10
    assert f"deleted {segments} segment(s) ({size} bytes) of r-0; log start offset now 10" in line.getMessage()


def test_a_new_leader_or_epoch_logs_one_line_and_a_repeat_none(tmp_path: Path, caplog):
    _, replicas = manager(tmp_path)
    topic_id = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        replicas.ensure_partition("l", topic_id, 0, LogConfig(), leader_id=1, leader_epoch=0)  # new: node's line
        replicas.ensure_partition("l", topic_id, 0, LogConfig(), leader_id=1, leader_epoch=0)  # unchanged
        replicas.ensure_partition("l", topic_id, 0, LogConfig(), leader_id=2, leader_epoch=1)
        replicas.ensure_partition("l", topic_id, 0, LogConfig(), leader_id=1, leader_epoch=2)
    changes = events(caplog, "leader_change")
    assert [(r.leader, r.leader_epoch, r.previous_leader, r.previous_leader_epoch, r.role) for r in changes] == [
        (2, 1, 1, 0, "follower"), (1, 2, 2, 1, "leader")]
    assert changes[0].topic == "l" and changes[0].partition == 0
