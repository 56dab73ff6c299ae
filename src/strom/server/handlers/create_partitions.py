"""CreatePartitions: v0-3.

Behaviour:
- Raises a topic's partition count through the controller client;
  optional manual assignments (one replica list per new partition) else the
  controller places them; validate_only checks and creates nothing.  The
  answer waits (up to ``timeout_ms``) until the broker's image holds them.
- Errors per topic with Kafka's messages: a lower or equal count is
  INVALID_PARTITIONS, a missing topic UNKNOWN_TOPIC_OR_PARTITION, a bad
  assignment INVALID_REPLICA_ASSIGNMENT; a topic named twice in one request
  is INVALID_REQUEST for that topic ("Duplicate topic in request.").
- Versions: v1 and v2 change only throttling semantics, v2+ is flexible,
  v3 is v2 (KIP-599 quota errors, which we never return).

Not implemented: the request timeout bounds only that wait (the controller
commits before it answers, so a late image does not change the answer);
authorization; create-topic policies.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from strom.errors import ErrorCode
from strom.metadata.controller_client import NewPartitions
from strom.protocol.codec import millis
from strom.server.context import RequestContext

API_KEY = 37
VERSIONS = (0, 3)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.broker
    counts = Counter(t.name for t in request.topics)
    results: list[dict[str, Any]] = []
    wanted: list[tuple[dict[str, Any], NewPartitions]] = []
    for t in request.topics:
        entry: dict[str, Any] = {"name": t.name, "error_code": ErrorCode.NONE, "error_message": None}
        results.append(entry)
        if counts[t.name] > 1:
            entry["error_code"], entry["error_message"] = ErrorCode.INVALID_REQUEST, "Duplicate topic in request."
            continue
        assignments = [list(a.broker_ids) for a in t.assignments] if t.assignments is not None else None
        wanted.append((entry, NewPartitions(t.name, t.count, assignments)))
    if wanted:
        written = await broker.controller.create_partitions([w for _, w in wanted],
                                                            validate_only=request.validate_only)
        for (entry, _), r in zip(wanted, written.results, strict=True):
            entry["error_code"], entry["error_message"] = r.error_code, r.error_message
        await broker.metadata.wait_for(written.metadata_offset, millis(request.timeout))
    return {"throttle_time": 0, "results": results}
