"""Transactions are not implemented yet: a transactional producer must fail at once with a fatal
error (TRANSACTIONAL_ID_AUTHORIZATION_FAILED from FindCoordinator), not retry until its timeout."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from kafka import KafkaProducer
from kafka.errors import TransactionalIdAuthorizationFailedError

pytestmark = pytest.mark.timeout(120)

DEADLINE_S = 5  # the clients' own timeouts are 30 s and more: a retriable answer would run into them


def test_confluent_init_transactions_fails_at_once(broker):
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "txn-confluent"})
    started = time.monotonic()
    with pytest.raises(KafkaException) as exc:
        p.init_transactions(30)
    elapsed = time.monotonic() - started
    error = exc.value.args[0]
    assert error.code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, error
    assert error.fatal() or not error.retriable(), error
    assert elapsed < DEADLINE_S, f"init_transactions() took {elapsed:.1f}s to fail"


def test_kafka_python_init_transactions_fails_at_once(broker):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="txn-kafka-python")
    try:
        started = time.monotonic()
        with pytest.raises(TransactionalIdAuthorizationFailedError):
            p.init_transactions()
        elapsed = time.monotonic() - started
        assert elapsed < DEADLINE_S, f"init_transactions() took {elapsed:.1f}s to fail"
    finally:
        p.close(timeout=5)


def test_refusals_log_one_warning_a_minute(broker):
    for n in range(3):
        p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": f"txn-{n}"})
        with pytest.raises(KafkaException):
            p.init_transactions(30)
    warnings = [line for line in broker.log_tail(400).splitlines() if "transaction coordinator" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and "not supported" in warnings[0], warnings
