"""The array-count guard in front of kio's native reader (see strom.protocol.guard).

kio reserves memory for an array as soon as it reads the count, and a failed reservation aborts
the process; so these tests never hand a poisoned frame to kio in-process.  The end-to-end check
(a live broker fed such frames for every API it serves) is in tests/integration/test_bad_input.py.
"""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.serial import entity_writer
from kio.static.primitive import Records

from strom.protocol import codec, guard
from strom.server.registry import advertised_versions

SERVED = [(key, version) for key, low, high in advertised_versions() for version in range(low, high + 1)
          if codec.request_type(key, version) is not None]
HUGE_LEGACY = (2**31 - 1).to_bytes(4, "big")
HUGE_COMPACT = b"\xff\xff\xff\xff\x0f"  # uvarint 2^35 - 1


def poisoned(entity_type: type) -> bytes | None:
    """Minimal valid bytes for ``entity_type`` up to its first array, whose count is then huge;
    None when the type has no array."""
    def entity(walk: guard._EntityWalk) -> bytes | None:
        out = b"\x01" if walk.nullable else b""
        for kind, arg in walk.fields:
            part = field(kind, arg)
            if part is None:
                out += filler(kind, arg)
                continue
            return out + part
        return None

    def field(kind: int, arg) -> bytes | None:
        if kind == guard._COMPACT_ARRAY:
            return HUGE_COMPACT
        if kind == guard._LEGACY_ARRAY:
            return HUGE_LEGACY
        if kind == guard._ENTITY:
            return entity(arg)
        return None

    def filler(kind: int, arg) -> bytes:
        """Minimal valid bytes of a field: zeros, empty strings and arrays, nested entities alike."""
        if kind == guard._FIXED:
            return bytes(arg)
        if kind in (guard._COMPACT_LEN, guard._COMPACT_ARRAY):
            return b"\x01"
        if kind == guard._INT16_LEN:
            return b"\0\0"
        if kind in (guard._INT32_LEN, guard._LEGACY_ARRAY):
            return b"\0\0\0\0"
        walk = arg
        out = b"\x01" if walk.nullable else b""
        for inner_kind, inner_arg in walk.fields:
            out += filler(inner_kind, inner_arg)
        return out + (b"\0" if walk.flexible else b"")

    return entity(guard._compile(entity_type, False))


def test_every_served_request_with_a_huge_array_count_is_refused():
    refused = 0
    for key, version in SERVED:
        cls = codec.request_type(key, version)
        frame = poisoned(cls)
        if frame is None:
            continue
        with pytest.raises(ValueError, match="cannot fit"):
            guard.check_counts(cls, frame + b"\0" * 64, 0)
        with pytest.raises(codec.DecodeError, match="cannot fit"):
            codec.decode_request(key, version, frame, 0)
        refused += 1
    assert refused > 100  # most requests have an array


def test_responses_with_a_huge_array_count_are_refused_too():
    for key, version in [(3, 0), (3, 12), (1, 4), (1, 16), (15, 5), (16, 4)]:
        cls = codec.response_type(key, version)
        frame = poisoned(cls)
        assert frame is not None
        with pytest.raises(codec.DecodeError, match="cannot fit"):
            codec.decode_response(key, version, (7).to_bytes(4, "big") + (b"\0" if cls.__flexible__ and key != 18
                                                                             else b"") + frame)


def test_null_is_refused_only_where_the_schema_forbids_it():
    # DeleteTopics v1: topic_names can never be null; handlers would iterate over None
    with pytest.raises(codec.DecodeError, match="cannot be null"):
        codec.decode_request(20, 1, b"\xff\xff\xff\xff" + (1000).to_bytes(4, "big"), 0)
    # Metadata v1: a null topic list means "all topics"
    assert codec.decode_request(3, 1, b"\xff\xff\xff\xff", 0).topics is None


def test_counts_that_fit_are_left_to_kio():
    cls = codec.request_type(3, 1)  # Metadata v1: topics is a legacy array of {name}
    frame = (3).to_bytes(4, "big") + b"\0\x01a"  # claims 3 topics, holds one and a half
    guard.check_counts(cls, frame, 0)  # plausible: kio decides, and refuses
    with pytest.raises(codec.DecodeError):
        codec.decode_request(3, 1, frame, 0)


st.register_type_strategy(Records, st.binary(max_size=40).map(Records))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_valid_requests_pass_the_guard(data):
    key, version = data.draw(st.sampled_from(SERVED), label="api, version")
    cls = codec.request_type(key, version)
    entity = data.draw(st.from_type(cls), label=cls.__name__)
    buf = io.BytesIO()
    entity_writer(cls)(buf, entity)
    encoded = buf.getvalue()
    guard.check_counts(cls, encoded, 0)  # the guard accepts every valid encoding
    try:
        decoded = codec.decode_request(key, version, encoded, 0)
    except codec.DecodeError as exc:  # kio's own limits, e.g. a timedelta beyond int64 milliseconds
        assert "cannot fit" not in str(exc) and "cannot be null" not in str(exc)
        return
    assert decoded == entity
