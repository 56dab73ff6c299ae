"""Array-count guard: refuse a frame whose array counts cannot fit in it, before kio decodes it.

kio's native reader (0.6.5) reserves room for an array as soon as it reads the array's count
(``Vec::with_capacity(count)``), before reading any element.  A count of 2^31 in a 20-byte frame
asks for 16 GiB at once; with a compact (varint) count it can ask for far more, and a failed
allocation aborts the process, which a Python ``try`` cannot catch: one small frame would kill
the broker.  ``check_counts`` walks the frame the way kio will (same field order, encodings,
nullable markers and tagged fields, compiled once per entity type from the same dataclass
metadata kio compiles its reader from) reading only lengths and counts, and raises ValueError
for an array that claims more elements than there are bytes left (every element of every
Kafka array takes at least one byte), and for a null where the schema allows none (kio would
hand the handlers a None; Kafka's parsers refuse it too).  It allocates nothing per element.

It does not validate anything else: where the frame is truncated or malformed it simply stops
and leaves the verdict to kio, which reads the same bytes in the same order and so meets the
same end before any count that the walk did not reach.
"""
from __future__ import annotations

import dataclasses
from functools import cache
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from kio.serial._introspect import (  # kio's own schema introspection (pinned kio version)
    EntityField, EntityTupleField, PrimitiveTupleField, classify_field, get_field_tag, get_schema_field_type,
    is_optional,
)

# field kinds of the compiled walk
_FIXED, _COMPACT_LEN, _INT16_LEN, _INT32_LEN, _ENTITY, _COMPACT_ARRAY, _LEGACY_ARRAY = range(7)

_FIXED_SIZES = {
    "int8": 1, "uint8": 1, "bool": 1, "int16": 2, "uint16": 2, "error_code": 2, "int32": 4, "uint32": 4,
    "timedelta_i32": 4, "int64": 8, "uint64": 8, "float64": 8, "timedelta_i64": 8, "datetime_i64": 8, "uuid": 16,
}


class _Truncated(Exception):
    """The walk ran past the end: kio will refuse the frame by itself."""


@dataclasses.dataclass
class _EntityWalk:
    flexible: bool
    nullable: bool
    fields: list[tuple[int, Any]]  # (kind, argument) of the untagged fields, in order
    tagged: dict[int, tuple[int, Any]]  # tag: (kind, argument)


def _primitive(kafka_type: str, flexible: bool) -> tuple[int, Any]:
    size = _FIXED_SIZES.get(kafka_type)
    if size is not None:
        return _FIXED, size
    if kafka_type in ("string", "bytes", "records"):
        if flexible:
            return _COMPACT_LEN, None
        return (_INT16_LEN if kafka_type == "string" else _INT32_LEN), None
    raise ValueError(f"unknown kafka_type {kafka_type!r}")


def _field(field: dataclasses.Field, flexible: bool, is_request_header: bool) -> tuple[int, Any]:
    if is_request_header and field.name == "client_id":
        return _INT16_LEN, None
    kind = classify_field(field)
    if isinstance(kind, (EntityField, EntityTupleField)):
        inner = (_ENTITY, _compile(kind.type_, isinstance(kind, EntityField) and is_optional(field)))
    else:
        inner = _primitive(get_schema_field_type(field), flexible)
    if isinstance(kind, (PrimitiveTupleField, EntityTupleField)):
        may_be_null = get_origin(field.type) in (UnionType, Union) and NoneType in get_args(field.type)
        return (_COMPACT_ARRAY if flexible else _LEGACY_ARRAY), (inner, may_be_null)
    return inner


@cache
def _compile(entity_type: type, nullable: bool) -> _EntityWalk:
    flexible = bool(entity_type.__flexible__)  # type: ignore[attr-defined]
    is_request_header = entity_type.__name__ == "RequestHeader"
    walk = _EntityWalk(flexible, nullable, [], {})
    for field in dataclasses.fields(entity_type):
        compiled = _field(field, flexible, is_request_header)
        tag = get_field_tag(field)
        if tag is None:
            walk.fields.append(compiled)
        else:
            walk.tagged[int(tag)] = compiled
    return walk


def _uvarint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise _Truncated
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _Truncated  # kio refuses an over-long varint too


def _int(data: bytes | memoryview, pos: int, size: int) -> tuple[int, int]:
    end = pos + size
    if end > len(data):
        raise _Truncated
    return int.from_bytes(data[pos:end], "big", signed=True), end


def _check_count(count: int, data: bytes | memoryview, pos: int) -> None:
    if count > len(data) - pos:
        raise ValueError(f"an array of {count} elements cannot fit in the {len(data) - pos} bytes left")


def _walk(kind: int, arg: Any, data: bytes | memoryview, pos: int) -> int:
    if kind == _FIXED:
        return pos + arg
    if kind == _COMPACT_LEN:
        length, pos = _uvarint(data, pos)
        return pos + max(length - 1, 0)
    if kind == _INT16_LEN:
        length, pos = _int(data, pos, 2)
        return pos + max(length, 0)
    if kind == _INT32_LEN:
        length, pos = _int(data, pos, 4)
        return pos + max(length, 0)
    if kind == _ENTITY:
        return _walk_entity(arg, data, pos)
    if kind == _COMPACT_ARRAY:
        count, pos = _uvarint(data, pos)
        count -= 1
    else:
        count, pos = _int(data, pos, 4)
    (inner_kind, inner_arg), may_be_null = arg
    if count == -1 and not may_be_null:
        raise ValueError("null for an array that cannot be null")
    if count <= 0:
        return pos  # null, empty, or a negative count kio refuses
    _check_count(count, data, pos)
    for _ in range(count):
        pos = _walk(inner_kind, inner_arg, data, pos)
        if pos > len(data):
            raise _Truncated
    return pos


def _walk_entity(walk: _EntityWalk, data: bytes | memoryview, pos: int) -> int:
    if walk.nullable:
        marker, pos = _int(data, pos, 1)
        if marker == -1:
            return pos
    for kind, arg in walk.fields:
        pos = _walk(kind, arg, data, pos)
        if pos > len(data):
            raise _Truncated
    if not walk.flexible:
        return pos
    tagged, pos = _uvarint(data, pos)
    _check_count(tagged, data, pos)
    for _ in range(tagged):
        tag, pos = _uvarint(data, pos)
        _size, pos = _uvarint(data, pos)
        field = walk.tagged.get(tag)
        if field is None:
            raise _Truncated  # kio refuses an unknown tag
        pos = _walk(field[0], field[1], data, pos)
    return pos


def check_counts(entity_type: type, data: bytes | memoryview, offset: int) -> None:
    """Raise ValueError when an array in the ``entity_type`` encoded at ``offset`` claims more
    elements than the bytes left could hold; return when the counts are plausible or the frame
    ends first (see the module docstring)."""
    try:
        _walk_entity(_compile(entity_type, False), data, offset)
    except _Truncated:
        pass
