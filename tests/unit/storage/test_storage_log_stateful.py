"""Stateful property test: random appends (as leader, in growing leader epochs), rolls, reopens
(clean and crash), truncation and retention against a model of the batches; the leader-epoch
cache must give every stored offset the epoch its batch was written in, across all of them."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import errno

import pytest

from strom.errors import KafkaStorageError
from strom.storage.faults import FaultyFileSystem
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.util.clock import FakeClock

from ._helpers import append, batch, values


class LogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.clock = FakeClock()
        self.config = LogConfig(segment_bytes=800, index_interval_bytes=150, retention_ms=-1)
        self.fs = FaultyFileSystem()  # faults only where a rule injects them
        self.log = Log(self.tmp / "m-0", self.config, clock=self.clock, fs=self.fs)
        self.batches: list[tuple[int, list[bytes], int | None, int]] = []  # (base offset, values, sequence, epoch)
        self.epoch = 0  # the leader epoch appends are stamped with
        self.seq = 0  # next sequence of the idempotent producer 1
        self.start = 0
        self.end = 0
        self.counter = 0

    def teardown(self) -> None:
        try:
            self.log.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


    @rule(count=st.integers(1, 4), size=st.integers(0, 300), pid=st.booleans())
    def append(self, count, size, pid):
        vals = []
        for _ in range(count):
            vals.append(b"%06d" % self.counter + b"p" * size)
            self.counter += 1
        seq = self.seq if pid else None
        data = batch(*vals, ts=self.clock.now_ms(), pid=1 if pid else -1, epoch=0 if pid else -1,
                     seq=-1 if seq is None else seq)
        r = append(self.log, data, leader_epoch=self.epoch)
        assert r.first_offset == self.end and not r.duplicate
        self.batches.append((r.first_offset, vals, seq, self.epoch))
        self.end += count
        if pid:
            self.seq += count
            retry = append(self.log, data, leader_epoch=self.epoch)  # an idempotent retry writes nothing
            assert retry.duplicate and (retry.first_offset, retry.last_offset) == (r.first_offset, r.last_offset)
        self.clock.advance(10)

    @rule(short=st.booleans())
    def append_on_a_full_disk(self, short):
        """A write that fails (or writes half) is refused and changes nothing."""
        if short:
            fault = self.fs.short_write("pwrite", "pwritev", times=1)
        else:
            fault = self.fs.fail("pwrite", "pwritev", "open", times=1)  # open: a roll may come first
        try:
            with pytest.raises(KafkaStorageError):
                append(self.log, batch(b"lost", ts=self.clock.now_ms()), leader_epoch=self.epoch + 1)
        finally:
            self.fs.heal(fault)

    @rule()
    def flush_fails(self):
        """An fsync error keeps the recovery point where it was."""
        before = self.log.recovery_point
        fault = self.fs.fail("fsync", error=errno.EIO, times=1)
        try:
            self.log.flush()
        except OSError:
            assert self.log.recovery_point == before
        finally:
            self.fs.heal(fault)

    @rule(step=st.integers(1, 3))
    def new_leader_epoch(self, step):
        self.epoch += step

    @rule(clean=st.booleans())
    def reopen(self, clean):
        recovery_point = self.log.recovery_point
        if clean:
            self.log.close(flush=True)
        else:  # crash: the page cache keeps what was written, nothing else happens
            for seg in self.log.segments:
                seg.drop_descriptors()
        self.log = Log(self.tmp / "m-0", self.config, clock=self.clock, clean=clean,
                       recovery_point=recovery_point, log_start_offset=self.start, fs=self.fs)

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def truncate(self, data):
        offset = data.draw(st.integers(self.start, self.end))
        self.log.truncate_to(offset)
        kept = [(b, v, q, e) for b, v, q, e in self.batches if b + len(v) <= offset]
        removed = self.batches[len(kept):]
        self.batches = kept  # the batch holding ``offset`` goes too
        if removed:
            self.end = removed[0][0]
        self.start = min(self.start, self.end)
        seqs = [q + len(v) for _, v, q, _e in kept if q is not None]
        self.seq = seqs[-1] if seqs else 0

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def delete_records(self, data):
        offset = data.draw(st.integers(self.start, self.end))
        self.log.increment_log_start_offset(offset)
        self.start = offset
        for seg in self.log.remove_segments(self.log.segments_to_delete(self.clock.now_ms())):
            seg.delete_files()

    @rule()
    def flush(self):
        self.log.flush()

    @invariant()
    def matches_model(self):
        assert self.log.log_end_offset == self.end
        assert self.log.log_start_offset == self.start
        expected = [v for b, vals, _, _e in self.batches for i, v in enumerate(vals) if b + i >= self.start]
        assert values(self.log, self.start, max_bytes=700) == expected

    @invariant()
    def epochs_match_model(self):
        for b, vals, _, epoch in self.batches:
            for o in range(max(b, self.start), b + len(vals)):
                assert self.log.epoch_for_offset(o) == epoch, (o, self.log.leader_epoch_cache)
        by_base = {b: e for b, _, _, e in self.batches}
        for seg in self.log.segments:  # the stamp in the stored batch headers
            for _pos, h in seg.iter_headers():
                if h.next_offset > self.start:
                    assert h.partition_leader_epoch == by_base[h.base_offset]
        entries = self.log.leader_epoch_cache.entries
        assert all(e.start_offset >= self.start for e in entries)
        assert [e.epoch for e in entries] == sorted({e.epoch for e in entries})
        assert all(e.epoch in {epoch for *_, epoch in self.batches} for e in entries)  # no failed append's


LogMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
TestLogMachine = LogMachine.TestCase
