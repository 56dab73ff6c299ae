"""CreatePartitions: v0-3.

Behaviour:
- Raises a topic's partition count through ``Controller.create_partitions``;
  optional manual assignments (one replica list per new partition) else the
  controller places them; validate_only checks and creates nothing.
- Errors per topic with Kafka's messages: a lower or equal count is
  INVALID_PARTITIONS, a missing topic UNKNOWN_TOPIC_OR_PARTITION, a bad
  assignment INVALID_REPLICA_ASSIGNMENT; a topic named twice in one request
  is INVALID_REQUEST for that topic ("Duplicate topic in request.").
- Versions: v1 and v2 change only throttling semantics, v2+ is flexible,
  v3 is v2 (KIP-599 quota errors, which we never return).

Not implemented: the request timeout (the controller commits before it
answers, so the new partitions exist when the response is sent);
authorization; create-topic policies.
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
        entry: dict[str, Any] = {"name": t.name, "error_code": ErrorCode.NONE, "error_message": None}
        if counts[t.name] > 1:
            entry["error_code"], entry["error_message"] = ErrorCode.INVALID_REQUEST, "Duplicate topic in request."
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
