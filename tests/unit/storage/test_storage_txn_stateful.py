"""Stateful property test: random transactional and plain appends by three producers, COMMIT and
ABORT markers (some with a bumped epoch, as a fencing coordinator writes them), rolls, reopens
(clean and crash) and truncation, against a model: the last stable offset and the aborted
transactions the log reports must be the model's at every step."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from strom.records.batch import NewRecord, build_batch, build_end_txn_marker, validate_batches
from strom.storage.log import Log
from strom.storage.log_config import LogConfig
from strom.util.clock import FakeClock

PIDS = (1, 2, 3)


class TxnLogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.clock = FakeClock()
        self.config = LogConfig(segment_bytes=600, index_interval_bytes=100, retention_ms=-1)
        self.log = Log(self.tmp / "x-0", self.config, clock=self.clock)
        self.epoch = {pid: 0 for pid in PIDS}
        self.seq = {pid: 0 for pid in PIDS}
        self.open: dict[int, int] = {}  # pid -> first offset of its open transaction
        self.aborted: list[tuple[int, int, int]] = []  # (pid, first offset, marker offset)
        self.history: list[tuple[str, int, int, int]] = []  # (kind, pid, offset, first) to rebuild on truncation

    def teardown(self) -> None:
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _append(self, data: bytes, *, control: bool = False) -> int:
        now = self.clock.now_ms()
        return self.log.append(data, validate_batches(data, allow_control=control), now_ms=now).first_offset

    @rule(pid=st.sampled_from(PIDS), count=st.integers(1, 4), transactional=st.booleans())
    def write(self, pid, count, transactional):
        if not transactional and pid in self.open:
            transactional = True  # a producer inside a transaction writes transactionally
        data = build_batch([NewRecord(None, b"v" * 30)] * count, producer_id=pid, producer_epoch=self.epoch[pid],
                           base_sequence=self.seq[pid], transactional=transactional,
                           timestamp_ms=self.clock.now_ms())
        offset = self._append(data)
        self.seq[pid] += count
        if transactional and pid not in self.open:
            self.open[pid] = offset
        self.history.append(("data", pid, offset, offset + count))

    @rule(count=st.integers(1, 3))
    def plain(self, count):
        offset = self._append(build_batch([NewRecord(None, b"p" * 30)] * count, timestamp_ms=self.clock.now_ms()))
        self.history.append(("plain", -1, offset, offset + count))

    @rule(pid=st.sampled_from(PIDS), commit=st.booleans(), bump=st.booleans())
    def end(self, pid, commit, bump):
        if bump:  # the coordinator fenced the producer: the marker carries the next epoch
            self.epoch[pid] += 1
            self.seq[pid] = 0
        marker = build_end_txn_marker(commit, producer_id=pid, producer_epoch=self.epoch[pid], coordinator_epoch=0,
                                      timestamp_ms=self.clock.now_ms())
        offset = self._append(marker, control=True)
        first = self.open.pop(pid, None)
        if first is not None and not commit:
            self.aborted.append((pid, first, offset))
        self.history.append(("marker", pid, offset, offset + 1))

    @rule()
    def roll(self):
        self.log.roll()

    @rule(clean=st.booleans())
    def reopen(self, clean):
        recovery_point = self.log.recovery_point
        if clean:
            self.log.close(flush=True)
        else:
            for seg in self.log.segments:
                seg.drop_descriptors()
        self.log = Log(self.tmp / "x-0", self.config, clock=self.clock, clean=clean, recovery_point=recovery_point)

    @precondition(lambda self: self.history)
    @rule(data=st.data())
    def truncate(self, data):
        i = data.draw(st.integers(0, len(self.history) - 1))
        cut = self.history[i][2]
        self.log.truncate_to(cut)
        self.history = self.history[:i]
        self.open = {}
        self.aborted = []
        for kind, pid, offset, _end in self.history:  # the model replays what is left
            if kind == "data" and pid not in self.open and self._was_transactional(offset):
                self.open[pid] = offset
            elif kind == "marker":
                first = self.open.pop(pid, None)
                if first is not None and self._marker_aborts(offset):
                    self.aborted.append((pid, first, offset))
        for pid in PIDS:  # the producers go on from what the log kept (their sequence checks)
            entry = self.log.producer_state.producers.get(pid)
            if entry is not None:
                self.epoch[pid], self.seq[pid] = entry.epoch, entry.last_seq + 1
            else:  # forgotten: any sequence is taken, and 0 also after a marker (Kafka's rule)
                self.seq[pid] = 0

    def _was_transactional(self, offset: int) -> bool:
        seg = next(s for s in reversed(self.log.segments) if s.base_offset <= offset)
        return next(h for _, h in seg.iter_headers() if h.base_offset == offset).is_transactional

    def _marker_aborts(self, offset: int) -> bool:
        return self._marker_type(offset) == 0  # CONTROL_ABORT, as written

    def _marker_type(self, offset: int) -> int:
        from strom.records.batch import control_record_type, decode_batch
        seg = next(s for s in reversed(self.log.segments) if s.base_offset <= offset)
        pos, h = next((p, h) for p, h in seg.iter_headers() if h.base_offset == offset)
        return control_record_type(decode_batch(seg.read(pos, h.size))[1][0])

    def _all_aborted(self):
        return self.log.aborted_transactions(0, self.log.log_end_offset + 1)

    @invariant()
    def lso_matches_model(self):
        end = self.log.log_end_offset
        want = min(self.open.values()) if self.open else end
        assert self.log.last_stable_offset == want
        assert self.log.producer_state.ongoing == self.open

    @invariant()
    def aborted_transactions_match_model(self):
        got = [(a.producer_id, a.first_offset, a.last_offset) for a in self._all_aborted()]
        assert got == self.aborted
        if self.aborted:  # a fetch from the middle sees only the ones overlapping it
            pid, first, last = self.aborted[-1]
            assert (pid, first, last) in [(a.producer_id, a.first_offset, a.last_offset)
                                          for a in self.log.aborted_transactions(last, last + 1)]


TxnLogMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestTxnLogMachine = TxnLogMachine.TestCase
