"""The sans-io raft core, message by message."""
from __future__ import annotations

import pytest

from strom.errors import ErrorCode
from strom.raft import messages as m
from strom.raft.core import (
    FlushLog,
    NotLeader,
    PersistQuorumState,
    QuorumStateData,
    RaftConfig,
    Send,
)
from strom.raft.log import MemoryRaftLog
from strom.raft.messages import LeaderChangeRecord, Record

from ._harness import CLUSTER, Net, make_node


def vote_request(candidate=2, epoch=1, voter=1, last_epoch=0, last_offset=0, pre_vote=False, cluster=CLUSTER):
    return m.VoteRequest(cluster_id=cluster, voter_id=voter, candidate_epoch=epoch, candidate_id=candidate,
                         last_offset_epoch=last_epoch, last_offset=last_offset, pre_vote=pre_vote)


def only_send(effects) -> Send:
    sends = [e for e in effects if isinstance(e, Send)]
    assert len(sends) == 1, effects
    return sends[0]


def three_nodes(**kwargs) -> Net:
    return Net([make_node(i, **kwargs) for i in (1, 2, 3)])


# ------------------------------------------------------------------------------------ elections
def test_three_voters_elect_one_leader_who_writes_leader_change_and_commits_it():
    net = three_nodes()
    leader = net.elect()
    assert [n.role.name for n in net.nodes.values()].count("leader") == 1
    assert {n.epoch for n in net.nodes.values()} == {leader.epoch}
    first = leader.log.read(0, 1)[0]
    assert first.control and isinstance(first.value, LeaderChangeRecord)
    assert first.value.leader_id == leader.node_id and first.epoch == leader.epoch
    net.advance(600)  # long-polled fetches come back
    assert leader.high_watermark == 1
    assert all(n.high_watermark == 1 for n in net.nodes.values())


def test_leader_appends_and_commits_on_a_majority_only():
    net = three_nodes()
    leader = net.elect()
    followers = [i for i in net.nodes if i != leader.node_id]
    net.cut.add(followers[0])
    net.cut.add(followers[1])
    base, effects = leader.append(net.now, ["a", "b"])
    net.apply(leader.node_id, effects)
    net.advance(1000)
    assert leader.log.end_offset == base + 2
    assert leader.high_watermark == base  # nobody else has them: not committed
    net.cut.discard(followers[0])
    net.advance(1500)  # its dropped fetch times out (1 s) and is sent again
    assert leader.high_watermark == base + 2  # leader + one follower: a majority of three


def test_append_on_a_follower_is_refused():
    net = three_nodes()
    leader = net.elect()
    follower = next(n for n in net.nodes.values() if n is not leader)
    with pytest.raises(NotLeader):
        follower.append(net.now, ["x"])


def test_single_voter_elects_itself_and_commits_after_its_own_flush():
    net = Net([make_node(1, voters=(1,))])
    leader = net.elect()
    assert leader.node_id == 1
    base, effects = leader.append(net.now, ["x"])
    assert any(isinstance(e, FlushLog) for e in effects)
    net.apply(1, effects)
    assert leader.high_watermark == base + 1


def test_failover_elects_a_new_leader_in_a_higher_epoch_with_all_committed_records():
    net = three_nodes()
    leader = net.elect()
    base, effects = leader.append(net.now, ["a"])
    net.apply(leader.node_id, effects)
    net.advance(600)
    assert leader.high_watermark == base + 1
    net.cut.add(leader.node_id)
    old_epoch = leader.epoch
    net.nodes = {i: n for i, n in net.nodes.items() if i != leader.node_id}
    new = net.elect()
    assert new.epoch > old_epoch
    assert [r.value for r in new.log.read(base, 1)] == ["a"]


# ----------------------------------------------------------------------------------- voting rules
def test_vote_is_persisted_before_the_granting_response():
    voter = make_node(1)
    effects = voter.step(0, 2, vote_request(candidate=2, epoch=1), 7)
    kinds = [type(e) for e in effects]
    assert kinds == [PersistQuorumState, Send]
    assert effects[0].state == QuorumStateData(leader_epoch=1, voted_id=2, leader_id=None)
    assert effects[1].message.vote_granted and effects[1].correlation_id == 7


def test_a_voter_grants_one_vote_per_epoch():
    voter = make_node(1)
    assert only_send(voter.step(0, 2, vote_request(candidate=2, epoch=1), 1)).message.vote_granted
    assert not only_send(voter.step(1, 3, vote_request(candidate=3, epoch=1), 2)).message.vote_granted
    # The same candidate asking again (a retry) is granted again; a new epoch frees the vote.
    assert only_send(voter.step(2, 2, vote_request(candidate=2, epoch=1), 3)).message.vote_granted
    assert only_send(voter.step(3, 3, vote_request(candidate=3, epoch=2), 4)).message.vote_granted


def test_the_vote_survives_a_restart():
    voter = make_node(1)
    effects = voter.step(0, 2, vote_request(candidate=2, epoch=1), 1)
    state = [e.state for e in effects if isinstance(e, PersistQuorumState)][-1]
    restarted = make_node(1, quorum_state=state)
    assert not only_send(restarted.step(0, 3, vote_request(candidate=3, epoch=1), 1)).message.vote_granted


def test_vote_refused_to_a_candidate_with_a_shorter_log():
    log = MemoryRaftLog()
    log.append((Record(0, 1, "x"), Record(1, 1, "y")))
    voter = make_node(1, log=log)
    resp = only_send(voter.step(0, 2, vote_request(candidate=2, epoch=2, last_epoch=1, last_offset=1), 1))
    assert not resp.message.vote_granted
    assert voter.epoch == 2  # the epoch is still learned
    resp = only_send(voter.step(0, 3, vote_request(candidate=3, epoch=2, last_epoch=1, last_offset=2), 2))
    assert resp.message.vote_granted


def test_pre_vote_changes_nothing():
    voter = make_node(1)
    effects = voter.step(0, 2, vote_request(candidate=2, epoch=1, pre_vote=True), 1)
    assert [type(e) for e in effects] == [Send]
    assert effects[0].message.vote_granted
    assert voter.epoch == 0 and voter.quorum_state().voted_id is None


def test_pre_vote_refused_while_the_leader_is_heard_from():
    net = three_nodes()
    leader = net.elect()
    follower = next(n for n in net.nodes.values() if n is not leader)
    other = next(i for i in net.nodes if i not in (leader.node_id, follower.node_id))
    request = vote_request(candidate=other, epoch=leader.epoch + 1, voter=follower.node_id,
                           last_epoch=leader.epoch, last_offset=99, pre_vote=True)
    assert not only_send(follower.step(net.now, other, request, 1)).message.vote_granted


def test_a_partitioned_voter_rejoining_does_not_disrupt_the_leader():
    net = three_nodes()
    leader = net.elect()
    loner = next(i for i in net.nodes if i != leader.node_id)
    net.cut.add(loner)
    net.advance(6000)  # the loner keeps failing pre-votes; it never bumps the epoch
    assert net.nodes[loner].epoch == leader.epoch
    net.cut.discard(loner)
    net.advance(3000)
    assert leader.role.name == "leader" and net.nodes[loner].leader_id == leader.node_id


def test_observer_is_not_counted_and_finds_the_leader_by_fetching():
    nodes = [make_node(i, voters=(1, 2, 3)) for i in (1, 2, 3, 4)]
    net = Net(nodes)
    leader = net.elect()
    observer = net.nodes[4]
    assert not observer.is_voter
    resp = only_send(observer.step(net.now, 1, vote_request(candidate=1, epoch=99, voter=3), 1))
    assert resp.message.error_code == ErrorCode.INVALID_VOTER_KEY  # addressed to someone else
    base, effects = leader.append(net.now, ["x"])
    net.apply(leader.node_id, effects)
    net.advance(3000)
    assert observer.leader_id == leader.node_id
    assert observer.log.end_offset == leader.log.end_offset
    assert 4 not in leader.voters
    resp = only_send(leader.step(net.now, 9, m.DescribeQuorumRequest(), 1)).message
    assert [o.replica_id for o in resp.observers] == [4]


# -------------------------------------------------------------------------------- cluster id
@pytest.mark.parametrize("request_", [
    vote_request(cluster="other"),
    m.BeginQuorumEpochRequest(cluster_id="other", voter_id=1, leader_epoch=1, leader_id=2),
    m.EndQuorumEpochRequest(cluster_id="other", leader_epoch=1, leader_id=2),
    m.FetchRequest(cluster_id="other", replica_id=2, max_wait_ms=0, current_leader_epoch=0,
                   fetch_offset=0, last_fetched_epoch=0),
    m.FetchSnapshotRequest(cluster_id="other", replica_id=2, current_leader_epoch=0,
                           snapshot_id=m.SnapshotId(1, 1), position=0, max_bytes=10),
])
def test_a_request_from_another_cluster_is_refused(request_):
    node = make_node(1)
    resp = only_send(node.step(0, 2, request_, 1)).message
    assert resp.error_code == ErrorCode.INCONSISTENT_CLUSTER_ID
    assert node.epoch == 0


# ------------------------------------------------------------------------------------- fetch
def leader_with(records_by_epoch: list[tuple[int, int]], voters=(1, 2, 3)):
    """A node 1 that leads epoch ``records_by_epoch[-1][0]`` with the given (epoch, count) log."""
    log = MemoryRaftLog()
    offset = 0
    for epoch, count in records_by_epoch:
        log.append(tuple(Record(offset + k, epoch, f"e{epoch}-{offset + k}") for k in range(count)))
        offset += count
    log.flush()
    epoch = records_by_epoch[-1][0]
    node = make_node(1, voters=voters, log=log, quorum_state=QuorumStateData(epoch - 1, None, None))
    # Win an election in ``epoch``: grant the pre-votes, then the votes, that it sends.
    effects = node.tick(10_000)
    for granted_epoch in (epoch - 1, epoch):
        requests = [e for e in effects if isinstance(e, Send) and isinstance(e.message, m.VoteRequest)]
        effects = []
        for send in requests:
            effects += node.step(10_000, send.destination, m.VoteResponse(
                leader_id=-1, leader_epoch=granted_epoch, vote_granted=True), send.correlation_id)
    assert node.role.name == "leader" and node.epoch == epoch, node.role
    node.log.flush()  # what the host does with the FlushLog effect
    node.flushed(10_000)
    return node


def fetch(offset, last_epoch, epoch, replica=2, max_wait=0):
    return m.FetchRequest(cluster_id=CLUSTER, replica_id=replica, max_wait_ms=max_wait,
                          current_leader_epoch=epoch, fetch_offset=offset, last_fetched_epoch=last_epoch)


def test_fetch_with_a_diverging_log_gets_the_end_of_the_last_common_epoch():
    leader = leader_with([(1, 3), (3, 2), (5, 1)])  # epoch 1: 0-2, epoch 3: 3-4, epoch 5: 5 + LeaderChange
    resp = only_send(leader.step(10_000, 2, fetch(4, 2, 5), 1)).message
    assert resp.diverging_epoch == m.EpochEndOffset(1, 3)
    resp = only_send(leader.step(10_000, 2, fetch(7, 3, 5), 2)).message
    assert resp.diverging_epoch == m.EpochEndOffset(3, 5)
    resp = only_send(leader.step(10_000, 2, fetch(5, 3, 5), 3)).message
    assert resp.diverging_epoch is None and [r.offset for r in resp.records] == [5, 6]


def test_fetch_from_a_stale_or_future_epoch_is_fenced():
    leader = leader_with([(1, 1), (4, 1)])
    assert only_send(leader.step(10_000, 2, fetch(0, 0, 3), 1)).message.error_code == ErrorCode.FENCED_LEADER_EPOCH
    assert only_send(leader.step(10_000, 2, fetch(0, 0, 5), 2)).message.error_code == ErrorCode.UNKNOWN_LEADER_EPOCH


def log_of(*runs: tuple[int, int, str]) -> MemoryRaftLog:
    """A flushed log of (epoch, count, tag) runs."""
    log = MemoryRaftLog()
    for epoch, count, tag in runs:
        end = log.end_offset
        log.append(tuple(Record(end + k, epoch, f"{tag}{end + k}") for k in range(count)))
    log.flush()
    return log


def test_a_follower_truncates_a_diverging_log_and_catches_up():
    logs = {1: log_of((1, 3, "a"), (3, 2, "b")), 2: log_of((1, 3, "a"), (3, 2, "b")),
            3: log_of((1, 3, "a"), (2, 3, "stale"))}
    state = QuorumStateData(3, None, None)
    net = Net([make_node(i, log=logs[i], quorum_state=state) for i in (1, 2, 3)])
    leader = net.elect()
    assert leader.node_id in (1, 2)  # node 3's log (last epoch 2) is not up to date: no votes
    net.advance(1000)
    diverging = [msg.diverging_epoch for src, dst, msg in net.delivered
                 if dst == 3 and isinstance(msg, m.FetchResponse) and msg.diverging_epoch]
    assert diverging and diverging[0] == m.EpochEndOffset(1, 3)
    values = [r.value for r in logs[3].read(0, 100)]
    assert values == [r.value for r in leader.log.read(0, 100)]
    assert not any(str(v).startswith("stale") for v in values)
    assert net.nodes[3].high_watermark == leader.high_watermark == leader.log.end_offset


def test_high_watermark_waits_for_a_record_of_the_leaders_own_epoch():
    leader = leader_with([(1, 4), (2, 1)])
    # Followers report offset 4 (all old records) but not the LeaderChange at 5: nothing new commits.
    start = leader.role.epoch_start_offset
    leader.step(10_000, 2, fetch(start, 2 if start > 4 else 1, leader.epoch), 1)
    leader.step(10_000, 3, fetch(start, 2 if start > 4 else 1, leader.epoch), 2)
    assert leader.high_watermark is None
    leader.step(10_000, 2, fetch(start + 1, leader.epoch, leader.epoch), 3)
    assert leader.high_watermark == start + 1


# ---------------------------------------------------------------------------------- snapshots
def test_a_follower_behind_the_log_start_fetches_and_installs_the_snapshot():
    config = RaftConfig(max_record_bytes_between_snapshots=64 * 4, snapshot_chunk_bytes=3,
                        request_timeout_ms=1000, retry_backoff_ms=50)
    logs = {i: MemoryRaftLog() for i in (1, 2, 3)}
    writer = {i: (lambda log: (lambda off: str(log.digest_at(off)).encode()))(logs[i]) for i in (1, 2, 3)}
    net = Net([make_node(i, log=logs[i], config=config, snapshot_writer=writer[i]) for i in (1, 2, 3)])
    leader = net.elect()
    lagging = next(i for i in net.nodes if i != leader.node_id)
    net.cut.add(lagging)
    for _ in range(12):
        _, effects = leader.append(net.now, ["v"])
        net.apply(leader.node_id, effects)
        net.advance(100)
    assert leader.log.start_offset > 0 and leader.log.latest_snapshot() is not None
    net.cut.discard(lagging)
    net.advance(3000)
    requests = [msg for src, dst, msg in net.delivered if isinstance(msg, m.FetchSnapshotRequest)]
    assert requests and requests[0].position == 0 and len(requests) > 1  # chunked
    follower = net.nodes[lagging]
    assert follower.log.start_offset >= leader.log.latest_snapshot().end_offset or \
        follower.log.latest_snapshot() is not None
    assert follower.log.end_offset == leader.log.end_offset
    assert follower.log.digest_at(follower.log.end_offset) == leader.log.digest_at(leader.log.end_offset)


def test_fetch_snapshot_of_an_unknown_snapshot_is_refused():
    leader = leader_with([(1, 1), (2, 1)])
    request = m.FetchSnapshotRequest(cluster_id=CLUSTER, replica_id=2, current_leader_epoch=leader.epoch,
                                     snapshot_id=m.SnapshotId(1, 1), position=0, max_bytes=10)
    assert only_send(leader.step(10_000, 2, request, 1)).message.error_code == ErrorCode.SNAPSHOT_NOT_FOUND


# ------------------------------------------------------------------------ resign, restart, admin
def test_graceful_resignation_hands_over_with_end_quorum_epoch():
    net = three_nodes()
    leader = net.elect()
    old_epoch = leader.epoch
    effects = leader.resign(net.now)
    ends = [e.message for e in effects if isinstance(e, Send)]
    assert ends and all(isinstance(msg, m.EndQuorumEpochRequest) for msg in ends)
    assert leader.role.name == "resigned"
    net.apply(leader.node_id, effects)
    net.advance(1500)
    new = net.leader()
    assert new is not None and new.node_id != leader.node_id and new.epoch == old_epoch + 1


def test_restart_from_the_quorum_state():
    assert make_node(1, quorum_state=QuorumStateData(3, 1, 1)).role.name == "resigned"
    follower = make_node(1, quorum_state=QuorumStateData(3, 2, 2))
    assert follower.role.name == "follower" and follower.leader_id == 2 and follower.epoch == 3
    unattached = make_node(1, quorum_state=QuorumStateData(3, 2, None))
    assert unattached.role.name == "unattached" and unattached.quorum_state().voted_id == 2


def test_describe_quorum_on_the_leader_and_elsewhere():
    net = three_nodes()
    leader = net.elect()
    net.advance(600)
    resp = only_send(leader.step(net.now, 9, m.DescribeQuorumRequest(), 1)).message
    assert resp.leader_id == leader.node_id and resp.high_watermark == leader.high_watermark
    assert [v.replica_id for v in resp.current_voters] == [1, 2, 3]
    assert all(v.log_end_offset == leader.log.end_offset for v in resp.current_voters)
    follower = next(n for n in net.nodes.values() if n is not leader)
    resp = only_send(follower.step(net.now, 9, m.DescribeQuorumRequest(), 1)).message
    assert resp.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER and resp.leader_id == leader.node_id


ADMIN = 99


def change_voters(net: Net, leader, request) -> m.Message:
    """Send a voter change to the leader and run until it answers the admin client."""
    net.apply(leader.node_id, leader.step(net.now, ADMIN, request, 500))
    for _ in range(100):
        answers = [send.message for src, send in net.outbox if send.correlation_id == 500]
        if answers:
            net.outbox.clear()
            return answers[0]
        net.advance(50)
    raise AssertionError("no answer")


def add(voter):
    return m.AddRaftVoterRequest(cluster_id=CLUSTER, timeout_ms=1000, voter_id=voter)


def remove(voter):
    return m.RemoveRaftVoterRequest(cluster_id=CLUSTER, voter_id=voter)


def test_an_observer_is_added_as_a_voter_once_caught_up():
    net = Net([make_node(i, voters=(1, 2, 3)) for i in (1, 2, 3, 4)])
    leader = net.elect()
    net.advance(2000)  # the observer finds the leader and catches up
    assert change_voters(net, leader, add(4)).error_code == ErrorCode.NONE
    assert leader.voters == {1, 2, 3, 4}
    net.advance(600)
    assert all(n.voters == {1, 2, 3, 4} for n in net.nodes.values())
    assert net.nodes[4].is_voter
    # Four voters: the leader needs two others now.
    net.cut |= {i for i in (1, 2, 3, 4) if i != leader.node_id} - {4}
    base, effects = leader.append(net.now, ["x"])
    net.apply(leader.node_id, effects)
    net.advance(1000)
    assert leader.high_watermark <= base


def test_removing_the_leader_hands_over_once_committed():
    net = three_nodes()
    leader = net.elect()
    net.advance(600)
    old = leader.node_id
    assert change_voters(net, leader, remove(old)).error_code == ErrorCode.NONE
    assert not leader.is_voter and leader.role.name in ("resigned", "unattached", "follower")
    new = net.elect()
    assert new.node_id != old and new.voters == frozenset({1, 2, 3}) - {old}
    base, effects = new.append(net.now, ["after"])
    net.apply(new.node_id, effects)
    net.advance(1000)
    assert new.high_watermark == base + 1
    assert net.nodes[old].log.end_offset == new.log.end_offset  # it still follows, as an observer


@pytest.mark.parametrize("request_, error", [
    (add(2), ErrorCode.DUPLICATE_VOTER),
    (remove(7), ErrorCode.VOTER_NOT_FOUND),
    (add(7), ErrorCode.REQUEST_TIMED_OUT),  # never fetched: not caught up
])
def test_voter_changes_that_cannot_be_made_are_refused(request_, error):
    net = three_nodes()
    leader = net.elect()
    net.advance(600)
    assert only_send(leader.step(net.now, ADMIN, request_, 1)).message.error_code == error
    assert leader.voters == {1, 2, 3}


def test_one_voter_change_at_a_time_and_only_on_the_leader():
    net = three_nodes()
    leader = net.elect()
    net.advance(600)
    follower = next(n for n in net.nodes.values() if n is not leader)
    resp = only_send(follower.step(net.now, ADMIN, remove(1), 1)).message
    assert resp.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    net.cut |= {i for i in net.nodes if i != leader.node_id}  # the first change cannot commit
    effects = leader.step(net.now, ADMIN, remove(follower.node_id), 2)
    assert not [e for e in effects if isinstance(e, Send) and e.destination == ADMIN]
    resp = only_send([e for e in leader.step(net.now, ADMIN, remove(leader.node_id), 3)
                      if isinstance(e, Send) and e.destination == ADMIN]).message
    assert resp.error_code == ErrorCode.REQUEST_TIMED_OUT
    resp = only_send(leader.step(net.now, ADMIN, m.UpdateRaftVoterRequest(
        cluster_id=CLUSTER, current_leader_epoch=leader.epoch, voter_id=2), 4)).message
    assert resp.error_code == ErrorCode.UNSUPPORTED_VERSION


def test_the_voter_set_comes_from_the_log_and_the_snapshot():
    log = MemoryRaftLog()
    log.append((Record(0, 1, "a"), Record(1, 1, m.VotersRecord((1, 2, 3, 4)), control=True)))
    log.flush()
    assert make_node(1, log=log).voters == {1, 2, 3, 4}
    log.truncate_to(1)  # an uncommitted change that is truncated goes away
    assert make_node(1, log=log).voters == {1, 2, 3}
    other = MemoryRaftLog()
    other.install_snapshot(m.SnapshotId(5, 2), b"voters=2,3,5\n42")
    assert make_node(5, log=other).voters == {2, 3, 5} and make_node(5, log=other).is_voter


def test_quorum_state_file_is_kafkas_json():
    state = QuorumStateData(leader_epoch=7, voted_id=2, leader_id=None)
    text = state.to_json({3, 1, 2})
    assert text == ('{"leaderId":-1,"leaderEpoch":7,"votedId":2,"appliedOffset":0,'
                    '"currentVoters":[{"voterId":1},{"voterId":2},{"voterId":3}],"data_version":1}')
    assert QuorumStateData.from_json(text) == state
    kafka_v0 = ('{"clusterId":"","leaderId":3,"leaderEpoch":12,"votedId":-1,"appliedOffset":0,'
                '"currentVoters":[{"voterId":1},{"voterId":2},{"voterId":3}],"data_version":0}')
    assert QuorumStateData.from_json(kafka_v0) == QuorumStateData(12, None, 3)


@pytest.mark.parametrize("text", ["", "{}", "[1]", '{"leaderId":"x","leaderEpoch":1,"votedId":-1}'])
def test_a_malformed_quorum_state_file_is_a_clear_error(text):
    with pytest.raises(ValueError, match="malformed quorum-state"):
        QuorumStateData.from_json(text)


def test_config_from_kafkas_property_names():
    config = RaftConfig.from_properties({"controller.quorum.election.timeout.ms": "1500",
                                         "controller.quorum.fetch.timeout.ms": 3000, "other": "x"})
    assert (config.election_timeout_ms, config.fetch_timeout_ms) == (1500, 3000)
    assert config.election_backoff_max_ms == 1000 and config.request_timeout_ms == 2000
    with pytest.raises(ValueError, match="controller.quorum.fetch.timeout.ms"):
        RaftConfig.from_properties({"controller.quorum.fetch.timeout.ms": "soon"})
    with pytest.raises(ValueError, match="positive"):
        RaftConfig.from_properties({"controller.quorum.election.timeout.ms": 0})


def test_responses_that_answer_no_request_in_flight_are_ignored():
    """A late, duplicated or mismatched response (same correlation id, another API: a restarted
    peer reuses ids) changes nothing."""
    net = three_nodes()
    leader = net.elect()
    net.advance(600)
    follower = next(n for n in net.nodes.values() if n is not leader)
    (key, inflight), = [(k, f) for k, f in follower._inflight.items() if k[0] == leader.node_id]
    before = (follower.role, follower.log.end_offset, follower.high_watermark)
    bogus = m.FetchSnapshotResponse(snapshot_id=m.SnapshotId(99, 9), size=3, position=0,
                                    unaligned_records=b"abc",
                                    current_leader=m.LeaderIdAndEpoch(leader.node_id, leader.epoch))
    assert follower.step(net.now, leader.node_id, bogus, inflight.correlation_id) == []
    late = m.FetchResponse(current_leader=m.LeaderIdAndEpoch(leader.node_id, leader.epoch),
                           high_watermark=1000)
    assert follower.step(net.now, leader.node_id, late, inflight.correlation_id + 1000) == []
    assert (follower.role, follower.log.end_offset, follower.high_watermark) == before


def test_a_lone_voter_campaigns_at_once_and_commits_once_flushed():
    import random

    from strom.raft.core import FlushLog, PersistQuorumState, RaftNode
    from strom.raft.state import Leader

    log = MemoryRaftLog()
    node = RaftNode(1, {1}, log, cluster_id=CLUSTER, now=100, rng=random.Random(0))
    assert node.next_deadline() == 100  # no election timeout: nobody else could lead
    effects = node.tick(100)
    assert isinstance(node.role, Leader) and node.epoch == 1
    assert any(isinstance(e, PersistQuorumState) for e in effects) and isinstance(effects[-1], FlushLog)
    assert node.high_watermark is None  # the LeaderChange record is not durable yet
    log.flush()
    node.flushed(100)
    assert node.high_watermark == 1
