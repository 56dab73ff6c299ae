"""Produce: v3-13 (v0-2 advertised but rejected, as Kafka 4 does).

Per partition: validate the batches' headers only (magic 2, sizes, CRC-32C,
``max.message.bytes``), run the idempotent-producer checks, append the bytes
as received (compressed batches stay compressed) and answer with the base
offset.  acks=0 sends no response; acks=1 and acks=-1 answer after the local
append (one replica: the ISR is this broker); acks=-1 with fewer in-sync
replicas than the topic's ``min.insync.replicas`` answers NOT_ENOUGH_REPLICAS.  A topic that does not exist is
created first when ``auto.create.topics.enable`` is true.  v13 addresses
topics by id.  A transactional batch needs the request's transactional id
(else TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka answers) and must belong
to the producer's open transaction that added this partition — checked with
the transaction coordinator in-process, like KIP-890 part 1's verification:
INVALID_TXN_STATE when not added, INVALID_PRODUCER_EPOCH for a fenced epoch,
INVALID_PRODUCER_ID_MAPPING for another producer id.  Non-transactional
batches pay nothing for this.

Metrics (Kafka's BrokerTopicMetrics, per partition of the request): total and
failed produce requests; bytes and messages in for each batch appended (a
duplicate of an idempotent retry is not counted again).
"""
from __future__ import annotations

import logging
from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.metadata.controller_client import NewTopic
from strom.protocol.codec import millis
from strom.protocol.fast import PartitionResult, encode_produce_response
from strom.records.batch import validate_batches
from strom.server.context import RequestContext

log = logging.getLogger(__name__)

API_KEY = 0
VERSIONS = (3, 13)
ADVERTISED_MIN = 0


def _error(index: int, code: ErrorCode, message: str | None = None) -> PartitionResult:
    return PartitionResult(index, code, -1, -1, -1, message)


async def handle(ctx: RequestContext, request: Any) -> bytes | None:
    broker = ctx.broker
    replicas = broker.replicas
    metadata = broker.metadata
    acks = request.acks
    by_id = ctx.api_version >= 13
    now = broker.clock.now_ms()
    metrics = broker.metrics
    responses = []
    for topic_data in request.topic_data:
        if by_id:
            topic = metadata.topic_by_id(topic_data.topic_id)
            name = topic.name if topic is not None else None
        else:
            name = topic_data.name
            if metadata.topic(name) is None and broker.config["auto.create.topics.enable"]:
                await _auto_create(ctx, name, millis(request.timeout))
        parts = []
        for pdata in topic_data.partition_data:
            index = pdata.index
            if acks not in (0, 1, -1):
                parts.append(_error(index, ErrorCode.INVALID_REQUIRED_ACKS))
                metrics.unattributed.failed_produce()
                continue
            part = replicas.get(name, index) if name is not None else None
            if part is None:
                code = ErrorCode.UNKNOWN_TOPIC_ID if by_id and name is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                parts.append(_error(index, code))
                metrics.unattributed.failed_produce()
                continue
            counters = metrics.topic(name)
            counters.total_produce_requests += 1
            try:
                records = pdata.records
                if not records:
                    raise KafkaError("empty record set", ErrorCode.INVALID_RECORD)
                config = part.log.config
                if acks == -1 and len(part.isr) < config.min_insync_replicas:
                    raise KafkaError(f"the in-sync replicas {list(part.isr)} are fewer than min.insync.replicas="
                                     f"{config.min_insync_replicas}", ErrorCode.NOT_ENOUGH_REPLICAS)
                headers = validate_batches(records, max_batch_bytes=config.max_message_bytes)
                if len(headers) != 1:  # Kafka: produce v3+ carries exactly one batch per partition
                    raise KafkaError(f"produce v3+ needs exactly one record batch per partition, got {len(headers)}",
                                     ErrorCode.INVALID_RECORD)
                if headers[0].is_transactional:
                    _verify_transaction(ctx, request.transactional_id, headers[0], name, index)
                result = part.append(records, headers, now)
            except KafkaError as exc:
                parts.append(_error(index, exc.code, exc.message))
                counters.failed_produce_requests += 1
                continue
            if not result.duplicate:
                counters.bytes_in += len(records)
                counters.messages_in += headers[0].records_count
            replicas.after_append(part)
            parts.append(PartitionResult(index, 0, result.first_offset, result.log_append_time,
                                         result.log_start_offset))
        responses.append((name or "", getattr(topic_data, "topic_id", None), parts))
    if acks == 0:
        return None
    return encode_produce_response(ctx.header.correlation_id, ctx.api_version, responses)


def _verify_transaction(ctx: RequestContext, transactional_id: str | None, h: Any, topic: str, index: int) -> None:
    if transactional_id is None:
        raise KafkaError("a transactional batch needs the request's transactional id",
                         ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    txns = ctx.broker.transactions
    if txns is None:  # retriable for every client version, as Kafka maps coordinator errors in produce
        raise KafkaError("the transaction coordinator is loading", ErrorCode.NOT_ENOUGH_REPLICAS)
    code = txns.verify(transactional_id, h.producer_id, h.producer_epoch, topic, index)
    if code is not ErrorCode.NONE:
        # a retry of a batch already written answers as a duplicate (the log knows it), not as an error
        part = ctx.broker.replicas.get(topic, index)
        try:
            duplicate = part is not None and part.log.producer_state.check(h) is not None
        except KafkaError:
            duplicate = False
        if not duplicate:
            raise KafkaError(f"producer {h.producer_id} epoch {h.producer_epoch}: {topic}-{index} is not in the "
                             f"open transaction of {transactional_id!r}", code)


async def _auto_create(ctx: RequestContext, name: str, request_timeout_ms: int) -> None:
    if not name or name.startswith("__"):
        return
    broker = ctx.broker
    written = await broker.controller.create_topics([NewTopic(name)])
    [result] = written.results
    if result.error_code:  # invalid names end up as UNKNOWN_TOPIC_OR_PARTITION per partition
        log.debug("auto-creation of %r failed: %s", name, result.error_message)
    # the partitions exist once the broker's image holds the creation; until then (raft) the
    # partitions answer UNKNOWN_TOPIC_OR_PARTITION and the producer retries
    await broker.metadata.wait_for(written.metadata_offset, request_timeout_ms)
