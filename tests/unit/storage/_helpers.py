"""Shared helpers of the storage unit tests."""
from __future__ import annotations

from pathlib import Path

from strom.records.batch import NewRecord, build_batch, iter_records, validate_batches
from strom.storage.files import OS_FS, FileSystem
from strom.storage.log import AppendResult, Log
from strom.storage.log_config import LogConfig
from strom.util.clock import FakeClock

T0 = 1_700_000_000_000  # FakeClock's default start
FS: FileSystem = OS_FS  # what open_log uses unless told; the ``storage_fs`` fixture sets it
OPENED = 0  # logs opened by open_log on FS since the fixture started


def batch(*values: bytes, pid: int = -1, epoch: int = -1, seq: int = -1, ts: int | None = T0,
          compression: int = 0) -> bytes:
    return build_batch([NewRecord(None, v) for v in values], producer_id=pid, producer_epoch=epoch,
                       base_sequence=seq, timestamp_ms=ts, compression=compression)


def append(log: Log, data: bytes, now_ms: int | None = None, *, leader_epoch: int | None = None) -> AppendResult:
    return log.append(data, validate_batches(data), now_ms=now_ms, leader_epoch=leader_epoch)


def values(log: Log, offset: int = 0, max_bytes: int = 1 << 20) -> list[bytes]:
    """Every value from ``offset`` to the high watermark, fetching like a consumer."""
    out: list[bytes] = []
    while offset < log.high_watermark:
        data = log.read(offset, max_bytes)
        recs = [r for r in iter_records(data) if r.offset >= offset]
        if not recs:
            break
        out += [r.value for r in recs]
        offset = recs[-1].offset + 1
    return out


def open_log(path: Path, clock: FakeClock, name: str = "t-0", *, clean: bool = True, recovery_point: int = 0,
             fs: FileSystem | None = None, **cfg) -> Log:
    global OPENED
    if fs is None:
        fs, OPENED = FS, OPENED + 1
    return Log(path / name, LogConfig(**cfg), clock=clock, clean=clean, recovery_point=recovery_point, fs=fs)
