"""Fetch: v4-18 (consumers; replica fetches arrive with the replication issue).

Per partition: read whole batches from the log as stored (no re-encoding),
starting at the batch that holds ``fetch_offset``, up to the partition's
``partition_max_bytes`` and the request's ``max_bytes`` (the first partition
with data may exceed them by one batch so a consumer always progresses, like
Kafka).  Long poll: when fewer than ``min_bytes`` are ready, the request parks
until an append to one of its partitions or ``max_wait_ms``.

Sessions (KIP-227) are not kept: every answer is a full response with
session_id 0, which tells clients to keep sending full requests.
isolation_level read_committed (1) reads up to the last stable offset and
answers the aborted transactions among what it read (read_uncommitted: up to
the high watermark, aborted_transactions null).  An empty partition carries
empty records, not null.
v13+ addresses topics by id.

Metrics (Kafka's BrokerTopicMetrics, per partition of the answer): total and
failed fetch requests, and bytes out (the record bytes sent).  The replication
issue must keep follower fetches out of bytes out, as Kafka does.
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.protocol.codec import millis
from strom.protocol.fast_fetch import FetchPartition, encode_fetch_response
from strom.replication.partition import Partition
from strom.server.context import RequestContext
from strom.util.metrics import BrokerMetrics

API_KEY = 1
VERSIONS = (4, 18)


def _topic_key(topic: Any) -> tuple[str | None, Any]:
    return getattr(topic, "topic", None), getattr(topic, "topic_id", None)


async def handle(ctx: RequestContext, request: Any) -> list[bytes]:
    broker = ctx.broker
    clock = broker.clock
    metadata = broker.metadata
    replicas = broker.replicas
    by_id = ctx.api_version >= 13
    read_committed = getattr(request, "isolation_level", 0) == 1
    max_wait_s = max(0, millis(request.max_wait)) / 1000
    min_bytes = request.min_bytes
    max_bytes = getattr(request, "max_bytes", 0x7FFFFFFF)
    deadline = clock.monotonic() + max_wait_s

    # resolve the partitions once
    plan: list[tuple[Any, str | None, list[tuple[Any, Partition | None, ErrorCode]]]] = []
    for topic in request.topics:
        name, topic_id = _topic_key(topic)
        if by_id:
            t = metadata.topic_by_id(topic_id)
            name = t.name if t is not None else None
        entries = []
        for p in topic.partitions:
            part = replicas.get(name, p.partition) if name is not None else None
            if part is None:
                code = ErrorCode.UNKNOWN_TOPIC_ID if by_id and name is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                code = ErrorCode.NONE
            entries.append((p, part, code))
        plan.append((topic, name, entries))

    while True:
        total = 0
        errors = False
        responses = []
        for topic, name, entries in plan:
            parts_out = []
            for p, part, code in entries:
                if part is None:
                    errors = True
                    parts_out.append(FetchPartition(p.partition, code, -1, -1, -1, b""))
                    continue
                limit = min(p.partition_max_bytes, max_bytes - total)
                aborted: list[tuple[int, int]] | None = [] if read_committed else None
                try:
                    if limit > 0 or total == 0:
                        result = part.read(p.fetch_offset, max(limit, 0), min_one_batch=(total == 0),
                                           read_committed=read_committed)
                        records = result.records
                        if read_committed:
                            aborted = result.aborted_transactions
                    else:
                        records = b""
                except KafkaError as exc:
                    errors = True
                    hw = part.high_watermark
                    parts_out.append(FetchPartition(p.partition, exc.code, hw, part.last_stable_offset,
                                                    part.log_start_offset, b""))
                    continue
                total += len(records)
                parts_out.append(FetchPartition(p.partition, 0, part.high_watermark, part.last_stable_offset,
                                                part.log_start_offset, records, aborted))
            responses.append((name or "", getattr(topic, "topic_id", None), parts_out))
        remaining = deadline - clock.monotonic()
        if total >= min_bytes or errors or remaining <= 0 or ctx.connection.closed:
            _count(broker.metrics, plan, responses)
            # records go out as read from the log, uncopied (strom.protocol.fast_fetch)
            return encode_fetch_response(ctx.header.correlation_id, ctx.api_version, responses)
        await replicas.wait_for_data([part for _, _, es in plan for _, part, _ in es if part is not None],
                                     remaining)


def _count(metrics: BrokerMetrics, plan: list[tuple[Any, str | None, list[tuple[Any, Partition | None, ErrorCode]]]],
           responses: list[tuple[str, Any, list[FetchPartition]]]) -> None:
    for (_, name, entries), (_, _, parts_out) in zip(plan, responses):
        for (_, part, _), out in zip(entries, parts_out):
            if part is None:
                metrics.unattributed.failed_fetch()
                continue
            counters = metrics.topic(part.topic)
            counters.total_fetch_requests += 1
            if out.error_code:
                counters.failed_fetch_requests += 1
            else:
                counters.bytes_out += len(out.records)
