"""Record batch compression codecs (Kafka attribute bits 0-2), via cramjam.

Interoperability notes: Kafka's snappy is the xerial framing
(``\\x82SNAPPY\\x00`` + version + compat, then big-endian length-prefixed raw
snappy blocks) as written by the Java client, librdkafka and kafka-python;
plain raw snappy is accepted on decompress.  LZ4 is the LZ4 frame format.
"""
from __future__ import annotations

import struct

import cramjam

from strom.errors import UnsupportedCompressionType

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
NAMES = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}
_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_BLOCK = 32 * 1024


def compress(codec: int, data: bytes) -> bytes:
    if codec == NONE:
        return bytes(data)
    if codec == GZIP:
        return bytes(cramjam.gzip.compress(data))
    if codec == SNAPPY:
        out = [_XERIAL_MAGIC, struct.pack(">ii", 1, 1)]
        for i in range(0, len(data), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(bytes(data[i:i + _XERIAL_BLOCK])))
            out.append(struct.pack(">i", len(block)))
            out.append(block)
        return b"".join(out)
    if codec == LZ4:
        return bytes(cramjam.lz4.compress(data))
    if codec == ZSTD:
        return bytes(cramjam.zstd.compress(data))
    raise UnsupportedCompressionType(f"unknown compression codec {codec}")


def decompress(codec: int, data: bytes | memoryview) -> bytes:
    data = bytes(data)
    if codec == NONE:
        return data
    if codec == GZIP:
        return bytes(cramjam.gzip.decompress(data))
    if codec == SNAPPY:
        if data.startswith(_XERIAL_MAGIC):
            pos = 16
            out = []
            while pos + 4 <= len(data):
                (size,) = struct.unpack_from(">i", data, pos)
                pos += 4
                out.append(bytes(cramjam.snappy.decompress_raw(data[pos:pos + size])))
                pos += size
            return b"".join(out)
        return bytes(cramjam.snappy.decompress_raw(data))
    if codec == LZ4:
        return bytes(cramjam.lz4.decompress(data))
    if codec == ZSTD:
        return bytes(cramjam.zstd.decompress(data))
    raise UnsupportedCompressionType(f"unknown compression codec {codec}")
