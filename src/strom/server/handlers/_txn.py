"""Shared by the transaction handlers: the transaction coordinator, and fencing errors by version.

PRODUCER_FENCED (90) came with KIP-588; request versions older than the one
named per API get INVALID_PRODUCER_EPOCH (47) instead, as Kafka answers them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext

if TYPE_CHECKING:
    from strom.coordinator.txn.coordinator import TransactionCoordinator


async def coordinator(ctx: RequestContext) -> "TransactionCoordinator":
    """The transaction coordinator, started first if no transaction was seen yet (a client that
    skipped FindCoordinator); COORDINATOR_NOT_AVAILABLE (retriable) when it cannot start."""
    b = ctx.broker
    if b.transactions is None and b.ensure_transactions is not None:
        await b.ensure_transactions()
    if b.transactions is None:
        raise KafkaError("the transaction coordinator is not available", ErrorCode.COORDINATOR_NOT_AVAILABLE)
    return b.transactions


def error_for(exc: KafkaError, api_version: int, fenced_since: int) -> ErrorCode:
    """The code to answer for ``exc``: PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH below ``fenced_since``."""
    if exc.code is ErrorCode.PRODUCER_FENCED and api_version < fenced_since:
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return exc.code
