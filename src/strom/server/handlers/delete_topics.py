"""DeleteTopics: v1-6.

Topics by name, or (v6) by id.  The partition logs are renamed at once and
removed on a worker thread.  ``delete.topic.enable=false`` answers
TOPIC_DELETION_DISABLED.
"""
from __future__ import annotations

from typing import Any

from strom.errors import KafkaError
from strom.server.context import RequestContext

API_KEY = 20
VERSIONS = (1, 6)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    controller = ctx.broker.controller
    if ctx.api_version >= 6:
        wanted = [(t.name, t.topic_id if t.topic_id is not None and t.topic_id.int != 0 else None)
                  for t in request.topics]
    else:
        wanted = [(name, None) for name in request.topic_names]
    responses = []
    for name, topic_id in wanted:
        entry: dict[str, Any] = {"name": name, "topic_id": topic_id, "error_code": 0}
        try:
            topic = await controller.delete_topic(name=name if topic_id is None else None, topic_id=topic_id)
            entry["name"], entry["topic_id"] = topic.name, topic.topic_id
        except KafkaError as exc:
            entry["error_code"], entry["error_message"] = exc.code, exc.message
        responses.append(entry)
    return {"throttle_time": 0, "responses": responses}
