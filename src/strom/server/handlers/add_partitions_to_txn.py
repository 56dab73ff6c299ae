"""AddPartitionsToTxn: v0-3 (the client versions).

Adds partitions to the producer's transaction at the transaction coordinator
(which starts it: Ongoing).  A partition of a topic that does not exist answers
UNKNOWN_TOPIC_OR_PARTITION and the others of the request OPERATION_NOT_ATTEMPTED
(nothing is added), as in Kafka; a coordinator refusal (INVALID_PRODUCER_ID_MAPPING,
PRODUCER_FENCED — INVALID_PRODUCER_EPOCH before v2 —, CONCURRENT_TRANSACTIONS)
is answered on every partition.  Not yet: v4+ (KIP-890 part 1: batched
transactions and the brokers' verify-only requests; on one node the produce
path checks the transaction in-process instead).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext
from strom.server.handlers import _txn

API_KEY = 24
VERSIONS = (0, 3)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    image = ctx.broker.metadata.image
    wanted = [(t.name, p) for t in request.v3_and_below_topics for p in t.partitions]
    codes: dict[tuple[str, int], ErrorCode] = {}
    for name, p in wanted:
        topic = image.topics.get(name)
        if topic is None or p not in topic.partitions:
            codes[(name, p)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    if codes:
        default = ErrorCode.OPERATION_NOT_ATTEMPTED
    else:
        default = ErrorCode.NONE
        try:
            await (await _txn.coordinator(ctx)).add_partitions(
                request.v3_and_below_transactional_id, request.v3_and_below_producer_id,
                request.v3_and_below_producer_epoch, wanted)
        except KafkaError as exc:
            default = _txn.error_for(exc, ctx.api_version, 2)
    results = []
    for t in request.v3_and_below_topics:
        results.append({"name": t.name, "results_by_partition": [
            {"partition_index": p, "partition_error_code": codes.get((t.name, p), default)} for p in t.partitions]})
    return {"throttle_time": 0, "results_by_topic_v3_and_below": results}
