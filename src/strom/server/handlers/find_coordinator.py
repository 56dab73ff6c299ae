"""FindCoordinator: v0-6.

Group keys (key_type 0) map to the leader of their ``__consumer_offsets``
partition — this node, while it is the only one.  v4+ batches keys.
Transaction keys (1) answer TRANSACTIONAL_ID_AUTHORIZATION_FAILED until
transactions land: a fatal error that confluent-kafka and kafka-python raise
from ``init_transactions()`` at once (a retriable one, such as
COORDINATOR_NOT_AVAILABLE, has them retry until their 60 s timeout); a
warning is logged at most once a minute, with the count.  Share-group keys
(2) and other types answer INVALID_REQUEST.
"""
from __future__ import annotations

import logging
from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext
from strom.util.throttle import LogThrottle

log = logging.getLogger(__name__)

API_KEY = 10
VERSIONS = (0, 6)
GROUP, TRANSACTION = 0, 1
NO_TRANSACTIONS = ("transactions are not supported by Strom yet: use an idempotent producer "
                   "(enable.idempotence=true) without transactional.id")
_transactions_refused = LogThrottle()  # one warning a minute for the whole process


def _answer(ctx: RequestContext, key: str, key_type: int) -> dict[str, Any]:
    b = ctx.broker
    if key_type == GROUP:
        if not key:
            return {"key": key, "error_code": ErrorCode.INVALID_REQUEST, "error_message": "empty group id",
                    "node_id": -1, "host": "", "port": -1}
        if b.groups is None:
            return {"key": key, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "node_id": -1, "host": "",
                    "port": -1}
        return {"key": key, "error_code": 0, "node_id": b.node_id, "host": b.host, "port": b.port}
    if key_type == TRANSACTION:
        if _transactions_refused.tick(b.clock.now_ms()):
            log.warning("refused a transaction coordinator lookup (transactional.id %r, %d so far): %s", key,
                        _transactions_refused.count, NO_TRANSACTIONS)
        return {"key": key, "error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                "error_message": NO_TRANSACTIONS, "node_id": -1, "host": "", "port": -1}
    return {"key": key, "error_code": ErrorCode.INVALID_REQUEST,
            "error_message": f"unsupported coordinator key type {key_type}", "node_id": -1, "host": "", "port": -1}


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    key_type = getattr(request, "key_type", GROUP)
    if ctx.api_version >= 4:
        return {"throttle_time": 0, "coordinators": [_answer(ctx, k, key_type) for k in request.coordinator_keys]}
    one = _answer(ctx, request.key, key_type)
    one.pop("key")
    return {"throttle_time": 0, **one}
