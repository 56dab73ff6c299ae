"""Record batches: header view, validation (as strict as Kafka), patching, build/decode round trips."""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from strom.errors import CorruptMessage, InvalidRecord, KafkaError, MessageTooLarge, UnsupportedCompressionType
from strom.records import compression
from strom.records.batch import (
    ATTRIBUTES_OFFSET, CONTROL_ABORT, CONTROL_COMMIT, CRC_OFFSET, HEADER_SIZE, INT32_MAX, NO_SEQUENCE, BatchHeader,
    NewRecord, build_batch, build_end_txn_marker, control_record_type, crc32c_of, decode_batch, iter_batches,
    iter_records, patch_base_offset, patch_partition_leader_epoch, read_header, scan_batches, set_log_append_time,
    validate_batches,
)


def fix_crc(buf: bytearray, pos: int = 0) -> bytearray:
    h = read_header(buf, pos)
    struct.pack_into(">I", buf, pos + CRC_OFFSET, crc32c_of(bytes(buf[pos + ATTRIBUTES_OFFSET:pos + h.size])))
    return buf


def test_header_layout_and_properties():
    data = build_batch([(b"k", b"v"), (None, b"w"), (b"x", None)], base_offset=100, timestamp_ms=5000,
                       producer_id=9, producer_epoch=3, base_sequence=INT32_MAX - 1, partition_leader_epoch=4)
    assert HEADER_SIZE == 61
    h = read_header(data)
    assert isinstance(h, BatchHeader)
    assert (h.base_offset, h.magic, h.records_count, h.last_offset_delta) == (100, 2, 3, 2)
    assert h.size == len(data) and h.last_offset == 102 and h.next_offset == 103
    assert (h.producer_id, h.producer_epoch, h.partition_leader_epoch) == (9, 3, 4)
    assert h.has_producer_id and not h.is_transactional and not h.is_control
    assert h.compression == 0 and h.timestamp_type == 0
    assert h.last_sequence == 0  # INT32_MAX - 1 + 2 wraps to 0, like Kafka
    assert h.crc == crc32c_of(data[ATTRIBUTES_OFFSET:])
    assert read_header(build_batch([(None, b"a")], base_sequence=NO_SEQUENCE)).last_sequence == NO_SEQUENCE


def test_validate_accepts_several_batches_and_returns_headers():
    a = build_batch([(None, b"a"), (None, b"b")])
    b = build_batch([(None, b"c")], compression=compression.ZSTD)
    headers = validate_batches(a + b)
    assert [h.records_count for h in headers] == [2, 1]
    assert sum(h.size for h in headers) == len(a + b)
    validate_batches(memoryview(a + b))  # memoryview input


def test_validate_rejections():
    good = bytearray(build_batch([(None, b"v"), (None, b"w")]))
    with pytest.raises(InvalidRecord):
        validate_batches(b"")
    with pytest.raises(CorruptMessage):
        validate_batches(bytes(good[:40]))  # ends inside a header
    with pytest.raises(CorruptMessage):
        validate_batches(bytes(good[:-3]))  # batch runs past the end
    bad = bytearray(good)
    bad[-1] ^= 1
    with pytest.raises(CorruptMessage, match="CRC"):
        validate_batches(bytes(bad))
    bad = bytearray(good)
    bad[ATTRIBUTES_OFFSET + 3] ^= 1  # inside the CRC-covered area (attributes..end)
    with pytest.raises(CorruptMessage):
        validate_batches(bytes(bad))
    small = bytearray(good)
    struct.pack_into(">i", small, 8, 10)
    with pytest.raises(CorruptMessage):
        validate_batches(bytes(small))
    for magic in (0, 1):
        old = bytearray(good)
        old[16] = magic
        with pytest.raises(InvalidRecord, match="v0/v1 is not supported"):
            validate_batches(bytes(old))
    future = bytearray(good)
    future[16] = 3
    with pytest.raises(InvalidRecord):
        validate_batches(bytes(future))
    with pytest.raises(MessageTooLarge):
        validate_batches(bytes(good), max_batch_bytes=len(good) - 1)
    validate_batches(bytes(good), max_batch_bytes=len(good))


def _with_fields(batch: bytes, **fields: int) -> bytes:
    offsets = {"attributes": (21, ">h"), "last_offset_delta": (23, ">i"), "records_count": (57, ">i"),
               "base_sequence": (53, ">i")}
    buf = bytearray(batch)
    for name, value in fields.items():
        pos, fmt = offsets[name]
        struct.pack_into(fmt, buf, pos, value)
    return bytes(fix_crc(buf))


def test_validate_counts_codecs_control_and_sequences():
    good = build_batch([(None, b"v"), (None, b"w")])
    with pytest.raises(CorruptMessage):
        validate_batches(_with_fields(good, last_offset_delta=5))
    with pytest.raises(CorruptMessage):
        validate_batches(_with_fields(good, records_count=-1))
    with pytest.raises(InvalidRecord):
        validate_batches(_with_fields(good, records_count=0, last_offset_delta=-1))
    for codec in (5, 6, 7):
        with pytest.raises(UnsupportedCompressionType):
            validate_batches(_with_fields(good, attributes=codec))
    marker = build_end_txn_marker(True, producer_id=1, producer_epoch=0, coordinator_epoch=2, timestamp_ms=1)
    with pytest.raises(InvalidRecord, match="control"):
        validate_batches(marker)
    assert validate_batches(marker, allow_control=True)[0].is_control
    idempotent = build_batch([(None, b"v")], producer_id=5, producer_epoch=0, base_sequence=0)
    with pytest.raises(InvalidRecord, match="sequence"):
        validate_batches(_with_fields(idempotent, base_sequence=-1))


def test_patching_leaves_the_crc_valid():
    buf = bytearray(build_batch([(None, b"a")]) + build_batch([(None, b"b"), (None, b"c")]))
    second = read_header(buf).size
    patch_base_offset(buf, 0, 1234)
    patch_base_offset(buf, second, 1235)
    patch_partition_leader_epoch(buf, second, 7)
    headers = validate_batches(bytes(buf))
    assert [h.base_offset for h in headers] == [1234, 1235]
    assert headers[1].partition_leader_epoch == 7
    assert [r.offset for r in iter_records(bytes(buf))] == [1234, 1235, 1236]


def test_set_log_append_time():
    buf = bytearray(build_batch([(None, b"a"), (None, b"b")], timestamp_ms=10))
    set_log_append_time(buf, 0, 99_999)
    h = validate_batches(bytes(buf))[0]
    assert h.timestamp_type == 1 and h.max_timestamp == 99_999
    assert [r.timestamp for r in iter_records(bytes(buf))] == [99_999, 99_999]


def test_decode_records_fields_and_timestamps():
    recs = [NewRecord(b"k1", b"v1", [("h", b"x"), ("n", None)], 1000), NewRecord(None, None, (), 990),
            NewRecord(b"", b"", (), None)]
    data = build_batch(recs, base_offset=50, timestamp_ms=1005)
    h, out = decode_batch(data)
    assert h.base_timestamp == 1000 and h.max_timestamp == 1005
    assert [(r.offset, r.timestamp, r.key, r.value) for r in out] == [
        (50, 1000, b"k1", b"v1"), (51, 990, None, None), (52, 1005, b"", b"")]
    assert out[0].headers == [("h", b"x"), ("n", None)]


def test_iter_records_skips_a_trailing_partial_batch():
    a, b = build_batch([(None, b"a")]), build_batch([(None, b"b")], base_offset=1)
    assert [r.value for r in iter_records(a + b[:-5])] == [b"a"]
    assert [h.base_offset for h, _ in iter_batches(a + b)] == [0, 1]


def test_scan_batches_stops_at_torn_or_corrupt_data():
    a, b = build_batch([(None, b"a")]), build_batch([(None, b"b")], base_offset=1)
    found, valid = scan_batches(a + b + b"\0garbage")
    assert [p for p, _ in found] == [0, len(a)] and valid == len(a + b)
    bad = bytearray(a + b)
    bad[-1] ^= 0xFF
    assert scan_batches(bytes(bad))[1] == len(a)
    assert scan_batches(bytes(bad), check_crc=False)[1] == len(a + b)
    assert scan_batches(b + a, next_offset=0)[1] == len(b)  # offsets must not go backwards


def test_decode_rejects_malformed_records_with_corrupt_message():
    data = bytearray(build_batch([(b"key", b"value")]))
    data[HEADER_SIZE] = 0x7F  # record length far beyond the batch
    with pytest.raises(CorruptMessage):
        decode_batch(bytes(fix_crc(data)))
    with pytest.raises(CorruptMessage):
        decode_batch(build_batch([(None, b"x")])[:40])
    bad = bytearray(build_batch([(None, b"x" * 100)], compression=compression.GZIP))
    bad[HEADER_SIZE + 20:HEADER_SIZE + 40] = b"\0" * 20
    with pytest.raises(CorruptMessage):
        decode_batch(bytes(bad))


def test_control_markers():
    marker = build_end_txn_marker(False, producer_id=3, producer_epoch=1, coordinator_epoch=5, timestamp_ms=7)
    h, recs = decode_batch(marker)
    assert h.is_control and h.is_transactional and h.producer_id == 3
    assert control_record_type(recs[0]) == CONTROL_ABORT
    commit = build_end_txn_marker(True, producer_id=3, producer_epoch=1, coordinator_epoch=5, timestamp_ms=7)
    assert control_record_type(decode_batch(commit)[1][0]) == CONTROL_COMMIT


# ---------------------------------------------------------------------- interop with kafka-python's codec

@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_kafka_python_batches_validate_and_decode(codec):
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                        producer_id=77, producer_epoch=1, base_sequence=10, batch_size=1 << 20)
    for i in range(20):
        builder.append(i, timestamp=1_000 + i, key=f"k{i}".encode(), value=b"v" * i, headers=[("a", b"b")])
    data = bytes(builder.build())
    h = validate_batches(data)[0]
    assert (h.records_count, h.producer_id, h.base_sequence, h.compression) == (20, 77, 10, codec)
    recs = decode_batch(data)[1]
    assert [r.key for r in recs] == [f"k{i}".encode() for i in range(20)]
    assert recs[5].value == b"v" * 5 and recs[5].timestamp == 1005 and recs[5].headers == [("a", b"b")]


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_our_batches_read_by_kafka_python(codec):
    data = build_batch([NewRecord(b"k", b"v" * 300, [("h", b"1")], 2000), NewRecord(None, b"w", (), 2001)],
                       base_offset=40, compression=codec, producer_id=5, producer_epoch=2, base_sequence=3)
    batch = DefaultRecordBatch(data)
    assert batch.validate_crc()
    recs = list(batch)
    assert [(r.offset, r.timestamp, r.key, r.value) for r in recs] == [(40, 2000, b"k", b"v" * 300),
                                                                       (41, 2001, None, b"w")]
    assert list(recs[0].headers) == [("h", b"1")]


# ---------------------------------------------------------------------- property tests

_headers = st.lists(st.tuples(st.text(max_size=10), st.none() | st.binary(max_size=20)), max_size=3)
_record = st.builds(NewRecord, st.none() | st.binary(max_size=300), st.none() | st.binary(max_size=300), _headers,
                    st.none() | st.integers(0, 2**41))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_record, min_size=1, max_size=20), st.integers(0, 2**40), st.integers(0, 2**41),
       st.sampled_from([0, 1, 2, 3, 4]))
def test_build_decode_round_trip(records, base_offset, default_ts, codec):
    data = build_batch(records, base_offset=base_offset, timestamp_ms=default_ts, compression=codec)
    h = validate_batches(data)[0]
    _, out = decode_batch(data)
    assert h.records_count == len(records)
    for i, (rec, got) in enumerate(zip(records, out)):
        assert got.offset == base_offset + i
        assert got.timestamp == (rec.timestamp if rec.timestamp is not None else default_ts)
        assert (got.key, got.value) == (rec.key, rec.value)
        assert got.headers == [(k, v) for k, v in rec.headers]
    assert h.max_timestamp == max(r.timestamp if r.timestamp is not None else default_ts for r in records)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.integers(0, 10_000))
def test_decode_of_garbage_raises_only_kafka_errors(noise, where):
    data = bytearray(build_batch([(b"k", b"v" * 50), (None, b"x")]))
    pos = HEADER_SIZE + where % (len(data) - HEADER_SIZE)
    data[pos:pos + len(noise)] = noise
    struct.pack_into(">i", data, 8, len(data) - 12)
    try:
        decode_batch(bytes(data))
    except KafkaError:
        pass
    try:
        validate_batches(bytes(data))
    except KafkaError:
        pass
