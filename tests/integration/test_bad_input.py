"""Hostile and broken input over raw sockets never takes the broker down.

Each test sends one kind of bad input on its own connection, checks what
Apache Kafka does (close the connection, or answer with an error code), and
then checks that the broker still serves everyone else: a fresh producer and
consumer round trip works and the records written before are intact.

Request bytes are built by hand (headers) and with kafka-python's
independent codec (``kafka.protocol.old``, ``DefaultRecordBatchBuilder``),
so these tests do not share code with the broker's own codec.
"""
from __future__ import annotations

import os
import socket
import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.old.api_versions import ApiVersionsResponse_v0
from kafka.protocol.old.produce import ProduceRequest_v3, ProduceResponse_v3
from kafka.record.default_records import DefaultRecordBatchBuilder

from conftest import wait_until

pytestmark = pytest.mark.timeout(60)

SEED_TOPIC = "seed"
SEED_COUNT = 50
API_PRODUCE, API_METADATA, API_API_VERSIONS = 0, 3, 18
UNSUPPORTED_VERSION, CORRUPT_MESSAGE, INVALID_RECORD, MESSAGE_TOO_LARGE = 35, 2, 87, 10


# ---- wire helpers ---------------------------------------------------------------------------------

def connect(broker) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def header_v1(api_key: int, version: int, correlation_id: int, client_id: str = "raw-test") -> bytes:
    cid = client_id.encode()
    return struct.pack(">hhih", api_key, version, correlation_id, len(cid)) + cid


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def recv_exact(s: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(s: socket.socket) -> bytes:
    size = recv_exact(s, 4)
    assert size is not None, "connection closed instead of a response"
    body = recv_exact(s, struct.unpack(">i", size)[0])
    assert body is not None, "connection closed in the middle of a response"
    return body


def assert_closed_by_broker(s: socket.socket, timeout: float = 5.0) -> None:
    """The broker closes the connection (EOF or reset) within ``timeout``; bytes before that are ignored."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not s.recv(65536):
                return
    except (ConnectionResetError, BrokenPipeError):
        return
    except socket.timeout:
        pass
    pytest.fail(f"broker left the connection open for {timeout}s after bad input")


def rss_kib(broker) -> int:
    for line in open(f"/proc/{broker.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def record_batch(values: list[bytes], timestamp: int = 1_700_000_000_000) -> bytearray:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for i, v in enumerate(values):
        builder.append(i, timestamp=timestamp + i, key=b"k", value=v, headers=[])
    return builder.build()


def produce_raw(broker, topic: str, records: bytes, correlation_id: int = 7) -> tuple[int, int]:
    """One ProduceRequest v3 (acks=1) with ``records`` for partition 0; returns (error_code, base_offset)."""
    req = ProduceRequest_v3(transactional_id=None, acks=1, timeout_ms=5000,
                            topic_data=[(topic, [(0, bytes(records))])])
    with connect(broker) as s:
        s.sendall(frame(header_v1(API_PRODUCE, 3, correlation_id) + req.encode()))
        body = recv_frame(s)
    assert struct.unpack(">i", body[:4])[0] == correlation_id
    resp = ProduceResponse_v3.decode(body[4:])
    [(name, [(index, error_code, base_offset, *_)])] = resp.responses
    assert (name, index) == (topic, 0)
    return error_code, base_offset


# ---- the broker still works ---------------------------------------------------------------------

def consume(bootstrap: str, topic: str, expected: int, timeout: float = 15) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 50, "session.timeout.ms": 6000})
    c.assign([TopicPartition(topic, 0, 0)])
    out: list = []
    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        for m in c.consume(expected - len(out), 0.5):
            assert m.error() is None, m.error()
            out.append(m)
    c.close()
    return out


def create_topic(broker, topic: str, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # keep it alive until the result is in
    admin.create_topics([NewTopic(topic, 1, 1, config=config or {})])[topic].result(10)


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 10000})
    errors: list = []
    for v in values:
        p.produce(topic, value=v, on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(15) == 0 and errors == []


def assert_broker_healthy_without_seed(broker) -> None:
    assert broker.alive, f"broker died; log tail:\n{broker.log_tail()}"
    topic = f"after-{uuid.uuid4().hex[:8]}"
    produce(broker.bootstrap, topic, [b"still-alive"])
    assert [m.value() for m in consume(broker.bootstrap, topic, 1)] == [b"still-alive"]


def assert_broker_healthy(broker) -> None:
    assert_broker_healthy_without_seed(broker)
    seed = consume(broker.bootstrap, SEED_TOPIC, SEED_COUNT)
    assert [m.value() for m in seed] == [b"seed-%d" % i for i in range(SEED_COUNT)]
    assert [m.offset() for m in seed] == list(range(SEED_COUNT))


@pytest.fixture(scope="module")
def hostile_broker(tmp_path_factory):
    from conftest import Broker, shutdown_all
    d = tmp_path_factory.mktemp("hostile")
    b = Broker(d / "data", d / "strom.log", {"socket.request.max.bytes": 1048576})
    try:
        b.start()
        create_topic(b, SEED_TOPIC)
        produce(b.bootstrap, SEED_TOPIC, [b"seed-%d" % i for i in range(SEED_COUNT)])
        yield b
    finally:
        shutdown_all([b])


@pytest.fixture
def hb(request, hostile_broker):
    from conftest import _BROKERS
    request.node.stash.setdefault(_BROKERS, []).append(hostile_broker)
    assert hostile_broker.alive, f"broker died in an earlier test; log tail:\n{hostile_broker.log_tail()}"
    yield hostile_broker
    assert_broker_healthy(hostile_broker)


# ---- the tests ------------------------------------------------------------------------------------

def test_http_request_instead_of_kafka(hb):
    # "GET " read as a size prefix is ~1.2 GB: far over socket.request.max.bytes
    with connect(hb) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert_closed_by_broker(s)


def test_random_garbage_in_a_small_frame(hb):
    junk = bytes((i * 37 + 11) % 256 for i in range(64))
    with connect(hb) as s:
        s.sendall(frame(junk))
        assert_closed_by_broker(s)


def test_negative_frame_size(hb):
    with connect(hb) as s:
        s.sendall(struct.pack(">i", -5) + b"\x00" * 16)
        assert_closed_by_broker(s)


def test_frame_over_socket_request_max_bytes_is_refused_without_allocating(hb):
    before = rss_kib(hb)
    with connect(hb) as s:
        s.sendall(struct.pack(">i", 1 << 30) + header_v1(API_METADATA, 1, 1) + b"\xff\xff\xff\xff")
        assert_closed_by_broker(s)
    assert rss_kib(hb) - before < 200_000, "the broker allocated memory for a frame it should have refused"


def test_frame_just_over_the_limit_is_refused(hb):
    with connect(hb) as s:
        s.sendall(struct.pack(">i", 1048576 + 1) + header_v1(API_METADATA, 1, 1))
        assert_closed_by_broker(s)


def test_unknown_api_key_closes_connection(hb):
    with connect(hb) as s:
        s.sendall(frame(header_v1(9999, 0, 1)))
        assert_closed_by_broker(s)


def test_unsupported_metadata_version_closes_connection(hb):
    with connect(hb) as s:
        s.sendall(frame(header_v1(API_METADATA, 99, 1) + b"\xff\xff\xff\xff"))
        assert_closed_by_broker(s)


def test_api_versions_v99_answers_error_35_with_v0_body_and_keeps_connection(hb):
    with connect(hb) as s:
        # a future client: flexible header v2 (tagged fields) and a body we cannot parse
        s.sendall(frame(header_v1(API_API_VERSIONS, 99, 42) + b"\x00" + b"\x07future\x031.0\x00"))
        body = recv_frame(s)
        assert struct.unpack(">i", body[:4])[0] == 42
        resp = ApiVersionsResponse_v0.decode(body[4:])  # no tagged-field header, v0 body
        assert resp.error_code == UNSUPPORTED_VERSION
        ranges = {key: (lo, hi) for key, lo, hi in resp.api_keys}
        assert {API_PRODUCE, 1, 2, API_METADATA, API_API_VERSIONS} <= set(ranges)
        assert ranges[API_API_VERSIONS][0] == 0 and ranges[API_API_VERSIONS][1] >= 3
        # the client retries on the same connection with a version it now knows is served
        s.sendall(frame(header_v1(API_API_VERSIONS, 0, 43)))
        body = recv_frame(s)
        assert struct.unpack(">i", body[:4])[0] == 43
        assert ApiVersionsResponse_v0.decode(body[4:]).error_code == 0


def test_truncated_frame_then_disconnect(hb):
    with connect(hb) as s:
        s.sendall(struct.pack(">i", 100) + header_v1(API_METADATA, 1, 1))
        s.shutdown(socket.SHUT_WR)  # the rest never comes
        assert_closed_by_broker(s)


def test_complete_frame_with_truncated_body_closes_only_that_connection(hb):
    with connect(hb) as other, connect(hb) as s:
        # Metadata v1 promising 5 topic names and carrying none: the frame is whole, the request is not
        s.sendall(frame(header_v1(API_METADATA, 1, 1) + struct.pack(">i", 5)))
        assert_closed_by_broker(s)
        other.sendall(frame(header_v1(API_API_VERSIONS, 0, 7)))
        assert struct.unpack(">i", recv_frame(other)[:4])[0] == 7


def test_truncated_header(hb):
    with connect(hb) as s:
        s.sendall(frame(b"\x00\x03\x00"))
        assert_closed_by_broker(s)


def open_fds(broker) -> int:
    return len(os.listdir(f"/proc/{broker.proc.pid}/fd"))


def api_versions_ok(s: socket.socket, correlation_id: int = 5) -> bool:
    s.sendall(frame(header_v1(API_API_VERSIONS, 0, correlation_id)))
    body = recv_frame(s)
    return struct.unpack(">i", body[:4])[0] == correlation_id and ApiVersionsResponse_v0.decode(body[4:]).error_code == 0


def drop(s: socket.socket, how: int) -> None:
    """Leave in one of the ways a client goes away."""
    if how == 1:
        s.sendall(struct.pack(">i", 50))  # a size prefix, then gone
    elif how == 2:
        s.sendall(frame(header_v1(API_METADATA, 1, 1) + b"\x00\x00\x00\x01"))  # a truncated request
    elif how == 3:
        s.sendall(frame(header_v1(API_API_VERSIONS, 0, 3)))  # a request, gone before its answer
    elif how == 4:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST instead of FIN
    s.close()


def test_many_connections_opened_and_dropped_leave_nothing_behind(strom_factory):
    """Connections that go away in every way a client can leave give back their slot and their
    descriptor: at max.connections, a broker that leaked either would refuse everyone after a while."""
    limit = 10
    b = strom_factory({"max.connections": limit})
    baseline = open_fds(b)
    for round_ in range(5):  # 50 connections, never more than the limit at once
        socks = [connect(b) for _ in range(limit)]
        assert api_versions_ok(socks[0])  # all of them admitted, not refused at accept
        wait_until(lambda: open_fds(b) >= baseline + limit)  # the fd count sees the connections
        for i, s in enumerate(socks):
            drop(s, (i + round_) % 5)
        wait_until(lambda: open_fds(b) <= baseline)  # every descriptor is closed again
    # every slot is free again: `limit` clients at once are all served, one more is refused
    socks = [connect(b) for _ in range(limit)]
    try:
        assert all(api_versions_ok(s, i) for i, s in enumerate(socks))
        with connect(b) as extra:
            assert_closed_by_broker(extra)
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: open_fds(b) <= baseline)
    assert_broker_healthy_without_seed(b)
    assert b.stop() == 0  # and it still stops cleanly


@pytest.fixture
def raw_topic(hb):
    topic = f"raw-{uuid.uuid4().hex[:8]}"
    create_topic(hb, topic, {"max.message.bytes": "4096"})
    return topic


def test_produce_with_wrong_crc_is_rejected_and_not_stored(hb, raw_topic):
    good = record_batch([b"good-0"])
    assert produce_raw(hb, raw_topic, good) == (0, 0)
    bad = record_batch([b"bad-1", b"bad-2"])
    bad[-1] ^= 0xFF  # last byte of the last record's value: covered by the CRC
    error_code, _ = produce_raw(hb, raw_topic, bad)
    assert error_code == CORRUPT_MESSAGE
    assert produce_raw(hb, raw_topic, record_batch([b"good-1"])) == (0, 1)  # the bad batch took no offsets
    assert [m.value() for m in consume(hb.bootstrap, raw_topic, 2)] == [b"good-0", b"good-1"]


def test_produce_with_corrupt_crc_field_is_rejected(hb, raw_topic):
    bad = record_batch([b"x"])
    bad[17] ^= 0x01  # the CRC itself (bytes 17..20 of the batch header)
    assert produce_raw(hb, raw_topic, bad)[0] == CORRUPT_MESSAGE


def test_produce_with_truncated_batch_is_rejected(hb, raw_topic):
    batch = record_batch([b"a" * 100, b"b" * 100])
    error_code, _ = produce_raw(hb, raw_topic, batch[: len(batch) - 30])
    assert error_code in (CORRUPT_MESSAGE, INVALID_RECORD)
    assert produce_raw(hb, raw_topic, record_batch([b"ok"])) == (0, 0)


def test_produce_with_batch_length_larger_than_data_is_rejected(hb, raw_topic):
    batch = record_batch([b"v"])
    batch[8:12] = struct.pack(">i", struct.unpack(">i", batch[8:12])[0] + 1000)  # batchLength lies
    error_code, _ = produce_raw(hb, raw_topic, batch)
    assert error_code in (CORRUPT_MESSAGE, INVALID_RECORD)


def test_produce_message_format_v1_is_rejected(hb, raw_topic):
    batch = record_batch([b"old"])
    batch[16] = 1  # magic 1 in a v2-shaped batch
    assert produce_raw(hb, raw_topic, batch)[0] == INVALID_RECORD


def test_produce_batch_over_max_message_bytes_is_rejected(hb, raw_topic):
    assert produce_raw(hb, raw_topic, record_batch([b"y" * 8000]))[0] == MESSAGE_TOO_LARGE
    assert produce_raw(hb, raw_topic, record_batch([b"z" * 1000])) == (0, 0)


def test_huge_array_counts_in_every_api_do_not_take_the_broker_down(hb):
    """One small frame whose array count claims billions of elements once aborted the broker (the
    decoder reserved memory for them all at once).  For every served API, at its lowest and highest
    version, a huge count is put at each of the first 16 body positions, after zero fields (legacy
    encodings) or after fields of one byte 0x01 (flexible encodings: empty strings and arrays)."""
    with connect(hb) as s:
        s.sendall(frame(header_v1(API_API_VERSIONS, 0, 1)))
        served = ApiVersionsResponse_v0.decode(recv_frame(s)[4:]).api_keys
    probes = 0
    for key, low, high in served:
        for version in sorted({low, high}):
            for prefix, fill, huge in ((b"", b"\0", b"\x7f\xff\xff\xff"), (b"\0", b"\x01", b"\xff\xff\xff\xff\x0f")):
                for at in range(16):
                    body = prefix + fill * at + huge + fill * 32
                    with connect(hb) as s:
                        s.settimeout(2)
                        s.sendall(frame(header_v1(key, version, at) + body))
                        try:
                            s.recv(1 << 16)  # an answer or the broker closing: the frame was handled
                        except socket.timeout:
                            pass  # parked (a long poll): handled too
                    probes += 1
            assert hb.alive, f"broker died on API {key} v{version}; log tail:\n{hb.log_tail()}"
    assert probes > 1000
