"""Segments and their indexes: Kafka's file formats, lookups, reads, truncation."""
from __future__ import annotations

import struct

from strom.records.batch import HEADER_SIZE, read_header, validate_batches
from strom.storage.index import OffsetIndex, TimeIndex
from strom.storage.segment import Segment

from ._helpers import batch


def new_segment(tmp_path, base=0, interval=4096, index_bytes=10 << 20) -> Segment:
    return Segment(tmp_path, base, index_max_bytes=index_bytes, index_interval_bytes=interval, created_ms=0)


def fill(seg: Segment, n: int, *, size: int = 100, ts0: int = 1000, step: int = 10) -> list[int]:
    """Append n one-record batches at consecutive offsets; returns their file positions."""
    positions = []
    for i in range(n):
        data = bytearray(batch(bytes([65 + i % 26]) * size, ts=ts0 + i * step))
        struct.pack_into(">q", data, 0, seg.next_offset)
        h = validate_batches(bytes(data))[0]
        positions.append(seg.size)
        seg.append(data, [(0, h)])
    return positions


def test_file_names_and_index_formats_are_kafkas(tmp_path):
    seg = new_segment(tmp_path, base=100, interval=300)
    positions = fill(seg, 20, size=100)  # ~170 bytes per batch
    assert seg.log_path.name == "00000000000000000100.log"
    assert seg.index.path.name == "00000000000000000100.index"
    assert seg.time_index.path.name == "00000000000000000100.timeindex"
    raw = seg.index.path.read_bytes()
    entries = list(struct.iter_unpack(">ii", raw))
    assert entries, "an entry every index.interval.bytes"
    for rel, pos in entries:  # relative last offset of the batch at that position
        assert pos in positions
        assert read_header(seg.read(pos, HEADER_SIZE)).last_offset == 100 + rel
    gaps = [b - a for (_, a), (_, b) in zip(entries, entries[1:])]
    assert all(g > 300 for g in gaps)
    tentries = list(struct.iter_unpack(">qi", seg.time_index.path.read_bytes()))
    assert [t for t, _ in tentries] == sorted({t for t, _ in tentries})  # strictly increasing
    for ts, rel in tentries:
        assert ts == 1000 + rel * 10  # max timestamp so far, offset of the batch holding it
    seg.close()
    assert list(struct.iter_unpack(">qi", seg.time_index.path.read_bytes()))[-1] == (1190, 19)  # final entry


def test_translate_offset_and_reads(tmp_path):
    seg = new_segment(tmp_path, interval=256)
    positions = fill(seg, 50)
    for off in (0, 1, 17, 49):
        pos, h = seg.translate_offset(off)
        assert pos == positions[off] and h.base_offset == off
    assert seg.translate_offset(50) is None
    one = positions[1]
    data = seg.read_batches(10, one * 3 + 5, max_offset=1 << 60, min_one_batch=True)
    assert len(data) == one * 3 and read_header(data).base_offset == 10
    assert seg.read_batches(10, 5, 1 << 60, min_one_batch=True) == seg.read(positions[10], one)
    assert seg.read_batches(10, 5, 1 << 60, min_one_batch=False) == b""
    capped = seg.read_batches(10, 1 << 20, max_offset=13, min_one_batch=True)
    assert [h.base_offset for h in (read_header(capped, i * one) for i in range(len(capped) // one))] == [10, 11, 12]
    assert seg.read_batches(13, 1 << 20, max_offset=13, min_one_batch=True) == b""
    assert seg.read_batches(60, 100, 1 << 60, min_one_batch=True) is None


def test_find_timestamp_uses_the_time_index(tmp_path):
    seg = new_segment(tmp_path, interval=200)
    fill(seg, 40, ts0=1000, step=10)
    pos, h = seg.find_timestamp(1155)
    assert h.base_offset == 16 and h.max_timestamp == 1160
    assert seg.find_timestamp(0)[1].base_offset == 0
    assert seg.find_timestamp(1155, start_offset=20)[1].base_offset == 20
    assert seg.find_timestamp(5000) is None
    assert seg.largest_timestamp == 1390 and seg.offset_of_max_timestamp == 39


def test_clean_reopen_reads_only_the_tail_and_keeps_state(tmp_path):
    seg = new_segment(tmp_path, interval=300)
    fill(seg, 30)
    seg.close()
    again = new_segment(tmp_path, interval=300)
    assert again.load(recover=False) == 0
    assert again.next_offset == 30 and again.max_timestamp == 1290 and again.offset_of_max_timestamp == 29
    assert again.first_batch_timestamp == 1000
    fill(again, 5)
    assert again.next_offset == 35 and again.translate_offset(33)[1].base_offset == 33


def test_missing_or_stale_index_is_rebuilt(tmp_path):
    seg = new_segment(tmp_path, interval=300)
    fill(seg, 30)
    seg.close()
    good = seg.index.path.read_bytes()
    seg.index.path.unlink()
    again = new_segment(tmp_path, interval=300)
    again.load(recover=False)
    assert seg.index.path.read_bytes() == good
    again.close()
    seg.index.path.write_bytes(struct.pack(">ii", 3, 999_999))  # points past the end
    third = new_segment(tmp_path, interval=300)
    third.load(recover=False)
    assert seg.index.path.read_bytes() == good and third.next_offset == 30
    third.close()
    seg.index.path.write_bytes(good[:-3])  # not a whole number of entries
    fourth = new_segment(tmp_path, interval=300)
    fourth.load(recover=False)
    assert seg.index.path.read_bytes() == good


def test_truncate_to_removes_the_batch_and_index_entries(tmp_path):
    seg = new_segment(tmp_path, interval=200)
    positions = fill(seg, 40)
    removed = seg.truncate_to(25)
    assert removed == positions[-1] + (positions[1] - positions[0]) - positions[25]
    assert seg.size == positions[25] and seg.next_offset == 25
    assert seg.max_timestamp == 1240 and seg.offset_of_max_timestamp == 24
    assert all(p < positions[25] for p in seg.index.positions)
    assert all(seg.base_offset + o < 25 for o in seg.time_index.rel_offsets)
    fill(seg, 3)
    assert seg.next_offset == 28 and seg.translate_offset(26)[1].base_offset == 26


def test_index_full_and_lazy_loading(tmp_path):
    idx = OffsetIndex(tmp_path / "x.index", 10, 16)
    idx.reset()
    idx.append(11, 0)
    assert not idx.full
    idx.append(15, 100)
    assert idx.full
    idx.close()
    again = OffsetIndex(tmp_path / "x.index", 10, 16)
    again.open_existing()
    assert again.entries == 2 and again.last_entry() == (15, 100)
    assert again.lookup(14) == (11, 0) and again.lookup(9) == (10, 0) and again.lookup(99) == (15, 100)
    ti = TimeIndex(tmp_path / "x.timeindex", 10, 1000)
    ti.reset()
    ti.maybe_append(50, 12)
    ti.maybe_append(40, 13)  # not larger: skipped
    ti.maybe_append(60, 14)
    assert ti.path.read_bytes() == struct.pack(">qiqi", 50, 2, 60, 4)
    assert ti.lookup(55) == 12 and ti.lookup(50) is None and ti.lookup(61) == 14
    ti.truncate_to_offset(14)
    assert ti.last_entry() == (50, 12) and ti.path.stat().st_size == 12
