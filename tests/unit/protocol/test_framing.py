import pytest
from hypothesis import given, strategies as st

from strom.protocol.framing import BufferPool, FrameBuffer, FrameTooLarge


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


@given(st.lists(st.binary(max_size=3000), max_size=20), st.integers(1, 5000), st.sampled_from([100, 1000, 1 << 20]))
def test_frames_survive_any_chunking(payloads, chunk, large):
    stream = b"".join(frame(p) for p in payloads)
    fb = FrameBuffer(max_frame_bytes=10_000, initial_bytes=64, large_frame_bytes=large, pool=BufferPool())
    out = []
    for i in range(0, len(stream), chunk):
        fb.feed(stream[i:i + chunk])
        out.extend(bytes(f) for f in fb.frames())
        fb.reclaim()
    assert out == payloads
    assert fb.pending_bytes == 0


def test_large_frames_arrive_in_their_own_reused_buffer():
    pool = BufferPool()
    fb = FrameBuffer(max_frame_bytes=1 << 20, large_frame_bytes=1000, pool=pool)
    fb.feed(frame(b"a" * 5000)[:100])
    assert list(fb.frames()) == []
    view = fb.get_buffer(-1)
    assert len(view) == 5000 - 96  # the kernel writes the rest of the frame straight into its buffer
    view[:] = b"a" * len(view)
    fb.buffer_updated(len(view))
    del view
    (first,) = fb.frames()
    assert isinstance(first, memoryview) and first.readonly and bytes(first) == b"a" * 5000
    kept = first[10:20]  # a handler keeps a slice: that buffer must not be reused
    del first
    fb.reclaim()
    assert pool.idle_bytes == 0
    fb.feed(frame(b"b" * 5000))
    (second,) = fb.frames()
    assert bytes(kept) == b"a" * 10 and bytes(second) == b"b" * 5000
    del kept, second
    fb.reclaim()
    assert pool.idle_bytes == 2 * 8192  # both buffers are back, warm for the next frames
    fb.feed(frame(b"c" * 5000))
    (third,) = fb.frames()
    assert bytes(third) == b"c" * 5000 and pool.idle_bytes == 8192


def test_pool_keeps_a_bounded_amount_idle():
    pool = BufferPool(max_idle_bytes=3 << 20)
    bufs = [pool.take(1_000_000) for _ in range(5)]
    assert {len(b) for b in bufs} == {1 << 20}
    for b in bufs:
        pool.give(b)
    assert pool.idle_bytes == 3 << 20
    huge = pool.take(5_000_001)  # above max_pooled_bytes: exact size, not kept afterwards
    assert len(huge) == 5_000_001
    pool.give(huge)
    assert pool.idle_bytes == 3 << 20


def test_oversized_frame_rejected_before_allocation():
    fb = FrameBuffer(max_frame_bytes=1024)
    fb.feed((1 << 30).to_bytes(4, "big") + b"xx")
    with pytest.raises(FrameTooLarge):
        list(fb.frames())
    # nothing was grown to hold the announced size
    assert len(fb.get_buffer(-1)) < 1 << 20


def test_negative_size_rejected():
    fb = FrameBuffer(max_frame_bytes=1024)
    fb.feed(b"\xff\xff\xff\xff")
    with pytest.raises(FrameTooLarge):
        list(fb.frames())
