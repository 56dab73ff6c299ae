"""CreateTopics: v2-7.

Each topic is validated and created independently (name rules, existing
topic, partitions/replication factor or manual assignments, configs against
the topic config table).  ``validate_only`` checks everything and creates
nothing.  -1 partitions / replication factor take ``num.partitions`` /
``default.replication.factor`` (v4+).  v5+ answers carry the topic's configs
with their sources; v7 the topic id.  The answer waits until the broker's
image holds the new topics (at most the request's ``timeout_ms``; past it a
created topic answers REQUEST_TIMED_OUT, as Kafka does).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.metadata.controller_client import NewTopic
from strom.protocol.codec import millis
from strom.server.context import RequestContext
from strom.server.topic_configs import describe_topic_configs

API_KEY = 19
VERSIONS = (2, 7)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.broker
    specs = [NewTopic(t.name, t.num_partitions, t.replication_factor,
                      [(a.partition_index, list(a.broker_ids)) for a in t.assignments],
                      {c.name: c.value for c in t.configs})
             for t in request.topics]
    written = await broker.controller.create_topics(specs, validate_only=request.validate_only)
    caught_up = await broker.metadata.wait_for(written.metadata_offset, millis(request.timeout))
    topics = []
    for r in written.results:
        code, message = r.error_code, r.error_message
        if code == ErrorCode.NONE and not caught_up and not request.validate_only:
            code, message = ErrorCode.REQUEST_TIMED_OUT, "created, but this broker's metadata has not caught up yet"
        entry: dict[str, Any] = {"name": r.name, "error_code": code, "error_message": message,
                                 "topic_id": r.topic_id, "num_partitions": r.num_partitions,
                                 "replication_factor": r.replication_factor, "configs": None}
        if code == ErrorCode.NONE and ctx.api_version >= 5:
            entry["configs"] = [
                {"name": c.name, "value": c.value, "read_only": c.read_only, "config_source": c.source,
                 "is_sensitive": c.is_sensitive}
                for c in describe_topic_configs(ctx.broker, r.name, overrides=r.configs)]
        topics.append(entry)
    return {"throttle_time": 0, "topics": topics}
