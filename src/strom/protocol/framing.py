"""Size-bounded decoding of Kafka's length-prefixed frames (sans-io).

Wire format: every request and response is ``int32 size`` followed by ``size``
bytes.  ``FrameBuffer`` owns one growable receive buffer for a connection and
hands out complete frames.  A frame whose declared size is negative or larger
than ``max_frame_bytes`` (Kafka's ``socket.request.max.bytes``) raises
``FrameTooLarge`` *before* any memory is allocated for it.

It is shaped for ``asyncio.BufferedProtocol``: ``get_buffer`` returns a
writable view of the free space, ``buffer_updated`` records what the kernel
wrote, and ``frames`` yields each complete frame as ``bytes``.
"""
from __future__ import annotations

from collections.abc import Iterator

_MIN_FREE = 64 * 1024


class FrameTooLarge(Exception):
    """The peer announced a frame larger than allowed (or a negative size)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame size {size} is negative" if size < 0 else
                         f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class FrameBuffer:
    def __init__(self, max_frame_bytes: int, initial_bytes: int = 256 * 1024) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray(initial_bytes)
        self._start = 0  # first unconsumed byte
        self._end = 0  # end of received data
        self._need = 0  # bytes needed for the frame being received (0 = unknown)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
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
        self._end += nbytes

    def feed(self, data: bytes) -> None:
        """Copy ``data`` in (for tests and non-buffered transports)."""
        view = self.get_buffer(len(data))
        view[: len(data)] = data
        self.buffer_updated(len(data))

    def frames(self) -> Iterator[bytes]:
        """Yield every complete frame; raise FrameTooLarge on a bad size prefix."""
        buf = self._buf
        while self._end - self._start >= 4:
            start = self._start
            size = int.from_bytes(buf[start:start + 4], "big", signed=True)
            if size < 0 or size > self.max_frame_bytes:
                raise FrameTooLarge(size, self.max_frame_bytes)
            if self._end - start - 4 < size:
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

    @property
    def pending_bytes(self) -> int:
        return self._end - self._start
