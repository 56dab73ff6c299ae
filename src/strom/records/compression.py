"""Record batch compression codecs (Kafka attribute bits 0-2), via cramjam.

Codec ids: NONE=0, GZIP=1, SNAPPY=2, LZ4=3, ZSTD=4 (5-7 are invalid).

Interoperability with real Kafka clients:

* gzip: RFC 1952 gzip stream (one or more members).
* snappy: Kafka's snappy is the xerial ``SnappyOutputStream`` framing, as
  written by the Java client, librdkafka and kafka-python:
  ``b"\\x82SNAPPY\\x00"`` + int32 version (1) + int32 min-compatible version (1),
  then blocks of big-endian int32 length + raw snappy data (32 KiB of input
  per block when we write).  ``decompress`` accepts that framing and plain
  raw snappy (some clients write raw).
* lz4: the LZ4 frame format (Kafka's ``KafkaLZ4BlockOutputStream`` since magic v1).
* zstd: a zstd frame.

Decompression failures raise CorruptMessage; an unknown codec raises
UnsupportedCompressionType.
"""
from __future__ import annotations

import struct

import cramjam

from strom.errors import CorruptMessage, UnsupportedCompressionType

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
NAMES = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}
BY_NAME = {name: codec for codec, name in NAMES.items()}
XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_HEADER_SIZE = 16
_XERIAL_BLOCK = 32 * 1024
_I32 = struct.Struct(">i")


def compress(codec: int, data: bytes | bytearray | memoryview) -> bytes:
    if codec == NONE:
        return bytes(data)
    if codec == GZIP:
        return bytes(cramjam.gzip.compress(data))
    if codec == SNAPPY:
        view = memoryview(data)
        out = [_XERIAL_HEADER]
        for i in range(0, len(view), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(view[i:i + _XERIAL_BLOCK]))
            out.append(_I32.pack(len(block)))
            out.append(block)
        return b"".join(out)
    if codec == LZ4:
        return bytes(cramjam.lz4.compress(data))
    if codec == ZSTD:
        return bytes(cramjam.zstd.compress(data))
    raise UnsupportedCompressionType(f"unknown compression codec {codec}")


def _xerial_decompress(data: memoryview) -> bytes:
    pos = _XERIAL_HEADER_SIZE
    out = []
    while pos < len(data):
        if pos + 4 > len(data):
            raise CorruptMessage("truncated xerial snappy block length")
        (size,) = _I32.unpack_from(data, pos)
        pos += 4
        if size < 0 or pos + size > len(data):
            raise CorruptMessage(f"xerial snappy block of {size} bytes runs past the data")
        out.append(bytes(cramjam.snappy.decompress_raw(data[pos:pos + size])))
        pos += size
    return b"".join(out)


def decompress(codec: int, data: bytes | bytearray | memoryview) -> bytes:
    view = memoryview(data)
    try:
        if codec == NONE:
            return bytes(view)
        if codec == GZIP:
            return bytes(cramjam.gzip.decompress(view))
        if codec == SNAPPY:
            if view[:len(XERIAL_MAGIC)] == XERIAL_MAGIC:
                return _xerial_decompress(view)
            return bytes(cramjam.snappy.decompress_raw(view))
        if codec == LZ4:
            return bytes(cramjam.lz4.decompress(view))
        if codec == ZSTD:
            return bytes(cramjam.zstd.decompress(view))
    except cramjam.DecompressionError as exc:
        raise CorruptMessage(f"{NAMES[codec]} decompression failed: {exc}") from None
    raise UnsupportedCompressionType(f"unknown compression codec {codec}")
