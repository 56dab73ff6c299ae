"""DescribeTransactions: v0.

The state of each transactional id at the transaction coordinator: Kafka's
state name, timeout, start time of the open transaction (-1 when none, as
Kafka), producer id and epoch, and its partitions by topic.  An unknown id
answers TRANSACTIONAL_ID_NOT_FOUND with the other fields at their schema
defaults (start time 0), as Kafka does.
"""
from __future__ import annotations

import datetime
from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext

API_KEY = 65
VERSIONS = (0, 0)


def _millis(ms: int) -> datetime.datetime:
    """A timestamp field, -1 (none) included: the codec would read a negative int as null."""
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)


def _state(ctx: RequestContext, tid: str) -> dict[str, Any]:
    txns = ctx.broker.transactions
    empty = {"transactional_id": tid, "transaction_state": "", "transaction_timeout": 0,
             "transaction_start_time": _millis(0), "producer_id": -1, "producer_epoch": -1, "topics": []}
    if txns is None:
        return {**empty, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE}
    try:
        meta = txns.describe(tid)
    except KafkaError as exc:
        return {**empty, "error_code": exc.code}
    by_topic: dict[str, list[int]] = {}
    for topic, p in sorted(meta.partitions):
        by_topic.setdefault(topic, []).append(p)
    return {"error_code": 0, "transactional_id": tid, "transaction_state": meta.state.value,
            "transaction_timeout": meta.timeout_ms, "transaction_start_time": _millis(meta.txn_start_ms),
            "producer_id": meta.producer_id, "producer_epoch": meta.producer_epoch,
            "topics": [{"topic": t, "partitions": ps} for t, ps in by_topic.items()]}


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    return {"throttle_time": 0, "transaction_states": [_state(ctx, tid) for tid in request.transactional_ids]}
