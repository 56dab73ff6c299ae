"""Hand-written FetchResponse encoder (v4-v18) that never copies record data.

``encode_fetch_response`` returns the complete size-prefixed frame as a list
of buffers whose concatenation equals the generic codec's bytes
(``codec.encode_response`` of the same data; tests/unit/protocol/
test_fast_fetch.py checks it byte for byte for every version).  Each
partition's non-empty ``records`` object is an element of that list as-is,
the same object, so a 1 MB read from the log reaches the socket without a
user-space copy; everything between two record sets (partition fields, the
next partition's or topic's header, tagged-field bytes) is packed into one
small ``bytes``.  Callers must keep the record buffers valid until the
frame is written.

Frame: int32 size, correlation_id, for v12+ (flexible) an empty header
tagged-field section (response header v1), then the body:

    throttle_time_ms int32, [v7+ error_code int16, session_id int32],
    responses: [topic name (v4-v12) | topic_id uuid (v13+),
                partitions: [index int32, error_code int16,
                             high_watermark int64, last_stable_offset int64,
                             [v5+ log_start_offset int64],
                             aborted_transactions: nullable [producer_id int64,
                                                             first_offset int64],
                             [v11+ preferred_read_replica int32],
                             records: nullable bytes]]
    [v12+ tagged fields]

v4-v11 are classic (int16-length strings, int32 counts and byte lengths,
-1 for null).  v12+ are flexible: compact strings, arrays and bytes carry an
unsigned varint of n+1 (0 for null), and every struct (aborted transaction,
partition, topic, the body) ends with a tagged-field section.  The tagged
fields (partition diverging_epoch / current_leader / snapshot_id from v12,
top-level node_endpoints from v16) are never set, so each section is the
single byte 0.  v14-v18 add nothing to the response itself.  A null topic_id
is written as the zero UUID, like the codec.

Like the codec, aborted_transactions defaults to an empty array, not null:
pass ``None`` explicitly for read_uncommitted answers.
"""
from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from typing import NamedTuple

from strom.protocol.codec import encode_length, encode_string

_I32 = struct.Struct(">i")
_TOP_V4 = struct.Struct(">i")  # throttle_time_ms
_TOP_V7 = struct.Struct(">ihi")  # + error_code, session_id
_PART_V4 = struct.Struct(">ihqq")  # index, error_code, high_watermark, last_stable_offset
_PART_V5 = struct.Struct(">ihqqq")  # + log_start_offset
_ABORTED = struct.Struct(">qq")  # producer_id, first_offset
_ZERO_UUID = bytes(16)

MIN_VERSION, MAX_VERSION = 4, 18


class FetchPartition(NamedTuple):
    index: int
    error_code: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    records: bytes | memoryview | None  # whole stored batches, passed through untouched; None is null
    aborted_transactions: Sequence[tuple[int, int]] | None = ()  # (producer_id, first_offset)
    preferred_read_replica: int = -1


def encode_fetch_response(correlation_id: int, version: int,
                          topics: Sequence[tuple[str, uuid.UUID | None, Sequence[FetchPartition]]],
                          *, throttle_time_ms: int = 0, error_code: int = 0,
                          session_id: int = 0) -> list[bytes | memoryview]:
    """A complete size-prefixed FetchResponse frame as buffers; record sets are included uncopied."""
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ValueError(f"FetchResponse v{version} is not supported")
    flexible, by_id = version >= 12, version >= 13
    tags = b"\x00" if flexible else b""  # an empty tagged-field section
    out: list[bytes | memoryview] = []
    size = 0
    buf = bytearray(_I32.pack(correlation_id))
    buf += tags
    buf += _TOP_V7.pack(throttle_time_ms, error_code, session_id) if version >= 7 else _TOP_V4.pack(throttle_time_ms)
    buf += encode_length(len(topics), flexible)
    for name, topic_id, partitions in topics:
        if by_id:
            buf += _ZERO_UUID if topic_id is None else topic_id.bytes
        else:
            buf += encode_string(name, flexible)
        buf += encode_length(len(partitions), flexible)
        for p in partitions:
            if version >= 5:
                buf += _PART_V5.pack(p.index, p.error_code, p.high_watermark, p.last_stable_offset, p.log_start_offset)
            else:
                buf += _PART_V4.pack(p.index, p.error_code, p.high_watermark, p.last_stable_offset)
            aborted = p.aborted_transactions
            if aborted is None:
                buf += encode_length(-1, flexible)
            else:
                buf += encode_length(len(aborted), flexible)
                for producer_id, first_offset in aborted:
                    buf += _ABORTED.pack(producer_id, first_offset)
                    buf += tags
            if version >= 11:
                buf += _I32.pack(p.preferred_read_replica)
            records = p.records
            if records is None:
                buf += encode_length(-1, flexible)
            else:
                n = records.nbytes if isinstance(records, memoryview) else len(records)
                buf += encode_length(n, flexible)
                if n:
                    out.append(bytes(buf))
                    out.append(records)
                    size += len(buf) + n
                    buf.clear()
            buf += tags  # partition
        buf += tags  # topic
    buf += tags  # body
    out.append(bytes(buf))
    size += len(buf)
    out[0] = _I32.pack(size) + out[0]
    return out
