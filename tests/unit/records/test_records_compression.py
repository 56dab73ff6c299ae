"""Codecs: round trips and interoperability with the reference libraries Kafka clients use."""
from __future__ import annotations

import gzip
import os

import kafka.codec
import lz4.frame
import pytest
import snappy
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from strom.errors import CorruptMessage, UnsupportedCompressionType
from strom.records import compression as c

DATA = os.urandom(50_000) + b"kafka " * 20_000  # > 32 KiB: several xerial blocks


@pytest.mark.parametrize("codec", [c.NONE, c.GZIP, c.SNAPPY, c.LZ4, c.ZSTD])
def test_round_trip(codec):
    assert c.decompress(codec, c.compress(codec, DATA)) == DATA
    assert c.decompress(codec, memoryview(c.compress(codec, DATA))) == DATA
    assert c.decompress(codec, c.compress(codec, b"")) == b""


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=5000), st.sampled_from([c.GZIP, c.SNAPPY, c.LZ4, c.ZSTD]))
def test_round_trip_property(data, codec):
    assert c.decompress(codec, c.compress(codec, data)) == data


def test_gzip_interop():
    assert gzip.decompress(c.compress(c.GZIP, DATA)) == DATA
    assert c.decompress(c.GZIP, gzip.compress(DATA)) == DATA


def test_snappy_is_xerial_framed_and_reads_both_framings():
    ours = c.compress(c.SNAPPY, DATA)
    assert ours.startswith(b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")
    assert kafka.codec.snappy_decode(ours) == DATA  # kafka-python's xerial reader
    assert c.decompress(c.SNAPPY, kafka.codec.snappy_encode(DATA, xerial_compatible=True)) == DATA
    assert c.decompress(c.SNAPPY, snappy.compress(DATA)) == DATA  # plain raw snappy (python-snappy)


def test_lz4_is_the_frame_format():
    assert lz4.frame.decompress(c.compress(c.LZ4, DATA)) == DATA
    assert c.decompress(c.LZ4, lz4.frame.compress(DATA)) == DATA
    assert c.decompress(c.LZ4, kafka.codec.lz4_encode(DATA)) == DATA


def test_zstd_interop():
    assert zstandard.ZstdDecompressor().decompress(c.compress(c.ZSTD, DATA), max_output_size=len(DATA)) == DATA
    assert c.decompress(c.ZSTD, zstandard.ZstdCompressor().compress(DATA)) == DATA


@pytest.mark.parametrize("codec", [c.GZIP, c.SNAPPY, c.LZ4, c.ZSTD])
def test_garbage_is_corrupt_message(codec):
    with pytest.raises(CorruptMessage):
        c.decompress(codec, b"\x82SNAPPY\x00" + b"\x00" * 8 + b"\x00\x00\x00\x09garbage" if codec == c.SNAPPY
                     else b"definitely not compressed data")


def test_unknown_codec():
    for codec in (5, 6, 7):
        with pytest.raises(UnsupportedCompressionType):
            c.compress(codec, b"x")
        with pytest.raises(UnsupportedCompressionType):
            c.decompress(codec, b"x")
