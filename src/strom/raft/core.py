"""The sans-io raft core: ``RaftNode``, a state machine stepped by messages and timer events.

``RaftNode`` performs no I/O. The host calls

* ``step(now, source, message, correlation_id)`` for every message that arrives,
* ``tick(now)`` when ``next_deadline()`` has passed,
* ``append(now, values)`` on the leader to write records, ``resign(now)`` to step down,
* ``flushed(now)`` after it has carried out a ``FlushLog``,

and each returns a list of *effects* that the host must carry out **in order**:
``PersistQuorumState`` (write the quorum-state file and fsync it), ``FlushLog`` (fsync the log),
``Send`` (send a message; a response echoes the request's ``correlation_id``). Everything after a
persist or a flush in the list depends on it, so a crash part-way through the list loses exactly
what a real crash would: a vote is never sent before it is durable, a follower never reports an
offset it has not flushed.

Durability rules (what survives a crash): the log up to ``flushed_end_offset``; the quorum state
(epoch, voted-for, leader). The high watermark is not durable: a restarted node learns it again.

Roles and transitions: :mod:`strom.raft.state`. Messages: :mod:`strom.raft.messages`.
Differences from Apache Kafka are listed in docs/cluster.md ("The controller quorum (Raft)").

Ownership: one host task owns a RaftNode; it is not thread-safe. ``rng`` (election jitter, the
observer's choice of voter) is injected so that a seeded simulation is reproducible.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from collections.abc import Mapping
from typing import Callable

from strom.errors import ErrorCode
from strom.raft import messages as m
from strom.raft.log import RaftLog
from strom.raft.messages import NO_LEADER, LeaderChangeRecord, LeaderIdAndEpoch, Record, VotersRecord
from strom.raft.state import (
    Candidate,
    Follower,
    Leader,
    Prospective,
    Resigned,
    Role,
    Unattached,
    check_transition,
)


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Quorum settings, named after Kafka's ``controller.quorum.*`` configs (milliseconds)."""

    election_timeout_ms: int = 1000  # controller.quorum.election.timeout.ms
    fetch_timeout_ms: int = 2000  # controller.quorum.fetch.timeout.ms
    election_backoff_max_ms: int = 1000  # controller.quorum.election.backoff.max.ms
    request_timeout_ms: int = 2000  # controller.quorum.request.timeout.ms
    retry_backoff_ms: int = 20  # controller.quorum.retry.backoff.ms
    fetch_max_wait_ms: int = 500  # how long the leader parks a Fetch with nothing new
    fetch_max_records: int = 64  # records per Fetch response (Kafka bounds bytes instead)
    snapshot_chunk_bytes: int = 1 << 20  # FetchSnapshot max_bytes
    max_record_bytes_between_snapshots: int = 20 << 20  # metadata.log.max.record.bytes.between.snapshots

    @classmethod
    def from_properties(cls, props: Mapping[str, object]) -> RaftConfig:
        """Build from Kafka's property names (``CONFIG_NAMES``); other keys are ignored."""
        values = {}
        for name, field_name in CONFIG_NAMES.items():
            if name in props:
                try:
                    value = int(props[name])  # type: ignore[call-overload]
                except (TypeError, ValueError):
                    raise ValueError(f"{name} must be a whole number, got {props[name]!r}") from None
                if value < (1 if field_name != "retry_backoff_ms" else 0):
                    raise ValueError(f"{name} must be positive, got {value}")
                values[field_name] = value
        return cls(**values)


CONFIG_NAMES = {
    "controller.quorum.election.timeout.ms": "election_timeout_ms",
    "controller.quorum.fetch.timeout.ms": "fetch_timeout_ms",
    "controller.quorum.election.backoff.max.ms": "election_backoff_max_ms",
    "controller.quorum.request.timeout.ms": "request_timeout_ms",
    "controller.quorum.retry.backoff.ms": "retry_backoff_ms",
    "metadata.log.max.record.bytes.between.snapshots": "max_record_bytes_between_snapshots",
}
"""Kafka's settings that map onto ``RaftConfig`` fields."""


@dataclass(frozen=True, slots=True)
class Bugs:
    """Test-only switches that plant known bugs, to prove the simulator catches them."""

    double_vote: bool = False  # grant a vote although one was already given in this epoch
    minority_high_watermark: bool = False  # advance the high watermark on a minority
    skip_truncation: bool = False  # ignore a diverging epoch instead of truncating


NO_BUGS = Bugs()


@dataclass(frozen=True, slots=True)
class QuorumStateData:
    """The durable quorum state (Kafka's ``quorum-state`` file)."""

    leader_epoch: int = 0
    voted_id: int | None = None
    leader_id: int | None = None

    def to_json(self, voters: frozenset[int] | set[int]) -> str:
        """Kafka's ``quorum-state`` file (``QuorumStateData`` version 1, JSON): -1 for none."""
        return json.dumps({
            "leaderId": -1 if self.leader_id is None else self.leader_id,
            "leaderEpoch": self.leader_epoch,
            "votedId": -1 if self.voted_id is None else self.voted_id,
            "appliedOffset": 0,
            "currentVoters": [{"voterId": v} for v in sorted(voters)],
            "data_version": 1,
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> QuorumStateData:
        """Read a ``quorum-state`` file (versions 0 and 1); ValueError says what is wrong."""
        try:
            data = json.loads(text)
            epoch, leader, voted = data["leaderEpoch"], data["leaderId"], data["votedId"]
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"malformed quorum-state: {exc}") from None
        if not all(type(v) is int for v in (epoch, leader, voted)) or epoch < -1:
            raise ValueError(f"malformed quorum-state: {data!r}")
        return cls(max(epoch, 0), None if voted < 0 else voted, None if leader < 0 else leader)


# ------------------------------------------------------------------------------------- effects
@dataclass(frozen=True, slots=True)
class Send:
    destination: int
    message: m.Message
    correlation_id: int


@dataclass(frozen=True, slots=True)
class PersistQuorumState:
    state: QuorumStateData


@dataclass(frozen=True, slots=True)
class FlushLog:
    end_offset: int


Effect = Send | PersistQuorumState | FlushLog


class NotLeader(Exception):
    """``append`` on a node that is not the leader."""


@dataclass(slots=True)
class _Progress:
    """What the leader knows of one replica (voter or observer) in its epoch."""

    end_offset: int = -1
    last_fetch_ms: int = -1
    last_caught_up_ms: int = -1


@dataclass(slots=True)
class _InFlight:
    correlation_id: int
    deadline: int
    request: m.Request


@dataclass(slots=True)
class _Parked:
    source: int
    correlation_id: int
    request: m.FetchRequest
    deadline: int


@dataclass(slots=True)
class _SnapshotFetch:
    snapshot_id: m.SnapshotId
    data: bytearray = field(default_factory=bytearray)


class RaftNode:
    """One member of the controller quorum (a voter) or an observer of it."""

    def __init__(self, node_id: int, voters: frozenset[int] | set[int], log: RaftLog, *,
                 cluster_id: str, now: int, rng: random.Random, config: RaftConfig = RaftConfig(),
                 quorum_state: QuorumStateData | None = None,
                 snapshot_writer: Callable[[int], bytes] | None = None,
                 bugs: Bugs = NO_BUGS) -> None:
        self.node_id = node_id
        self.bootstrap_voters = frozenset(voters)
        self.log = log
        # The voter sets in the log: (offset of the VotersRecord, voters); the first entry is the
        # set in force at the log start (bootstrap, or the snapshot's). Effective when appended.
        self._voter_sets: list[tuple[int, frozenset[int]]] = []
        self._pending_change: tuple[int, int, type, int] | None = None  # source, corr, type, offset
        self.cluster_id = cluster_id
        self.config = config
        self.rng = rng
        self.bugs = bugs
        self.snapshot_writer = snapshot_writer
        self.high_watermark: int | None = None
        self._out: list[Effect] = []
        self._next_correlation = 0
        self._inflight: dict[tuple[int, str], _InFlight] = {}  # (destination, channel)
        self._progress: dict[int, _Progress] = {}
        self._parked: dict[int, _Parked] = {}
        self._snapshot_fetch: _SnapshotFetch | None = None
        self._next_fetch_ms = 0
        self._quorum_check_ms = 0
        self._pretend_epoch: int | None = None  # Bugs.skip_truncation only
        self._leader_contact_ms = -(1 << 62)  # last successful Fetch or BeginQuorumEpoch
        self._load_voter_sets()
        qs = quorum_state or QuorumStateData()
        self._persisted = qs
        self.role: Role
        if qs.leader_id == node_id:
            self.role = Resigned(qs.leader_epoch, self._election_deadline(now))
        elif qs.leader_id is not None:
            self.role = Follower(qs.leader_epoch, qs.leader_id, qs.voted_id, now + config.fetch_timeout_ms)
        else:
            deadline = self._election_deadline(now) if self.is_voter else now
            self.role = Unattached(qs.leader_epoch, qs.voted_id, deadline)

    # ------------------------------------------------------------------------------ public API
    @property
    def epoch(self) -> int:
        return self.role.epoch

    @property
    def voters(self) -> frozenset[int]:
        """The voter set in force: the latest VotersRecord in the log, committed or not."""
        return self._voter_sets[-1][1]

    @property
    def is_voter(self) -> bool:
        return self.node_id in self._voter_sets[-1][1]

    @property
    def leader_id(self) -> int | None:
        role = self.role
        if isinstance(role, Leader):
            return self.node_id
        if isinstance(role, Follower):
            return role.leader_id
        return None

    def step(self, now: int, source: int, message: m.Message, correlation_id: int) -> list[Effect]:
        """Handle one message from ``source``."""
        handler = _HANDLERS[type(message)]
        handler(self, now, source, message, correlation_id)
        self._poll(now)
        return self._take()

    def tick(self, now: int) -> list[Effect]:
        """Fire whatever timers are due at ``now``."""
        self._poll(now)
        return self._take()

    def flushed(self, now: int) -> list[Effect]:
        """The host finished a ``FlushLog``: the leader may advance its high watermark."""
        if isinstance(self.role, Leader):
            self._update_leader_hw(now)
        self._poll(now)
        return self._take()

    def append(self, now: int, values: list[object] | tuple[object, ...]) -> tuple[int, list[Effect]]:
        """Append ``values`` as records of the leader's epoch; returns (first offset, effects)."""
        role = self.role
        if not isinstance(role, Leader):
            raise NotLeader(f"node {self.node_id} is {role.name} in epoch {role.epoch}")
        base = self.log.end_offset
        self.log.append(tuple(Record(base + i, role.epoch, v) for i, v in enumerate(values)))
        self._complete_parked(now)
        self._out.append(FlushLog(self.log.end_offset))
        self._poll(now)
        return base, self._take()

    def resign(self, now: int) -> list[Effect]:
        """Graceful resignation (shutdown): hand leadership over with EndQuorumEpoch."""
        self._resign(now)
        return self._take()

    def _resign(self, now: int) -> None:
        role = self.role
        if isinstance(role, Leader):
            successors = sorted((v for v in self.voters if v != self.node_id),
                                key=lambda v: (-self._prog(v).end_offset, v))
            self._set_role(now, Resigned(role.epoch, self._election_deadline(now)))
            for voter in successors:
                self._send(now, voter, m.EndQuorumEpochRequest(
                    cluster_id=self.cluster_id, leader_epoch=role.epoch, leader_id=self.node_id,
                    preferred_successors=tuple(successors)))

    def next_deadline(self) -> int:
        """The earliest time at which ``tick`` has something to do."""
        role = self.role
        times = [inflight.deadline for inflight in self._inflight.values()]
        if isinstance(role, Leader):
            times.append(self._quorum_check_ms)
            times.extend(p.deadline for p in self._parked.values())
        else:
            times.append(role.deadline)
            leader = getattr(role, "leader_id", None)
            if leader is not None and (leader, "fetch") not in self._inflight:
                times.append(self._next_fetch_ms)
        return min(times)

    def quorum_state(self) -> QuorumStateData:
        role = self.role
        voted = getattr(role, "voted_for", None)
        if isinstance(role, (Candidate, Leader, Resigned)):
            voted = self.node_id
        return QuorumStateData(role.epoch, voted, self.leader_id)

    # ----------------------------------------------------------------------------- voter sets
    def _load_voter_sets(self) -> None:
        log = self.log
        snapshot = log.latest_snapshot()
        base = self.bootstrap_voters
        if snapshot is not None:
            data = log.snapshot_bytes(snapshot)
            base = (_snapshot_voters(data) if data is not None else None) or base
        self._voter_sets = [(log.start_offset - 1, base)]
        offset = log.start_offset
        while offset < log.end_offset:
            records = log.read(offset, 1024)
            self._note_appended(records)
            offset += len(records)

    def _note_appended(self, records: tuple[Record, ...]) -> None:
        for record in records:
            if record.control and isinstance(record.value, VotersRecord):
                self._voter_sets.append((record.offset, frozenset(record.value.voters)))

    def _note_truncated(self) -> None:
        end = self.log.end_offset
        while len(self._voter_sets) > 1 and self._voter_sets[-1][0] >= end:
            self._voter_sets.pop()

    def _note_snapshot(self, end_offset: int, voters: frozenset[int] | None = None) -> None:
        """The log now starts at ``end_offset``: fold the voter sets below it into the base."""
        if voters is None:
            voters = next(v for o, v in reversed(self._voter_sets) if o < end_offset)
        later = [(o, v) for o, v in self._voter_sets if o >= end_offset]
        self._voter_sets = [(end_offset - 1, voters)] + later

    def _snapshot_data(self, offset: int) -> bytes:
        """A snapshot starts with the raft header (the voter set at its offset), then the state
        machine's bytes (Kafka puts a VotersRecord at the start of the snapshot)."""
        assert self.snapshot_writer is not None
        voters = next(v for o, v in reversed(self._voter_sets) if o < offset)
        header = b"voters=" + ",".join(str(v) for v in sorted(voters)).encode() + b"\n"
        return header + self.snapshot_writer(offset)

    # --------------------------------------------------------------------------- role changes
    def _take(self) -> list[Effect]:
        out, self._out = self._out, []
        return out

    def _election_deadline(self, now: int) -> int:
        if self._voter_sets[-1][1] == {self.node_id}:
            return now  # a lone voter has nobody to wait for: it campaigns at once
        timeout = self.config.election_timeout_ms
        return now + timeout + self.rng.randrange(timeout)

    def _backoff_deadline(self, now: int) -> int:
        return now + self.config.retry_backoff_ms + self.rng.randrange(self.config.election_backoff_max_ms)

    def _set_role(self, now: int, new: Role) -> None:
        """Swap the role; persist the quorum state first when epoch, vote or leader changed."""
        old = self.role
        check_transition(old, new)
        if type(old) is not type(new) or old.epoch != new.epoch:
            if self._pending_change is not None:
                self._finish_voter_change(ErrorCode.NOT_LEADER_OR_FOLLOWER)
            self._inflight.clear()
            self._parked.clear()
            self._snapshot_fetch = None
            self._pretend_epoch = None
        self.role = new
        state = self.quorum_state()
        if state != self._persisted:
            self._persisted = state
            self._out.append(PersistQuorumState(state))

    def _observe(self, now: int, epoch: int, leader_id: int) -> bool:
        """Learn of ``epoch`` (and its leader, if known). Returns True if the role changed."""
        role = self.role
        if leader_id == NO_LEADER:
            leader_id = -1
        if epoch > role.epoch:
            if leader_id >= 0 and leader_id != self.node_id:
                self._become_follower(now, epoch, leader_id, None)
            else:
                deadline = self._election_deadline(now) if self.is_voter else now
                self._set_role(now, Unattached(epoch, None, deadline))
            return True
        if (epoch == role.epoch and leader_id >= 0 and leader_id != self.node_id
                and isinstance(role, (Unattached, Prospective, Candidate))
                and not (isinstance(role, Prospective) and role.leader_id == leader_id)):
            voted = self.node_id if isinstance(role, Candidate) else role.voted_for
            self._become_follower(now, epoch, leader_id, voted)
            return True
        return False

    def _become_follower(self, now: int, epoch: int, leader_id: int, voted_for: int | None,
                         deadline: int | None = None) -> None:
        role = self.role
        if not (isinstance(role, Prospective) and role.leader_id == leader_id and role.epoch == epoch):
            self._leader_contact_ms = -(1 << 62)
        if deadline is None:
            deadline = now + self.config.fetch_timeout_ms
        self._set_role(now, Follower(epoch, leader_id, voted_for, deadline))
        self._next_fetch_ms = now

    def _become_prospective(self, now: int) -> None:
        role = self.role
        leader = role.leader_id if isinstance(role, Follower) else None
        voted = getattr(role, "voted_for", None)
        self._set_role(now, Prospective(role.epoch, voted, leader, frozenset({self.node_id}),
                                        frozenset(), self._election_deadline(now)))
        self._check_election(now)

    def _become_candidate(self, now: int) -> None:
        role = self.role
        self._set_role(now, Candidate(role.epoch + 1, frozenset({self.node_id}), frozenset(),
                                      self._election_deadline(now)))
        self._check_election(now)

    def _become_leader(self, now: int) -> None:
        role = self.role
        start = self.log.end_offset
        self._set_role(now, Leader(role.epoch, start))
        self._progress = {r: _Progress(last_fetch_ms=now) for r in self.voters}
        self._prog(self.node_id).end_offset = start
        self._quorum_check_ms = now + self.config.fetch_timeout_ms
        change = LeaderChangeRecord(self.node_id, tuple(sorted(self.voters)), tuple(sorted(role.granted)))
        self.log.append((Record(start, role.epoch, change, control=True),))
        self._out.append(FlushLog(self.log.end_offset))
        self._update_leader_hw(now)

    def _lose_election(self, now: int) -> None:
        role = self.role
        if isinstance(role, Prospective) and role.leader_id is not None:
            # Back to the leader it knew; try again after an election timeout if still silent.
            self._become_follower(now, role.epoch, role.leader_id, role.voted_for,
                                  self._election_deadline(now))
            return
        voted = self.node_id if isinstance(role, Candidate) else getattr(role, "voted_for", None)
        self._set_role(now, Unattached(role.epoch, voted, self._backoff_deadline(now)))

    def _check_election(self, now: int) -> None:
        role = self.role
        assert isinstance(role, (Prospective, Candidate))
        voters = self.voters
        majority = len(voters) // 2 + 1
        if len(role.granted & voters) >= majority:
            if isinstance(role, Prospective):
                self._become_candidate(now)
            else:
                self._become_leader(now)
        elif len(role.rejected & voters) >= len(voters) - majority + 1:
            self._lose_election(now)

    # ----------------------------------------------------------------------------- the timers
    def _poll(self, now: int) -> None:
        """Fire due timers and send whatever requests the role needs."""
        role = self.role
        if isinstance(role, Leader):
            self._poll_leader(now)
            return
        if now >= role.deadline:
            if isinstance(role, Follower):
                if self.is_voter:
                    self._become_prospective(now)
                else:
                    self._set_role(now, Unattached(role.epoch, None, now))
            elif isinstance(role, Unattached):
                if self.is_voter:
                    self._become_prospective(now)
                else:  # an observer looks for the leader by asking a voter
                    self._set_role(now, Unattached(role.epoch, None, now + self.config.request_timeout_ms))
                    voter = self.rng.choice(sorted(self.voters))
                    if (voter, "fetch") not in self._inflight:
                        self._send_fetch(now, voter)
            elif isinstance(role, (Prospective, Candidate)):
                self._lose_election(now)
            elif isinstance(role, Resigned):
                if self.is_voter:
                    self._become_prospective(now)
                else:  # it removed itself from the voters
                    self._set_role(now, Unattached(role.epoch, None, now))
        self._expire_inflight(now)
        role = self.role
        if isinstance(role, (Prospective, Candidate)):
            self._send_votes(now)
        if isinstance(role, (Follower, Prospective)) and role.leader_id is not None:
            # A prospective keeps fetching from the leader it knew (KIP-996): one answer and it
            # is a follower again.
            if (role.leader_id, "fetch") not in self._inflight and now >= self._next_fetch_ms:
                if self._snapshot_fetch is not None:
                    self._send_fetch_snapshot(now, role.leader_id)
                else:
                    self._send_fetch(now, role.leader_id)
        if isinstance(self.role, Leader):
            self._poll_leader(now)

    def _expire_inflight(self, now: int) -> None:
        expired = [dest for dest, f in self._inflight.items() if f.deadline <= now]
        for dest in expired:
            del self._inflight[dest]

    def _poll_leader(self, now: int) -> None:
        self._expire_inflight(now)
        role = self.role
        assert isinstance(role, Leader)
        expired = [p for p in self._parked.values() if p.deadline <= now]
        for parked in expired:
            del self._parked[parked.source]
            self._answer_fetch(now, parked)
        if now >= self._quorum_check_ms:
            self._check_quorum(now)
            if not isinstance(self.role, Leader):
                return
        for voter in self.voters:
            progress = self._prog(voter)
            if voter != self.node_id and progress.end_offset < 0 and (voter, "quorum") not in self._inflight:
                self._send(now, voter, m.BeginQuorumEpochRequest(
                    cluster_id=self.cluster_id, voter_id=voter, leader_epoch=role.epoch,
                    leader_id=self.node_id))

    def _prog(self, replica: int) -> _Progress:
        progress = self._progress.get(replica)
        if progress is None:
            progress = self._progress[replica] = _Progress()
        return progress

    def _check_quorum(self, now: int) -> None:
        """Resign when no majority of voters fetched within 1.5 fetch timeouts (Kafka's check)."""
        horizon = now - self.config.fetch_timeout_ms * 3 // 2
        alive = sum(1 for v in self.voters
                    if v == self.node_id or self._prog(v).last_fetch_ms >= horizon)
        if alive * 2 <= len(self.voters):
            self._resign(now)
            return
        self._quorum_check_ms = now + self.config.fetch_timeout_ms // 2

    # -------------------------------------------------------------------------------- sending
    def _send(self, now: int, destination: int, request: m.Request) -> None:
        self._next_correlation += 1
        corr = self._next_correlation
        self._inflight[(destination, _CHANNELS[type(request)])] = _InFlight(
            corr, now + self.config.request_timeout_ms, request)
        self._out.append(Send(destination, request, corr))

    def _reply(self, destination: int, response: m.Response, correlation_id: int) -> None:
        self._out.append(Send(destination, response, correlation_id))

    def _send_votes(self, now: int) -> None:
        role = self.role
        assert isinstance(role, (Prospective, Candidate))
        pre_vote = isinstance(role, Prospective)
        epoch = role.epoch + 1 if pre_vote else role.epoch
        for voter in sorted(self.voters):
            if voter == self.node_id or voter in role.granted or voter in role.rejected:
                continue
            if (voter, "vote") in self._inflight:
                continue
            self._send(now, voter, m.VoteRequest(
                cluster_id=self.cluster_id, voter_id=voter, candidate_epoch=epoch,
                candidate_id=self.node_id, last_offset_epoch=self.log.last_epoch,
                last_offset=self.log.end_offset, pre_vote=pre_vote))

    def _send_fetch(self, now: int, destination: int) -> None:
        last_epoch = self.log.last_epoch
        if self._pretend_epoch is not None:
            last_epoch = self._pretend_epoch
        self._send(now, destination, m.FetchRequest(
            cluster_id=self.cluster_id, replica_id=self.node_id,
            max_wait_ms=self.config.fetch_max_wait_ms, current_leader_epoch=self.role.epoch,
            fetch_offset=self.log.end_offset, last_fetched_epoch=last_epoch,
            log_start_offset=self.log.start_offset, max_records=self.config.fetch_max_records))

    def _send_fetch_snapshot(self, now: int, destination: int) -> None:
        fetch = self._snapshot_fetch
        assert fetch is not None
        self._send(now, destination, m.FetchSnapshotRequest(
            cluster_id=self.cluster_id, replica_id=self.node_id,
            current_leader_epoch=self.role.epoch, snapshot_id=fetch.snapshot_id,
            position=len(fetch.data), max_bytes=self.config.snapshot_chunk_bytes))

    def _matches_inflight(self, source: int, correlation_id: int,
                          response: m.Response) -> m.Request | None:
        key = (source, _CHANNELS[type(response)])
        inflight = self._inflight.get(key)
        if inflight is None or inflight.correlation_id != correlation_id \
                or _RESPONSE_TO[type(inflight.request)] is not type(response):
            return None  # late, duplicated or for an earlier role: Kafka ignores it too
        del self._inflight[key]
        return inflight.request

    def _current_leader(self) -> LeaderIdAndEpoch:
        leader = self.leader_id
        return LeaderIdAndEpoch(NO_LEADER if leader is None else leader, self.role.epoch)

    # ------------------------------------------------------------------------------ Vote
    def _on_vote_request(self, now: int, source: int, req: m.VoteRequest, corr: int) -> None:
        if req.cluster_id != self.cluster_id:
            self._reply(source, m.VoteResponse(error_code=ErrorCode.INCONSISTENT_CLUSTER_ID), corr)
            return
        if req.voter_id != self.node_id:
            self._reply(source, m.VoteResponse(error_code=ErrorCode.INVALID_VOTER_KEY,
                                               leader_id=self._current_leader().leader_id,
                                               leader_epoch=self.role.epoch), corr)
            return
        log_ok = (req.last_offset_epoch, req.last_offset) >= (self.log.last_epoch, self.log.end_offset)
        if req.pre_vote:
            self._on_pre_vote(now, source, req, corr, log_ok)
            return
        if req.candidate_epoch > self.role.epoch:
            # A new epoch: nobody has our vote in it yet. One role change, so one persist.
            voted = req.candidate_id if log_ok else None
            self._set_role(now, Unattached(req.candidate_epoch, voted, self._election_deadline(now)))
        role = self.role
        granted = False
        if req.candidate_epoch == role.epoch and log_ok:
            if isinstance(role, Unattached) or (isinstance(role, Prospective) and role.leader_id is None):
                granted = role.voted_for in (None, req.candidate_id) or self.bugs.double_vote
            elif isinstance(role, Candidate) and self.bugs.double_vote:
                granted = True
        if granted and getattr(role, "voted_for", None) != req.candidate_id:
            # Durable before the response: _set_role emits PersistQuorumState ahead of the Send.
            self._set_role(now, Unattached(role.epoch, req.candidate_id, self._election_deadline(now)))
        leader = self._current_leader()
        self._reply(source, m.VoteResponse(leader_id=leader.leader_id, leader_epoch=self.role.epoch,
                                           vote_granted=granted), corr)

    def _on_pre_vote(self, now: int, source: int, req: m.VoteRequest, corr: int, log_ok: bool) -> None:
        """KIP-996: answer without changing state. Refuse while a leader is known and was heard
        from within the fetch timeout, so a returning partitioned node cannot disrupt it."""
        if req.candidate_epoch - 1 > self.role.epoch:
            self._observe(now, req.candidate_epoch - 1, NO_LEADER)
        role = self.role
        recent_leader = isinstance(role, Leader) or (
            isinstance(role, Follower) and now - self._leader_contact_ms < self.config.fetch_timeout_ms)
        granted = req.candidate_epoch > role.epoch and log_ok and not recent_leader
        leader = self._current_leader()
        self._reply(source, m.VoteResponse(leader_id=leader.leader_id, leader_epoch=role.epoch,
                                           vote_granted=granted), corr)

    def _on_vote_response(self, now: int, source: int, resp: m.VoteResponse, corr: int) -> None:
        if self._matches_inflight(source, corr, resp) is None:
            return
        if self._observe(now, resp.leader_epoch, resp.leader_id):
            return
        role = self.role
        if not isinstance(role, (Prospective, Candidate)) or resp.leader_epoch > role.epoch:
            return
        if resp.vote_granted and resp.error_code == ErrorCode.NONE and resp.leader_epoch == role.epoch:
            self.role = _replace_votes(role, granted=role.granted | {source})
        else:
            self.role = _replace_votes(role, rejected=role.rejected | {source})
        self._check_election(now)

    # --------------------------------------------------------------- Begin/EndQuorumEpoch
    def _on_begin_quorum_epoch(self, now: int, source: int, req: m.BeginQuorumEpochRequest,
                               corr: int) -> None:
        if req.cluster_id != self.cluster_id:
            self._reply(source, m.BeginQuorumEpochResponse(
                error_code=ErrorCode.INCONSISTENT_CLUSTER_ID), corr)
            return
        error = ErrorCode.NONE
        if req.leader_epoch < self.role.epoch:
            error = ErrorCode.FENCED_LEADER_EPOCH
        else:
            self._observe(now, req.leader_epoch, req.leader_id)
            if self.leader_id == req.leader_id:
                self._leader_contact_ms = now
        leader = self._current_leader()
        self._reply(source, m.BeginQuorumEpochResponse(
            error_code=error, leader_id=leader.leader_id, leader_epoch=leader.leader_epoch), corr)

    def _on_begin_quorum_epoch_response(self, now: int, source: int,
                                        resp: m.BeginQuorumEpochResponse, corr: int) -> None:
        if self._matches_inflight(source, corr, resp) is None:
            return
        if resp.leader_epoch > self.role.epoch:
            self._observe(now, resp.leader_epoch, resp.leader_id)
        elif resp.error_code == ErrorCode.NONE and isinstance(self.role, Leader):
            # Acknowledged: stop resending; the voter's first Fetch sets its real offset.
            progress = self._progress.get(source)
            if progress is not None and progress.end_offset < 0:
                progress.end_offset = 0

    def _on_end_quorum_epoch(self, now: int, source: int, req: m.EndQuorumEpochRequest,
                             corr: int) -> None:
        if req.cluster_id != self.cluster_id:
            self._reply(source, m.EndQuorumEpochResponse(
                error_code=ErrorCode.INCONSISTENT_CLUSTER_ID), corr)
            return
        role = self.role
        if req.leader_epoch > role.epoch:
            self._observe(now, req.leader_epoch, NO_LEADER)
        elif (isinstance(role, Follower) and role.epoch == req.leader_epoch
              and role.leader_id == req.leader_id and self.is_voter):
            # The leader resigned: campaign soon, the best-placed successor first.
            position = (req.preferred_successors.index(self.node_id)
                        if self.node_id in req.preferred_successors else len(self.voters))
            delay = min(self.config.election_backoff_max_ms, self.config.retry_backoff_ms * (1 << position))
            self._set_role(now, Unattached(role.epoch, role.voted_for, now + delay - self.config.retry_backoff_ms))
        leader = self._current_leader()
        self._reply(source, m.EndQuorumEpochResponse(leader_id=leader.leader_id,
                                                     leader_epoch=leader.leader_epoch), corr)

    def _on_end_quorum_epoch_response(self, now: int, source: int,
                                      resp: m.EndQuorumEpochResponse, corr: int) -> None:
        if self._matches_inflight(source, corr, resp) is not None and resp.leader_epoch > self.role.epoch:
            self._observe(now, resp.leader_epoch, resp.leader_id)

    # ---------------------------------------------------------------------------- Fetch
    def _on_fetch(self, now: int, source: int, req: m.FetchRequest, corr: int) -> None:
        error = self._leader_error(req.cluster_id, req.current_leader_epoch)
        if error is not None:
            self._reply(source, m.FetchResponse(error_code=error, current_leader=self._current_leader(),
                                                high_watermark=self._hw()), corr)
            return
        parked = _Parked(source, corr, req, now + req.max_wait_ms)
        self._parked.pop(source, None)  # a newer fetch from the same replica supersedes it
        log = self.log
        snapshot = log.latest_snapshot()
        offset, epoch = req.fetch_offset, req.last_fetched_epoch
        if snapshot is not None and (offset < log.start_offset or epoch < snapshot.epoch
                                     or (offset == log.start_offset and epoch != snapshot.epoch)):
            self._reply(source, m.FetchResponse(snapshot_id=snapshot, high_watermark=self._hw(),
                                                log_start_offset=log.start_offset,
                                                current_leader=self._current_leader()), corr)
            return
        if not (offset == 0 and epoch == 0):
            end = log.end_offset_for_epoch(epoch)
            if end.epoch != epoch or end.end_offset < offset:
                if end.epoch < 0 and snapshot is not None:
                    self._reply(source, m.FetchResponse(snapshot_id=snapshot, high_watermark=self._hw(),
                                                        current_leader=self._current_leader()), corr)
                    return
                diverging = m.EpochEndOffset(end.epoch, end.end_offset) if end.epoch >= 0 \
                    else m.EpochEndOffset(0, log.start_offset)
                self._reply(source, m.FetchResponse(diverging_epoch=diverging, high_watermark=self._hw(),
                                                    log_start_offset=log.start_offset,
                                                    current_leader=self._current_leader()), corr)
                return
        progress = self._progress.get(req.replica_id)
        if progress is None:
            progress = self._progress[req.replica_id] = _Progress()
        progress.end_offset = offset
        progress.last_fetch_ms = now
        if offset >= log.end_offset:
            progress.last_caught_up_ms = now
        hw_moved = req.replica_id in self.voters and self._update_leader_hw(now)
        if hw_moved or offset < log.end_offset or req.max_wait_ms <= 0:
            self._answer_fetch(now, parked)
        else:
            self._parked[source] = parked

    def _leader_error(self, cluster_id: str, leader_epoch: int) -> ErrorCode | None:
        if cluster_id != self.cluster_id:
            return ErrorCode.INCONSISTENT_CLUSTER_ID
        if not isinstance(self.role, Leader):
            return ErrorCode.NOT_LEADER_OR_FOLLOWER if leader_epoch >= self.role.epoch \
                else ErrorCode.FENCED_LEADER_EPOCH
        if leader_epoch < self.role.epoch:
            return ErrorCode.FENCED_LEADER_EPOCH
        if leader_epoch > self.role.epoch:
            return ErrorCode.UNKNOWN_LEADER_EPOCH
        return None

    def _hw(self) -> int:
        """The high watermark a leader reports: unknown (-1) until this epoch's first record is
        committed, so a new leader never hands out a stale one (Kafka does the same)."""
        role = self.role
        hw = self.high_watermark
        if not isinstance(role, Leader) or hw is None or hw <= role.epoch_start_offset:
            return -1
        return hw

    def _answer_fetch(self, now: int, parked: _Parked) -> None:
        req = parked.request
        records = ()
        if req.fetch_offset >= self.log.start_offset:
            records = self.log.read(req.fetch_offset, req.max_records)
        self._reply(parked.source, m.FetchResponse(
            high_watermark=self._hw(), log_start_offset=self.log.start_offset,
            current_leader=self._current_leader(), records=records), parked.correlation_id)

    def _complete_parked(self, now: int) -> None:
        parked, self._parked = list(self._parked.values()), {}
        for p in parked:
            self._answer_fetch(now, p)

    def _update_leader_hw(self, now: int) -> bool:
        """Advance the leader's high watermark to the offset a majority of voters has durably;
        only once this epoch's LeaderChange record is in it. Returns True if it moved."""
        role = self.role
        assert isinstance(role, Leader)
        self._prog(self.node_id).end_offset = self.log.flushed_end_offset
        ends = sorted((self._prog(v).end_offset for v in self.voters), reverse=True)
        index = len(ends) // 2
        if self.bugs.minority_high_watermark:
            index = max(0, index - 1)
        candidate = ends[index]
        if candidate <= role.epoch_start_offset:
            return False
        if self.high_watermark is not None and candidate <= self.high_watermark:
            return False
        self.high_watermark = candidate
        self._complete_parked(now)
        self._maybe_snapshot()
        pending = self._pending_change
        if pending is not None and candidate > pending[3]:
            self._finish_voter_change(ErrorCode.NONE)
            if not self.is_voter:  # removed itself: hand over now that the change is committed
                self._resign(now)
        return True

    def _on_fetch_response(self, now: int, source: int, resp: m.FetchResponse, corr: int) -> None:
        req = self._matches_inflight(source, corr, resp)
        if req is None:
            return
        assert isinstance(req, m.FetchRequest)
        role = self.role
        if resp.error_code != ErrorCode.NONE:
            leader = resp.current_leader
            if not self._observe(now, leader.leader_epoch, leader.leader_id):
                # Most likely our leader resigned: do not hammer it, the fetch timeout decides.
                self._next_fetch_ms = now + max(self.config.retry_backoff_ms, req.max_wait_ms)
            return
        if self._observe(now, resp.current_leader.leader_epoch, resp.current_leader.leader_id):
            role = self.role
        if (isinstance(role, Prospective) and role.leader_id == source
                and resp.current_leader == LeaderIdAndEpoch(source, role.epoch)):
            self._become_follower(now, role.epoch, source, role.voted_for)  # the leader is alive
            role = self.role
        if not isinstance(role, Follower) or role.leader_id != source \
                or resp.current_leader.leader_epoch != role.epoch:
            return
        self.role = Follower(role.epoch, role.leader_id, role.voted_for, now + self.config.fetch_timeout_ms)
        self._leader_contact_ms = now
        self._next_fetch_ms = now
        log = self.log
        if resp.diverging_epoch is not None:
            div = resp.diverging_epoch
            if self.bugs.skip_truncation:
                self._pretend_epoch = role.epoch
                return
            mine = log.end_offset_for_epoch(div.epoch)
            target = min(div.end_offset, mine.end_offset if mine.epoch >= 0 else log.start_offset)
            log.truncate_to(max(target, log.start_offset))
            self._note_truncated()
            return
        if resp.snapshot_id is not None:
            self._snapshot_fetch = _SnapshotFetch(resp.snapshot_id)
            return
        validated = req.fetch_offset
        if resp.records and resp.records[0].offset == log.end_offset == req.fetch_offset:
            log.append(resp.records)
            self._note_appended(resp.records)
            validated = log.end_offset
            self._out.append(FlushLog(validated))
        if resp.high_watermark >= 0 and log.end_offset >= validated:
            hw = min(resp.high_watermark, validated)
            if self.high_watermark is None or hw > self.high_watermark:
                self.high_watermark = hw
                self._maybe_snapshot()

    # --------------------------------------------------------------------------- FetchSnapshot
    def _on_fetch_snapshot(self, now: int, source: int, req: m.FetchSnapshotRequest, corr: int) -> None:
        error = self._leader_error(req.cluster_id, req.current_leader_epoch)
        data = None if error is not None else self.log.snapshot_bytes(req.snapshot_id)
        if error is None and data is None:
            error = ErrorCode.SNAPSHOT_NOT_FOUND
        if error is None and data is not None and not 0 <= req.position <= len(data):
            error = ErrorCode.POSITION_OUT_OF_RANGE
        if error is not None or data is None:
            self._reply(source, m.FetchSnapshotResponse(
                error_code=error or ErrorCode.UNKNOWN_SERVER_ERROR,
                current_leader=self._current_leader()), corr)
            return
        chunk = bytes(data[req.position:req.position + max(1, req.max_bytes)])
        self._reply(source, m.FetchSnapshotResponse(
            snapshot_id=req.snapshot_id, current_leader=self._current_leader(), size=len(data),
            position=req.position, unaligned_records=chunk), corr)

    def _on_fetch_snapshot_response(self, now: int, source: int, resp: m.FetchSnapshotResponse,
                                    corr: int) -> None:
        if self._matches_inflight(source, corr, resp) is None:
            return
        fetch = self._snapshot_fetch
        if resp.error_code != ErrorCode.NONE:
            leader = resp.current_leader
            if not self._observe(now, leader.leader_epoch, leader.leader_id):
                self._snapshot_fetch = None  # start over with a Fetch
                self._next_fetch_ms = now + self.config.retry_backoff_ms
            return
        role = self.role
        if fetch is None or not isinstance(role, Follower) or resp.snapshot_id != fetch.snapshot_id \
                or resp.position != len(fetch.data):
            return
        self.role = Follower(role.epoch, role.leader_id, role.voted_for, now + self.config.fetch_timeout_ms)
        fetch.data += resp.unaligned_records
        if len(fetch.data) >= resp.size:
            data = bytes(fetch.data)
            self.log.install_snapshot(fetch.snapshot_id, data)
            self._note_snapshot(fetch.snapshot_id.end_offset, _snapshot_voters(data) or self.bootstrap_voters)
            self._snapshot_fetch = None
        self._next_fetch_ms = now

    def _maybe_snapshot(self) -> None:
        """Take a snapshot at the committed, flushed offset once enough records accumulated."""
        if self.snapshot_writer is None or self.high_watermark is None:
            return
        offset = min(self.high_watermark, self.log.flushed_end_offset)
        if offset <= self.log.start_offset:
            return
        if self.log.bytes_since_snapshot(offset) < self.config.max_record_bytes_between_snapshots:
            return
        self.log.create_snapshot(offset, self._snapshot_data(offset))
        self._note_snapshot(offset)

    # ------------------------------------------------------------------- DescribeQuorum & voters
    def _on_describe_quorum(self, now: int, source: int, req: m.DescribeQuorumRequest, corr: int) -> None:
        role = self.role
        if not isinstance(role, Leader):
            self._reply(source, m.DescribeQuorumResponse(error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER,
                                                         leader_id=self._current_leader().leader_id,
                                                         leader_epoch=role.epoch), corr)
            return

        def state(replica: int) -> m.ReplicaState:
            p = self._progress.get(replica, _Progress())
            return m.ReplicaState(replica_id=replica, log_end_offset=p.end_offset,
                                  last_fetch_timestamp=p.last_fetch_ms,
                                  last_caught_up_timestamp=p.last_caught_up_ms)

        observers = sorted(r for r in self._progress if r not in self.voters)
        self._reply(source, m.DescribeQuorumResponse(
            leader_id=self.node_id, leader_epoch=role.epoch, high_watermark=self._hw(),
            current_voters=tuple(state(v) for v in sorted(self.voters)),
            observers=tuple(state(o) for o in observers)), corr)

    def _on_voter_change(self, now: int, source: int, req: m.Request, corr: int) -> None:
        """AddRaftVoter and RemoveRaftVoter (KIP-853), one change at a time: the leader appends a
        VotersRecord, which takes effect when appended, and answers once it is committed.
        UpdateRaftVoter is refused: no endpoints or directory ids are kept to update."""
        if isinstance(req, m.UpdateRaftVoterRequest):
            self._reply(source, m.UpdateRaftVoterResponse(error_code=ErrorCode.UNSUPPORTED_VERSION,
                                                          current_leader=self._current_leader()), corr)
            return
        response = m.AddRaftVoterResponse if isinstance(req, m.AddRaftVoterRequest) else m.RemoveRaftVoterResponse
        error, text = self._voter_change_error(now, req)
        if error is not None:
            self._reply(source, response(error_code=error, error_message=text), corr)
            return
        role = self.role
        assert isinstance(role, Leader) and isinstance(req, (m.AddRaftVoterRequest, m.RemoveRaftVoterRequest))
        voters = self.voters | {req.voter_id} if isinstance(req, m.AddRaftVoterRequest) \
            else self.voters - {req.voter_id}
        offset = self.log.end_offset
        record = Record(offset, role.epoch, VotersRecord(tuple(sorted(voters))), control=True)
        self.log.append((record,))
        self._note_appended((record,))
        self._pending_change = (source, corr, response, offset)
        self._complete_parked(now)
        self._out.append(FlushLog(self.log.end_offset))

    def _voter_change_error(self, now: int, req: m.Request) -> tuple[ErrorCode | None, str | None]:
        cluster_id = getattr(req, "cluster_id", self.cluster_id)
        if cluster_id != self.cluster_id:
            return ErrorCode.INCONSISTENT_CLUSTER_ID, None
        role = self.role
        if not isinstance(role, Leader):
            return ErrorCode.NOT_LEADER_OR_FOLLOWER, None
        voter_id = getattr(req, "voter_id", -1)
        hw = self.high_watermark
        if hw is None or hw <= role.epoch_start_offset:
            return ErrorCode.REQUEST_TIMED_OUT, "the leader has not committed a record of its epoch yet"
        if self._pending_change is not None or self._voter_sets[-1][0] >= hw:
            return ErrorCode.REQUEST_TIMED_OUT, "another voter change is in progress"
        if isinstance(req, m.AddRaftVoterRequest):
            if voter_id in self.voters:
                return ErrorCode.DUPLICATE_VOTER, f"{voter_id} is already a voter"
            progress = self._progress.get(voter_id)
            horizon = now - self.config.fetch_timeout_ms
            if progress is None or progress.end_offset < hw or progress.last_fetch_ms < horizon:
                return ErrorCode.REQUEST_TIMED_OUT, f"{voter_id} has not caught up with the leader"
        else:
            if voter_id not in self.voters:
                return ErrorCode.VOTER_NOT_FOUND, f"{voter_id} is not a voter"
            if len(self.voters) == 1:
                return ErrorCode.INVALID_REQUEST, "cannot remove the last voter"
        return None, None

    def _finish_voter_change(self, error: ErrorCode) -> None:
        pending, self._pending_change = self._pending_change, None
        assert pending is not None
        source, corr, response, _ = pending
        self._reply(source, response(error_code=error), corr)

    def _on_ignored_response(self, now: int, source: int, resp: m.Response, corr: int) -> None:
        self._matches_inflight(source, corr, resp)


def _snapshot_voters(data: bytes) -> frozenset[int] | None:
    """The voter set in a snapshot's raft header (``voters=1,2,3\\n``), if it has one."""
    if not data.startswith(b"voters="):
        return None
    line = data[7:data.index(b"\n")] if b"\n" in data else data[7:]
    return frozenset(int(v) for v in line.split(b",") if v)


def _replace_votes(role: Prospective | Candidate, *, granted: frozenset[int] | None = None,
                   rejected: frozenset[int] | None = None) -> Prospective | Candidate:
    changes: dict[str, frozenset[int]] = {}
    if granted is not None:
        changes["granted"] = granted
    if rejected is not None:
        changes["rejected"] = rejected
    return replace(role, **changes)


_CHANNELS: dict[type, str] = {
    m.VoteRequest: "vote", m.VoteResponse: "vote",
    m.BeginQuorumEpochRequest: "quorum", m.BeginQuorumEpochResponse: "quorum",
    m.EndQuorumEpochRequest: "quorum", m.EndQuorumEpochResponse: "quorum",
    m.FetchRequest: "fetch", m.FetchResponse: "fetch",
    m.FetchSnapshotRequest: "fetch", m.FetchSnapshotResponse: "fetch",
    m.DescribeQuorumRequest: "admin", m.DescribeQuorumResponse: "admin",
    m.AddRaftVoterRequest: "admin", m.AddRaftVoterResponse: "admin",
    m.RemoveRaftVoterRequest: "admin", m.RemoveRaftVoterResponse: "admin",
    m.UpdateRaftVoterRequest: "admin", m.UpdateRaftVoterResponse: "admin",
}
"""Requests in flight are tracked per destination and channel: a prospective may have a Vote
and a Fetch outstanding to the same node."""

_RESPONSE_TO: dict[type, type] = {
    m.VoteRequest: m.VoteResponse, m.BeginQuorumEpochRequest: m.BeginQuorumEpochResponse,
    m.EndQuorumEpochRequest: m.EndQuorumEpochResponse, m.FetchRequest: m.FetchResponse,
    m.FetchSnapshotRequest: m.FetchSnapshotResponse, m.DescribeQuorumRequest: m.DescribeQuorumResponse,
    m.AddRaftVoterRequest: m.AddRaftVoterResponse, m.RemoveRaftVoterRequest: m.RemoveRaftVoterResponse,
    m.UpdateRaftVoterRequest: m.UpdateRaftVoterResponse,
}

_HANDLERS: dict[type, Callable[..., None]] = {
    m.VoteRequest: RaftNode._on_vote_request,
    m.VoteResponse: RaftNode._on_vote_response,
    m.BeginQuorumEpochRequest: RaftNode._on_begin_quorum_epoch,
    m.BeginQuorumEpochResponse: RaftNode._on_begin_quorum_epoch_response,
    m.EndQuorumEpochRequest: RaftNode._on_end_quorum_epoch,
    m.EndQuorumEpochResponse: RaftNode._on_end_quorum_epoch_response,
    m.FetchRequest: RaftNode._on_fetch,
    m.FetchResponse: RaftNode._on_fetch_response,
    m.FetchSnapshotRequest: RaftNode._on_fetch_snapshot,
    m.FetchSnapshotResponse: RaftNode._on_fetch_snapshot_response,
    m.DescribeQuorumRequest: RaftNode._on_describe_quorum,
    m.DescribeQuorumResponse: RaftNode._on_ignored_response,
    m.AddRaftVoterRequest: RaftNode._on_voter_change,
    m.RemoveRaftVoterRequest: RaftNode._on_voter_change,
    m.UpdateRaftVoterRequest: RaftNode._on_voter_change,
    m.AddRaftVoterResponse: RaftNode._on_ignored_response,
    m.RemoveRaftVoterResponse: RaftNode._on_ignored_response,
    m.UpdateRaftVoterResponse: RaftNode._on_ignored_response,
}
