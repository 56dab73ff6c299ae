"""CreatePartitions: v0-3.

Raises a topic's partition count (never lowers it: INVALID_PARTITIONS),
optionally with manual assignments for the new partitions; validate_only; a
topic named twice in one request is INVALID_REQUEST for that topic.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext

API_KEY = 37
VERSIONS = (0, 3)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    counts = Counter(t.name for t in request.topics)
    results = []
    for t in request.topics:
        entry: dict[str, Any] = {"name": t.name, "error_code": 0}
        if counts[t.name] > 1:
            entry["error_code"], entry["error_message"] = ErrorCode.INVALID_REQUEST, "topic appears more than once"
            results.append(entry)
            continue
        assignments = [list(a.broker_ids) for a in t.assignments] if t.assignments is not None else None
        try:
            await ctx.broker.controller.create_partitions(t.name, t.count, assignments,
                                                          validate_only=request.validate_only)
        except KafkaError as exc:
            entry["error_code"], entry["error_message"] = exc.code, exc.message
        results.append(entry)
    return {"throttle_time": 0, "results": results}
