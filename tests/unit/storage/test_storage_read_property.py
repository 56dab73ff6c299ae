"""Property test: Log.read against a model of the batches, over random batch sizes and settings."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strom.records.batch import NewRecord, build_batch, iter_batches
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.util.clock import FakeClock

from ._helpers import append


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 700)), min_size=1, max_size=40),
       interval=st.sampled_from([1, 64, 300, 4096]), segment_bytes=st.sampled_from([700, 2000, 1 << 20]),
       queries=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 5000), st.integers(0, 200), st.booleans()),
                        min_size=1, max_size=20))
def test_read_matches_the_model(sizes, interval, segment_bytes, queries):
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as d:
        log = Log(Path(d) / "p-0", LogConfig(segment_bytes=segment_bytes, index_interval_bytes=interval),
                  clock=clock)
        model = []  # (base offset, count, size)
        for count, value_size in sizes:
            data = build_batch([NewRecord(None, b"v" * value_size)] * count, timestamp_ms=clock.now_ms())
            r = append(log, data)
            model.append((r.first_offset, count, len(data)))
        end = log.log_end_offset
        assert end == sum(c for _, c, _ in model)
        for reopen in (False, True):
            if reopen:
                log.close()
                log = Log(Path(d) / "p-0", LogConfig(segment_bytes=segment_bytes, index_interval_bytes=interval),
                          clock=clock, clean=False)
                assert log.log_end_offset == end
            for offset, max_bytes, max_offset, min_one in queries:
                offset %= end + 1
                data = log.read(offset, max_bytes, max_offset=max_offset, min_one_batch=min_one)
                got = [(h.base_offset, h.records_count, h.size) for h, _ in iter_batches(data)]
                assert sum(s for _, _, s in got) == len(data)  # whole batches only
                if offset >= max_offset or offset == end:
                    assert data == b""
                    continue
                first = next(i for i, (b, c, _) in enumerate(model) if b + c > offset)
                seg_end = min((s.base_offset for s in log.segments if s.base_offset > offset), default=end)
                expected = []
                total = 0
                for b, c, s in model[first:]:
                    if b >= max_offset or b >= seg_end or (total + s > max_bytes and (expected or not min_one)):
                        break
                    expected.append((b, c, s))
                    total += s
                assert got == expected
