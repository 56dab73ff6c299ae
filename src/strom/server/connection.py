"""One client connection: frame decoding, in-order request processing, flow control.

Ownership: a ``KafkaConnection`` is created by the listener on the event loop
and owned by it.  Frames are decoded with a size-bounded ``FrameBuffer``
(``socket.request.max.bytes``; a larger frame closes the connection before
anything is allocated for it).  Requests are processed one at a time in
arrival order by the connection's task, which belongs to the server's
TaskGroup — like Kafka, which handles one request per connection at a time,
so responses always leave in request order.

Large frames arrive in pooled buffers (see ``FrameBuffer``); the task hands
them back after each request.

Backpressure: reading pauses while ``_MAX_QUEUED`` frames or ``_MAX_QUEUED_BYTES``
wait (so a pipelining client holds at most that much, plus the frame being
received, of the broker's memory), and
the task waits for the transport to drain when writing is paused.

Responses to pipelined requests are coalesced: they are written with one
send when no more frames are queued (one syscall for many small produce
responses), before a request that may park (``_MAY_PARK``), or past 1 MiB.
"""
from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from strom.protocol.framing import FrameBuffer, FrameTooLarge

log = logging.getLogger(__name__)

_MAX_QUEUED = 64
_MAX_QUEUED_BYTES = 16 << 20
_MAX_PENDING_BYTES = 1 << 20
# APIs whose handlers may park for long (long-poll Fetch, JoinGroup, SyncGroup): responses already
# computed are written before one of these is dispatched, so they do not wait behind it.
_MAY_PARK = frozenset({1, 11, 14})


class CloseConnection(Exception):
    """Raised by the dispatcher to close the connection (Kafka's answer to bad input)."""


# A response frame: bytes, or a list of buffers that together make the frame (written with
# writev, so large record sets are not copied).
Response = bytes | list[bytes | memoryview]
Dispatch = Callable[["KafkaConnection", bytes | memoryview], Awaitable[Response | None]]


class KafkaConnection(asyncio.BufferedProtocol):
    def __init__(self, dispatch: Dispatch, spawn: Callable[[Any], Any], max_frame_bytes: int,
                 on_close: Callable[["KafkaConnection"], None],
                 admit: Callable[["KafkaConnection"], bool] | None = None) -> None:
        self._dispatch = dispatch
        self._admit = admit
        self.admitted = admit is None
        self.last_active = 0.0
        self._spawn = spawn
        self._on_close = on_close
        self._frames: collections.deque[bytes | memoryview] = collections.deque()
        self._buffer = FrameBuffer(max_frame_bytes)
        self._wakeup: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._closed = False
        self._reading_paused = False
        self._queued_bytes = 0
        self.transport: asyncio.Transport | None = None
        self.peer_host = "unknown"
        self.peer_port = 0

    # -------------------------------------------------------------- protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer_host, self.peer_port = peer[0], peer[1]
        self.last_active = asyncio.get_running_loop().time()
        if self._admit is not None and not self._admit(self):
            self._closed = True
            transport.close()
            return
        self._spawn(self._run())

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self._buffer.buffer_updated(nbytes)
        self.last_active = self._loop_time()
        try:
            for frame in self._buffer.frames():
                self._frames.append(frame)
                self._queued_bytes += len(frame)
        except FrameTooLarge as exc:
            log.warning("closing connection from %s:%s: %s", self.peer_host, self.peer_port, exc)
            self.close()
            return
        if self._frames:
            if ((len(self._frames) >= _MAX_QUEUED or self._queued_bytes >= _MAX_QUEUED_BYTES)
                    and not self._reading_paused and self.transport):
                self._reading_paused = True
                self.transport.pause_reading()
            self._wake()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._on_close(self)

    def pause_writing(self) -> None:
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    # -------------------------------------------------------------- request loop
    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def close(self) -> None:
        if self.transport is not None and not self._closed:
            self._closed = True
            self.transport.close()
            self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        pending: list[bytes | memoryview] = []
        pending_bytes = 0
        try:
            while not self._closed:
                if not self._frames:
                    if pending:
                        await self._write(pending)
                        pending, pending_bytes = [], 0
                        continue
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                    continue
                frame = self._frames.popleft()
                self._queued_bytes -= len(frame)
                if (self._reading_paused and len(self._frames) < _MAX_QUEUED // 2
                        and self._queued_bytes < _MAX_QUEUED_BYTES // 2 and self.transport):
                    self._reading_paused = False
                    self.transport.resume_reading()
                if pending and len(frame) >= 2 and int.from_bytes(frame[:2], "big") in _MAY_PARK:
                    await self._write(pending)
                    pending, pending_bytes = [], 0
                try:
                    response = await self._dispatch(self, frame)
                    del frame  # a large frame's buffer is reused once nothing refers to it
                    self._buffer.reclaim()
                except CloseConnection as exc:
                    if pending:
                        await self._write(pending)
                    log.info("closing connection from %s:%s: %s", self.peer_host, self.peer_port, exc)
                    self.close()
                    return
                if isinstance(response, bytes):
                    pending.append(response)
                    pending_bytes += len(response)
                elif response is not None:
                    pending += response
                    pending_bytes += sum(map(len, response))
                if pending_bytes >= _MAX_PENDING_BYTES:
                    await self._write(pending)
                    pending, pending_bytes = [], 0
        except asyncio.CancelledError:
            self.close()
            raise
        except Exception:
            log.exception("unexpected error on connection from %s:%s; closing it", self.peer_host, self.peer_port)
            self.close()

    async def _write(self, buffers: list[bytes | memoryview]) -> None:
        if self._closed or self.transport is None:
            return
        if len(buffers) == 1:
            self.transport.write(buffers[0])
        else:
            self.transport.writelines(buffers)  # one writev, no join
        if self._drained is not None and not self._drained.done():
            await self._drained
