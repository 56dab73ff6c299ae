"""The role transition table: every transition it allows happens, no other one does."""
import pytest

from strom.raft import core, sim
from strom.raft import messages as m
from strom.raft.state import (
    TRANSITIONS,
    Candidate,
    Follower,
    IllegalTransition,
    Leader,
    Prospective,
    Resigned,
    Unattached,
    check_transition,
)

from ._harness import CLUSTER, Net, make_node


def test_simulation_walks_every_transition_of_the_table(monkeypatch):
    seen: set[tuple[str, str]] = set()
    real = core.check_transition

    def recording(old, new):
        real(old, new)  # raises on a transition the table does not allow
        seen.add((old.name, new.name))

    monkeypatch.setattr(core, "check_transition", recording)
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    # leader -> follower needs a leader to miss every Vote of the next epoch but hear its
    # BeginQuorumEpoch: the simulation does it, rarely; drive it directly.
    net = Net([make_node(i) for i in (1, 2, 3)])
    leader = net.elect()
    other = next(i for i in net.nodes if i != leader.node_id)
    leader.step(net.now, other, m.BeginQuorumEpochRequest(
        cluster_id=CLUSTER, voter_id=leader.node_id, leader_epoch=leader.epoch + 1, leader_id=other), 1)
    assert leader.role.name == "follower"
    # leader -> unattached: a Vote of a higher epoch reaches the leader first (also rare).
    net = Net([make_node(i) for i in (1, 2, 3)])
    leader = net.elect()
    other = next(i for i in net.nodes if i != leader.node_id)
    leader.step(net.now, other, m.VoteRequest(
        cluster_id=CLUSTER, voter_id=leader.node_id, candidate_epoch=leader.epoch + 1, candidate_id=other,
        last_offset_epoch=0, last_offset=0), 1)
    assert leader.role.name == "unattached"
    for seed in range(300):
        assert sim.run(seed).ok
        if seen >= table:
            break
    assert table - seen == set(), "transitions the table allows but no run took"
    assert seen <= table


@pytest.mark.parametrize("old, new", [
    (Unattached(1, None, 0), Candidate(2, frozenset(), frozenset(), 0)),  # pre-vote comes first
    (Unattached(1, None, 0), Leader(1, 0)),
    (Follower(1, 2, None, 0), Leader(1, 0)),
    (Prospective(1, None, None, frozenset(), frozenset(), 0), Leader(1, 0)),
    (Candidate(2, frozenset(), frozenset(), 0), Prospective(2, None, None, frozenset(), frozenset(), 0)),
    (Resigned(3, 0), Leader(3, 0)),
    (Leader(3, 0), Candidate(4, frozenset(), frozenset(), 0)),
])
def test_illegal_transitions_are_refused(old, new):
    with pytest.raises(IllegalTransition):
        check_transition(old, new)


def test_the_epoch_never_goes_back():
    with pytest.raises(IllegalTransition):
        check_transition(Follower(5, 2, None, 0), Unattached(4, None, 0))
