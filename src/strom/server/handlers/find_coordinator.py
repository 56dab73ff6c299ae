"""FindCoordinator: v0-6.

Group keys (key_type 0) map to the leader of their ``__consumer_offsets``
partition, transaction keys (1) to the leader of their ``__transaction_state``
partition — this node, while it is the only one.  v4+ batches keys.  The first
transaction key starts the transaction coordinator (creating
``__transaction_state``, as Kafka does at this point) before the answer.  An empty
key answers INVALID_REQUEST; COORDINATOR_NOT_AVAILABLE (retriable) while the
coordinator is not loaded.  Share-group keys (2) and other types answer
INVALID_REQUEST.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 10
VERSIONS = (0, 6)
GROUP, TRANSACTION = 0, 1


def _answer(ctx: RequestContext, key: str, key_type: int) -> dict[str, Any]:
    b = ctx.broker
    if key_type in (GROUP, TRANSACTION):
        what = "group id" if key_type == GROUP else "transactional id"
        if not key:
            return {"key": key, "error_code": ErrorCode.INVALID_REQUEST, "error_message": f"empty {what}",
                    "node_id": -1, "host": "", "port": -1}
        if (b.groups if key_type == GROUP else b.transactions) is None:
            return {"key": key, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "node_id": -1, "host": "",
                    "port": -1}
        return {"key": key, "error_code": 0, "node_id": b.node_id, "host": b.host, "port": b.port}
    return {"key": key, "error_code": ErrorCode.INVALID_REQUEST,
            "error_message": f"unsupported coordinator key type {key_type}", "node_id": -1, "host": "", "port": -1}


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    key_type = getattr(request, "key_type", GROUP)
    b = ctx.broker
    if key_type == TRANSACTION and b.transactions is None and b.ensure_transactions is not None:
        await b.ensure_transactions()  # False: answered COORDINATOR_NOT_AVAILABLE below, the client retries
    if ctx.api_version >= 4:
        return {"throttle_time": 0, "coordinators": [_answer(ctx, k, key_type) for k in request.coordinator_keys]}
    one = _answer(ctx, request.key, key_type)
    one.pop("key")
    return {"throttle_time": 0, **one}
