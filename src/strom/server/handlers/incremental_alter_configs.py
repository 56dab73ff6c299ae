"""IncrementalAlterConfigs: v0-1.

Operations: 0 SET, 1 DELETE, 2 APPEND and 3 SUBTRACT (list-valued configs,
e.g. cleanup.policy, computed from the current value).  A config named twice
in one resource is INVALID_REQUEST.  TOPIC and BROKER resources; validate_only.
"""
from __future__ import annotations

from typing import Any

from strom.controller.records import TOPIC_RESOURCE
from strom.errors import ErrorCode
from strom.server.context import RequestContext
from strom.server.handlers._alter import apply
from strom.server.topic_configs import describe_topic_configs

API_KEY = 44
VERSIONS = (0, 1)
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def _current(ctx: RequestContext, resource_type: int, name: str, key: str) -> list[str]:
    if resource_type == TOPIC_RESOURCE and ctx.broker.controller.topic(name) is not None:
        for entry in describe_topic_configs(ctx.broker, name):
            if entry.name == key and entry.value:
                return [v.strip() for v in entry.value.split(",") if v.strip()]
    return []


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    responses = []
    for res in request.resources:
        names = [c.name for c in res.configs]
        base = {"resource_type": res.resource_type, "resource_name": res.resource_name}
        if len(names) != len(set(names)):
            responses.append({**base, "error_code": ErrorCode.INVALID_REQUEST,
                              "error_message": "a config appears more than once in the resource"})
            continue
        changes: dict[str, str | None] = {}
        bad = None
        for c in res.configs:
            if c.config_operation == SET:
                changes[c.name] = c.value
            elif c.config_operation == DELETE:
                changes[c.name] = None
            elif c.config_operation in (APPEND, SUBTRACT):
                items = _current(ctx, res.resource_type, res.resource_name, c.name)
                given = [v.strip() for v in (c.value or "").split(",") if v.strip()]
                if c.config_operation == APPEND:
                    items += [v for v in given if v not in items]
                else:
                    items = [v for v in items if v not in given]
                changes[c.name] = ",".join(items) if items else None
            else:
                bad = f"unknown config operation {c.config_operation}"
        if bad:
            responses.append({**base, "error_code": ErrorCode.INVALID_REQUEST, "error_message": bad})
            continue
        responses.append(await apply(ctx, res.resource_type, res.resource_name, changes, replace=False,
                                     validate_only=request.validate_only))
    return {"throttle_time": 0, "responses": responses}
