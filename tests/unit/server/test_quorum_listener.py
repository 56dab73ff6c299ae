"""Three raft hosts on the file log, each behind a real controller listener (KafkaListener with
the QuorumDispatcher on 127.0.0.1:0), talking Kafka's KRaft RPCs over TCP through NetworkChannel:
they elect a leader, commit, lose the leader without losing a committed record; DescribeQuorum
from a plain Strom client; a broker API on the controller listener closes the connection."""
import asyncio
import functools
import random
from pathlib import Path

import pytest

from strom.client.errors import ClientError
from strom.client.peer import PeerClient
from strom.raft.core import RaftConfig, RaftNode
from strom.raft.file_log import FileRaftLog, QuorumStateFile
from strom.raft.host import NotController, RaftHost
from strom.raft.messages import Record
from strom.raft.network import NetworkChannel
from strom.server.listener import KafkaListener
from strom.server.quorum_listener import QuorumDispatcher
from strom.util.clock import SYSTEM_CLOCK

VOTERS = frozenset({1, 2, 3})
CONFIG = RaftConfig(election_timeout_ms=150, fetch_timeout_ms=600, election_backoff_max_ms=150,
                    request_timeout_ms=500, fetch_max_wait_ms=100)


def run(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 60), debug=False)
    return wrapper


async def until(predicate, timeout: float = 20) -> None:
    """Wait for ``predicate()`` with a deadline (checked between short loop pauses)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


class Member:
    def __init__(self, node_id: int, root: Path, tg: asyncio.TaskGroup) -> None:
        self.node_id = node_id
        self.dir = root / f"node{node_id}" / "__cluster_metadata-0"
        self.tg = tg
        self.channel = NetworkChannel({}, tg, request_timeout_ms=CONFIG.request_timeout_ms)
        self.listener = KafkaListener(QuorumDispatcher(self.channel), tg, max_frame_bytes=1 << 24,
                                      max_connections=100)
        self.committed: list[Record] = []
        self.host: RaftHost | None = None
        self.address: tuple[str, int] | None = None

    async def listen(self) -> None:
        self.address = await self.listener.start("127.0.0.1", 0)

    def start(self, peers: dict[int, tuple[str, int]]) -> None:
        self.channel.peers = {n: a for n, a in peers.items() if n != self.node_id}
        log = FileRaftLog(self.dir, SYSTEM_CLOCK, clean=True)
        store = QuorumStateFile(self.dir)
        node = RaftNode(self.node_id, VOTERS, log, cluster_id="c", now=SYSTEM_CLOCK.now_ms(),
                        rng=random.Random(self.node_id), config=CONFIG, quorum_state=store.read())
        self.host = RaftHost(node, scheduler=SYSTEM_CLOCK, channel=self.channel, quorum_state=store)
        self.host.add_listener(self.committed.extend)
        self.channel.attach(self.host)
        self.tg.create_task(self.host.run())

    async def stop(self) -> None:
        assert self.host is not None
        self.host.close()
        await self.listener.stop()
        await self.channel.aclose()
        self.host.log.close()


def values(records: list[Record]) -> list[object]:
    return [r.value for r in records if not r.control]


def holds(records: list[Record], run: list[object]) -> bool:
    """Whether the data values of ``records`` hold ``run`` contiguously."""
    got = values(records)
    return any(got[i:i + len(run)] == run for i in range(len(got) - len(run) + 1))


async def append(leader, run: list[object]) -> int:
    """Append through whoever leads; an election in between fails the append: try the next leader
    (the failed run may still commit: the checks look for the run, not an exact log)."""
    while True:
        await until(lambda: leader() is not None)
        try:
            async with asyncio.timeout(10):
                return await leader().host.append(run)
        except NotController:
            continue


@run
async def test_three_voters_over_tcp_elect_commit_and_survive_the_leader(tmp_path):
    async with asyncio.TaskGroup() as tg:
        members = {n: Member(n, tmp_path, tg) for n in sorted(VOTERS)}
        for member in members.values():
            await member.listen()
        peers = {n: member.address for n, member in members.items()}
        for member in members.values():
            member.start(peers)

        def leader(among=members):
            """The leader every member of ``among`` follows, once all know the high watermark."""
            ids = {m.host.leader_id for m in among.values()}
            ready = all(m.host.high_watermark is not None for m in among.values())
            return among.get(ids.pop()) if len(ids) == 1 and ready else None

        one = [(b"k", b"1"), (b"k", b"2")]
        await append(leader, one)
        await until(lambda: all(holds(m.committed, one) for m in members.values()))

        await until(lambda: leader() is not None)  # an election may have happened meanwhile
        first = leader()
        async with PeerClient(first.address) as client:  # DescribeQuorum from an ordinary client
            described = await client.send(55, {"topics": [{"topic_name": "__cluster_metadata",
                                                           "partitions": [{"partition_index": 0}]}]})
        partition = described.topics[0].partitions[0]
        if partition.error_code == 0:  # else it resigned in between; it names who it knows
            assert partition.leader_id == first.node_id and partition.high_watermark >= 3
            assert sorted(v.replica_id for v in partition.current_voters) == sorted(VOTERS)
        else:
            assert partition.leader_id != first.node_id

        await first.stop()  # the leader goes away
        rest = {n: m for n, m in members.items() if m is not first}
        await until(lambda: leader(rest) is not None)
        assert leader(rest).host.epoch > first.host.epoch
        two = [(b"k", b"3")]
        await append(lambda: leader(rest), two)
        await until(lambda: all(holds(m.committed, two) for m in rest.values()))
        for member in rest.values():  # nothing committed was lost, on either survivor
            assert holds(list(member.host.log.read(0, 1000)), one)
        for member in rest.values():
            await member.stop()


@run
async def test_a_broker_api_on_the_controller_listener_closes_the_connection(tmp_path):
    async with asyncio.TaskGroup() as tg:
        member = Member(1, tmp_path, tg)
        await member.listen()
        member.start({1: member.address})
        async with PeerClient(member.address) as client:
            conn = await client.connect()
            assert 52 in conn.peer_versions and 0 not in conn.peer_versions  # Vote yes, Produce no
            assert conn.peer_versions[1][0] == 12
            with pytest.raises(ClientError):
                await conn._request(3, 12, {"topics": []}, 5)  # Metadata: not served here
        await member.stop()
