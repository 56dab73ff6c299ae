"""Deterministic simulation of a raft quorum: seeded RNG, virtual clock, in-memory network.

``run(seed)`` builds 3 or 5 voters (and 0-2 observers) of :class:`strom.raft.core.RaftNode` in
one process and drives them through two phases:

1. **chaos** (``SimConfig.chaos_ms`` of virtual time): the network drops, delays (and so reorders)
   and duplicates messages; nodes are partitioned both ways and one way, crash (part-way through
   carrying out a step's effects, losing what they had not fsynced) and restart from their "disk";
   a crash also closes the node's connections, so nothing in flight to or from it arrives;
   leaders resign gracefully; an admin client adds and removes voters (AddRaftVoter,
   RemoveRaftVoter); a client appends records to whoever leads.
2. **stable**: a random majority of voters is restarted and fully connected, the rest is cut
   off (every node that was ever a voter, if the voter set changed: see ``_stabilize``); no
   drops. Within ``liveness_timeouts`` election timeouts a leader must be elected and commit a
   record appended after the phase began.

After every step (a message delivered, a timer fired, an append) the checker verifies:
at most one leader per epoch; a voter grants at most one vote per epoch; a committed entry is
never lost or changed (every node's prefix below its high watermark, every new leader's log);
logs match (the same offset and epoch mean the same prefix, via ``MemoryRaftLog``'s chained
digests); the high watermark never goes back on any node, even across restarts; the core
never raises.

The engine lives in the package (not under tests/) so that ``strom dev simulate`` can run long
campaigns; tests/simulation/ drives it for ``make test``.

The same seed gives the same run, step for step: every random choice comes from RNGs seeded
from the seed, time is virtual, and events are ordered by (time, sequence number). A failing
seed can be re-run with a trace (``trace=True``); :func:`shrink` looks for the smallest set of
fault kinds that still fails, and :func:`short_trace` keeps the steps that matter.
"""
from __future__ import annotations

import heapq
import random
import traceback
from dataclasses import dataclass, field, replace

from strom.raft import messages as m
from strom.raft.core import (
    NO_BUGS,
    Bugs,
    FlushLog,
    PersistQuorumState,
    QuorumStateData,
    RaftConfig,
    RaftNode,
    Send,
)
from strom.raft.log import RECORD_BYTES, MemoryRaftLog
from strom.raft.state import Leader

FAULT_KINDS = ("drop", "duplicate", "delay", "partition", "oneway", "crash", "resign", "reconfigure")
"""Fault kinds that ``SimConfig.faults`` may switch off one by one (``--faults``); "reconfigure"
asks the leader to add an observer as a voter or remove a voter (AddRaftVoter/RemoveRaftVoter)."""

ADMIN = 0
"""Node id of the simulated admin client that sends AddRaftVoter/RemoveRaftVoter."""

SIM_RAFT_CONFIG = RaftConfig(
    election_timeout_ms=1000, fetch_timeout_ms=2000, election_backoff_max_ms=1000,
    request_timeout_ms=1000, retry_backoff_ms=50, fetch_max_wait_ms=500, fetch_max_records=8,
    snapshot_chunk_bytes=8, max_record_bytes_between_snapshots=16 * RECORD_BYTES)
"""Kafka's default timeouts; short requests, small fetches, snapshot chunks and snapshot interval
so that retries, paging, FetchSnapshot and log-start moves happen within a short run."""

CLUSTER_ID = "sim-cluster"
DEFAULT_CHAOS_MS = 15000

_DELIVER, _TIMER, _CHAOS, _APPEND, _RESTART, _HEAL, _STABLE = range(7)


@dataclass(frozen=True, slots=True)
class SimConfig:
    voters: int | None = None  # None: 3 or 5, chosen by the seed
    observers: int | None = None  # None: 0 to 2, chosen by the seed
    chaos_ms: int = DEFAULT_CHAOS_MS
    liveness_timeouts: int = 10
    faults: frozenset[str] = frozenset(FAULT_KINDS)
    bugs: Bugs = NO_BUGS
    raft: RaftConfig = SIM_RAFT_CONFIG
    append_every_ms: int = 250
    drop_rate: float = 0.05
    duplicate_rate: float = 0.03
    mid_step_crash_rate: float = 0.04
    max_steps: int = 200_000


@dataclass(slots=True)
class Violation:
    seed: int
    step: int
    now: int
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"seed {self.seed}: step {self.step} at {self.now} ms: {self.invariant}: {self.detail}"


@dataclass(slots=True)
class Result:
    seed: int
    voters: int
    observers: int
    steps: int
    now: int
    violation: Violation | None
    trace: list[str] = field(default_factory=list)
    leaders: int = 0
    committed: int = 0
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.violation is None


class _Stop(Exception):
    pass


@dataclass(slots=True)
class _Disk:
    """What survives a crash: the log's flushed part, the quorum-state file."""

    log: MemoryRaftLog = field(default_factory=MemoryRaftLog)
    quorum_state: QuorumStateData = field(default_factory=QuorumStateData)


class Simulation:
    """One seeded run. Use :func:`run`; the attributes are for tests and the trace."""

    def __init__(self, seed: int, config: SimConfig = SimConfig(), trace: bool = False) -> None:
        self.seed = seed
        self.config = config
        self.tracing = trace
        self.trace: list[str] = []
        choose = random.Random(seed * 7919 + 1)
        n_voters = config.voters if config.voters is not None else choose.choice((3, 5))
        n_observers = config.observers if config.observers is not None else choose.choice((0, 0, 1, 2))
        self.voter_ids = frozenset(range(1, n_voters + 1))
        self.ids = list(range(1, n_voters + n_observers + 1))
        self.net_rng = random.Random(seed * 7919 + 2)
        self.fault_rng = random.Random(seed * 7919 + 3)
        self.restart_rng = random.Random(seed * 7919 + 5)
        self.client_rng = random.Random(seed * 7919 + 4)
        self.now = 0
        self.steps = 0
        self._seq = 0
        self._events: list[tuple[int, int, int, object]] = []
        self.disks = {i: _Disk() for i in self.ids}
        self.nodes: dict[int, RaftNode | None] = {}
        self.incarnation = {i: 0 for i in self.ids}
        self.timer_at: dict[int, int] = {}
        self.blocked: set[tuple[int, int]] = set()
        self.stable = False
        self.majority: frozenset[int] = frozenset()
        self.members: frozenset[int] = frozenset()
        self.voter_sets: list[frozenset[int]] = [self.voter_ids]  # every set a leader appended
        self.drop_rate = config.drop_rate if "drop" in config.faults else 0.0
        self.duplicate_rate = config.duplicate_rate if "duplicate" in config.faults else 0.0
        self.next_value = 0
        # checker state
        self.leaders: dict[int, int] = {}
        self.votes: dict[tuple[int, int], int] = {}
        self.max_hw: dict[int, int] = {i: 0 for i in self.ids}
        self.committed: dict[int, int] = {0: 0}  # offset -> digest of the prefix [0, offset)
        self.commit_end = 0
        self.seen: dict[tuple[int, int], int] = {}  # (offset, epoch of record offset-1) -> digest
        self.stable_offsets: dict[tuple[int, int], int] = {}  # (leader, epoch) -> first offset
        self.live = False
        self.stats: dict[str, int] = {"crashes": 0, "restarts": 0, "partitions": 0, "cut_links": 0,
                                      "resignations": 0, "diverging": 0, "snapshots_installed": 0,
                                      "voter_changes": 0}
        self.last_role: dict[int, str] = {}
        self.completeness_checked: set[tuple[int, int]] = set()
        self.stable_since = 0
        self.liveness_window = 0
        for i in self.ids:
            self._start_node(i)
        self._push(config.append_every_ms, _APPEND, None)
        self._push(self.fault_rng.randint(200, 1200), _CHAOS, None)
        self._push(config.chaos_ms, _STABLE, None)

    # ------------------------------------------------------------------------------ the loop
    def run(self) -> Result:
        violation = None
        try:
            while self._events and not self.live:
                if self.steps >= self.config.max_steps:
                    self._fail("budget", f"no verdict within {self.config.max_steps} steps")
                time, _, kind, payload = heapq.heappop(self._events)
                self.now = time
                self._dispatch(kind, payload)
        except _Stop as stop:
            violation = stop.args[0]
        except Exception as exc:  # the core raised: as much a failure as a broken invariant
            violation = Violation(self.seed, self.steps, self.now, "exception",
                                  f"{type(exc).__name__}: {exc}")
            self._log(f"VIOLATION exception: {traceback.format_exc()}")
        return Result(self.seed, len(self.voter_ids), len(self.ids) - len(self.voter_ids),
                      self.steps, self.now, violation, self.trace, len(self.leaders), self.commit_end,
                      self.stats)

    def _push(self, at: int, kind: int, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, kind, payload))

    def _dispatch(self, kind: int, payload: object) -> None:
        if kind == _DELIVER:
            dest, src, message, corr, incarnation, src_incarnation = payload  # type: ignore[misc]
            node = self.nodes.get(dest)
            # A crash closes the node's connections: nothing in flight to or from it arrives.
            if node is None or incarnation != self.incarnation[dest] or \
                    src_incarnation != self.incarnation.get(src, 0):
                return
            self.steps += 1
            if self.tracing:
                self._log(f"{src}->{dest} {_describe(message)}")
            if type(message) is m.FetchResponse and message.diverging_epoch is not None:
                self.stats["diverging"] += 1
            elif type(message) is m.FetchSnapshotResponse and message.size and \
                    message.position + len(message.unaligned_records) == message.size:
                self.stats["snapshots_installed"] += 1
            effects = node.step(self.now, src, message, corr)
            self._after_step(dest, node, effects, message)
        elif kind == _TIMER:
            i, at = payload  # type: ignore[misc]
            node = self.nodes.get(i)
            if node is None or self.timer_at.get(i) != at:
                return
            self.timer_at[i] = 1 << 62
            self.steps += 1
            self._after_step(i, node, node.tick(self.now), None)
        elif kind == _APPEND:
            self._client_append()
            jitter = self.client_rng.randint(0, self.config.append_every_ms // 2)
            self._push(self.now + self.config.append_every_ms + jitter, _APPEND, None)
        elif kind == _CHAOS:
            if not self.stable:
                self._chaos()
                self._push(self.now + self.fault_rng.randint(200, 1200), _CHAOS, None)
        elif kind == _RESTART:
            i, incarnation = payload  # type: ignore[misc]
            if self.nodes.get(i) is None and self.incarnation[i] == incarnation:
                self.stats["restarts"] += 1
                self._start_node(i)
        elif kind == _HEAL:
            if not self.stable:
                link = payload
                if link is None:
                    self.blocked.clear()
                    self._log("heal all links")
                else:
                    self.blocked.discard(link)  # type: ignore[arg-type]
        elif kind == _STABLE:
            self._stabilize()
        if self.stable and self.now > self.stable_since + self.liveness_window:
            self._fail("liveness", f"no leader elected and committing within "
                       f"{self.config.liveness_timeouts} election timeouts of a stable majority "
                       f"{sorted(self.majority)}")

    def _log(self, text: str) -> None:
        if self.tracing:
            self.trace.append(f"{self.steps:>6} {self.now:>7}ms  {text}")

    # ----------------------------------------------------------------------------- nodes
    def _start_node(self, i: int) -> None:
        disk = self.disks[i]
        self.incarnation[i] += 1
        rng = random.Random(self.seed * 7919 + 1000 * i + self.incarnation[i])
        log = disk.log
        node = RaftNode(i, self.voter_ids, log, cluster_id=CLUSTER_ID, now=self.now, rng=rng,
                        config=self.config.raft, quorum_state=disk.quorum_state,
                        snapshot_writer=lambda offset: str(log.digest_at(offset)).encode(),
                        bugs=self.config.bugs)
        self.nodes[i] = node
        self.timer_at[i] = 1 << 62
        self.last_role[i] = f"{node.role.name} e{node.epoch}"
        self._log(f"start node {i} ({node.role.name}, epoch {node.epoch}, log "
                  f"[{log.start_offset}, {log.end_offset}))")
        if log.end_offset < self.max_hw[i]:
            self._fail("committed entry lost", f"node {i} restarted with log end {log.end_offset} "
                       f"below the high watermark {self.max_hw[i]} it had reached")
        self._schedule(i, node)

    def _crash(self, i: int) -> None:
        node = self.nodes.get(i)
        if node is None:
            return
        self.nodes[i] = None
        self.stats["crashes"] += 1
        self.disks[i].log.lose_unflushed()
        self.disks[i].log.take_dirty()
        self._log(f"crash node {i} (durable log [{self.disks[i].log.start_offset}, "
                  f"{self.disks[i].log.end_offset}))")
        if not self.stable:
            self._push(self.now + self.restart_rng.randint(100, 3000), _RESTART, (i, self.incarnation[i]))

    def _schedule(self, i: int, node: RaftNode) -> None:
        deadline = max(node.next_deadline(), self.now)
        if deadline < self.timer_at[i]:
            self.timer_at[i] = deadline
            self._push(deadline, _TIMER, (i, deadline))

    def _after_step(self, i: int, node: RaftNode, effects: list, message: m.Message | None) -> None:
        crash_at = len(effects) + 1
        if effects and not self.stable:  # the same draws whether crashes are on or off
            chance, where = self.fault_rng.random(), self.fault_rng.randrange(len(effects) + 1)
            if "crash" in self.config.faults and chance < self.config.mid_step_crash_rate:
                crash_at = where
        k = 0
        while k < len(effects):
            if k == crash_at:
                self._crash(i)
                return
            effect = effects[k]
            if type(effect) is Send:
                if (isinstance(effect.message, m.VoteResponse) and effect.message.vote_granted
                        and isinstance(message, m.VoteRequest) and not message.pre_vote):
                    self._record_vote(i, message.candidate_epoch, message.candidate_id, "granted")
                self._send(i, effect.destination, effect.message, effect.correlation_id)
            elif type(effect) is PersistQuorumState:
                self.disks[i].quorum_state = effect.state
            elif type(effect) is FlushLog:
                self.disks[i].log.flush()
                effects.extend(node.flushed(self.now))
            k += 1
        if crash_at == len(effects):
            self._crash(i)
            return
        self._check(i, node)
        self._schedule(i, node)
        if self.tracing:
            role = node.role
            desc = f"{role.name} e{role.epoch}"
            old = self.last_role.get(i)
            if old != desc:
                self._log(f"node {i}: {old} -> {desc}")
                self.last_role[i] = desc

    def _send(self, src: int, dest: int, message: m.Message, corr: int) -> None:
        if (src, dest) in self.blocked or dest not in self.nodes:
            return
        rng = self.net_rng
        # The same draws for every message, whichever faults are on.
        drop, duplicate = rng.random(), rng.random()
        if drop < self.drop_rate:
            return
        slow = "delay" in self.config.faults and not self.stable
        for _ in range(2 if duplicate < self.duplicate_rate else 1):
            delay, detour, extra = rng.randint(1, 10), rng.random(), rng.randint(10, 400)
            if slow and detour < 0.1:
                delay += extra  # a slow path: later messages overtake this one
            self._push(self.now + delay, _DELIVER,
                       (dest, src, message, corr, self.incarnation[dest], self.incarnation[src]))

    # ---------------------------------------------------------------------------- the client
    def _client_append(self) -> None:
        for i in self.ids:
            node = self.nodes.get(i)
            if node is None or not isinstance(node.role, Leader):
                continue
            count = self.client_rng.randint(1, 3)
            values = list(range(self.next_value, self.next_value + count))
            self.next_value += count
            base, effects = node.append(self.now, values)
            self.steps += 1
            if self.stable and i in self.members:
                self.stable_offsets.setdefault((i, node.epoch), base)
            self._log(f"client appends {values} at {base} on node {i} (epoch {node.epoch})")
            self._after_step(i, node, effects, None)

    # ----------------------------------------------------------------------------- faults
    def _chaos(self) -> None:
        # One draw from the fault stream per event, so that a switched-off kind (a no-op event)
        # leaves the other events as they were.
        rng = random.Random(self.fault_rng.getrandbits(64))
        kind = rng.choice(("partition", "oneway", "crash", "resign", "reconfigure", "heal"))
        if kind != "heal" and kind not in self.config.faults:
            return
        if kind in ("partition", "oneway") and len(self.ids) < 2:
            return
        if kind == "partition":
            side = frozenset(rng.sample(self.ids, rng.randint(1, len(self.ids) // 2)))
            for a in self.ids:
                for b in self.ids:
                    if (a in side) != (b in side):
                        self.blocked.add((a, b))
            self.stats["partitions"] += 1
            self._log(f"partition {sorted(side)} | {sorted(set(self.ids) - side)}")
            self._push(self.now + rng.randint(300, 3000), _HEAL, None)
        elif kind == "oneway":
            a, b = rng.sample(self.ids, 2)
            self.blocked.add((a, b))
            self.stats["cut_links"] += 1
            self._log(f"cut link {a}->{b}")
            self._push(self.now + rng.randint(300, 3000), _HEAL, (a, b))
        elif kind == "crash":
            alive = [i for i in self.ids if self.nodes.get(i) is not None]
            if alive:
                self._crash(rng.choice(alive))
        elif kind == "resign":
            for i in self.ids:
                node = self.nodes.get(i)
                if node is not None and isinstance(node.role, Leader):
                    self._log(f"node {i} resigns")
                    self.stats["resignations"] += 1
                    self._after_step(i, node, node.resign(self.now), None)
                    self.steps += 1
                    break
        elif kind == "reconfigure":
            self._reconfigure(rng)
        else:
            self.blocked.clear()
            self._log("heal all links")

    def _reconfigure(self, rng: random.Random) -> None:
        leader = next((self.nodes[i] for i in self.ids if self.nodes.get(i) is not None
                       and isinstance(self.nodes[i].role, Leader)), None)  # type: ignore[union-attr]
        if leader is None:
            return
        voters = leader.voters
        addable = [i for i in self.ids if i not in voters]
        removable = sorted(voters) if len(voters) > 2 else []
        if addable and (not removable or rng.random() < 0.5):
            request: m.Request = m.AddRaftVoterRequest(cluster_id=CLUSTER_ID, timeout_ms=30000,
                                                       voter_id=rng.choice(addable))
        elif removable:
            request = m.RemoveRaftVoterRequest(cluster_id=CLUSTER_ID, voter_id=rng.choice(removable))
        else:
            return
        self._log(f"admin -> {leader.node_id} {_describe(request)}")
        self.steps += 1
        effects = leader.step(self.now, ADMIN, request, self.steps)
        if leader.voters != voters:
            self.voter_sets.append(leader.voters)
            self.stats["voter_changes"] += 1
        self._after_step(leader.node_id, leader, effects, request)

    def _stabilize(self) -> None:
        """Connect a random majority of the voters, the rest cut off; observers stay connected.

        If the voter set changed during the run, every node that was ever a voter is connected:
        with single-server changes Raft can stall when the connected majority of the older set
        holds only older logs while the nodes that hold the newer set are cut off (the newer set
        removed a node whose log is the longest; it may not campaign and refuses the others)."""
        rng = self.fault_rng
        members: set[int] = set()
        if len(self.voter_sets) > 1:
            members = set().union(*self.voter_sets)
        voters = self.voter_ids
        need = len(voters) // 2 + 1 - len(members & voters)
        if need > 0:
            members |= set(rng.sample(sorted(voters - members), rng.randint(need, len(voters - members))))
        every_voter = frozenset().union(*self.voter_sets)
        members |= set(self.ids) - every_voter
        self.majority = frozenset(members & every_voter)
        self.members = frozenset(members)
        self.stable = True
        self.stable_since = self.now
        self.liveness_window = self.config.liveness_timeouts * self.config.raft.election_timeout_ms
        self.blocked = {(a, b) for a in self.ids for b in self.ids if (a in members) != (b in members)}
        self.drop_rate = self.duplicate_rate = 0.0
        self._log(f"stable: {sorted(members)} connected (a majority of every voter set), the rest cut off")
        for i in sorted(members):
            if self.nodes.get(i) is None:
                self._start_node(i)

    # ---------------------------------------------------------------------------- checker
    def _fail(self, invariant: str, detail: str) -> None:
        self._log(f"VIOLATION {invariant}: {detail}")
        raise _Stop(Violation(self.seed, self.steps, self.now, invariant, detail))

    def _record_vote(self, voter: int, epoch: int, candidate: int, how: str) -> None:
        previous = self.votes.setdefault((voter, epoch), candidate)
        if previous != candidate:
            self._fail("one vote per epoch", f"voter {voter} voted for {previous} and then "
                       f"{how} a vote to {candidate} in epoch {epoch}")

    def _check(self, i: int, node: RaftNode) -> None:
        role = node.role
        epoch = role.epoch
        log = node.log
        assert isinstance(log, MemoryRaftLog)
        if isinstance(role, Leader):
            leader = self.leaders.setdefault(epoch, i)
            if leader != i:
                self._fail("one leader per epoch", f"nodes {leader} and {i} both lead epoch {epoch}")
            if (i, epoch) not in self.completeness_checked:
                self.completeness_checked.add((i, epoch))
                self._check_leader_completeness(i, log, epoch)
        voted = node.quorum_state().voted_id
        if voted is not None:
            self._record_vote(i, epoch, voted, "recorded")
        dirty = log.take_dirty()
        if dirty is not None:
            if dirty < self.max_hw[i]:
                self._fail("committed entry lost", f"node {i} rewrote its log from offset {dirty}, "
                           f"below its high watermark {self.max_hw[i]}")
            self._check_matching(i, log, dirty)
        hw = node.high_watermark
        if hw is not None:
            if hw < self.max_hw[i]:
                self._fail("high watermark went back", f"node {i}: {self.max_hw[i]} -> {hw}")
            if hw > log.end_offset:
                self._fail("high watermark beyond log", f"node {i}: hw {hw} > log end {log.end_offset}")
            if hw > self.max_hw[i]:
                self._check_committed(i, log, max(self.max_hw[i], log.start_offset), hw)
                self.max_hw[i] = hw
                if self.stable and isinstance(role, Leader):
                    first = self.stable_offsets.get((i, epoch))
                    if first is not None and hw > first:
                        self.live = True
                        self._log(f"live: node {i} leads epoch {epoch} and committed offset {first}")

    def _check_matching(self, i: int, log: MemoryRaftLog, dirty: int) -> None:
        start, end = log.start_offset, log.end_offset
        first = max(dirty, start + 1) if dirty > start else start
        if first == 0:
            first = 1
        seen = self.seen
        for offset in range(first, end + 1):
            key = (offset, log.epoch_at(offset - 1))
            digest = log.digest_at(offset)
            known = seen.setdefault(key, digest)
            if known != digest:
                self._fail("logs match", f"node {i}: offset {offset - 1} has epoch {key[1]} like "
                           f"another node's, but the prefix up to it differs")

    def _check_committed(self, i: int, log: MemoryRaftLog, lo: int, hi: int) -> None:
        committed = self.committed
        for offset in range(max(lo, log.start_offset), hi + 1):
            digest = log.digest_at(offset)
            known = committed.setdefault(offset, digest)
            if known != digest:
                self._fail("committed entry changed", f"node {i}: the prefix up to offset "
                           f"{offset - 1} differs from what was committed")
        if hi > self.commit_end:
            self.commit_end = hi

    def _check_leader_completeness(self, i: int, log: MemoryRaftLog, epoch: int) -> None:
        c = self.commit_end
        if log.end_offset < c:
            self._fail("committed entry lost", f"node {i} leads epoch {epoch} with log end "
                       f"{log.end_offset}, but offsets below {c} were committed")
        if c >= log.start_offset and self.committed.get(c, log.digest_at(c)) != log.digest_at(c):
            self._fail("committed entry lost", f"node {i} leads epoch {epoch} without the "
                       f"committed prefix up to offset {c - 1}")


def _describe(message: m.Message) -> str:
    name = type(message).__name__
    if isinstance(message, m.FetchResponse) and message.records:
        r = message.records
        return (f"{name}(records {r[0].offset}..{r[-1].offset} epochs {r[0].epoch}..{r[-1].epoch}, "
                f"hw {message.high_watermark}, leader {message.current_leader.leader_id} "
                f"e{message.current_leader.leader_epoch})")
    fields = []
    for attr in message.__dataclass_fields__:  # type: ignore[union-attr]
        if attr in ("cluster_id", "records", "max_records", "max_wait_ms", "log_start_offset"):
            continue
        value = getattr(message, attr)
        if isinstance(value, m.LeaderIdAndEpoch):
            value = f"{value.leader_id}@e{value.leader_epoch}"
        elif hasattr(value, "name") and attr == "error_code":
            if value == 0:
                continue
            value = value.name
        fields.append(f"{attr}={value}")
    return f"{name}({', '.join(fields)})"


def run(seed: int, config: SimConfig = SimConfig(), trace: bool = False) -> Result:
    """Run one seed; the result carries the first violation, if any."""
    return Simulation(seed, config, trace).run()


def shrink(seed: int, config: SimConfig = SimConfig()) -> SimConfig:
    """The config with as many fault kinds switched off as possible while the seed still fails
    (any invariant). Switched-off faults still make the same random draws, so the rest of the
    run stays as close as it can (it still diverges once a message that was dropped is not).
    Greedy, repeated to a fixed point."""
    faults = set(config.faults)
    changed = True
    while changed:  # to a fixed point, so that shrinking the result again changes nothing
        changed = False
        for kind in FAULT_KINDS:
            if kind not in faults:
                continue
            trial = replace(config, faults=frozenset(faults - {kind}))
            if not run(seed, trial).ok:
                faults.discard(kind)
                changed = True
    return replace(config, faults=frozenset(faults))


_IMPORTANT = ("start", "crash", "partition", "cut", "heal", "stable", "resigns", "client", "node ",
              "VIOLATION", "live", "Vote", "BeginQuorum", "EndQuorum", "diverging", "snapshot_id=Snap")


def short_trace(trace: list[str], tail: int = 25) -> list[str]:
    """The lines that tell the story (faults, role changes, votes, elections, truncation,
    snapshots, appends) plus the last ``tail`` steps unabridged."""
    head = [line for line in trace[:-tail] if any(word in line for word in _IMPORTANT)]
    return head + (["   ..."] if head else []) + trace[-tail:]
