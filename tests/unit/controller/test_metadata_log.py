"""MetadataLog on raft: commits, listeners, restart, and logs written by the pre-raft stand-in."""
import asyncio
import json

from strom.metadata.records import ConfigRecord, PartitionRecord, TopicRecord, encode
from strom.controller.metadata_log import METADATA_DIR, MetadataLog
from strom.records.batch import NewRecord, build_batch, validate_batches
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.util.clock import VirtualScheduler

from ._cluster import run

TOPIC = TopicRecord("t", "00000000-0000-0000-0000-000000000001")
PARTITION = PartitionRecord(TOPIC.topic_id, 0, [1], [1], 1)
CONFIG = ConfigRecord(2, "t", "retention.ms", "1000")


@run
async def test_append_commits_tells_listeners_and_survives_a_restart(tmp_path):
    scheduler = VirtualScheduler()
    log = MetadataLog(tmp_path, scheduler, clean=True, node_id=3, cluster_id="c")
    seen: list = []
    log.add_commit_listener(lambda records, offset: seen.append((list(records), offset)))
    last = await log.append([TOPIC, PARTITION])
    assert last == 2  # offset 0 is this leader's LeaderChange record
    assert seen == [([TOPIC, PARTITION], 2)]
    assert await log.append([CONFIG]) == 3
    assert list(log.read_all()) == [TOPIC, PARTITION, CONFIG]
    log.close()
    state = json.loads((tmp_path / METADATA_DIR / "quorum-state").read_text())
    assert state["leaderId"] == 3 and state["leaderEpoch"] == 1 and state["votedId"] == 3

    again = MetadataLog(tmp_path, scheduler, clean=True, node_id=3, cluster_id="c")
    assert list(again.read_all()) == [TOPIC, PARTITION, CONFIG]
    assert await again.append([CONFIG]) == 5  # 4: the LeaderChange of epoch 2
    again.close()


@run
async def test_a_log_written_before_raft_loads_and_grows(tmp_path):
    scheduler = VirtualScheduler()
    d = tmp_path / METADATA_DIR
    old = Log(d, LogConfig(segment_bytes=64 << 20, retention_ms=-1, retention_bytes=-1), clock=scheduler)
    for records in ([TOPIC, PARTITION], [CONFIG]):  # what the stand-in wrote: one batch per commit, fsynced
        batch = build_batch([NewRecord(*encode(r)) for r in records], timestamp_ms=scheduler.now_ms())
        old.append(batch, validate_batches(batch))
    old.sync_all()
    old.close()
    log = MetadataLog(tmp_path, scheduler, clean=False, node_id=1)
    assert list(log.read_all()) == [TOPIC, PARTITION, CONFIG]
    assert log.end_offset == 4  # 3: the LeaderChange record of epoch 1, appended at start-up
    assert await log.append([CONFIG]) == 4
    log.close()
    again = MetadataLog(tmp_path, scheduler, clean=False, node_id=1)
    assert list(again.read_all()) == [TOPIC, PARTITION, CONFIG, CONFIG]
    again.close()


@run
async def test_concurrent_appends_commit_in_order(tmp_path):
    log = MetadataLog(tmp_path, VirtualScheduler(), clean=True)
    offsets = await asyncio.gather(*(log.append([CONFIG]) for _ in range(20)))
    assert offsets == list(range(1, 21))
    log.close()


@run
async def test_start_up_reads_the_snapshot_then_the_log_tail(tmp_path):
    from strom.controller.metadata_log import encode_snapshot
    from strom.raft.file_log import FileRaftLog
    from strom.raft.messages import Record

    scheduler = VirtualScheduler()
    raft_log = FileRaftLog(tmp_path / METADATA_DIR, scheduler, clean=True)
    raft_log.append(tuple(Record(i, 1, encode(r)) for i, r in enumerate([TOPIC, PARTITION, CONFIG])))
    raft_log.flush()
    raft_log.create_snapshot(2, b"voters=1\n" + encode_snapshot([TOPIC, PARTITION]))
    raft_log.close(flush=True)

    log = MetadataLog(tmp_path, scheduler, clean=True, node_id=1)
    assert log.host.log.start_offset == 2
    assert list(log.read_all()) == [TOPIC, PARTITION, CONFIG]
    assert await log.append([CONFIG]) == 4  # 3: the LeaderChange record of epoch 2
    log.close()
