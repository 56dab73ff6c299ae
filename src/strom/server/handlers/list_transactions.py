"""ListTransactions: v0-2.

The transactional ids of the coordinator, filtered by state (unknown state
names come back in ``unknown_state_filters``), producer id, v1+ duration (open
for at least that many ms; -1 = any) and v2+ a regular expression on the id
(Python's ``re`` syntax, searched; an invalid one answers INVALID_REGULAR_EXPRESSION).
"""
from __future__ import annotations

import re
from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 66
VERSIONS = (0, 2)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    txns = ctx.broker.transactions
    if txns is None:
        return {"throttle_time": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "unknown_state_filters": [],
                "transaction_states": []}
    try:
        found, unknown = txns.list_transactions(request.state_filters, request.producer_id_filters,
                                                getattr(request, "duration_filter", -1),
                                                getattr(request, "transactional_id_pattern", None))
    except re.error:
        return {"throttle_time": 0, "error_code": ErrorCode.INVALID_REGULAR_EXPRESSION, "unknown_state_filters": [],
                "transaction_states": []}
    return {"throttle_time": 0, "error_code": 0, "unknown_state_filters": unknown,
            "transaction_states": [{"transactional_id": m.transactional_id, "producer_id": m.producer_id,
                                    "transaction_state": m.state.value} for m in found]}
