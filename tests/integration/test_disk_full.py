"""A full disk as applications see it.

The broker runs with a file-size limit (RLIMIT_FSIZE; CPython ignores SIGXFSZ), so a write that
would make a file larger than the limit fails or comes back short, as on a full disk, without
privileges.  Producers get KAFKA_STORAGE_ERROR, every acknowledged record stays readable, the
broker logs the failure and keeps serving, stops cleanly, starts again on the same data, and takes
writes again once there is room (here: started without the limit), offsets continuing.
"""
from __future__ import annotations

import resource

import pytest
from confluent_kafka import KafkaError, Producer

from conftest import unique
from test_restart import create_topic, read_all, watermarks

pytestmark = pytest.mark.timeout(120)

LIMIT = 1 << 20


def produce(bootstrap: str, topic: str, values: list[bytes], **conf) -> tuple[list, list]:
    """(delivered messages, delivery errors), every record answered one way or the other."""
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10000, **conf})
    delivered, errors = [], []
    for v in values:
        p.produce(topic, v, on_delivery=lambda err, msg: errors.append(err) if err else delivered.append(msg))
        p.poll(0)
    assert p.flush(30) == 0
    return delivered, errors


def test_full_disk_refuses_writes_keeps_acknowledged_records_and_recovers(strom_factory):
    broker = strom_factory(limits={resource.RLIMIT_FSIZE: LIMIT})
    topic = unique("full")
    create_topic(broker.bootstrap, topic)
    values = [b"%06d" % i + b"x" * 994 for i in range(2000)]  # ~2 MB: twice the limit
    delivered, errors = produce(broker.bootstrap, topic, values, **{"linger.ms": 5, "retries": 0})
    assert delivered and errors
    assert {e.code() for e in errors} == {KafkaError.KAFKA_STORAGE_ERROR}
    acknowledged = [m.value() for m in delivered]
    assert len(acknowledged) + len(errors) == len(values)
    assert f"append to {topic}-0 failed" in broker.log_tail(200)

    def stored() -> list[bytes]:
        got = read_all(broker.bootstrap, topic, 1, len(acknowledged))[0]
        return [m.value() for m in got]
    assert stored() == acknowledged  # every acknowledged record, nothing else
    assert watermarks(broker.bootstrap, topic) == (0, len(acknowledged))

    broker.restart()  # still "full": a clean stop and a start on the same data
    assert stored() == acknowledged

    broker.limits = {}  # room again
    broker.restart()
    more, errors = produce(broker.bootstrap, topic, [b"after %d" % i for i in range(100)])
    assert not errors
    assert [m.offset() for m in more] == list(range(len(acknowledged), len(acknowledged) + 100))
    assert watermarks(broker.bootstrap, topic) == (0, len(acknowledged) + 100)
