"""CreateTopics: v2-7.

Each topic is validated and created independently (name rules, existing
topic, partitions/replication factor or manual assignments, configs against
the topic config table).  ``validate_only`` checks everything and creates
nothing.  -1 partitions / replication factor take ``num.partitions`` /
``default.replication.factor`` (v4+).  v5+ answers carry the topic's configs
with their sources; v7 the topic id.
"""
from __future__ import annotations

from typing import Any

from strom.server.context import RequestContext
from strom.server.topic_configs import describe_topic_configs

API_KEY = 19
VERSIONS = (2, 7)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    controller = ctx.broker.controller
    specs = [{
        "name": t.name,
        "num_partitions": t.num_partitions,
        "replication_factor": t.replication_factor,
        "assignments": [(a.partition_index, list(a.broker_ids)) for a in t.assignments],
        "configs": {c.name: c.value for c in t.configs},
    } for t in request.topics]
    results = await controller.create_topics(specs, validate_only=request.validate_only)
    topics = []
    for r in results:
        entry: dict[str, Any] = {"name": r.name, "error_code": r.error_code, "error_message": r.error_message,
                                 "topic_id": r.topic_id, "num_partitions": r.num_partitions,
                                 "replication_factor": r.replication_factor, "configs": None}
        if r.error_code == 0 and ctx.api_version >= 5:
            entry["configs"] = [
                {"name": c.name, "value": c.value, "read_only": c.read_only, "config_source": c.source,
                 "is_sensitive": c.is_sensitive}
                for c in describe_topic_configs(ctx.broker, r.name, overrides=r.configs)]
        topics.append(entry)
    return {"throttle_time": 0, "topics": topics}
