"""WriteTxnMarkers: v1-2 (broker to broker; v0 is gone in Kafka 4).

Appends COMMIT/ABORT markers to the named partitions hosted here, through the
same marker writer the transaction coordinator uses in-process (so
``__consumer_offsets`` markers reach the group coordinator).  Per partition:
UNKNOWN_TOPIC_OR_PARTITION when it is not here, INVALID_PRODUCER_EPOCH when the
producer already has a newer epoch in it.  On one node the coordinator never
sends it; it is served so that the cluster's coordinators (and tools) can.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext

API_KEY = 27
VERSIONS = (1, 2)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    markers = ctx.broker.markers
    out = []
    for m in request.markers:
        topics = []
        for t in m.topics:
            parts = []
            for p in t.partition_indexes:
                code = ErrorCode.COORDINATOR_NOT_AVAILABLE if markers is None else ErrorCode.NONE
                if markers is not None:
                    try:
                        await markers.write(t.name, p, producer_id=m.producer_id, producer_epoch=m.producer_epoch,
                                            coordinator_epoch=m.coordinator_epoch, commit=bool(m.transaction_result))
                    except KafkaError as exc:
                        code = exc.code
                parts.append({"partition_index": p, "error_code": code})
            topics.append({"name": t.name, "partitions": parts})
        out.append({"producer_id": m.producer_id, "topics": topics})
    return {"markers": out}
