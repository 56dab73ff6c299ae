"""EndTxn: v0-4 (transaction protocol v1).

Commits or aborts the producer's transaction: the coordinator writes
PrepareCommit/PrepareAbort, a marker into every partition of the transaction
(``__consumer_offsets`` ones included) and CompleteCommit/CompleteAbort before
the answer.  Errors: INVALID_TXN_STATE (no open transaction, or the other
outcome of a finished one), INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED (v2+;
INVALID_PRODUCER_EPOCH before), CONCURRENT_TRANSACTIONS.  Not yet: v5
(KIP-890 part 2, transaction protocol v2: an epoch bump per transaction);
Strom does not advertise the ``transaction.version`` feature, so clients stay on v1.
"""
from __future__ import annotations

from typing import Any

from strom.errors import KafkaError
from strom.server.context import RequestContext
from strom.server.handlers import _txn

API_KEY = 26
VERSIONS = (0, 4)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    try:
        txns = await _txn.coordinator(ctx)
        await txns.end_txn(request.transactional_id, request.producer_id, request.producer_epoch,
                           bool(request.committed))
    except KafkaError as exc:
        return {"throttle_time": 0, "error_code": _txn.error_for(exc, ctx.api_version, 2)}
    return {"throttle_time": 0, "error_code": 0}
