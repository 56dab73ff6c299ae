"""Message codec: request/response headers and bodies, behind kio (sans-io).

kio supplies a generated, frozen dataclass per (API, version) and a native
decoder, which every body passes only after ``guard.check_counts`` (kio would
abort the process on a huge array count).  This module and guard.py are the
only places that know kio: the rest of Strom
decodes requests with ``decode_request`` and builds responses from plain
dicts with ``build`` / ``encode_response``, so the codec can be swapped.

Request header (Kafka's RequestHeader v1/v2): int16 api_key, int16
api_version, int32 correlation_id, nullable int16-length client_id, and for
flexible versions (v2) a tagged-field section.  Response header v0 is the
correlation id; v1 adds an (empty) tagged-field section.  ApiVersions
responses always use header v0 so that a client can read them before it
knows our versions.
"""
from __future__ import annotations

import dataclasses
import datetime
import io
import struct
import typing
import uuid
from collections.abc import Mapping
from functools import cache
from types import NoneType, UnionType
from typing import Any, NamedTuple

from kio.index import UnknownAPIKey, UnknownEntity, load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer
from kio.serial.errors import SchemaError

from strom.errors import ErrorCode, InvalidRequest
from strom.protocol.guard import check_counts

API_VERSIONS_KEY = 18
_HEADER = struct.Struct(">hhih")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_UTC = datetime.timezone.utc


class RequestHeader(NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


class DecodeError(Exception):
    """A request that cannot be decoded (truncated, malformed, unknown)."""


def skip_tagged_fields(frame: bytes | memoryview, pos: int) -> int:
    """Skip a tagged-field section (every tag is unknown to the caller); returns the new position."""
    count, pos = read_uvarint(frame, pos)
    for _ in range(count):
        _tag, pos = read_uvarint(frame, pos)
        size, pos = read_uvarint(frame, pos)
        pos += size
    if pos > len(frame):
        raise DecodeError("truncated tagged fields")
    return pos


def write_uvarint(n: int) -> bytes:
    """An unsigned varint (compact lengths and counts of flexible versions)."""
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_length(n: int, flexible: bool) -> bytes:
    """An array count or byte length, -1 for null: compact (uvarint of n+1) in flexible versions,
    int32 otherwise."""
    return write_uvarint(n + 1) if flexible else _I32.pack(n)


def encode_string(text: str, flexible: bool) -> bytes:
    """A non-null string: compact in flexible versions, int16 length otherwise."""
    data = text.encode()
    return (write_uvarint(len(data) + 1) if flexible else _I16.pack(len(data))) + data


def read_uvarint(frame: bytes | memoryview, pos: int) -> tuple[int, int]:
    """An unsigned varint of at most 32 bits at ``pos``; returns (value, next position)."""
    shift = value = 0
    while True:
        if pos >= len(frame) or shift > 28:
            raise DecodeError("bad varint in request")
        b = frame[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def parse_request_header(frame: bytes | memoryview) -> tuple[RequestHeader, int]:
    """Decode the common header fields; returns the header and the body offset.

    The tagged-field section of header v2 is skipped only when the API and
    version are known to be flexible; unknown APIs stop after client_id.
    """
    if len(frame) < _HEADER.size:
        raise DecodeError("request shorter than its header")
    api_key, api_version, correlation_id, client_len = _HEADER.unpack_from(frame, 0)
    pos = _HEADER.size
    client_id = None
    if client_len >= 0:
        if pos + client_len > len(frame):
            raise DecodeError("truncated client_id")
        client_id = str(frame[pos:pos + client_len], "utf-8", "replace")
        pos += client_len
    header = RequestHeader(api_key, api_version, correlation_id, client_id)
    if is_flexible_request(api_key, api_version):
        pos = skip_tagged_fields(frame, pos)
    return header, pos


@cache
def request_type(api_key: int, version: int) -> type | None:
    try:
        return load_request_schema(api_key, version)
    except (UnknownAPIKey, UnknownEntity):
        return None


@cache
def response_type(api_key: int, version: int) -> type:
    return load_response_schema(api_key, version)


def is_flexible_request(api_key: int, version: int) -> bool:
    cls = request_type(api_key, version)
    return bool(cls is not None and cls.__flexible__)


def supported_range(api_key: int) -> tuple[int, int] | None:
    """The (min, max) versions the codec can decode for an API, or None."""
    versions = [v for v in range(0, 64) if request_type(api_key, v) is not None]
    return (min(versions), max(versions)) if versions else None


@cache
def _reader(cls: type) -> Any:
    return entity_reader(cls)


def decode_request(api_key: int, version: int, frame: bytes | memoryview, offset: int) -> Any:
    """Decode a request body; raises DecodeError when it is truncated or malformed."""
    cls = request_type(api_key, version)
    if cls is None:
        raise DecodeError(f"no codec for api {api_key} v{version}")
    try:
        check_counts(cls, frame, offset)  # before kio: a huge array count would abort the process
        value, size = _reader(cls)(frame, offset)
    except (ValueError, TypeError, OverflowError, IndexError, SchemaError, UnicodeDecodeError) as exc:
        raise DecodeError(f"malformed {cls.__name__} v{version}: {exc}") from exc
    except Exception as exc:  # the native reader raises its own types on truncation
        raise DecodeError(f"malformed {cls.__name__} v{version}: {exc!r}") from exc
    return value


def _frame(header: bytes, entity: Any) -> bytes:
    """``header`` then ``entity``'s encoding, behind an int32 size prefix."""
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    buf.write(header)
    entity_writer(type(entity))(buf, entity)
    data = buf.getbuffer()
    data[0:4] = (len(data) - 4).to_bytes(4, "big")
    del data
    return buf.getvalue()


def encode_response(correlation_id: int, response: Any, *, api_key: int, version: int) -> bytes:
    """Size-prefixed response frame: header (v0 or v1) then the body."""
    header = correlation_id.to_bytes(4, "big", signed=True)
    if api_key != API_VERSIONS_KEY and type(response).__flexible__:
        header += b"\0"  # response header v1: no tagged fields
    return _frame(header, response)


# ---------------------------------------------------------------- the client's direction

def encode_request(api_key: int, version: int, correlation_id: int, client_id: str | None,
                   data: Mapping[str, Any]) -> bytes:
    """Size-prefixed request frame: header v1 (v2 for flexible versions) then the body built from ``data``."""
    cls = request_type(api_key, version)
    if cls is None:
        raise DecodeError(f"no codec for api {api_key} v{version}")
    client = b"" if client_id is None else client_id.encode()
    header = _HEADER.pack(api_key, version, correlation_id, -1 if client_id is None else len(client)) + client
    if cls.__flexible__:
        header += b"\0"  # request header v2: no tagged fields
    return _frame(header, build(cls, data))


def decode_response(api_key: int, version: int, payload: bytes) -> tuple[int, Any]:
    """(correlation id, response entity) of a response frame without its size prefix;
    raises DecodeError when it is truncated or malformed."""
    cls = response_type(api_key, version)
    if len(payload) < 4:
        raise DecodeError("response shorter than its header")
    correlation_id = int.from_bytes(payload[:4], "big", signed=True)
    pos = 4
    if api_key != API_VERSIONS_KEY and cls.__flexible__:
        pos = skip_tagged_fields(payload, pos)
    try:
        check_counts(cls, payload, pos)  # a broker's response must not be able to abort a tool either
        value, _size = _reader(cls)(payload, pos)
    except Exception as exc:  # the native reader raises its own types on truncation
        raise DecodeError(f"malformed {cls.__name__} v{version}: {exc!r}") from exc
    return correlation_id, value


# ---------------------------------------------------------------- building responses

class _FieldPlan(NamedTuple):
    name: str
    convert: Any  # callable(value) -> kio value
    default: Any  # value to use when missing (already converted), or _REQUIRED


_REQUIRED = object()


def _to_error_code(v: Any) -> Any:
    return v if isinstance(v, ErrorCode) else ErrorCode(int(v))


def _to_timedelta(v: Any) -> Any:
    return v if isinstance(v, datetime.timedelta) else datetime.timedelta(milliseconds=int(v))


def _to_datetime(v: Any) -> Any:
    if v is None or isinstance(v, datetime.datetime):
        return v
    v = int(v)
    if v < 0:
        return None
    return datetime.datetime.fromtimestamp(v / 1000, tz=_UTC)


def _tuple_or_none(v: Any) -> Any:
    return None if v is None else tuple(v)


def _identity(v: Any) -> Any:
    return v


def _entity_of(tp: Any) -> tuple[type | None, bool]:
    """(entity class, is_array) for a field type, or (None, is_array) for primitives."""
    if typing.get_origin(tp) in (UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not NoneType]
        tp = args[0] if len(args) == 1 else tp
    is_array = typing.get_origin(tp) is tuple
    if is_array:
        tp = typing.get_args(tp)[0]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp, is_array
    return None, is_array


def _implicit_default(kafka_type: str | None, nullable: bool, is_array: bool) -> Any:
    if is_array:
        return ()
    if nullable:
        return None
    return {
        "int8": 0, "int16": 0, "int32": 0, "int64": 0, "uint16": 0, "uint32": 0, "uint64": 0,
        "float64": 0.0, "string": "", "bytes": b"", "records": b"", "bool": False,
        "error_code": ErrorCode.NONE, "timedelta_i32": datetime.timedelta(0),
        "timedelta_i64": datetime.timedelta(0), "uuid": uuid.UUID(int=0),
    }.get(kafka_type or "", _REQUIRED)


@cache
def _plan(cls: type) -> tuple[_FieldPlan, ...]:
    hints = typing.get_type_hints(cls)
    plans = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        entity, is_array = _entity_of(tp)
        kafka_type = f.metadata.get("kafka_type")
        nullable = typing.get_origin(tp) in (UnionType, typing.Union) and NoneType in typing.get_args(tp)
        if entity is not None:
            if is_array:
                convert = (lambda e: lambda vs: None if vs is None else tuple(build(e, v) for v in vs))(entity)
            else:
                convert = (lambda e: lambda v: None if v is None else build(e, v))(entity)
        elif kafka_type == "error_code":
            convert = _to_error_code
        elif kafka_type in ("timedelta_i32", "timedelta_i64"):
            convert = _to_timedelta
        elif kafka_type == "datetime_i64":
            convert = _to_datetime
        elif is_array:
            convert = _tuple_or_none
        else:
            convert = _identity
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = _implicit_default(kafka_type, nullable, is_array)
        plans.append(_FieldPlan(f.name, convert, default))
    return tuple(plans)


def build(cls: type, data: Mapping[str, Any] | Any) -> Any:
    """Build a kio entity of ``cls`` from a dict, version-agnostically.

    Keys that the version does not have are dropped; fields the dict lacks
    take the schema default (or zero / empty / null).  Plain ints become error
    codes, timedeltas and datetimes where the schema says so.  An already
    built entity of the right class is returned unchanged.
    """
    if isinstance(data, cls):
        return data
    kwargs = {}
    for plan in _plan(cls):
        if plan.name in data:
            kwargs[plan.name] = plan.convert(data[plan.name])
        elif plan.default is _REQUIRED:
            raise KeyError(f"{cls.__qualname__}.{plan.name} is required")
        else:
            kwargs[plan.name] = plan.default
    return cls(**kwargs)


def build_response(api_key: int, version: int, data: Mapping[str, Any]) -> Any:
    return build(response_type(api_key, version), data)


def to_dict(entity: Any) -> Any:
    """Recursively turn a decoded kio entity into plain dicts/lists (for tools and tests)."""
    if dataclasses.is_dataclass(entity):
        return {f.name: to_dict(getattr(entity, f.name)) for f in dataclasses.fields(entity)}
    if isinstance(entity, tuple):
        return [to_dict(e) for e in entity]
    return entity


def millis(value: Any) -> int:
    """A kio timedelta or datetime field as integer milliseconds (-1 for None)."""
    if value is None:
        return -1
    if isinstance(value, datetime.timedelta):
        return round(value.total_seconds() * 1000)
    if isinstance(value, datetime.datetime):
        return round(value.timestamp() * 1000)
    return int(value)


__all__ = [
    "RequestHeader", "DecodeError", "parse_request_header", "request_type", "response_type",
    "decode_request", "encode_response", "build", "build_response", "to_dict", "millis",
    "supported_range", "is_flexible_request", "InvalidRequest",
]
