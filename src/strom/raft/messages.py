"""The KRaft RPCs as frozen dataclasses, with Apache Kafka's field names (snake case).

The raft core (:mod:`strom.raft.core`) reads and returns these values; the later wiring to the
controller listener translates them to and from the Kafka codec (``VoteRequest`` v2,
``BeginQuorumEpochRequest`` v1, ``EndQuorumEpochRequest`` v1, ``FetchRequest`` v17,
``FetchSnapshotRequest`` v1, ``DescribeQuorumRequest`` v2, ``AddRaftVoterRequest`` v0,
``RemoveRaftVoterRequest`` v0, ``UpdateRaftVoterRequest`` v0). Simplifications relative to the
wire schemas, so the translation stays thin:

* Kafka nests the partition data under ``topics[].partitions[]``; the metadata log is the single
  partition ``__cluster_metadata-0``, so the partition fields are flattened into the message.
* Voter directory ids (KIP-853 ``ReplicaDirectoryId``/``VoterDirectoryId``) and endpoints are left
  out: a voter is identified by its node id only.
* ``records`` in a Fetch response are :class:`Record` values (offset, epoch, value) instead of
  RecordBatch bytes. Control records (LeaderChange, Voters) are records whose ``control`` is true.
* Who sent a message is not a field: the transport knows it (``source`` in ``RaftNode.step``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from strom.errors import ErrorCode

NO_LEADER = -1
"""``leader_id`` when no leader is known (Kafka's -1)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One entry of the replicated log: its offset, the leader epoch that wrote it, its value."""

    offset: int
    epoch: int
    value: object
    control: bool = False


@dataclass(frozen=True, slots=True)
class LeaderChangeRecord:
    """Value of the control record a new leader appends at the start of its epoch (Kafka's
    ``LeaderChangeMessage``): committing it is how the leader learns its high watermark."""

    leader_id: int
    voters: tuple[int, ...]
    granting_voters: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class VotersRecord:
    """Value of the control record that sets the voter set (KIP-853 ``VotersRecord``); takes effect
    when appended, reverted when truncated. The leader writes it for AddRaftVoter and RemoveRaftVoter."""

    voters: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SnapshotId:
    """A snapshot covers offsets ``[0, end_offset)``; ``epoch`` is the epoch of its last record."""

    end_offset: int
    epoch: int


@dataclass(frozen=True, slots=True)
class EpochEndOffset:
    """``DivergingEpoch`` of a Fetch response: where the leader's log for ``epoch`` ends."""

    epoch: int
    end_offset: int


@dataclass(frozen=True, slots=True)
class LeaderIdAndEpoch:
    """``CurrentLeader`` of Kafka's responses."""

    leader_id: int = NO_LEADER
    leader_epoch: int = -1


# ------------------------------------------------------------------------------------------ Vote
@dataclass(frozen=True, slots=True, kw_only=True)
class VoteRequest:
    """Ask ``voter_id`` for its vote. With ``pre_vote`` (KIP-996) the voter only says whether it
    would grant, changing nothing; ``candidate_epoch`` is then the epoch the candidate would use."""

    cluster_id: str
    voter_id: int
    candidate_epoch: int
    candidate_id: int
    last_offset_epoch: int
    last_offset: int
    pre_vote: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteResponse:
    error_code: ErrorCode = ErrorCode.NONE
    leader_id: int = NO_LEADER
    leader_epoch: int = -1
    vote_granted: bool = False


# ----------------------------------------------------------------------------- BeginQuorumEpoch
@dataclass(frozen=True, slots=True, kw_only=True)
class BeginQuorumEpochRequest:
    """The new leader tells a voter it leads ``leader_epoch``; resent until the voter fetches."""

    cluster_id: str
    voter_id: int
    leader_epoch: int
    leader_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BeginQuorumEpochResponse:
    error_code: ErrorCode = ErrorCode.NONE
    leader_id: int = NO_LEADER
    leader_epoch: int = -1


# ------------------------------------------------------------------------------- EndQuorumEpoch
@dataclass(frozen=True, slots=True, kw_only=True)
class EndQuorumEpochRequest:
    """A leader resigning gracefully; ``preferred_successors`` are voters ordered by how far their
    logs reach, so the most up-to-date one campaigns first."""

    cluster_id: str
    leader_epoch: int
    leader_id: int
    preferred_successors: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EndQuorumEpochResponse:
    error_code: ErrorCode = ErrorCode.NONE
    leader_id: int = NO_LEADER
    leader_epoch: int = -1


# ---------------------------------------------------------------------------------------- Fetch
@dataclass(frozen=True, slots=True, kw_only=True)
class FetchRequest:
    """A follower or observer pulls from ``fetch_offset``; ``last_fetched_epoch`` is the epoch of
    its record at ``fetch_offset - 1`` (or of its snapshot), which the leader checks for divergence.
    The leader parks it up to ``max_wait_ms`` when there is nothing new."""

    cluster_id: str
    replica_id: int
    max_wait_ms: int
    current_leader_epoch: int
    fetch_offset: int
    last_fetched_epoch: int
    log_start_offset: int = 0
    max_records: int = 64  # stands in for partition_max_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResponse:
    """Exactly one of: records (possibly none) with the high watermark; ``diverging_epoch`` (the
    follower truncates to at most ``end_offset`` and fetches again); ``snapshot_id`` (the follower
    is behind the leader's log start and must FetchSnapshot); an error with ``current_leader``."""

    error_code: ErrorCode = ErrorCode.NONE
    high_watermark: int = -1
    log_start_offset: int = 0
    diverging_epoch: EpochEndOffset | None = None
    current_leader: LeaderIdAndEpoch = field(default_factory=LeaderIdAndEpoch)
    snapshot_id: SnapshotId | None = None
    records: tuple[Record, ...] = ()


# -------------------------------------------------------------------------------- FetchSnapshot
@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSnapshotRequest:
    cluster_id: str
    replica_id: int
    current_leader_epoch: int
    snapshot_id: SnapshotId
    position: int
    max_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSnapshotResponse:
    """``unaligned_records`` holds bytes ``[position, position + len)`` of a snapshot of ``size``."""

    error_code: ErrorCode = ErrorCode.NONE
    snapshot_id: SnapshotId | None = None
    current_leader: LeaderIdAndEpoch = field(default_factory=LeaderIdAndEpoch)
    size: int = 0
    position: int = 0
    unaligned_records: bytes = b""


# -------------------------------------------------------------------------------- DescribeQuorum
@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeQuorumRequest:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaState:
    replica_id: int
    log_end_offset: int
    last_fetch_timestamp: int = -1
    last_caught_up_timestamp: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeQuorumResponse:
    error_code: ErrorCode = ErrorCode.NONE
    error_message: str | None = None
    leader_id: int = NO_LEADER
    leader_epoch: int = -1
    high_watermark: int = -1
    current_voters: tuple[ReplicaState, ...] = ()
    observers: tuple[ReplicaState, ...] = ()


# ------------------------------------------------------------------------- voter changes (KIP-853)
@dataclass(frozen=True, slots=True, kw_only=True)
class AddRaftVoterRequest:
    cluster_id: str
    timeout_ms: int
    voter_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AddRaftVoterResponse:
    error_code: ErrorCode = ErrorCode.NONE
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveRaftVoterRequest:
    cluster_id: str
    voter_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveRaftVoterResponse:
    error_code: ErrorCode = ErrorCode.NONE
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRaftVoterRequest:
    cluster_id: str
    current_leader_epoch: int
    voter_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRaftVoterResponse:
    error_code: ErrorCode = ErrorCode.NONE
    current_leader: LeaderIdAndEpoch = field(default_factory=LeaderIdAndEpoch)


Request = (VoteRequest | BeginQuorumEpochRequest | EndQuorumEpochRequest | FetchRequest
           | FetchSnapshotRequest | DescribeQuorumRequest | AddRaftVoterRequest
           | RemoveRaftVoterRequest | UpdateRaftVoterRequest)
Response = (VoteResponse | BeginQuorumEpochResponse | EndQuorumEpochResponse | FetchResponse
            | FetchSnapshotResponse | DescribeQuorumResponse | AddRaftVoterResponse
            | RemoveRaftVoterResponse | UpdateRaftVoterResponse)
Message = Request | Response
