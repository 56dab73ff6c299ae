"""The idempotent producer's rules at the wire, with batches built by kafka-python's codec.

A retried batch (same producer id, epoch and sequence) is acknowledged with its
original offset and not written twice, also after a clean restart and after
kill -9 (producer state is rebuilt from the log); a sequence gap is refused
with OUT_OF_ORDER_SEQUENCE_NUMBER and writes nothing.
"""
from __future__ import annotations

import struct

import pytest
from kafka.protocol.old.init_producer_id import InitProducerIdRequest_v1, InitProducerIdResponse_v1
from kafka.protocol.old.list_offsets import ListOffsetsResponse_v5
from kafka.record.default_records import DefaultRecordBatchBuilder

from test_bad_input import connect, consume, create_topic, frame, header_v1, produce_raw, recv_frame
from test_protocol import list_offsets_v5

pytestmark = pytest.mark.timeout(60)

OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 45, 47


def init_producer_id(broker) -> tuple[int, int]:
    req = InitProducerIdRequest_v1(transactional_id=None, transaction_timeout_ms=60000)
    with connect(broker) as s:
        s.sendall(frame(header_v1(22, 1, 3) + req.encode()))
        body = recv_frame(s)
    resp = InitProducerIdResponse_v1.decode(body[4:])
    assert resp.error_code == 0
    assert resp.producer_id >= 0 and resp.producer_epoch >= 0
    return resp.producer_id, resp.producer_epoch


def idem_batch(pid: int, epoch: int, seq: int, values: list[bytes]) -> bytes:
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=pid,
                                  producer_epoch=epoch, base_sequence=seq, batch_size=1 << 20)
    for i, v in enumerate(values):
        b.append(i, timestamp=1_700_000_000_000 + i, key=None, value=v, headers=[])
    return bytes(b.build())


def latest(broker, topic: str) -> int:
    with connect(broker) as s:
        req = list_offsets_v5(topic, {0: -1})
        s.sendall(frame(header_v1(req.API_KEY, req.API_VERSION, 4) + req.encode()))
        body = recv_frame(s)
    return ListOffsetsResponse_v5.decode(body[4:]).topics[0][1][0][3]


def test_duplicate_is_acknowledged_with_the_original_offset_and_a_gap_is_refused(shared_broker):
    topic = "idem-raw"
    create_topic(shared_broker, topic)
    pid, epoch = init_producer_id(shared_broker)
    first = idem_batch(pid, epoch, 0, [b"a", b"b", b"c"])
    assert produce_raw(shared_broker, topic, first) == (0, 0)
    assert produce_raw(shared_broker, topic, idem_batch(pid, epoch, 3, [b"d"])) == (0, 3)
    # a retry of the last batch: success, same offset, nothing written
    assert produce_raw(shared_broker, topic, idem_batch(pid, epoch, 3, [b"d"])) == (0, 3)
    assert latest(shared_broker, topic) == 4
    # a gap: sequence 4 expected, 9 sent
    assert produce_raw(shared_broker, topic, idem_batch(pid, epoch, 9, [b"x"]))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert latest(shared_broker, topic) == 4
    assert produce_raw(shared_broker, topic, idem_batch(pid, epoch, 4, [b"e"])) == (0, 4)
    # another producer id has its own sequence space
    pid2, epoch2 = init_producer_id(shared_broker)
    assert pid2 != pid
    assert produce_raw(shared_broker, topic, idem_batch(pid2, epoch2, 0, [b"f"])) == (0, 5)
    got = consume(shared_broker.bootstrap, topic, 6)
    assert [m.value() for m in got] == [b"a", b"b", b"c", b"d", b"e", b"f"]


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_duplicate_detected_after_restart(broker, how):
    topic = "idem-restart"
    create_topic(broker, topic)
    pid, epoch = init_producer_id(broker)
    for seq in range(0, 10, 2):
        assert produce_raw(broker, topic, idem_batch(pid, epoch, seq, [b"%d" % seq, b"%d" % (seq + 1)])) == (0, seq)
    broker.stop() if how == "sigterm" else broker.kill9()
    broker.start()
    # the producer never saw the last acknowledgement and retries it
    assert produce_raw(broker, topic, idem_batch(pid, epoch, 8, [b"8", b"9"])) == (0, 8)
    assert latest(broker, topic) == 10
    assert produce_raw(broker, topic, idem_batch(pid, epoch, 10, [b"10"])) == (0, 10)
    assert produce_raw(broker, topic, idem_batch(pid, epoch, 12, [b"12"]))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert [m.value() for m in consume(broker.bootstrap, topic, 11)] == [b"%d" % i for i in range(11)]
    pid2, _ = init_producer_id(broker)
    assert pid2 != pid, "a producer id was handed out twice across a restart"
