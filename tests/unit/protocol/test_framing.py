import pytest
from hypothesis import given, strategies as st

from strom.protocol.framing import FrameBuffer, FrameTooLarge


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


@given(st.lists(st.binary(max_size=3000), max_size=20), st.integers(1, 5000))
def test_frames_survive_any_chunking(payloads, chunk):
    stream = b"".join(frame(p) for p in payloads)
    fb = FrameBuffer(max_frame_bytes=10_000, initial_bytes=64)
    out = []
    for i in range(0, len(stream), chunk):
        fb.feed(stream[i:i + chunk])
        out.extend(fb.frames())
    assert out == payloads
    assert fb.pending_bytes == 0


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
