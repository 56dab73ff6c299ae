"""InitProducerId: v0-6.

Without a transactional id: a fresh producer id and epoch 0 from the
controller's producer-id blocks (through the controller client) (durable,
never reused after a restart); a request that names its current producer id
and epoch (KIP-360, v3+) gets the same id with the epoch bumped.

With a transactional id: the transaction coordinator's answer (see
strom.coordinator.txn.coordinator): the id's producer id with its epoch bumped,
an open transaction of an older producer fenced and aborted first.  Errors:
INVALID_TRANSACTION_TIMEOUT (transaction.timeout.ms above
transaction.max.timeout.ms), CONCURRENT_TRANSACTIONS (retriable), PRODUCER_FENCED
(v4+; INVALID_PRODUCER_EPOCH before), INVALID_REQUEST (empty or over 32767-byte id).
v6's KIP-939 fields (two-phase commit) are not served: ``enable_2pc`` is refused.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.protocol.codec import millis
from strom.server.context import RequestContext
from strom.server.handlers import _txn

API_KEY = 22
VERSIONS = (0, 6)
MAX_EPOCH = 32767


def _error(code: ErrorCode) -> dict[str, Any]:
    return {"throttle_time": 0, "error_code": code, "producer_id": -1, "producer_epoch": -1}


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    pid = getattr(request, "producer_id", -1)
    epoch = getattr(request, "producer_epoch", -1)
    if request.transactional_id is not None:
        if getattr(request, "enable2_pc", False):
            return _error(ErrorCode.UNSUPPORTED_VERSION)
        try:
            pid, epoch = await (await _txn.coordinator(ctx)).init_producer_id(
                request.transactional_id, millis(request.transaction_timeout), pid, epoch)
        except KafkaError as exc:
            return _error(_txn.error_for(exc, ctx.api_version, 4))
        return {"throttle_time": 0, "error_code": 0, "producer_id": pid, "producer_epoch": epoch}
    if pid >= 0 and 0 <= epoch < MAX_EPOCH - 1:
        return {"throttle_time": 0, "error_code": 0, "producer_id": pid, "producer_epoch": epoch + 1}
    pid = await ctx.broker.controller.allocate_producer_id()
    return {"throttle_time": 0, "error_code": 0, "producer_id": pid, "producer_epoch": 0}
