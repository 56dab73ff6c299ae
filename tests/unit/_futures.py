"""Completed futures, as confluent-kafka's AdminClient returns them (for the CLI's fake admins)."""
from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException


def done(value: Any = None, error: KafkaError | None = None) -> Future:
    """A future holding ``value``, or raising KafkaException(``error``)."""
    future: Future = Future()
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(KafkaException(error))
    return future
