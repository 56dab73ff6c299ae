"""InitProducerId: v0-6, the idempotent (non-transactional) producer.

A request without a transactional id gets a fresh producer id and epoch 0
from the controller's producer-id blocks (through the controller client) (durable, never reused after a
restart).  A request that names its current producer id and epoch (KIP-360,
v3+) gets the same id with the epoch bumped.  Transactional ids are answered
with TRANSACTIONAL_ID_AUTHORIZATION_FAILED until transactions land.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 22
VERSIONS = (0, 6)
MAX_EPOCH = 32767


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if request.transactional_id is not None:
        return {"throttle_time": 0, "error_code": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                "producer_id": -1, "producer_epoch": -1}
    pid = getattr(request, "producer_id", -1)
    epoch = getattr(request, "producer_epoch", -1)
    if pid >= 0 and 0 <= epoch < MAX_EPOCH - 1:
        return {"throttle_time": 0, "error_code": 0, "producer_id": pid, "producer_epoch": epoch + 1}
    pid = await ctx.broker.controller.allocate_producer_id()
    return {"throttle_time": 0, "error_code": 0, "producer_id": pid, "producer_epoch": 0}
