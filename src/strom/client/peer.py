"""Reconnecting clients: ``PeerClient`` for one address, ``NodeClient`` for node id -> address.

``PeerClient.send(api_key, data, version=None, timeout=...)`` is the narrow interface other
layers use (raft's Channel will be wired to it).  It opens its ``Connection`` lazily on the
first send and again after the connection failed.  Connection attempts follow Kafka's
``reconnect.backoff.ms`` / ``reconnect.backoff.max.ms`` (see ``ExponentialBackoff``): after
a failed attempt or a lost connection the next attempt waits the current backoff; a successful
connection resets it.  A send makes at most one connection attempt: it waits for the backoff
first when that ends before its deadline, and fails at once with ``ConnectionFailed`` (naming the
last error) when it does not.  Concurrent sends share one attempt.  Requests are never retried:
a request whose connection fails raises ``ConnectionFailed`` and the caller decides.

Task ownership: every task (one reader task per open connection) is created in a TaskGroup.
Pass ``tg=`` to put them in the owner's group (a node's); the client must then be closed with
``aclose()`` before that group ends.  Without ``tg``, use the client as ``async with``: it owns
a TaskGroup for its lifetime, and leaving the block closes every connection, fails the requests
in flight with ``ConnectionFailed`` and waits for the reader tasks.  A closed client refuses
new requests.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from strom.client.backoff import ExponentialBackoff
from strom.client.connection import (
    DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT_S, Connection,
)
from strom.client.errors import ClientError, ConnectionFailed, UnknownNode


class _TaskGroupOwner:
    """A TaskGroup borrowed (``tg=``) or owned for the ``async with`` block."""

    def __init__(self, tg: asyncio.TaskGroup | None) -> None:
        self._tg = tg
        self._own_tg: asyncio.TaskGroup | None = None
        self._closed = False

    @property
    def task_group(self) -> asyncio.TaskGroup:
        if self._tg is None:
            raise RuntimeError(f"{type(self).__name__} needs tg= or 'async with' before use")
        return self._tg

    async def __aenter__(self):  # noqa: ANN204 - returns self's type
        if self._tg is None:
            self._own_tg = asyncio.TaskGroup()
            self._tg = await self._own_tg.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self.aclose()
        finally:
            if self._own_tg is not None:
                own, self._own_tg = self._own_tg, None
                await own.__aexit__(*exc_info)

    async def aclose(self) -> None:
        raise NotImplementedError


class PeerClient(_TaskGroupOwner):
    """Requests to one peer; see the module docstring."""

    def __init__(self, address: tuple[str, int], *, tg: asyncio.TaskGroup | None = None,
                 client_id: str | None = "strom", max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
                 backoff: ExponentialBackoff | None = None) -> None:
        super().__init__(tg)
        self.address = address
        self.client_id = client_id
        self.max_response_bytes = max_response_bytes
        self.connect_timeout = connect_timeout
        self.backoff = backoff if backoff is not None else ExponentialBackoff()
        self.connects = 0  # successful connections so far (a reconnect makes it 2)
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()
        self._attempts = 0
        self._next_attempt = 0.0  # loop time before which no connection attempt is made
        self._last_error: ClientError | None = None

    @property
    def where(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    @property
    def connection(self) -> Connection | None:
        """The open connection, if any (its ``versions`` are the negotiated ones)."""
        conn = self._conn
        return conn if conn is not None and not conn.closed else None

    async def send(self, api_key: int, data: Mapping[str, Any] | Any, version: int | None = None, *,
                   timeout: float = DEFAULT_REQUEST_TIMEOUT_S) -> Any:
        """One request; returns the decoded response entity.  ``timeout`` (seconds) bounds the
        wait for a connection and the answer together."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = await self._connected(deadline)
        return await conn.send(api_key, data, version, timeout=max(deadline - loop.time(), 0.0))

    async def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> Connection:
        """The open connection, connecting now (one attempt, after any backoff) if there is none."""
        return await self._connected(asyncio.get_running_loop().time() + timeout)

    async def _connected(self, deadline: float) -> Connection:
        if self._closed:
            raise ConnectionFailed(f"client for {self.where} is closed")
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        attempts = self._attempts
        async with self._lock:
            conn = self._conn
            if conn is not None and not conn.closed:
                return conn
            if self._attempts != attempts and self._last_error is not None:
                raise type(self._last_error)(self._last_error.message)  # we waited on that attempt
            if conn is not None:  # a connection was lost: back off before reconnecting
                self._conn = None
                self._next_attempt = asyncio.get_running_loop().time() + self.backoff.failed() / 1000
            return await self._attempt(deadline)

    async def _attempt(self, deadline: float) -> Connection:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next_attempt > deadline:
            last = f" ({self._last_error.message})" if self._last_error is not None else ""
            raise ConnectionFailed(f"{self.where} is unreachable{last}; next connection attempt in "
                                   f"{(self._next_attempt - now) * 1000:.0f} ms")
        if self._next_attempt > now:
            await asyncio.sleep(self._next_attempt - now)
        if self._closed:
            raise ConnectionFailed(f"client for {self.where} is closed")
        self._attempts += 1
        timeout = max(min(self.connect_timeout, deadline - loop.time()), 0.0)
        try:
            conn = await Connection.open(self.address[0], self.address[1], tg=self.task_group,
                                         client_id=self.client_id, max_response_bytes=self.max_response_bytes,
                                         timeout=timeout)
        except ClientError as exc:
            self._last_error = exc
            self._next_attempt = loop.time() + self.backoff.failed() / 1000
            raise
        self.backoff.reset()
        self._last_error = None
        self.connects += 1
        if self._closed:  # closed while connecting
            await conn.aclose()
            raise ConnectionFailed(f"client for {self.where} is closed")
        self._conn = conn
        return conn

    async def aclose(self) -> None:
        """Close the connection (requests in flight fail with ``ConnectionFailed``) and refuse new ones."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose(f"client for {self.where} closed")


class NodeClient(_TaskGroupOwner):
    """``PeerClient``s by node id, created on first use from the address map.

    ``set_nodes`` replaces the map (as a broker learns addresses from metadata); a node whose
    address changed or that disappeared has its connection closed.  Keyword arguments other than
    ``tg`` are passed to every ``PeerClient``.
    """

    def __init__(self, nodes: Mapping[int, tuple[str, int]] | None = None, *, tg: asyncio.TaskGroup | None = None,
                 **peer_options: Any) -> None:
        super().__init__(tg)
        self._nodes: dict[int, tuple[str, int]] = dict(nodes or {})
        self._peers: dict[int, PeerClient] = {}
        self._peer_options = peer_options

    @property
    def nodes(self) -> dict[int, tuple[str, int]]:
        return dict(self._nodes)

    def set_nodes(self, nodes: Mapping[int, tuple[str, int]]) -> None:
        self._nodes = dict(nodes)
        for node_id, peer in list(self._peers.items()):
            if self._nodes.get(node_id) != peer.address:
                del self._peers[node_id]
                self.task_group.create_task(peer.aclose(), name=f"strom-client-close node {node_id}")

    def peer(self, node_id: int) -> PeerClient:
        """The client for ``node_id``; ``UnknownNode`` when its address is not known."""
        if self._closed:
            raise ConnectionFailed("node client is closed")
        peer = self._peers.get(node_id)
        if peer is None:
            address = self._nodes.get(node_id)
            if address is None:
                raise UnknownNode(f"no address known for node {node_id}")
            peer = self._peers[node_id] = PeerClient(address, tg=self.task_group, **self._peer_options)
        return peer

    async def send(self, node_id: int, api_key: int, data: Mapping[str, Any] | Any, version: int | None = None, *,
                   timeout: float = DEFAULT_REQUEST_TIMEOUT_S) -> Any:
        return await self.peer(node_id).send(api_key, data, version, timeout=timeout)

    async def aclose(self) -> None:
        self._closed = True
        peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            await peer.aclose()
