"""The client listener: accepts TCP connections and runs each in the server's TaskGroup.

``max.connections`` is enforced at accept: a connection beyond the limit is
closed at once, before any buffer is allocated for it.
"""
from __future__ import annotations

import asyncio
import logging
import socket

from strom.server.connection import KafkaConnection
from strom.server.dispatcher import Dispatcher

log = logging.getLogger(__name__)


class KafkaListener:
    def __init__(self, dispatcher: Dispatcher, task_group: asyncio.TaskGroup, *,
                 max_frame_bytes: int, max_connections: int) -> None:
        self._dispatcher = dispatcher
        self._tg = task_group
        self._max_frame_bytes = max_frame_bytes
        self._max_connections = max_connections
        self._connections: set[KafkaConnection] = set()
        self._server: asyncio.base_events.Server | None = None

    def _new_connection(self) -> asyncio.BaseProtocol:
        conn = KafkaConnection(self._dispatcher, self._tg.create_task, self._max_frame_bytes,
                               self._connections.discard)
        if len(self._connections) >= self._max_connections:
            log.warning("max.connections (%d) reached; refusing a connection", self._max_connections)
            return _Refuse()
        self._connections.add(conn)
        return conn

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind and listen; returns the bound (host, port) — port 0 picks a free one."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_connection, host or None, port,
                                                reuse_address=True, backlog=1024)
        for sock in self._server.sockets:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

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
