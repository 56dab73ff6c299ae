"""Write failures (disk full, I/O errors): what fails, what keeps working, what the next start sees.

Failures are injected by replacing a storage module's ``os`` with one whose named calls fail with
ENOSPC (or write short), the way a full disk fails them.  tests/integration/test_disk_full.py does
the same end to end with a real file-size limit on a broker process.
"""
from __future__ import annotations

import errno
import logging
import os

import pytest

from strom.errors import KafkaStorageError
from strom.storage import files as files_module
from strom.storage import index as index_module
from strom.storage import segment as segment_module
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import CLEAN_SHUTDOWN, LogManager

from ._helpers import T0, append, batch, open_log, values


class FailingOS:
    """The os module, except that the calls named in ``failing`` raise ENOSPC and the ones named
    in ``short`` write only half of what they are given."""

    def __init__(self, failing=(), short=()) -> None:
        self.failing = set(failing)
        self.short = set(short)

    def __getattr__(self, name):
        if name in self.failing:
            def fail(*args, **kwargs):
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
            return fail
        if name == "pwrite" and name in self.short:
            return lambda fd, data, offset: os.pwrite(fd, bytes(data)[:len(data) // 2], offset)
        if name == "pwritev" and name in self.short:
            def half(fd, buffers, offset):
                data = b"".join(bytes(b) for b in buffers)
                return os.pwrite(fd, data[:len(data) // 2], offset)
            return half
        return getattr(os, name)


def value(i: int) -> bytes:
    return b"%03d" % i + b"v" * 100


def index_files(log) -> list[str]:
    return sorted(p.name for p in log.dir.iterdir() if p.suffix in (".index", ".timeindex"))


def test_index_write_failure_does_not_fail_appends_and_the_next_start_rebuilds_it(tmp_path, clock, monkeypatch,
                                                                                    caplog):
    log = open_log(tmp_path, clock, index_interval_bytes=200)
    for i in range(10):
        append(log, batch(value(i), ts=T0 + i))
    assert index_files(log) == ["00000000000000000000.index", "00000000000000000000.timeindex"]
    monkeypatch.setattr(index_module, "os", FailingOS(failing={"write"}))
    for i in range(10, 40):
        append(log, batch(value(i), ts=T0 + i))
    assert log.log_end_offset == 40
    assert index_files(log) == []  # a stale file would be trusted by the next start: removed
    assert any("index is kept in memory" in m for m in caplog.messages)
    assert values(log) == [value(i) for i in range(40)]
    assert values(log, 25)[0] == value(25)  # lookups use the in-memory entries
    assert log.offset_for_timestamp(T0 + 30)[0] == 30
    monkeypatch.undo()
    log.close(flush=True)

    reopened = open_log(tmp_path, clock, index_interval_bytes=200)
    assert values(reopened) == [value(i) for i in range(40)]
    assert index_files(reopened) == ["00000000000000000000.index", "00000000000000000000.timeindex"]
    assert reopened.active.index.entries > 5


def test_rebuilt_index_that_cannot_be_written_stays_in_memory(tmp_path, clock, monkeypatch):
    log = open_log(tmp_path, clock, index_interval_bytes=200)
    for i in range(20):
        append(log, batch(value(i)))
    for seg in log.segments:
        seg.drop_descriptors()  # a crash
    monkeypatch.setattr(files_module, "os", FailingOS(failing={"replace"}))
    recovered = open_log(tmp_path, clock, index_interval_bytes=200, clean=False)
    assert recovered.recovered_segments == 1
    assert values(recovered) == [value(i) for i in range(20)]
    assert values(recovered, 13)[0] == value(13)
    assert not any(p.name.endswith(".tmp") for p in recovered.dir.iterdir())
    assert index_files(recovered) == []
    append(recovered, batch(value(20)))  # appends go on, the index stays in memory
    assert values(recovered, 20) == [value(20)]


@pytest.mark.parametrize("how", ["failing", "short"])
def test_log_write_failure_is_a_storage_error_that_changes_nothing(tmp_path, clock, monkeypatch, how):
    log = open_log(tmp_path, clock)
    append(log, batch(value(0)))
    size = log.active.size
    monkeypatch.setattr(segment_module, "os", FailingOS(**{how: {"pwrite", "pwritev"}}))
    with pytest.raises(KafkaStorageError):
        append(log, batch(value(1)))
    assert log.write_errors == 1
    assert log.log_end_offset == 1 and log.active.size == size
    assert os.path.getsize(log.active.log_path) == size  # a short write is cut off again
    monkeypatch.undo()
    assert append(log, batch(value(2))).first_offset == 1
    assert values(log) == [value(0), value(2)]


def test_failed_roll_leaves_the_active_segment_as_it_was(tmp_path, clock, monkeypatch):
    log = open_log(tmp_path, clock, segment_bytes=400)
    for i in range(3):
        append(log, batch(value(i)))
    segments = len(log.segments)
    monkeypatch.setattr(segment_module, "os", FailingOS(failing={"open"}))  # no new file can be created
    with pytest.raises(KafkaStorageError):
        for i in range(3, 10):
            append(log, batch(value(i)))
    monkeypatch.undo()
    assert len(log.segments) == segments
    end = log.log_end_offset
    assert append(log, batch(b"after")).first_offset == end
    assert values(log)[-1] == b"after"


def test_roll_goes_on_when_the_producer_snapshot_cannot_be_written(tmp_path, clock, monkeypatch, caplog):
    log = open_log(tmp_path, clock, segment_bytes=400)
    monkeypatch.setattr(files_module, "os", FailingOS(failing={"replace"}))
    for i in range(10):
        append(log, batch(value(i), pid=7, epoch=0, seq=i))
    assert len(log.segments) > 2
    assert any("producer-state snapshot" in m for m in caplog.messages)
    assert not any(p.name.endswith((".snapshot", ".tmp")) for p in log.dir.iterdir())
    monkeypatch.undo()
    for seg in log.segments:
        seg.drop_descriptors()
    reopened = open_log(tmp_path, clock, segment_bytes=400, clean=False)
    # the producer state comes back from the log itself: a retry of the last batch is a duplicate
    assert append(reopened, batch(value(9), pid=7, epoch=0, seq=9)).duplicate


def test_shutdown_with_a_log_that_cannot_be_flushed_is_unclean(tmp_path, clock, monkeypatch, caplog):
    mgr = LogManager([tmp_path], LogConfig(), clock=clock)
    mgr.load()
    good, bad = mgr.create("good", 0, LogConfig()), mgr.create("bad", 0, LogConfig())
    append(good, batch(b"g"))
    append(bad, batch(b"b"))

    def broken_close(*, flush=False):
        raise OSError(errno.EIO, "Input/output error (injected)")
    monkeypatch.setattr(bad, "close", broken_close)
    with caplog.at_level(logging.WARNING):
        assert mgr.shutdown() is False
    assert not (tmp_path / CLEAN_SHUTDOWN).exists()
    assert good.active.closed
    assert any("could not flush bad-0" in m for m in caplog.messages)

    again = LogManager([tmp_path], LogConfig(), clock=clock)
    again.load()
    assert not again.was_clean
    assert values(again.get("good", 0)) == [b"g"] and values(again.get("bad", 0)) == [b"b"]


def test_shutdown_that_cannot_write_its_checkpoints_is_unclean(tmp_path, clock, monkeypatch):
    mgr = LogManager([tmp_path], LogConfig(), clock=clock)
    mgr.load()
    append(mgr.create("t", 0, LogConfig()), batch(b"x"))
    monkeypatch.setattr(files_module, "os", FailingOS(failing={"replace"}))
    assert mgr.shutdown() is False
    assert not (tmp_path / CLEAN_SHUTDOWN).exists()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
