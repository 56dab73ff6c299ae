"""The client listener: accepts TCP connections and runs each in the server's TaskGroup.

``max.connections`` and ``max.connections.per.ip`` are enforced at accept: a
connection beyond a limit is closed at once, before any buffer is allocated for it.
"""
from __future__ import annotations

import asyncio
import logging
import socket

from strom.server.connection import Dispatch, KafkaConnection

log = logging.getLogger(__name__)


class KafkaListener:
    def __init__(self, dispatcher: Dispatch, task_group: asyncio.TaskGroup, *,
                 max_frame_bytes: int, max_connections: int, max_connections_per_ip: int = 2**31 - 1) -> None:
        self._dispatcher = dispatcher
        self._tg = task_group
        self._max_frame_bytes = max_frame_bytes
        self._max_connections = max_connections
        self._max_per_ip = max_connections_per_ip
        self._connections: set[KafkaConnection] = set()
        self._per_ip: dict[str, int] = {}
        self._server: asyncio.base_events.Server | None = None
        dispatcher.services.metrics.connection_count = lambda: len(self._connections)  # the scrape reads it

    def _new_connection(self) -> asyncio.BaseProtocol:
        if len(self._connections) >= self._max_connections:
            log.warning("max.connections (%d) reached; refusing a connection", self._max_connections)
            return _Refuse()
        conn = KafkaConnection(self._dispatcher, self._tg.create_task, self._max_frame_bytes, self._closed,
                               admit=self._admit)
        self._connections.add(conn)
        return conn

    def _admit(self, conn: KafkaConnection) -> bool:
        """Called by the connection once its peer address is known; False refuses it."""
        host = conn.peer_host
        if self._per_ip.get(host, 0) >= self._max_per_ip:
            log.warning("max.connections.per.ip (%d) reached for %s; refusing a connection", self._max_per_ip, host)
            self._connections.discard(conn)
            return False
        self._per_ip[host] = self._per_ip.get(host, 0) + 1
        conn.admitted = True
        return True

    def _closed(self, conn: KafkaConnection) -> None:
        if conn in self._connections and conn.admitted:
            self._connections.discard(conn)
            left = self._per_ip.get(conn.peer_host, 1) - 1
            if left > 0:
                self._per_ip[conn.peer_host] = left
            else:
                self._per_ip.pop(conn.peer_host, None)

    async def start(self, host: str, port: int, *, serve: bool = True) -> tuple[str, int]:
        """Bind (and listen unless ``serve`` is False: then ``start_serving`` opens the door later, as
        Kafka binds its sockets before the broker registers but serves requests only after);
        returns the bound (host, port) — port 0 picks a free one."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_connection, host or None, port,
                                                reuse_address=True, backlog=1024, start_serving=serve)
        for sock in self._server.sockets:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def start_serving(self) -> None:
        """Accept connections on the socket bound by ``start(..., serve=False)``."""
        if self._server is not None:
            await self._server.start_serving()

    async def close_idle(self, max_idle_ms: int) -> None:
        """Close connections with no request for ``connections.max.idle.ms`` (runs until cancelled)."""
        interval = max(0.05, min(max_idle_ms / 4000, 10.0))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for conn in list(self._connections):
                if now - conn.last_active > max_idle_ms / 1000:
                    log.info("closing idle connection from %s:%s", conn.peer_host, conn.peer_port)
                    conn.close()

    async def stop(self) -> None:
        """Stop accepting and close every connection."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except (TimeoutError, asyncio.TimeoutError):
                pass

    @property
    def connection_count(self) -> int:
        return len(self._connections)


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()
