"""Kafka record batches, magic v2: header view, validation, offset patching, building, decoding.

Layout of a batch (big-endian), the 61-byte header then the records:

    0  base_offset             int64   (written by the broker; not covered by the CRC)
    8  batch_length            int32   bytes after this field
   12  partition_leader_epoch  int32   (written by the broker; not covered by the CRC)
   16  magic                   int8    2
   17  crc                     uint32  CRC-32C (Castagnoli) of bytes 21..end
   21  attributes              int16   bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
   23  last_offset_delta       int32
   27  base_timestamp          int64
   35  max_timestamp           int64
   43  producer_id             int64
   51  producer_epoch          int16
   53  base_sequence           int32
   57  records_count           int32
   61  records (the whole block compressed as one unit when bits 0-2 are set)

A record (uncompressed block), zigzag varints ("varint"/"varlong" below):

    length varint | attributes int8 (unused, 0) | timestamp_delta varlong |
    offset_delta varint | key_length varint (-1 = null) | key |
    value_length varint (-1 = null) | value | headers_count varint |
    per header: key_length varint | key (UTF-8) | value_length varint (-1 = null) | value

The produce and fetch paths only ever touch the 61-byte header (``struct``):
no per-record work.  Records are decoded only by tools, the metadata log,
coordinators and timestamp lookups (``decode_batch``/``iter_records``).
"""
from __future__ import annotations

import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import crc32c as _crc32c

from strom.errors import CorruptMessage, InvalidRecord, MessageTooLarge, UnsupportedCompressionType
from strom.records import compression as _codecs

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
assert HEADER_SIZE == 61
MAGIC = 2
LOG_OVERHEAD = 12  # base_offset + batch_length: batch_length counts the bytes after these
BASE_OFFSET_SIZE = 8  # the batch's first field, int64
PARTITION_LEADER_EPOCH_OFFSET = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD  # 49: a batch with no record bytes

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20
DELETE_HORIZON_BIT = 0x40

CREATE_TIME = 0
LOG_APPEND_TIME = 1

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1
NO_TIMESTAMP = -1
INT32_MAX = 2**31 - 1

_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I16 = struct.Struct(">h")


def crc32c_of(data: bytes | memoryview | bytearray) -> int:
    """CRC-32C (Castagnoli) as Kafka computes it, hardware accelerated."""
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
        """Bytes of the whole batch on disk / on the wire."""
        return self.batch_length + LOG_OVERHEAD

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
        """0 = CreateTime, 1 = LogAppendTime."""
        return LOG_APPEND_TIME if self.attributes & TIMESTAMP_TYPE_BIT else CREATE_TIME

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
        """base_sequence + last_offset_delta, wrapping past 2^31-1 to 0 (Kafka's DefaultRecordBatch)."""
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        seq = self.base_sequence + self.last_offset_delta
        return seq - INT32_MAX - 1 if seq > INT32_MAX else seq


def read_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Unpack the 61-byte header at ``pos`` (no validation)."""
    return BatchHeader._make(HEADER.unpack_from(buf, pos))


def _unsupported_magic(magic: int) -> InvalidRecord:
    return InvalidRecord(f"message format v{magic} is not supported (Kafka 4: only v2)" if magic > MAGIC else
                         "message format v0/v1 is not supported (Kafka 4)")


def validate_batches(buf: bytes | bytearray | memoryview, *, max_batch_bytes: int | None = None,
                     allow_control: bool = False) -> list[BatchHeader]:
    """Check every batch of a record set from a client (produce path); return their headers.

    As strict as Kafka's ``DefaultRecordBatch.ensureValid`` plus the client-origin
    checks of ``LogValidator.validateBatch``:

    * ``InvalidRecord``: empty record set; magic other than 2 (v0/v1 are gone
      in Kafka 4); ``records_count`` of 0; a control batch unless
      ``allow_control`` (only the transaction marker writer may); a producer
      id with a negative base sequence.
    * ``CorruptMessage``: the set ends inside a header, ``batch_length`` too
      small or running past the end, CRC-32C mismatch, ``records_count < 0``,
      ``last_offset_delta != records_count - 1``.
    * ``MessageTooLarge``: a batch bigger than ``max_batch_bytes``
      (``max.message.bytes``).
    * ``UnsupportedCompressionType``: codec 5-7.

    Cost: one ``struct`` unpack and one hardware CRC per batch, no per-record work.
    """
    total = len(buf)
    if total == 0:
        raise InvalidRecord("empty record set")
    headers = []
    pos = 0
    view = memoryview(buf)
    while pos < total:
        if total - pos < HEADER_SIZE:
            if total - pos > MAGIC_OFFSET and view[pos + MAGIC_OFFSET] != MAGIC:
                raise _unsupported_magic(view[pos + MAGIC_OFFSET])
            raise CorruptMessage(f"record set ends inside a batch header ({total - pos} of {HEADER_SIZE} bytes)")
        h = read_header(view, pos)
        if h.magic != MAGIC:
            raise _unsupported_magic(h.magic)
        if h.batch_length < MIN_BATCH_LENGTH:
            raise CorruptMessage(f"batch length {h.batch_length} is smaller than the header")
        if pos + h.size > total:
            raise CorruptMessage(f"batch of {h.size} bytes runs past the end of the record set")
        if max_batch_bytes is not None and h.size > max_batch_bytes:
            raise MessageTooLarge(f"batch of {h.size} bytes exceeds max.message.bytes={max_batch_bytes}")
        if crc32c_of(view[pos + ATTRIBUTES_OFFSET:pos + h.size]) != h.crc:
            raise CorruptMessage("record batch CRC-32C mismatch")
        if h.records_count < 0:
            raise CorruptMessage(f"negative record count {h.records_count}")
        if h.records_count == 0:
            raise InvalidRecord("invalid reported count for record batch: 0")
        if h.last_offset_delta != h.records_count - 1:
            raise CorruptMessage(f"batch claims {h.records_count} records but last offset delta "
                                 f"{h.last_offset_delta}")
        if h.compression > _codecs.ZSTD:
            raise UnsupportedCompressionType(f"unknown compression codec {h.compression}")
        if h.is_control and not allow_control:
            raise InvalidRecord("clients are not allowed to write control records")
        if h.producer_id >= 0 and h.base_sequence < 0 and not h.is_control:
            raise InvalidRecord(f"invalid sequence number {h.base_sequence} for producer {h.producer_id}")
        headers.append(h)
        pos += h.size
    return headers


def scan_batches(buf: bytes | bytearray | memoryview, *, check_crc: bool = True,
                 next_offset: int | None = None) -> tuple[list[tuple[int, BatchHeader]], int]:
    """Walk stored batches (recovery): returns ((position, header) list, valid byte length).

    Stops at the first torn or corrupt batch (short, bad magic or length, CRC
    mismatch with ``check_crc``, or, when ``next_offset`` is given, a base
    offset below the previous batch's next offset); everything from there on
    is the invalid tail.
    """
    total = len(buf)
    view = memoryview(buf)
    out = []
    pos = 0
    while total - pos >= HEADER_SIZE:
        h = read_header(view, pos)
        if h.magic != MAGIC or h.batch_length < MIN_BATCH_LENGTH or pos + h.size > total or h.last_offset_delta < 0:
            break
        if next_offset is not None:
            if h.base_offset < next_offset:
                break
            next_offset = h.next_offset
        if check_crc and crc32c_of(view[pos + ATTRIBUTES_OFFSET:pos + h.size]) != h.crc:
            break
        out.append((pos, h))
        pos += h.size
    return out, pos


def base_offset_bytes(base_offset: int) -> bytes:
    """The first ``BASE_OFFSET_SIZE`` bytes of a batch placed at ``base_offset`` (not covered by the CRC)."""
    return _I64.pack(base_offset)


_BROKER_PREFIX = struct.Struct(">qii")
BROKER_PREFIX_SIZE = MAGIC_OFFSET  # 16: base_offset, batch_length, partition_leader_epoch


def broker_prefix_bytes(base_offset: int, batch_length: int, partition_leader_epoch: int) -> bytes:
    """The first ``BROKER_PREFIX_SIZE`` bytes of a batch as the broker stores it: its base offset,
    its (unchanged) length and the partition leader epoch, none of them covered by the CRC.  The
    append path writes these and then the rest of the received batch from byte 16, uncopied."""
    return _BROKER_PREFIX.pack(base_offset, batch_length, partition_leader_epoch)


def patch_base_offset(buf: bytearray | memoryview, pos: int, base_offset: int) -> None:
    """Write ``base_offset`` into the batch at ``pos`` (not covered by the CRC)."""
    _I64.pack_into(buf, pos, base_offset)


def patch_partition_leader_epoch(buf: bytearray | memoryview, pos: int, epoch: int) -> None:
    """Write the partition leader epoch into the batch at ``pos`` (not covered by the CRC)."""
    _I32.pack_into(buf, pos + PARTITION_LEADER_EPOCH_OFFSET, epoch)


def set_log_append_time(buf: bytearray | memoryview, pos: int, timestamp_ms: int) -> None:
    """Kafka's LogAppendTime: set the timestamp-type bit and ``max_timestamp`` of the batch at
    ``pos`` to ``timestamp_ms`` and recompute its CRC.  Every record of the batch then reads as
    ``timestamp_ms`` (the record deltas are left alone, as Kafka does)."""
    (attrs,) = _I16.unpack_from(buf, pos + ATTRIBUTES_OFFSET)
    _I16.pack_into(buf, pos + ATTRIBUTES_OFFSET, attrs | TIMESTAMP_TYPE_BIT)
    _I64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, timestamp_ms)
    (length,) = _I32.unpack_from(buf, pos + 8)
    crc = crc32c_of(memoryview(buf)[pos + ATTRIBUTES_OFFSET:pos + LOG_OVERHEAD + length])
    _U32.pack_into(buf, pos + CRC_OFFSET, crc)


# ---------------------------------------------------------------------- records (tools only)

@dataclass
class Record:
    """A decoded record; ``offset`` is absolute, ``timestamp`` resolved (LogAppendTime aware)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


class NewRecord(NamedTuple):
    """A record to encode; ``timestamp`` None means the batch's ``timestamp_ms``."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()
    timestamp: int | None = None


def _write_varint(out: bytearray, n: int) -> None:
    n = ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF  # zigzag
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = result = 0
    end = len(buf)
    while True:
        if pos >= end or shift > 63:
            raise CorruptMessage("malformed varint in record")
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


def encode_records(records: Sequence[NewRecord], base_timestamp: int, default_timestamp: int) -> bytes:
    """The uncompressed record block for ``records`` (offset deltas 0..n-1)."""
    body = bytearray()
    for delta, rec in enumerate(records):
        ts = rec.timestamp if rec.timestamp is not None else default_timestamp
        rec_buf = bytearray(b"\0")  # attributes
        _write_varint(rec_buf, ts - base_timestamp)
        _write_varint(rec_buf, delta)
        _write_bytes(rec_buf, rec.key)
        _write_bytes(rec_buf, rec.value)
        _write_varint(rec_buf, len(rec.headers))
        for hk, hv in rec.headers:
            _write_bytes(rec_buf, hk.encode())
            _write_bytes(rec_buf, hv)
        _write_varint(body, len(rec_buf))
        body += rec_buf
    return bytes(body)


def build_batch(records: Sequence[NewRecord | tuple[bytes | None, bytes | None]], *, base_offset: int = 0,
                timestamp_ms: int | None = None, compression: int = _codecs.NONE,
                producer_id: int = NO_PRODUCER_ID, producer_epoch: int = NO_PRODUCER_EPOCH,
                base_sequence: int = NO_SEQUENCE, transactional: bool = False, control: bool = False,
                partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH, log_append_time: bool = False,
                compression_codec: int | None = None) -> bytes:
    """Encode a valid v2 batch (metadata log, coordinators, tools, tests).

    ``records`` are NewRecord or (key, value) pairs; a record without its own
    timestamp gets ``timestamp_ms`` (default: the wall clock).  The base
    timestamp is the first record's, the max timestamp the largest.
    ``compression_codec`` is an older spelling of ``compression``.
    """
    if compression_codec is not None:
        compression = compression_codec
    if not records:
        raise ValueError("a batch needs at least one record")
    recs = [r if isinstance(r, NewRecord) else NewRecord(*r) for r in records]
    default_ts = timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000
    stamps = [r.timestamp if r.timestamp is not None else default_ts for r in recs]
    base_ts = stamps[0]
    body = encode_records(recs, base_ts, default_ts)
    payload = _codecs.compress(compression, body) if compression else body
    attributes = compression | (TIMESTAMP_TYPE_BIT if log_append_time else 0) \
        | (TRANSACTIONAL_BIT if transactional else 0) | (CONTROL_BIT if control else 0)
    batch = bytearray(HEADER.pack(base_offset, MIN_BATCH_LENGTH + len(payload), partition_leader_epoch, MAGIC, 0,
                                  attributes, len(recs) - 1, base_ts, max(stamps), producer_id, producer_epoch,
                                  base_sequence, len(recs)))
    batch += payload
    _U32.pack_into(batch, CRC_OFFSET, crc32c_of(memoryview(batch)[ATTRIBUTES_OFFSET:]))
    return bytes(batch)


def _read_nullable_bytes(data: bytes | memoryview, pos: int, end: int, what: str) -> tuple[bytes | None, int]:
    """A varint length (-1 = null) and that many bytes, which must end by ``end``."""
    length, pos = _read_varint(data, pos)
    if length < 0:
        return None, pos
    if pos + length > end:
        raise CorruptMessage(f"record {what} runs past the record")
    return bytes(data[pos:pos + length]), pos + length


def _records_block(batch: bytes | bytearray | memoryview) -> tuple[BatchHeader, bytes | memoryview]:
    """The header and the (decompressed) records block of one whole batch; CorruptMessage (or the
    unsupported-magic error) when the header does not describe a readable v2 batch."""
    if len(batch) < HEADER_SIZE:
        raise CorruptMessage("batch shorter than its header")
    h = read_header(batch, 0)
    if h.magic != MAGIC:
        raise _unsupported_magic(h.magic)
    if h.batch_length < MIN_BATCH_LENGTH or h.size > len(batch):
        raise CorruptMessage(f"batch length {h.batch_length} does not fit {len(batch)} bytes")
    if h.records_count < 0:
        raise CorruptMessage(f"negative record count {h.records_count}")
    data: bytes | memoryview = memoryview(batch)[HEADER_SIZE:h.size]
    if h.compression:
        data = _codecs.decompress(h.compression, data)
    return h, data


def decode_batch(batch: bytes | bytearray | memoryview) -> tuple[BatchHeader, list[Record]]:
    """Decode one whole batch's records (decompressing); raises CorruptMessage on malformed data.

    Does not check the CRC (``validate_batches`` does); every length is bounds-checked.
    """
    h, data = _records_block(batch)
    log_append = h.timestamp_type == LOG_APPEND_TIME
    records = []
    pos = 0
    size = len(data)
    for _ in range(h.records_count):
        length, pos = _read_varint(data, pos)
        end = pos + length
        if length < 1 or end > size:
            raise CorruptMessage(f"record length {length} does not fit the batch")
        pos += 1  # attributes
        ts_delta, pos = _read_varint(data, pos)
        off_delta, pos = _read_varint(data, pos)
        key, pos = _read_nullable_bytes(data, pos, end, "key")
        value, pos = _read_nullable_bytes(data, pos, end, "value")
        nh, pos = _read_varint(data, pos)
        if nh < 0 or nh > end - pos:
            raise CorruptMessage(f"invalid header count {nh}")
        headers = []
        for _ in range(nh):
            hkl, pos = _read_varint(data, pos)
            if hkl < 0 or pos + hkl > end:
                raise CorruptMessage("record header key runs past the record")
            hk = bytes(data[pos:pos + hkl]).decode("utf-8", "replace")
            pos += hkl
            hv, pos = _read_nullable_bytes(data, pos, end, "header value")
            headers.append((hk, hv))
        if pos > end:
            raise CorruptMessage("record fields run past the record")
        timestamp = h.max_timestamp if log_append else h.base_timestamp + ts_delta
        records.append(Record(h.base_offset + off_delta, timestamp, key, value, headers))
        pos = end
    return h, records


def record_timestamps(batch: bytes | bytearray | memoryview) -> list[int]:
    """The CreateTime timestamp of every record of one whole batch (base timestamp + delta), in
    record order, decompressing but reading nothing else of a record (timestamp validation when a
    topic sets ``message.timestamp.before.max.ms``).  Raises CorruptMessage on malformed data."""
    h, data = _records_block(batch)
    base = h.base_timestamp
    out = []
    pos = 0
    size = len(data)
    for _ in range(h.records_count):
        length, pos = _read_varint(data, pos)
        end = pos + length
        if length < 1 or end > size:
            raise CorruptMessage(f"record length {length} does not fit the batch")
        delta, _ = _read_varint(data, pos + 1)  # after the attributes byte
        out.append(base + delta)
        pos = end
    return out


def iter_batches(buf: bytes | bytearray | memoryview) -> Iterator[tuple[BatchHeader, memoryview]]:
    """(header, whole-batch view) for every complete batch; a trailing partial batch is skipped."""
    view = memoryview(buf)
    pos = 0
    while len(view) - pos >= HEADER_SIZE:
        h = read_header(view, pos)
        if h.batch_length < MIN_BATCH_LENGTH or pos + h.size > len(view):
            break
        yield h, view[pos:pos + h.size]
        pos += h.size


def iter_records(buf: bytes | bytearray | memoryview) -> Iterator[Record]:
    """Every record of every complete batch in ``buf`` (a fetch result may end in a partial batch)."""
    for _h, batch in iter_batches(buf):
        yield from decode_batch(batch)[1]


# ---------------------------------------------------------------------- control records

CONTROL_ABORT = 0
CONTROL_COMMIT = 1
_CONTROL_KEY = struct.Struct(">hh")  # version 0, type
_END_TXN_VALUE = struct.Struct(">hi")  # version 0, coordinator epoch


def build_end_txn_marker(commit: bool, *, producer_id: int, producer_epoch: int, coordinator_epoch: int,
                         timestamp_ms: int, base_offset: int = 0,
                         partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH) -> bytes:
    """A transaction marker (control batch with one COMMIT or ABORT record), as Kafka's
    ``EndTransactionMarker``: key ``int16 version=0, int16 type``, value ``int16 version=0,
    int32 coordinator_epoch``."""
    key = _CONTROL_KEY.pack(0, CONTROL_COMMIT if commit else CONTROL_ABORT)
    value = _END_TXN_VALUE.pack(0, coordinator_epoch)
    return build_batch([NewRecord(key, value)], base_offset=base_offset, timestamp_ms=timestamp_ms,
                       producer_id=producer_id, producer_epoch=producer_epoch, transactional=True, control=True,
                       partition_leader_epoch=partition_leader_epoch)


def control_record_type(record: Record) -> int:
    """CONTROL_ABORT / CONTROL_COMMIT (or another type) of a record of a control batch."""
    if record.key is None or len(record.key) < 4:
        raise CorruptMessage("control record key too short")
    return _CONTROL_KEY.unpack_from(record.key)[1]
