"""Hostile and broken requests get Kafka's answer, and the broker keeps serving everyone else."""
from __future__ import annotations

import socket
import struct

import pytest
from confluent_kafka import Producer
from kafka.protocol.metadata.api_versions import ApiVersionsResponse

from strom.records.batch import NewRecord, build_batch
from test_produce_consume import consume_all, create_topic


def connect(broker) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    return s


def request(api_key: int, version: int, body: bytes, correlation_id: int = 1, flexible: bool = False) -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation_id, 4) + b"test"
    if flexible:
        header += b"\x00"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(s: socket.socket) -> bytes:
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    return recv_exact(s, size)


def recv_exact(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def assert_closed(s: socket.socket) -> None:
    s.settimeout(5)
    try:
        assert s.recv(1) == b""
    except ConnectionResetError:
        pass


def assert_still_serving(broker, topic: str = "alive") -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce(topic, value=b"ok")
    assert p.flush(10) == 0


@pytest.fixture
def seeded(broker):
    create_topic(broker.bootstrap, "alive")
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(50):
        p.produce("alive", value=str(i).encode())
    assert p.flush(10) == 0
    return broker


def check_intact(broker, extra: int = 1) -> None:
    got = consume_all(broker.bootstrap, "alive", 1, 50 + extra)
    assert [m.value() for m in got[:50]] == [str(i).encode() for i in range(50)]


def test_garbage_bytes_close_the_connection(seeded):
    s = connect(seeded)
    s.sendall(b"\x00\x00\x00\x10" + b"\xde\xad\xbe\xef" * 4)
    assert_closed(s)
    assert_still_serving(seeded)
    check_intact(seeded)


def test_frame_over_socket_request_max_bytes_is_refused(strom_factory):
    broker = strom_factory({"socket.request.max.bytes": 1048576})
    create_topic(broker.bootstrap, "alive")
    s = connect(broker)
    s.sendall(struct.pack(">i", 1 << 30) + b"\x00" * 16)
    assert_closed(s)
    assert_still_serving(broker)


def test_unknown_api_key_and_unsupported_version(seeded):
    s = connect(seeded)
    s.sendall(request(9999, 0, b""))
    assert_closed(s)
    s = connect(seeded)
    s.sendall(request(3, 99, b""))  # Metadata v99
    assert_closed(s)
    s = connect(seeded)
    s.sendall(request(18, 99, b"", correlation_id=42))  # ApiVersions v99: error 35 + our ranges in v0
    frame = read_frame(s)
    assert struct.unpack(">i", frame[:4])[0] == 42
    parsed = ApiVersionsResponse.decode(frame[4:], version=0)
    assert parsed.error_code == 35
    assert any(k.api_key == 0 for k in parsed.api_keys)
    assert_still_serving(seeded)


def test_truncated_request_closes_only_that_connection(seeded):
    other = connect(seeded)
    s = connect(seeded)
    s.sendall(request(3, 4, b"\x00\x00\x00\x05\x00"))  # Metadata v4 with a topic array cut short
    assert_closed(s)
    other.sendall(request(18, 0, b"", correlation_id=7))
    assert struct.unpack(">i", read_frame(other)[:4])[0] == 7
    assert_still_serving(seeded)


def produce_v3(topic: str, records: bytes) -> bytes:
    """ProduceRequest v3 by hand: transactional_id, acks, timeout, [topic [partition records]]."""
    body = struct.pack(">h", -1) + struct.pack(">hi", -1, 5000) + struct.pack(">i", 1)
    body += struct.pack(">h", len(topic)) + topic.encode() + struct.pack(">i", 1)
    body += struct.pack(">i", 0) + struct.pack(">i", len(records)) + records
    return request(0, 3, body, correlation_id=9)


def parse_produce_v3_error(frame: bytes) -> int:
    pos = 4 + 4  # correlation id, topic count
    (name_len,) = struct.unpack_from(">h", frame, pos)
    pos += 2 + name_len + 4 + 4  # name, partition count, partition index
    (error,) = struct.unpack_from(">h", frame, pos)
    return error


def test_wrong_crc_gets_corrupt_message_and_writes_nothing(seeded):
    batch = bytearray(build_batch([NewRecord(None, b"evil")]))
    batch[-1] ^= 0xFF
    s = connect(seeded)
    s.sendall(produce_v3("alive", bytes(batch)))
    assert parse_produce_v3_error(read_frame(s)) == 2  # CORRUPT_MESSAGE
    good = build_batch([NewRecord(None, b"50")])
    s.sendall(produce_v3("alive", good))
    assert parse_produce_v3_error(read_frame(s)) == 0
    check_intact(seeded)


def test_message_format_v1_and_oversized_batches_rejected(seeded):
    s = connect(seeded)
    old = bytearray(build_batch([NewRecord(None, b"x")]))
    old[16] = 1  # magic 1
    s.sendall(produce_v3("alive", bytes(old)))
    assert parse_produce_v3_error(read_frame(s)) == 87  # INVALID_RECORD
    big = build_batch([NewRecord(None, b"y" * 1_100_000)])
    s.sendall(produce_v3("alive", big))
    assert parse_produce_v3_error(read_frame(s)) == 10  # MESSAGE_TOO_LARGE
    assert_still_serving(seeded)
    check_intact(seeded)
