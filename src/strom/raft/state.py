"""Roles of a raft node as immutable values, and the table of allowed transitions.

A node is in exactly one role; :class:`strom.raft.core.RaftNode` swaps the value on every change
and checks each change against ``TRANSITIONS`` (a test walks the table). The roles follow Kafka's
``QuorumState`` (KIP-595, KIP-996):

==============  ===================================================================================
Unattached      Knows an epoch but no leader in it; may have voted (``voted_for``). A voter starts
                a pre-vote when ``deadline`` passes. Observers stay here until they find a leader.
Prospective     Pre-vote (KIP-996): asks the voters whether they would vote for it, without
                bumping the epoch. Remembers the leader it was following, to go back to it.
Candidate       Campaigns in ``epoch`` (one higher than before), having voted for itself.
Leader          Won ``epoch``; appends, answers Fetch, advances the high watermark.
Follower        Fetches from ``leader_id``; ``deadline`` is the fetch timeout.
Resigned        Was leader of ``epoch`` and gave it up (graceful shutdown, or lost the majority);
                answers nothing as leader, waits for a new leader or its election timeout.
==============  ===================================================================================

``deadline`` is the virtual or monotonic millisecond at which the role's timer fires.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Unattached:
    epoch: int
    voted_for: int | None
    deadline: int
    name = "unattached"


@dataclass(frozen=True, slots=True)
class Prospective:
    epoch: int
    voted_for: int | None
    leader_id: int | None  # the leader it followed in this epoch, if any
    granted: frozenset[int]
    rejected: frozenset[int]
    deadline: int
    name = "prospective"


@dataclass(frozen=True, slots=True)
class Candidate:
    epoch: int
    granted: frozenset[int]
    rejected: frozenset[int]
    deadline: int
    name = "candidate"


@dataclass(frozen=True, slots=True)
class Leader:
    epoch: int
    epoch_start_offset: int  # offset of this epoch's LeaderChange record
    name = "leader"


@dataclass(frozen=True, slots=True)
class Follower:
    epoch: int
    leader_id: int
    voted_for: int | None
    deadline: int  # fetch timeout: no successful fetch by then starts a pre-vote
    name = "follower"


@dataclass(frozen=True, slots=True)
class Resigned:
    epoch: int
    deadline: int
    name = "resigned"


Role = Unattached | Prospective | Candidate | Leader | Follower | Resigned

TRANSITIONS: dict[str, frozenset[str]] = {
    # Every role moves to Unattached or Follower on seeing a higher epoch.
    "unattached": frozenset({"unattached", "prospective", "follower"}),
    "prospective": frozenset({"unattached", "candidate", "follower"}),
    "candidate": frozenset({"unattached", "leader", "follower"}),
    "leader": frozenset({"unattached", "follower", "resigned"}),
    "follower": frozenset({"unattached", "prospective", "follower"}),
    "resigned": frozenset({"unattached", "prospective", "follower"}),
}
"""``TRANSITIONS[a]`` holds the roles a node may go to from role ``a``.

* unattached -> unattached: a higher epoch, or granting a vote in the current epoch.
* unattached -> prospective: election timeout (voters only).
* prospective -> candidate: a majority granted the pre-vote.
* prospective -> follower/unattached: pre-vote lost or timed out (back to the known leader, if
  any), or a higher epoch.
* candidate -> leader: a majority granted the vote.
* candidate -> unattached: lost, or timed out: back off, then pre-vote again; or a higher epoch.
* leader -> resigned: graceful resignation, or no majority fetched within 1.5 fetch timeouts.
* follower -> follower: a leader of a higher epoch; follower -> prospective: fetch timeout.
* resigned -> prospective: its election timeout (the rest ignores it).
"""


class IllegalTransition(RuntimeError):
    """A role change the table does not allow: a bug in the core."""


def check_transition(old: Role, new: Role) -> None:
    if new.name not in TRANSITIONS[old.name]:
        raise IllegalTransition(f"{old.name} -> {new.name} ({old} -> {new})")
    if new.epoch < old.epoch:
        raise IllegalTransition(f"epoch went back: {old} -> {new}")
