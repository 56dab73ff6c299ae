"""LogManager: loading the data dir, Kafka's checkpoint files, the clean-shutdown marker."""
from __future__ import annotations

from strom.storage.log_config import LogConfig
from strom.storage.log_manager import (
    CLEAN_SHUTDOWN, LOG_START_CHECKPOINT, RECOVERY_CHECKPOINT, LogManager, read_checkpoint, write_checkpoint,
)
from strom.storage.segment import Segment

from ._helpers import append, batch, values


def manager(tmp_path, clock, **kw) -> LogManager:
    mgr = LogManager([tmp_path], LogConfig(), clock=clock, **kw)
    return mgr


def test_checkpoint_file_format(tmp_path):
    path = tmp_path / "cp"
    write_checkpoint(path, {("b", 1): 7, ("a", 0): 42})
    assert path.read_text() == "0\n2\na 0 42\nb 1 7\n"
    assert read_checkpoint(path) == {("a", 0): 42, ("b", 1): 7}
    assert read_checkpoint(tmp_path / "missing") == {}
    path.write_text("1\n1\na 0 3\n")  # unknown version
    assert read_checkpoint(path) == {}
    path.write_text("0\n3\na 0 3\n")  # truncated
    assert read_checkpoint(path) == {}


def test_create_get_delete_and_shutdown(tmp_path, clock):
    mgr = manager(tmp_path, clock)
    assert mgr.load() == []
    log = mgr.create("orders", 0, LogConfig(segment_bytes=1000))
    assert mgr.create("orders", 0, LogConfig(segment_bytes=2000)) is log and log.config.segment_bytes == 2000
    mgr.create("orders", 1, LogConfig())
    assert mgr.get("orders", 0) is log and mgr.get("nope", 0) is None
    for _ in range(5):
        append(log, batch(b"x" * 100))
    mgr.update_config("orders", LogConfig(retention_ms=5))
    assert all(l.config.retention_ms == 5 for l in mgr.logs())
    path = mgr.delete("orders", 1)
    assert path.name.startswith("orders-1.") and path.name.endswith("-delete") and path.exists()
    assert mgr.get("orders", 1) is None and mgr.delete("orders", 1) is None
    mgr.shutdown()
    assert (tmp_path / CLEAN_SHUTDOWN).exists()
    assert read_checkpoint(tmp_path / RECOVERY_CHECKPOINT) == {("orders", 0): 5}
    assert read_checkpoint(tmp_path / LOG_START_CHECKPOINT) == {("orders", 0): 0}


def test_clean_restart_skips_recovery_and_removes_the_marker(tmp_path, clock, monkeypatch):
    mgr = manager(tmp_path, clock)
    mgr.load()
    log = mgr.create("t", 0, LogConfig(segment_bytes=1000))
    for i in range(20):
        append(log, batch(b"%02d" % i))
    mgr.shutdown()
    calls = []
    original = Segment.recover
    monkeypatch.setattr(Segment, "recover", lambda self, **kw: calls.append(self) or original(self, **kw))
    mgr = manager(tmp_path, clock)
    mgr.load()
    assert mgr.was_clean and calls == [] and not (tmp_path / CLEAN_SHUTDOWN).exists()
    log = mgr.get("t", 0)
    assert log.recovered_segments == 0 and log.log_end_offset == 20
    # crash now (no shutdown): the next load scans from the checkpointed recovery point
    mgr2 = manager(tmp_path, clock)
    mgr2.load()
    assert not mgr2.was_clean and mgr2.get("t", 0).recovered_segments == 1  # only the active segment
    assert values(mgr2.get("t", 0)) == [b"%02d" % i for i in range(20)]


def test_crash_without_checkpoints_rescans_everything_and_serves_complete_batches(tmp_path, clock):
    mgr = manager(tmp_path, clock)
    mgr.load()
    log = mgr.create("t", 0, LogConfig(segment_bytes=2000))
    for i in range(30):
        append(log, batch(str(i).encode() * 50))
    active = log.active.log_path
    n_segments = len(log.segments)
    size = active.stat().st_size
    with open(active, "r+b") as f:
        f.truncate(size - 7)
    sorted((tmp_path / "t-0").glob("*.index"))[0].unlink()
    mgr = manager(tmp_path, clock)
    mgr.load()
    log = mgr.get("t", 0)
    assert not mgr.was_clean and log.recovered_segments == n_segments
    assert log.log_end_offset == 29
    assert values(log) == [str(i).encode() * 50 for i in range(29)]
    assert append(log, batch(b"next")).first_offset == 29


def test_load_skips_delete_dirs_excluded_and_foreign_dirs(tmp_path, clock):
    (tmp_path / "t-0.abcdef-delete").mkdir()
    (tmp_path / "__cluster_metadata-0").mkdir()
    (tmp_path / "not a partition").mkdir()
    (tmp_path / "meta.properties").write_text("x")
    (tmp_path / "u-3").mkdir()
    mgr = manager(tmp_path, clock, exclude={"__cluster_metadata-0"})
    leftovers = mgr.load()
    assert [p.name for p in leftovers] == ["t-0.abcdef-delete"]
    assert [(l.topic, l.partition) for l in mgr.logs()] == [("u", 3)]


def test_log_start_offset_checkpoint_is_honoured(tmp_path, clock):
    mgr = manager(tmp_path, clock)
    mgr.load()
    log = mgr.create("t", 0, LogConfig())
    for i in range(10):
        append(log, batch(b"x"))
    log.increment_log_start_offset(4)
    mgr.shutdown()
    mgr = manager(tmp_path, clock)
    mgr.load()
    assert mgr.get("t", 0).log_start_offset == 4
