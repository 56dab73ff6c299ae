"""The HTTP side port (``strom.http.host``:``strom.http.port``): ``GET /metrics`` for Prometheus.

A deliberately small HTTP/1.1 server on the broker's event loop, not a framework:
one GET (or HEAD) per connection, answered with ``Connection: close``.  Why not a
library: prometheus_client's own server runs in a thread, where a scrape would read
loop-owned broker state unsafely; aiohttp would be a large dependency for one
route.  The admin REST API and the console may bring one in later.

Routes: ``/metrics`` (Prometheus text format 0.0.4, or OpenMetrics when the Accept
header asks for it; gzip when accepted), ``/`` (a short index).  Anything else: 404;
other methods: 405.

Bounds on hostile input: the request head must arrive within ``REQUEST_TIMEOUT_S``
and fit in ``MAX_HEAD_BYTES`` (else 408 / 431 and close); a connection lives at most
``CONNECTION_TIMEOUT_S``; at most ``MAX_CONNECTIONS`` are open (more are closed at
accept).  The request body, if any, is ignored.

Concurrency: ``prepare`` runs on the loop before each scrape (the broker collector
copies loop-owned state there); collecting, rendering and compressing run on a
worker thread.  Every response task belongs to
the node's TaskGroup; the listening socket closes when the serving task is cancelled.
"""
from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 8192
REQUEST_TIMEOUT_S = 10.0
CONNECTION_TIMEOUT_S = 60.0
MAX_CONNECTIONS = 64

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            431: "Request Header Fields Too Large", 500: "Internal Server Error"}
_INDEX = b"Strom broker. Prometheus metrics: /metrics\n"


class HttpServer:
    """Serves ``registry`` (anything with ``collect()``) over HTTP; see the module docstring.
    ``prepare`` is called on the loop before each scrape, ``registry.collect()`` on a worker thread."""

    def __init__(self, registry: Any, task_group: asyncio.TaskGroup,
                 prepare: Callable[[], None] = lambda: None) -> None:
        self.registry = registry
        self._prepare = prepare
        self._tg = task_group
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_HttpConnection] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind and listen; returns the bound (host, port) — port 0 picks a free one."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _HttpConnection(self), host or None, port,
                                                reuse_address=True)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def serve(self) -> None:
        """Run until cancelled (the node's shutdown), then close the socket and every connection."""
        try:
            await asyncio.Event().wait()
        finally:
            self.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()

    def _spawn(self, conn: "_HttpConnection", method: str, target: str, headers: dict[str, str]) -> None:
        try:
            self._tg.create_task(self._respond(conn, method, target, headers))
        except RuntimeError:  # the TaskGroup is shutting down
            conn.close()

    async def _respond(self, conn: "_HttpConnection", method: str, target: str, headers: dict[str, str]) -> None:
        try:
            status, content_type, body, extra = await self._route(method, target, headers)
        except Exception:
            log.exception("HTTP %s %s failed", method, target)
            status, content_type, body, extra = 500, "text/plain; charset=utf-8", b"internal error\n", {}
        conn.send(status, content_type, b"" if method == "HEAD" else body, len(body), extra)

    async def _route(self, method: str, target: str, headers: dict[str, str]
                     ) -> tuple[int, str, bytes, dict[str, str]]:
        text = "text/plain; charset=utf-8"
        if method not in ("GET", "HEAD"):
            return 405, text, b"only GET and HEAD\n", {"Allow": "GET, HEAD"}
        path = target.split("?", 1)[0]
        if path == "/":
            return 200, text, _INDEX, {}
        if path != "/metrics":
            return 404, text, b"not found; metrics are at /metrics\n", {}
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        use_gzip = "gzip" in headers.get("accept-encoding", "")
        self._prepare()  # on the loop: what reads broker state

        def render() -> bytes:
            data = encoder(self.registry)
            return gzip.compress(data, 1) if use_gzip else data
        body = await asyncio.to_thread(render)
        return 200, content_type, body, {"Content-Encoding": "gzip"} if use_gzip else {}


class _HttpConnection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._request_seen = False
        self._timers: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        if len(self._server._connections) >= MAX_CONNECTIONS:
            log.warning("HTTP side port: %d connections open; refusing one", MAX_CONNECTIONS)
            transport.close()
            return
        self._server._connections.add(self)
        loop = asyncio.get_running_loop()
        self._timers = [loop.call_later(REQUEST_TIMEOUT_S, self._request_timeout),
                        loop.call_later(CONNECTION_TIMEOUT_S, self.abort)]

    def data_received(self, data: bytes) -> None:
        if self._request_seen:
            return  # a body or a pipelined request: ignored, the connection closes after the answer
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            end = self._buffer.find(b"\n\n")
        if end < 0 or end > MAX_HEAD_BYTES:
            if len(self._buffer) > MAX_HEAD_BYTES:
                self._error(431, "request head too large")
            return
        self._request_seen = True
        self._timers[0].cancel()
        head = bytes(self._buffer[:end]).decode("latin-1")
        self._buffer.clear()
        lines = head.replace("\r\n", "\n").split("\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
            self._error(400, "malformed request line")
            return
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        self._server._spawn(self, parts[0], parts[1], headers)

    def _request_timeout(self) -> None:
        self._error(408, "no complete request in time")

    def _error(self, status: int, message: str) -> None:
        self._request_seen = True
        body = (message + "\n").encode()
        self.send(status, "text/plain; charset=utf-8", body, len(body), {})

    def send(self, status: int, content_type: str, body: bytes, length: int, extra: dict[str, str]) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        head = [f"HTTP/1.1 {status} {_REASONS[status]}", f"Content-Type: {content_type}",
                f"Content-Length: {length}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in extra.items()]
        self._transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        self._transport.close()  # after the buffered bytes are sent

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once, unsent bytes too (a client that does not read)."""
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self._timers:
            timer.cancel()
        self._server._connections.discard(self)
