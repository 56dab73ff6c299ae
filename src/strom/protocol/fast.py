"""Hand-written codecs for the hottest path (Produce), equal to the generic codec.

``decode_produce_request`` reads a ProduceRequest body without copying the
record sets: each partition's ``records`` is a read-only memoryview slice of
the request frame, so a 1 MB produce is never copied in user space before
its ``pwrite``.  It raises ``DecodeError`` exactly where the codec would
(truncation, a count larger than the bytes left).  Callers must not keep the
views after the request is handled: the frame's buffer is reused.

ProduceRequest layout: v3-v8 classic, v9+ flexible (tagged-field sections,
all skipped: the schema has none); transactional_id, acks, timeout_ms, then
topics (name, or topic_id from v13) with partitions (index, records).

The response encoders write the generic codec's bytes with ``struct``.

The generic codec builds a kio dataclass per entity and writes it through a
Python writer per field; at tens of thousands of small produce requests a
second that shows in profiles.  These encoders write the same bytes with
``struct`` directly.  tests/unit/protocol/test_fast.py checks byte equality
against ``codec.encode_response`` for every served version.

ProduceResponse layout: v3-v8 classic (int16-length strings, int32 array
counts); v9+ flexible (compact strings/arrays as unsigned varints of n+1,
an empty tagged-field section after every struct); v13 names topics by id.
Fields: v5+ log_start_offset, v8+ record_errors and error_message.  The
tagged fields current_leader / node_endpoints (v10+) are left at their
defaults, i.e. not written.
"""
from __future__ import annotations

import datetime
import struct
import uuid
from collections.abc import Sequence
from typing import NamedTuple

from strom.protocol.codec import DecodeError, encode_length, encode_string, read_uvarint, skip_tagged_fields

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_PART_V3 = struct.Struct(">ihqq")  # index, error, base_offset, log_append_time
_PART_V5 = struct.Struct(">ihqqq")  # + log_start_offset
_ACKS_TIMEOUT = struct.Struct(">hi")
_ZERO_UUID = uuid.UUID(int=0)


class ProducePartitionData(NamedTuple):
    index: int
    records: memoryview | None


class ProduceTopicData(NamedTuple):
    name: str | None
    topic_id: uuid.UUID | None
    partition_data: tuple[ProducePartitionData, ...]


class ProduceRequestData(NamedTuple):
    """The fields the codec's ProduceRequest has, under the same names."""
    transactional_id: str | None
    acks: int
    timeout: datetime.timedelta
    topic_data: tuple[ProduceTopicData, ...]


class _Reader:
    """Bounds-checked cursor over a read-only request body."""
    __slots__ = ("buf", "pos", "flexible")

    def __init__(self, buf: memoryview, pos: int, flexible: bool) -> None:
        self.buf, self.pos, self.flexible = buf, pos, flexible

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if n < 0 or end > len(self.buf):
            raise DecodeError(f"malformed ProduceRequest: {n} bytes wanted at {self.pos}, "
                              f"{len(self.buf) - self.pos} left")
        view = self.buf[self.pos:end]
        self.pos = end
        return view

    def unpack(self, fmt: struct.Struct) -> tuple[int, ...]:
        return fmt.unpack(self.take(fmt.size))

    def length(self, classic: struct.Struct) -> int:
        """A nullable length or count: -1 for null."""
        if self.flexible:
            n, self.pos = read_uvarint(self.buf, self.pos)
            return n - 1
        return self.unpack(classic)[0]

    def count(self, min_item_bytes: int) -> int:
        n = self.length(_I32)
        if n < 0:
            raise DecodeError("malformed ProduceRequest: null array")
        if n * min_item_bytes > len(self.buf) - self.pos:  # bound before allocating anything
            raise DecodeError(f"malformed ProduceRequest: {n} entries cannot fit in {len(self.buf) - self.pos} bytes")
        return n

    def string(self) -> str | None:
        n = self.length(_I16)
        return None if n < 0 else str(self.take(n), "utf-8")

    def tagged_fields(self) -> None:
        if self.flexible:
            self.pos = skip_tagged_fields(self.buf, self.pos)


def decode_produce_request(version: int, frame: bytes | memoryview, offset: int) -> ProduceRequestData:
    """The ProduceRequest body (v3-v13) starting at ``offset``; records are views of ``frame``."""
    view = memoryview(frame)
    if not view.readonly:
        view = view.toreadonly()
    r = _Reader(view, offset, version >= 9)
    topic_id: uuid.UUID | None
    try:
        transactional_id = r.string()
        acks, timeout_ms = r.unpack(_ACKS_TIMEOUT)
        topics: list[ProduceTopicData] = []
        for _ in range(r.count(2)):
            if version >= 13:
                raw_id = bytes(r.take(16))
                topic_id = None if raw_id == _ZERO_UUID.bytes else uuid.UUID(bytes=raw_id)  # as the codec
                name = None
            else:
                name, topic_id = r.string(), None
            partitions: list[ProducePartitionData] = []
            for _ in range(r.count(5)):
                (index,) = r.unpack(_I32)
                size = r.length(_I32)
                partitions.append(ProducePartitionData(index, None if size < 0 else r.take(size)))
                r.tagged_fields()
            r.tagged_fields()
            topics.append(ProduceTopicData(name, topic_id, tuple(partitions)))
        r.tagged_fields()
    except UnicodeDecodeError as exc:
        raise DecodeError(f"malformed ProduceRequest v{version}: {exc}") from None
    return ProduceRequestData(transactional_id, acks, datetime.timedelta(milliseconds=timeout_ms), tuple(topics))


# Request decoders by API key: (version, frame, body offset) -> request.  They are for large
# frames only (framing.LARGE_FRAME_BYTES and up, the ones received into pooled buffers): parsing in
# Python costs ~4 us a request where kio's native decoder takes ~0.7 us and copies the records,
# which pays off from tens of KB (a 1 MB produce: 31 us with kio, 5 us here).
REQUEST_DECODERS = {0: decode_produce_request}


class PartitionResult(NamedTuple):
    index: int
    error_code: int
    base_offset: int
    log_append_time: int
    log_start_offset: int
    error_message: str | None = None


def _nullable_string(s: str | None, flexible: bool) -> bytes:
    if s is None:
        return b"\x00" if flexible else b"\xff\xff"
    return encode_string(s, flexible)


def encode_produce_response(correlation_id: int, version: int,
                            topics: Sequence[tuple[str, uuid.UUID | None, Sequence[PartitionResult]]],
                            throttle_time_ms: int = 0) -> bytes:
    """A complete size-prefixed ProduceResponse frame (response header v0, or v1 for v9+)."""
    flexible = version >= 9
    out = [b"", _I32.pack(correlation_id)]
    if flexible:
        out.append(b"\x00")
    out.append(encode_length(len(topics), flexible))
    for name, topic_id, partitions in topics:
        if version >= 13:
            out.append((topic_id or uuid.UUID(int=0)).bytes)
        else:
            out.append(encode_string(name, flexible))
        out.append(encode_length(len(partitions), flexible))
        for p in partitions:
            if version >= 5:
                out.append(_PART_V5.pack(p.index, p.error_code, p.base_offset, p.log_append_time, p.log_start_offset))
            else:
                out.append(_PART_V3.pack(p.index, p.error_code, p.base_offset, p.log_append_time))
            if version >= 8:
                out.append(encode_length(0, flexible))  # record_errors
                out.append(_nullable_string(p.error_message, flexible))
            if flexible:
                out.append(b"\x00")
        if flexible:
            out.append(b"\x00")
    out.append(_I32.pack(throttle_time_ms))
    if flexible:
        out.append(b"\x00")
    body = b"".join(out)
    return _I32.pack(len(body)) + body
