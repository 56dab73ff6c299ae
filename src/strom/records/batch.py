"""Kafka record batches, magic v2: header view, validation, offset patching, building, decoding.

Layout of a batch (big-endian), the 61-byte header then the records:

    0  base_offset             int64   (written by the broker; not covered by the CRC)
    8  batch_length            int32   bytes after this field
   12  partition_leader_epoch  int32   (written by the broker; not covered by the CRC)
   16  magic                   int8    2
   17  crc                     uint32  CRC-32C of bytes 21..end
   21  attributes              int16   bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
   23  last_offset_delta       int32
   27  base_timestamp          int64
   35  max_timestamp           int64
   43  producer_id             int64
   51  producer_epoch          int16
   53  base_sequence           int32
   57  records_count           int32
   61  records (possibly compressed as one block)

The produce and fetch paths only ever touch this header: no per-record work.
Records are decoded only by tools, the metadata log and timestamp lookups.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import crc32c as _crc32c

from strom.errors import CorruptMessage, InvalidRecord, MessageTooLarge, UnsupportedCompressionType
from strom.records import compression

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
assert HEADER_SIZE == 61
MAGIC = 2
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35
LENGTH_OFFSET_END = 12  # base_offset + batch_length
MIN_BATCH_LENGTH = HEADER_SIZE - 12

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1
INT32_MAX = 2**31 - 1

_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I16 = struct.Struct(">h")


def crc32c_of(data: bytes | memoryview | bytearray) -> int:
    return _crc32c.crc32c(data)


class BatchHeader(NamedTuple):
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        return self.batch_length + 12

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        return 1 if self.attributes & TIMESTAMP_TYPE_BIT else 0

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        seq = self.base_sequence + self.last_offset_delta
        return seq - INT32_MAX - 1 if seq > INT32_MAX else seq


def read_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    return BatchHeader._make(HEADER.unpack_from(buf, pos))


def validate_batches(buf: bytes | bytearray | memoryview, *, max_batch_bytes: int | None = None) -> list[BatchHeader]:
    """Check every batch of a produce request; return their headers.

    Raises InvalidRecord (empty set, magic other than 2 — message formats v0/v1
    are gone in Kafka 4), CorruptMessage (truncated, bad length, CRC mismatch,
    inconsistent counts), MessageTooLarge (a batch above ``max_batch_bytes``),
    UnsupportedCompressionType (codec 5-7).
    """
    total = len(buf)
    if total == 0:
        raise InvalidRecord("empty record set")
    headers = []
    pos = 0
    view = memoryview(buf)
    while pos < total:
        if total - pos < HEADER_SIZE:
            if total - pos >= 17 and view[pos + 16] != MAGIC:
                raise InvalidRecord(f"message format v{view[pos + 16]} is not supported (Kafka 4 needs v2)")
            raise CorruptMessage("record set ends inside a batch header")
        h = read_header(view, pos)
        if h.magic != MAGIC:
            raise InvalidRecord(f"message format v{h.magic} is not supported (Kafka 4 needs v2)")
        if h.batch_length < MIN_BATCH_LENGTH or pos + h.size > total:
            raise CorruptMessage(f"batch length {h.batch_length} does not fit the record set")
        if max_batch_bytes is not None and h.size > max_batch_bytes:
            raise MessageTooLarge(f"batch of {h.size} bytes exceeds max.message.bytes={max_batch_bytes}")
        if crc32c_of(view[pos + ATTRIBUTES_OFFSET:pos + h.size]) != h.crc:
            raise CorruptMessage("record batch CRC-32C mismatch")
        if h.records_count <= 0 or h.last_offset_delta != h.records_count - 1:
            raise CorruptMessage(f"batch claims {h.records_count} records and last offset delta "
                                 f"{h.last_offset_delta}")
        if h.compression > compression.ZSTD:
            raise UnsupportedCompressionType(f"unknown compression codec {h.compression}")
        headers.append(h)
        pos += h.size
    return headers


def scan_batches(buf: bytes | bytearray | memoryview, *, check_crc: bool = True) -> tuple[list[tuple[int, BatchHeader]], int]:
    """Walk stored batches (recovery): returns ((position, header) list, valid byte length).

    Stops at the first torn or corrupt batch; everything from there on is the
    invalid tail.
    """
    total = len(buf)
    view = memoryview(buf)
    out = []
    pos = 0
    while total - pos >= HEADER_SIZE:
        h = read_header(view, pos)
        if h.magic != MAGIC or h.batch_length < MIN_BATCH_LENGTH or pos + h.size > total:
            break
        if check_crc and crc32c_of(view[pos + ATTRIBUTES_OFFSET:pos + h.size]) != h.crc:
            break
        out.append((pos, h))
        pos += h.size
    return out, pos


def patch_base_offset(buf: bytearray | memoryview, pos: int, base_offset: int) -> None:
    _I64.pack_into(buf, pos, base_offset)


def patch_partition_leader_epoch(buf: bytearray | memoryview, pos: int, epoch: int) -> None:
    _I32.pack_into(buf, pos + 12, epoch)


def set_log_append_time(buf: bytearray | memoryview, pos: int, timestamp_ms: int) -> None:
    """Mark a batch LogAppendTime with ``timestamp_ms`` as its max timestamp; recompute the CRC."""
    (attrs,) = _I16.unpack_from(buf, pos + ATTRIBUTES_OFFSET)
    _I16.pack_into(buf, pos + ATTRIBUTES_OFFSET, attrs | TIMESTAMP_TYPE_BIT)
    _I64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, timestamp_ms)
    (length,) = _I32.unpack_from(buf, pos + 8)
    crc = crc32c_of(memoryview(buf)[pos + ATTRIBUTES_OFFSET:pos + 12 + length])
    _U32.pack_into(buf, pos + CRC_OFFSET, crc)


# ---------------------------------------------------------------------- records (tools only)

@dataclass
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


class NewRecord(NamedTuple):
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()
    timestamp: int | None = None


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _write_varint(out: bytearray, n: int) -> None:
    n = _zigzag(n) & 0xFFFFFFFFFFFFFFFF
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise CorruptMessage("bad varint in record")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    return (result >> 1) ^ -(result & 1), pos


def _write_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        _write_varint(out, -1)
    else:
        _write_varint(out, len(data))
        out += data


def build_batch(records: Sequence[NewRecord | tuple[bytes | None, bytes | None]], *, base_offset: int = 0,
                timestamp_ms: int | None = None, compression_codec: int = compression.NONE,
                producer_id: int = NO_PRODUCER_ID, producer_epoch: int = NO_PRODUCER_EPOCH,
                base_sequence: int = NO_SEQUENCE, transactional: bool = False, control: bool = False,
                partition_leader_epoch: int = -1, log_append_time: bool = False) -> bytes:
    """Encode a v2 batch (for the metadata log, tools and tests)."""
    if not records:
        raise ValueError("a batch needs at least one record")
    import time
    recs = [r if isinstance(r, NewRecord) else NewRecord(*r) for r in records]
    default_ts = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
    stamps = [r.timestamp if r.timestamp is not None else default_ts for r in recs]
    base_ts = stamps[0]
    body = bytearray()
    for delta, (rec, ts) in enumerate(zip(recs, stamps)):
        rec_buf = bytearray(b"\0")  # attributes
        _write_varint(rec_buf, ts - base_ts)
        _write_varint(rec_buf, delta)
        _write_bytes(rec_buf, rec.key)
        _write_bytes(rec_buf, rec.value)
        _write_varint(rec_buf, len(rec.headers))
        for hk, hv in rec.headers:
            _write_bytes(rec_buf, hk.encode())
            _write_bytes(rec_buf, hv)
        _write_varint(body, len(rec_buf))
        body += rec_buf
    payload = compression.compress(compression_codec, bytes(body)) if compression_codec else bytes(body)
    attributes = compression_codec | (TIMESTAMP_TYPE_BIT if log_append_time else 0) \
        | (TRANSACTIONAL_BIT if transactional else 0) | (CONTROL_BIT if control else 0)
    header = bytearray(HEADER.pack(base_offset, HEADER_SIZE - 12 + len(payload), partition_leader_epoch, MAGIC, 0,
                                   attributes, len(recs) - 1, base_ts, max(stamps), producer_id, producer_epoch,
                                   base_sequence, len(recs)))
    batch = header + payload
    _U32.pack_into(batch, CRC_OFFSET, crc32c_of(memoryview(batch)[ATTRIBUTES_OFFSET:]))
    return bytes(batch)


def decode_batch(batch: bytes | memoryview) -> tuple[BatchHeader, list[Record]]:
    """Decode one batch's records (decompressing); raises CorruptMessage on malformed data."""
    h = read_header(batch, 0)
    data = memoryview(batch)[HEADER_SIZE:h.size]
    if h.compression:
        data = memoryview(compression.decompress(h.compression, data))
    records = []
    pos = 0
    try:
        for _ in range(h.records_count):
            length, pos = _read_varint(data, pos)
            end = pos + length
            pos += 1  # attributes
            ts_delta, pos = _read_varint(data, pos)
            off_delta, pos = _read_varint(data, pos)
            klen, pos = _read_varint(data, pos)
            key = None if klen < 0 else bytes(data[pos:pos + klen])
            pos += max(klen, 0)
            vlen, pos = _read_varint(data, pos)
            value = None if vlen < 0 else bytes(data[pos:pos + vlen])
            pos += max(vlen, 0)
            nh, pos = _read_varint(data, pos)
            headers = []
            for _ in range(nh):
                hkl, pos = _read_varint(data, pos)
                hk = bytes(data[pos:pos + hkl]).decode("utf-8", "replace")
                pos += hkl
                hvl, pos = _read_varint(data, pos)
                hv = None if hvl < 0 else bytes(data[pos:pos + hvl])
                pos += max(hvl, 0)
                headers.append((hk, hv))
            timestamp = h.max_timestamp if h.timestamp_type == 1 else h.base_timestamp + ts_delta
            records.append(Record(h.base_offset + off_delta, timestamp, key, value, headers))
            pos = end
    except (IndexError, ValueError) as exc:
        raise CorruptMessage(f"malformed record: {exc}") from None
    return h, records


def iter_batches(buf: bytes | memoryview) -> Iterator[tuple[BatchHeader, memoryview]]:
    view = memoryview(buf)
    pos = 0
    while len(view) - pos >= HEADER_SIZE:
        h = read_header(view, pos)
        if pos + h.size > len(view):
            break
        yield h, view[pos:pos + h.size]
        pos += h.size


def iter_records(buf: bytes | memoryview) -> Iterator[Record]:
    """Every record of every complete batch in ``buf`` (a fetch result may end in a partial batch)."""
    for _h, batch in iter_batches(buf):
        yield from decode_batch(batch)[1]
