"""DeleteTopics: v1-6.

Topics by name, or (v6) by id.  The partition logs are renamed at once and
removed on a worker thread.  ``delete.topic.enable=false`` answers
TOPIC_DELETION_DISABLED.  The answer waits (up to ``timeout_ms``) until the
broker's image no longer holds the topics.
"""
from __future__ import annotations

from typing import Any

from strom.metadata.controller_client import TopicToDelete
from strom.protocol.codec import millis
from strom.server.context import RequestContext

API_KEY = 20
VERSIONS = (1, 6)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.broker
    if ctx.api_version >= 6:
        wanted = [TopicToDelete(t.name, t.topic_id if t.topic_id is not None and t.topic_id.int != 0 else None)
                  for t in request.topics]
    else:
        wanted = [TopicToDelete(name) for name in request.topic_names]
    written = await broker.controller.delete_topics(wanted)
    await broker.metadata.wait_for(written.metadata_offset, millis(request.timeout))
    responses = []
    for r in written.results:
        entry: dict[str, Any] = {"name": r.name, "topic_id": r.topic_id, "error_code": r.error_code}
        if r.error_code:
            entry["error_message"] = r.error_message
        responses.append(entry)
    return {"throttle_time": 0, "responses": responses}
