"""``RaftHost``: runs a sans-io ``RaftNode`` on the event loop.

The host owns the node and its log. It steps the node with arriving messages (``receive``), its
timers (``run``, on the injected Scheduler) and appends (``append``), and carries out the effects
the node returns strictly **in order**, one at a time:

* ``PersistQuorumState``: ``QuorumStateStore.write`` on a worker thread (it fsyncs);
* ``FlushLog``: the log's fsync on a worker thread (``flush_plan``/``flush_done`` when the log has
  them, so the loop may keep appending meanwhile), then ``node.flushed``; flushes queued behind
  one another are done by one fsync;
* ``Send``: ``Channel.send``, which must not block (it queues).

Whatever a step returns while an effect is in progress waits behind it, so a message that depends
on a persist or a flush never leaves before it is durable.

Commits: whenever the node's high watermark moves, the host reads the newly committed records
from the log and calls every commit listener with them (in offset order, each record once), then
completes the ``append`` calls they cover. ``append`` returns the offset of its last record once
committed; it raises NotController when this node is not the leader, or loses the leadership
before the records commit (their fate is then unknown, as in Kafka).

Without ``run``, the host does no timer work: a lone voter still elects itself (at construction)
and commits through ``append`` alone, which drains the effects itself.

Ownership: one host per node, on one event loop; ``run`` is a task of the owner's TaskGroup.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from strom.errors import ErrorCode, KafkaError
from strom.raft import messages as m
from strom.raft.core import Effect, FlushLog, NotLeader, PersistQuorumState, QuorumStateData, RaftNode, Send
from strom.raft.messages import Record
from strom.util.clock import Scheduler

log = logging.getLogger(__name__)

T = TypeVar("T")
CommitListener = Callable[[tuple[Record, ...]], None]
BlockingRunner = Callable[..., Awaitable[Any]]


class NotController(KafkaError):
    code = ErrorCode.NOT_CONTROLLER


class Channel(Protocol):
    """How a host reaches its peers. ``send`` queues and returns at once; the message reaches the
    destination host's ``receive`` (or is lost: raft retries)."""

    def send(self, source: int, destination: int, message: m.Message, correlation_id: int) -> None: ...


class QuorumStateStore(Protocol):
    def write(self, state: QuorumStateData, voters: frozenset[int]) -> None:
        """Durably replace the quorum state (blocking: called on a worker thread)."""


class MemoryQuorumStateStore:
    """A QuorumStateStore in memory (tests; the state survives a simulated crash of its host)."""

    def __init__(self) -> None:
        self.state: QuorumStateData | None = None

    def write(self, state: QuorumStateData, voters: frozenset[int]) -> None:
        self.state = state


class LoopbackNetwork:
    """In-process Channel: delivers each message on a later loop turn to the registered host.
    ``down`` nodes neither send nor receive (a crashed or isolated node)."""

    def __init__(self) -> None:
        self.hosts: dict[int, RaftHost] = {}
        self.down: set[int] = set()

    def register(self, host: RaftHost) -> None:
        self.hosts[host.node.node_id] = host

    def send(self, source: int, destination: int, message: m.Message, correlation_id: int) -> None:
        asyncio.get_running_loop().call_soon(self._deliver, source, destination, message, correlation_id)

    def _deliver(self, source: int, destination: int, message: m.Message, correlation_id: int) -> None:
        host = self.hosts.get(destination)
        if host is None or source in self.down or destination in self.down:
            return
        host.receive(source, message, correlation_id)


async def _inline(fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


run_inline: BlockingRunner = _inline
"""A runner for blocking work that calls it on the loop: for in-memory logs in tests."""


class RaftHost:
    def __init__(self, node: RaftNode, *, scheduler: Scheduler, channel: Channel,
                 quorum_state: QuorumStateStore, committed_offset: int | None = None,
                 run_blocking: BlockingRunner = asyncio.to_thread) -> None:
        """``committed_offset``: records below it are already applied by the listeners' owner
        (start-up replay); notifications start there (default: the log start)."""
        self.node = node
        self.log = node.log
        self.scheduler = scheduler
        self.channel = channel
        self.quorum_state = quorum_state
        self.run_blocking = run_blocking
        self._delivered = node.log.start_offset if committed_offset is None else committed_offset
        self._effects: deque[Effect] = deque()
        self._drain_lock = asyncio.Lock()
        self._listeners: list[CommitListener] = []
        self._waiters: list[tuple[int, int, asyncio.Future[int]]] = []  # (last offset, epoch, future)
        self._wake: asyncio.Future[None] | None = None
        self._closed = False
        self._effects.extend(node.tick(self._now()))

    # ------------------------------------------------------------------------------ public
    @property
    def leader_id(self) -> int | None:
        return self.node.leader_id

    @property
    def epoch(self) -> int:
        return self.node.epoch

    @property
    def is_leader(self) -> bool:
        return self.node.leader_id == self.node.node_id

    @property
    def high_watermark(self) -> int | None:
        return self.node.high_watermark

    def add_listener(self, listener: CommitListener) -> None:
        """Call ``listener(records)`` with every record committed from now on, in order."""
        self._listeners.append(listener)

    async def append(self, values: Sequence[object]) -> int:
        """Append ``values`` as one run of records; the offset of the last once committed."""
        if self._closed:
            raise NotController("the raft host is closed")
        try:
            first, effects = self.node.append(self._now(), list(values))
        except NotLeader as exc:
            raise NotController(str(exc)) from None
        last = first + len(values) - 1
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append((last, self.node.epoch, future))
        self._push(effects)
        await self._drain()
        return await future

    def receive(self, source: int, message: m.Message, correlation_id: int) -> None:
        """A message from ``source`` (called by the Channel on the loop)."""
        if self._closed:
            return
        self._push(self.node.step(self._now(), source, message, correlation_id))

    async def run(self) -> None:
        """Fire the node's timers and carry out effects until ``close`` (or cancellation)."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await self._drain()
            if self._closed:
                break
            if self._effects:
                continue
            delay = max(0, self.node.next_deadline() - self._now())
            wake: asyncio.Future[None] = loop.create_future()
            self._wake = wake
            timer = self.scheduler.call_later(delay / 1000, _set, wake)
            try:
                await wake
            finally:
                timer.cancel()
                self._wake = None
            if not self._closed:
                self._push(self.node.tick(self._now()))

    def close(self) -> None:
        """Stop: no more steps, appends fail, ``run`` returns."""
        self._closed = True
        self._fail_waiters("the raft host closed")
        if self._wake is not None:
            _set(self._wake)

    async def resign(self) -> None:
        """Hand leadership over (graceful shutdown) and send what that takes."""
        self._push(self.node.resign(self._now()))
        await self._drain()

    # ---------------------------------------------------------------------------- internals
    def _now(self) -> int:
        return self.scheduler.now_ms()

    def _push(self, effects: list[Effect]) -> None:
        if effects:
            self._effects.extend(effects)
        self._after_step()
        if self._effects and self._wake is not None:
            _set(self._wake)

    async def _drain(self) -> None:
        """Carry out queued effects in order until none is left (one drainer at a time)."""
        async with self._drain_lock:
            while self._effects and not self._closed:
                effect = self._effects.popleft()
                if isinstance(effect, Send):
                    self.channel.send(self.node.node_id, effect.destination, effect.message,
                                      effect.correlation_id)
                elif isinstance(effect, PersistQuorumState):
                    await self.run_blocking(self.quorum_state.write, effect.state, self.node.voters)
                elif isinstance(effect, FlushLog):
                    while self._effects and isinstance(self._effects[0], FlushLog):
                        self._effects.popleft()  # one fsync covers every flush queued behind it
                    await self._flush()
                    if not self._closed:
                        self._push(self.node.flushed(self._now()))

    async def _flush(self) -> None:
        plan_of = getattr(self.log, "flush_plan", None)
        if plan_of is None:
            await self.run_blocking(self.log.flush)
            return
        plan = plan_of()
        if plan is not None:
            self.log.flush_done(await self.run_blocking(plan))  # type: ignore[attr-defined]

    def _after_step(self) -> None:
        hw = self.node.high_watermark
        if hw is not None and hw > self._delivered:
            self._deliver(hw)
        if self._waiters:
            leading = self.node.epoch if self.is_leader else None
            lost = [w for w in self._waiters if w[1] != leading]
            if lost:
                self._waiters = [w for w in self._waiters if w[1] == leading]
                for _, _, future in lost:
                    if not future.done():
                        future.set_exception(NotController(f"node {self.node.node_id} lost the leadership"))

    def _deliver(self, hw: int) -> None:
        offset = max(self._delivered, self.log.start_offset)
        while offset < hw:
            records = self.log.read(offset, hw - offset)  # one run: a commit reaches listeners whole
            if not records:
                break
            for listener in self._listeners:
                try:
                    listener(records)
                except Exception:  # a listener's bug must not stop the quorum
                    log.exception("commit listener failed")
            offset = records[-1].offset + 1
        self._delivered = hw
        done = [w for w in self._waiters if w[0] < hw]
        self._waiters = [w for w in self._waiters if w[0] >= hw]
        for last, epoch, future in done:
            if not future.done():
                future.set_result(last)

    def _fail_waiters(self, reason: str) -> None:
        waiters, self._waiters = self._waiters, []
        for _, _, future in waiters:
            if not future.done():
                future.set_exception(NotController(reason))


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
