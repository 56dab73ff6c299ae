"""Size-bounded decoding of Kafka's length-prefixed frames (sans-io).

Wire format: every request and response is ``int32 size`` followed by ``size``
bytes.  ``FrameBuffer`` owns one growable receive buffer for a connection and
hands out complete frames.  A frame whose declared size is negative or larger
than ``max_frame_bytes`` (Kafka's ``socket.request.max.bytes``) raises
``FrameTooLarge`` *before* any memory is allocated for it.

It is shaped for ``asyncio.BufferedProtocol``: ``get_buffer`` returns a
writable view of the free space, ``buffer_updated`` records what the kernel
wrote, and ``frames`` yields each complete frame.

Small frames are yielded as ``bytes`` copied out of the receive buffer.  A
frame of ``large_frame_bytes`` or more (a produce request, say) is received
straight into a buffer of its own taken from a ``BufferPool``, and yielded as
a read-only memoryview of it, so its megabyte is never copied in user space.
The caller calls ``reclaim()`` after handling frames; a large frame's buffer
goes back to the pool once nothing references it any more (no view of it,
including slices, is alive), so a handler that keeps a slice is safe: that
buffer is simply not reused.  Everything here runs on the event-loop thread.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator

_MIN_FREE = 64 * 1024
LARGE_FRAME_BYTES = 64 * 1024


class FrameTooLarge(Exception):
    """The peer announced a frame larger than allowed (or a negative size)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame size {size} is negative" if size < 0 else
                         f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class BufferPool:
    """Reusable bytearrays for large frames, in power-of-two sizes up to ``max_pooled_bytes``
    (bigger frames get a buffer of their exact size, never kept); at most ``max_idle_bytes`` are
    kept idle.  Reusing them keeps the memory warm: a fresh megabyte costs page faults and
    zeroing on every request."""

    def __init__(self, max_idle_bytes: int = 32 << 20, max_pooled_bytes: int = 4 << 20) -> None:
        self.max_idle_bytes = max_idle_bytes
        self.max_pooled_bytes = max_pooled_bytes
        self.idle_bytes = 0
        self._free: dict[int, list[bytearray]] = {}

    def take(self, size: int) -> bytearray:
        """A buffer of at least ``size`` bytes (its contents are stale)."""
        if size > self.max_pooled_bytes:
            return bytearray(size)
        capacity = 1 << max(size - 1, 1).bit_length()
        free = self._free.get(capacity)
        if free:
            self.idle_bytes -= capacity
            return free.pop()
        return bytearray(capacity)

    def give(self, buf: bytearray) -> None:
        if len(buf) <= self.max_pooled_bytes and self.idle_bytes + len(buf) <= self.max_idle_bytes:
            self._free.setdefault(len(buf), []).append(buf)
            self.idle_bytes += len(buf)


SHARED_POOL = BufferPool()


class FrameBuffer:
    def __init__(self, max_frame_bytes: int, initial_bytes: int = 256 * 1024, *,
                 large_frame_bytes: int = LARGE_FRAME_BYTES, pool: BufferPool | None = None) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.large_frame_bytes = large_frame_bytes
        self._pool = pool if pool is not None else SHARED_POOL
        self._buf = bytearray(initial_bytes)
        self._start = 0  # first unconsumed byte
        self._end = 0  # end of received data
        self._need = 0  # bytes needed for the frame being received (0 = unknown)
        self._large: bytearray | None = None  # the large frame being received, if any
        self._large_size = 0
        self._large_filled = 0
        self._lent: list[bytearray] = []  # buffers of large frames handed out

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        if self._large is not None and self._large_filled < self._large_size:
            return memoryview(self._large)[self._large_filled:self._large_size]
        want = max(_MIN_FREE, sizehint, self._need - (self._end - self._start))
        if len(self._buf) - self._end < want:
            self._compact(want)
        return memoryview(self._buf)[self._end:]

    def _compact(self, want: int) -> None:
        pending = self._end - self._start
        size = len(self._buf)
        if pending + want > size:
            size = max(size * 2, pending + want)
        if size != len(self._buf):
            new = bytearray(size)
            new[:pending] = self._buf[self._start:self._end]
            self._buf = new
        else:
            self._buf[:pending] = self._buf[self._start:self._end]
        self._start, self._end = 0, pending

    def buffer_updated(self, nbytes: int) -> None:
        if self._large is not None and self._large_filled < self._large_size:
            self._large_filled += nbytes
        else:
            self._end += nbytes

    def feed(self, data: bytes) -> None:
        """Copy ``data`` in (for tests and non-buffered transports)."""
        while data:
            view = self.get_buffer(len(data))
            n = min(len(view), len(data))
            view[:n] = data[:n]
            self.buffer_updated(n)
            data = data[n:]

    def frames(self) -> Iterator[bytes | memoryview]:
        """Yield every complete frame; raise FrameTooLarge on a bad size prefix."""
        if self._large is not None:
            if self._large_filled < self._large_size:
                return
            yield self._lend()
        buf = self._buf
        while self._end - self._start >= 4:
            start = self._start
            size = int.from_bytes(buf[start:start + 4], "big", signed=True)
            if size < 0 or size > self.max_frame_bytes:
                raise FrameTooLarge(size, self.max_frame_bytes)
            have = self._end - start - 4
            if size >= self.large_frame_bytes:
                # its own buffer: what has arrived is copied once, the rest is received into it
                self._large = self._pool.take(size)
                self._large_size = size
                self._large_filled = min(have, size)
                self._large[:self._large_filled] = buf[start + 4:start + 4 + self._large_filled]
                self._start = start + 4 + self._large_filled
                self._need = 0
                if self._large_filled < size:
                    break
                yield self._lend()
                buf = self._buf
                continue
            if have < size:
                self._need = size + 4
                break
            self._need = 0
            self._start = start + 4 + size
            yield bytes(buf[start + 4:self._start])
            buf = self._buf
        if self._start == self._end:
            self._start = self._end = 0
            if len(self._buf) > 4 * 1024 * 1024:  # give back memory after a huge frame
                self._buf = bytearray(256 * 1024)

    def _lend(self) -> memoryview:
        large, size = self._large, self._large_size
        assert large is not None
        self._large = None
        self._lent.append(large)
        return memoryview(large)[:size].toreadonly()

    def reclaim(self) -> None:
        """Return to the pool the buffers of large frames that nothing references any more."""
        if not self._lent:
            return
        still_used = []
        for buf in self._lent:
            # references: the list, the loop variable, getrefcount's argument; a live view adds one
            if sys.getrefcount(buf) > 3:
                still_used.append(buf)
            else:
                self._pool.give(buf)
        self._lent = still_used

    @property
    def pending_bytes(self) -> int:
        return self._end - self._start + (self._large_filled if self._large is not None else 0)
