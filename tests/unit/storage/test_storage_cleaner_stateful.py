"""Stateful property test of the log cleaner against a model of the last value per key.

Random keyed appends (tombstones and compressed batches among them), transactions (data then a
COMMIT or ABORT marker), rolls, clock advances, whole cleans, cleans killed at a crash point
(the files as they were at that point are what the next open finds) and reopens, on the storage
FileSystem seam (a FaultyFileSystem without faults).  After every step a consumer's read of the
log must agree with the model: every record read is the one produced at its offset, offsets
increase, and each key's last committed record is the model's — or, for a tombstone older than
delete.retention.ms, the key may be gone altogether.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from strom.records import compression
from strom.records.batch import (
    NewRecord, build_batch, build_end_txn_marker, iter_batches, iter_records, validate_batches,
)
from strom.storage import cleaner
from strom.storage.faults import FaultyFileSystem
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.util.clock import FakeClock

KEYS = [b"k%d" % i for i in range(6)]
RETENTION_MS = 5_000


class _Crash(Exception):
    pass


class CleanerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.clock = FakeClock()
        self.fs = FaultyFileSystem()
        self.config = LogConfig(cleanup_policy="compact", segment_bytes=1500, index_interval_bytes=120,
                                retention_ms=-1, min_cleanable_dirty_ratio=0.0, delete_retention_ms=RETENTION_MS)
        self.path = self.tmp / "m-0"
        self.log = Log(self.path, self.config, clock=self.clock, fs=self.fs)
        self.produced: dict[int, tuple[bytes, bytes | None, int]] = {}  # offset -> key, value, timestamp
        self.aborted: set[int] = set()
        self.seq = {10: 0, 11: 0}

    def teardown(self) -> None:
        try:
            self.log.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _append(self, data: bytes, control: bool = False):
        return self.log.append(data, validate_batches(data, allow_control=control))

    # ------------------------------------------------------------------ rules
    @rule(pairs=st.lists(st.tuples(st.sampled_from(KEYS), st.one_of(st.none(), st.binary(min_size=1, max_size=30),
                                                                       st.binary(min_size=70, max_size=200))),
                         min_size=1, max_size=4),
          codec=st.sampled_from([compression.NONE, compression.NONE, compression.LZ4, compression.SNAPPY]))
    def produce(self, pairs, codec):
        now = self.clock.now_ms()
        r = self._append(build_batch([NewRecord(k, v) for k, v in pairs], timestamp_ms=now, compression=codec))
        for i, (k, v) in enumerate(pairs):
            self.produced[r.first_offset + i] = (k, v, now)

    @rule(n=st.integers(65, 140), seed=st.integers(0, 1000))
    def produce_big_batch(self, n, seed):
        """Offset deltas past 63 and record lengths past 63 take two-byte varints."""
        now = self.clock.now_ms()
        pairs = [(KEYS[(seed + i) % len(KEYS)], None if (seed + i) % 11 == 0 else b"%d" % i * 20) for i in range(n)]
        r = self._append(build_batch([NewRecord(k, v) for k, v in pairs], timestamp_ms=now))
        for i, (k, v) in enumerate(pairs):
            self.produced[r.first_offset + i] = (k, v, now)

    @rule(pid=st.sampled_from([10, 11]), keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=3),
          commit=st.booleans())
    def transaction(self, pid, keys, commit):
        now = self.clock.now_ms()
        data = build_batch([NewRecord(k, b"txn%d" % self.seq[pid]) for k in keys], timestamp_ms=now, producer_id=pid,
                           producer_epoch=0, base_sequence=self.seq[pid], transactional=True)
        r = self._append(data)
        self.seq[pid] += len(keys)
        for i, k in enumerate(keys):
            self.produced[r.first_offset + i] = (k, b"txn%d" % (self.seq[pid] - len(keys)), now)
            if not commit:
                self.aborted.add(r.first_offset + i)
        self._append(build_end_txn_marker(commit, producer_id=pid, producer_epoch=0, coordinator_epoch=0,
                                          timestamp_ms=now), control=True)

    @rule()
    def roll(self):
        self.log.roll()

    @rule(ms=st.sampled_from([100, 1_000, 3_000]))
    def advance(self, ms):
        self.clock.advance(ms)

    @rule(full=st.booleans())
    def clean(self, full):
        if full:
            self.log.first_dirty_offset = 0
        plan = cleaner.plan_clean(self.log, self.clock.now_ms(), 1 << 20)
        if plan is None:
            return
        old = cleaner.swap(self.log, cleaner.clean(plan))
        assert old is not None
        for seg in old:
            seg.delete_files()

    @rule(point=st.sampled_from(["writing-cleaned", "swap-renamed", "old-deleted"]))
    def crash_during_clean(self, point):
        plan = cleaner.plan_clean(self.log, self.clock.now_ms(), 1 << 20)
        if plan is None:
            return
        crashed = self.tmp / "crashed"

        def crash(name: str) -> None:
            if name == point:
                shutil.copytree(self.path, crashed)
                raise _Crash

        original = cleaner.crash_point
        cleaner.crash_point = crash
        try:
            with pytest.raises(_Crash):
                cleaner.swap(self.log, cleaner.clean(plan))
        finally:
            cleaner.crash_point = original
        end = self.log.log_end_offset
        self.log.close()
        shutil.rmtree(self.path)
        crashed.rename(self.path)
        self.log = Log(self.path, self.config, clock=self.clock, clean=False, recovery_point=end, fs=self.fs)
        assert self.log.log_end_offset == end

    @rule()
    def reopen(self):
        self.log.close(flush=True)
        self.log = Log(self.path, self.config, clock=self.clock, fs=self.fs)

    # ------------------------------------------------------------------ the model check
    @invariant()
    def reads_agree_with_the_model(self):
        offset = self.log.log_start_offset
        read = []
        while offset < self.log.high_watermark:
            data = self.log.read(offset, 1 << 20)
            if not data:
                break
            for h, batch in iter_batches(data):
                if not h.is_control:
                    read += [r for r in iter_records(batch) if r.offset >= offset]
                offset = max(offset, h.next_offset)
        offsets = [r.offset for r in read]
        assert offsets == sorted(set(offsets))
        last_read = {}
        for r in read:
            assert self.produced[r.offset][:2] == (r.key, r.value), r.offset  # nothing moved or invented
            if r.offset not in self.aborted:
                last_read[r.key] = r.offset
        last_model: dict[bytes, int] = {}
        for off in sorted(self.produced):
            if off not in self.aborted:
                last_model[self.produced[off][0]] = off
        horizon = self.clock.now_ms() - RETENTION_MS
        for key, off in last_model.items():
            _k, value, ts = self.produced[off]
            if value is None and ts <= horizon and key not in last_read:
                continue  # an expired tombstone may be gone, and with it the key
            assert last_read.get(key) == off, (key, last_read.get(key), off)
        assert set(last_read) <= set(last_model)


TestCleaner = CleanerMachine.TestCase
TestCleaner.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])
