"""RaftHost on a virtual clock and the in-process loopback channel: election, commit, a leader
crash; a lone voter on the file log commits through append alone."""
import asyncio
import functools
import random

import pytest

from strom.errors import ErrorCode
from strom.raft.core import RaftConfig, RaftNode
from strom.raft.file_log import FileRaftLog, QuorumStateFile
from strom.raft.host import LoopbackNetwork, MemoryQuorumStateStore, NotController, RaftHost, run_inline
from strom.raft.log import MemoryRaftLog
from strom.raft.messages import LeaderChangeRecord, Record
from strom.util.clock import VirtualScheduler

VOTERS = frozenset({1, 2, 3})


def run(fn):
    """Run an async test on a fresh loop in debug mode, with a real-time safety net."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30), debug=True)
    return wrapper


class Cluster:
    def __init__(self, scheduler: VirtualScheduler, tg: asyncio.TaskGroup, seed: int = 1) -> None:
        self.scheduler = scheduler
        self.tg = tg
        self.rng = random.Random(seed)
        self.net = LoopbackNetwork()
        self.logs = {n: MemoryRaftLog() for n in VOTERS}
        self.states = {n: MemoryQuorumStateStore() for n in VOTERS}
        self.committed: dict[int, list[Record]] = {n: [] for n in VOTERS}
        self.hosts: dict[int, RaftHost] = {}
        self.tasks: dict[int, asyncio.Task] = {}
        for n in sorted(VOTERS):
            self.start(n)

    def start(self, n: int) -> None:
        node = RaftNode(n, VOTERS, self.logs[n], cluster_id="c", now=self.scheduler.now_ms(),
                        rng=random.Random(self.rng.random()), config=RaftConfig(),
                        quorum_state=self.states[n].state)
        host = RaftHost(node, scheduler=self.scheduler, channel=self.net, quorum_state=self.states[n],
                        run_blocking=run_inline)
        self.committed[n] = []
        host.add_listener(self.committed[n].extend)
        self.hosts[n] = host
        self.net.register(host)
        self.net.down.discard(n)
        self.tasks[n] = self.tg.create_task(host.run())

    def crash(self, n: int) -> None:
        self.net.down.add(n)
        self.hosts[n].close()
        self.logs[n].lose_unflushed()

    def leader(self) -> RaftHost | None:
        live = [h for n, h in self.hosts.items() if n not in self.net.down and h.is_leader]
        return live[0] if len(live) == 1 and live[0].high_watermark is not None else None

    async def append(self, host: RaftHost, values: list) -> int:
        task = self.tg.create_task(host.append(values))
        await self.scheduler.run_until(task.done, timeout_ms=60_000)
        return task.result()

    def stop(self) -> None:
        for host in self.hosts.values():
            host.close()


def data(records: list[Record]) -> list[object]:
    return [r.value for r in records if not r.control]


@run
async def test_three_hosts_elect_commit_and_survive_a_leader_crash():
    scheduler = VirtualScheduler()
    async with asyncio.TaskGroup() as tg:
        cluster = Cluster(scheduler, tg)
        await scheduler.run_until(lambda: cluster.leader() is not None, timeout_ms=60_000)
        first = cluster.leader()
        assert first is not None
        offset = await cluster.append(first, ["a", "b"])
        assert data(first.log.read(offset - 1, 2)) == ["a", "b"]
        await scheduler.run_until(lambda: all(data(c) == ["a", "b"] for c in cluster.committed.values()),
                                  timeout_ms=60_000)
        followers = [h for h in cluster.hosts.values() if h is not first]
        with pytest.raises(NotController) as err:
            await followers[0].append(["nope"])
        assert err.value.code == ErrorCode.NOT_CONTROLLER

        old = first.node.node_id
        cluster.crash(old)
        await scheduler.run_until(lambda: cluster.leader() is not None, timeout_ms=60_000)
        second = cluster.leader()
        assert second is not None and second.node.node_id != old and second.epoch > first.epoch
        await cluster.append(second, ["c"])
        assert data(second.log.read(0, 100)) == ["a", "b", "c"]  # nothing committed was lost

        cluster.start(old)  # the crashed node comes back as a follower and catches up
        await scheduler.run_until(lambda: data(cluster.logs[old].read(0, 100)) == ["a", "b", "c"]
                                  and cluster.hosts[old].high_watermark == second.high_watermark,
                                  timeout_ms=60_000)
        assert cluster.hosts[old].leader_id == second.node.node_id
        cluster.stop()


@run
async def test_an_append_fails_with_not_controller_when_the_leader_loses_its_majority():
    scheduler = VirtualScheduler()
    async with asyncio.TaskGroup() as tg:
        cluster = Cluster(scheduler, tg, seed=5)
        await scheduler.run_until(lambda: cluster.leader() is not None, timeout_ms=60_000)
        leader = cluster.leader()
        assert leader is not None
        cluster.net.down.update(VOTERS - {leader.node.node_id})  # isolate the leader
        outcome: list[BaseException | int] = []

        async def append() -> None:
            try:
                outcome.append(await leader.append(["lost?"]))
            except NotController as exc:
                outcome.append(exc)

        tg.create_task(append())
        await scheduler.run_until(lambda: bool(outcome), timeout_ms=60_000)
        assert isinstance(outcome[0], NotController) and not leader.is_leader
        cluster.stop()


@run
async def test_a_lone_voter_on_files_elects_itself_and_commits_without_timers(tmp_path):
    scheduler = VirtualScheduler()
    d = tmp_path / "__cluster_metadata-0"

    def open_host() -> RaftHost:
        log = FileRaftLog(d, scheduler, clean=True)
        store = QuorumStateFile(d)
        node = RaftNode(1, {1}, log, cluster_id="c", now=scheduler.now_ms(), rng=random.Random(0),
                        quorum_state=store.read())
        return RaftHost(node, scheduler=scheduler, channel=LoopbackNetwork(), quorum_state=store)

    host = open_host()
    assert host.is_leader and host.epoch == 1  # no election timeout to wait for
    seen: list[Record] = []
    host.add_listener(seen.extend)
    assert await host.append([(b"k", b"1")]) == 1  # offset 0 is the LeaderChange record
    assert await host.append([(b"k", b"2"), (b"k", b"3")]) == 3
    assert [r.value for r in seen] == [LeaderChangeRecord(1, (1,), (1,)), (b"k", b"1"), (b"k", b"2"), (b"k", b"3")]
    host.close()
    host.log.close()

    again = open_host()
    assert again.epoch == 2 and again.is_leader
    assert await again.append([(b"k", b"4")]) == 5
    assert [r.value for r in again.log.read(0, 10) if not r.control] == [(b"k", b"1"), (b"k", b"2"), (b"k", b"3"),
                                                                       (b"k", b"4")]
    again.close()
    again.log.close()
