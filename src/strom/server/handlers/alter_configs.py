"""AlterConfigs: v0-2 (legacy: the named configs replace every override of the resource).

TOPIC and BROKER resources; validate_only; errors per resource.
"""
from __future__ import annotations

from typing import Any

from strom.server.context import RequestContext
from strom.server.handlers._alter import apply

API_KEY = 33
VERSIONS = (0, 2)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    responses = []
    for res in request.resources:
        changes = {c.name: c.value for c in res.configs}
        responses.append(await apply(ctx, res.resource_type, res.resource_name, changes, replace=True,
                                     validate_only=request.validate_only))
    return {"throttle_time": 0, "responses": responses}
