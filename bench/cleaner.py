"""Log cleaner throughput: one clean of a dirty compacted log on one worker thread.

Builds a log of ``--mb`` MB of records with ``--value-bytes`` values in batches of ``--batch``
records, keys drawn so that ``--live`` of the records are the last of their key (10% live: each
key written about ten times), then times ``strom.storage.cleaner.clean`` (the worker part: offset
map, rewrite, fsync) and prints MB/s of dirty log read.  Not a test: see docs/performance.md.

    .venv/bin/python bench/cleaner.py --mb 100 [--codec lz4] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import shutil
import tempfile
import time
from pathlib import Path

from strom.records import compression
from strom.records.batch import NewRecord, build_batch, validate_batches
from strom.storage import cleaner
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.util.clock import FakeClock


def build(path: Path, mb: int, value_bytes: int, batch: int, live: float, codec: int, clock: FakeClock) -> Log:
    config = LogConfig(cleanup_policy="compact", segment_bytes=64 << 20, retention_ms=-1,
                       min_cleanable_dirty_ratio=0.0)
    log = Log(path, config, clock=clock)
    record_bytes = value_bytes + 20
    total = mb * 1_000_000 // record_bytes
    keys = max(int(total * live), 1)
    rng = random.Random(1)
    values = [rng.randbytes(value_bytes // 2).hex().encode()[:value_bytes] for _ in range(1000)]  # text-like
    written = 0
    while written < total:
        recs = [NewRecord(b"key-%09d" % rng.randrange(keys), values[rng.randrange(1000)]) for _ in range(batch)]
        data = build_batch(recs, timestamp_ms=clock.now_ms(), compression=codec)
        log.append(data, validate_batches(data))
        written += batch
    log.roll()
    return log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--batch", type=int, default=100, help="records per batch")
    ap.add_argument("--live", type=float, default=0.10, help="share of distinct keys among the records")
    ap.add_argument("--codec", choices=sorted(compression.BY_NAME), default="none")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="strom-cleaner-bench-"))
    try:
        clock = FakeClock()
        log = build(tmp / "bench-0", args.mb, args.value_bytes, args.batch, args.live,
                    compression.BY_NAME[args.codec], clock)
        plan = cleaner.plan_clean(log, clock.now_ms(), (128 << 20) // cleaner.MAP_ENTRY_BYTES)
        assert plan is not None
        dirty = sum(s.size for s in plan.segments)
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = cleaner.clean(plan)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"cleaner: {dirty / 1e6:.1f} MB dirty ({result.records_read} records, {args.value_bytes}-byte values, "
              f"{args.live:.0%} live, codec {args.codec}) -> {result.bytes_written / 1e6:.1f} MB "
              f"({result.records_kept} records) in {elapsed:.2f} s: {dirty / 1e6 / elapsed:.1f} MB/s, "
              f"{result.records_read / elapsed / 1e3:.0f}k records/s on one thread")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
        cleaner.discard(plan.fs, plan.dir, [g.base_offset for g in result.groups])
        log.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
