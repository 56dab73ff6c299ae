"""A loss-free, instant network for unit tests of the raft core: messages are delivered in order
when ``pump`` is called, effects are carried out as the simulator does (persist, flush, send)."""
from __future__ import annotations

import random
from collections import deque

from strom.raft.core import FlushLog, PersistQuorumState, QuorumStateData, RaftConfig, RaftNode, Send
from strom.raft.log import MemoryRaftLog

CLUSTER = "test-cluster"
CONFIG = RaftConfig(request_timeout_ms=1000, retry_backoff_ms=50, fetch_max_records=4,
                    snapshot_chunk_bytes=4)


def make_node(node_id: int, voters=(1, 2, 3), *, now: int = 0, seed: int = 0, log=None,
              config: RaftConfig = CONFIG, **kwargs) -> RaftNode:
    return RaftNode(node_id, frozenset(voters), log if log is not None else MemoryRaftLog(),
                    cluster_id=CLUSTER, now=now, rng=random.Random(seed * 100 + node_id),
                    config=config, **kwargs)


class Net:
    def __init__(self, nodes: list[RaftNode]) -> None:
        self.nodes = {n.node_id: n for n in nodes}
        self.queue: deque[tuple[int, Send]] = deque()
        self.persisted: dict[int, QuorumStateData] = {}
        self.now = 0
        self.cut: set[int] = set()  # nodes whose messages are dropped both ways
        self.delivered: list[tuple[int, int, object]] = []
        self.outbox: list[tuple[int, Send]] = []  # messages to ids that are not nodes

    def apply(self, i: int, effects: list) -> None:
        node = self.nodes[i]
        k = 0
        while k < len(effects):
            effect = effects[k]
            if isinstance(effect, Send):
                self.queue.append((i, effect))
            elif isinstance(effect, PersistQuorumState):
                self.persisted[i] = effect.state
            elif isinstance(effect, FlushLog):
                node.log.flush()
                effects.extend(node.flushed(self.now))
            k += 1

    def pump(self, limit: int = 10_000) -> None:
        while self.queue and limit:
            limit -= 1
            src, send = self.queue.popleft()
            if src in self.cut or send.destination in self.cut:
                continue
            if send.destination not in self.nodes:  # an admin client, say
                self.outbox.append((src, send))
                continue
            dest = self.nodes[send.destination]
            self.delivered.append((src, send.destination, send.message))
            self.apply(dest.node_id, dest.step(self.now, src, send.message, send.correlation_id))

    def advance(self, ms: int, step: int = 10) -> None:
        """Move the clock forward ``ms`` in ``step`` increments, ticking and pumping each time."""
        end = self.now + ms
        while self.now < end:
            self.now = min(end, self.now + step)
            for i, node in self.nodes.items():
                if node.next_deadline() <= self.now:
                    self.apply(i, node.tick(self.now))
            self.pump()

    def leader(self) -> RaftNode | None:
        leaders = [n for n in self.nodes.values() if n.role.name == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def elect(self, within_ms: int = 10_000) -> RaftNode:
        end = self.now + within_ms
        while self.now < end:
            self.advance(50)
            leader = self.leader()
            if leader is not None and all(
                    n.leader_id == leader.node_id for i, n in self.nodes.items() if i not in self.cut):
                return leader
        raise AssertionError("no leader elected")
