"""DescribeConfigs: v1-4.

Resources: TOPIC (2) and BROKER (4; name "" or this node's id).  Null
configuration_keys means every config; synonyms (v1+) and documentation and
types (v3+) on request.  Sensitive values are null.  Other resource types
(broker loggers, client metrics, groups) answer INVALID_REQUEST for now.
"""
from __future__ import annotations

from typing import Any

from strom.controller.records import BROKER_RESOURCE, TOPIC_RESOURCE
from strom.errors import ErrorCode
from strom.server.context import RequestContext
from strom.server.topic_configs import ConfigEntry, describe_broker_configs, describe_topic_configs

API_KEY = 32
VERSIONS = (1, 4)


def _render(entry: ConfigEntry, synonyms: bool, docs: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry.name, "value": None if entry.is_sensitive else entry.value,
                           "read_only": entry.read_only, "config_source": entry.source,
                           "is_sensitive": entry.is_sensitive, "synonyms": []}
    if synonyms:
        out["synonyms"] = [{"name": n, "value": v, "source": s} for n, v, s in entry.synonyms]
    if docs:
        out["config_type"] = entry.config_type
        out["documentation"] = entry.documentation
    return out


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.broker
    include_synonyms = getattr(request, "include_synonyms", False)
    include_docs = getattr(request, "include_documentation", False)
    results = []
    for res in request.resources:
        result: dict[str, Any] = {"resource_type": res.resource_type, "resource_name": res.resource_name,
                                  "error_code": 0, "configs": []}
        if res.resource_type == TOPIC_RESOURCE:
            if broker.controller.topic(res.resource_name) is None:
                result["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                result["error_message"] = f"Topic {res.resource_name} does not exist"
                results.append(result)
                continue
            entries = describe_topic_configs(broker, res.resource_name)
        elif res.resource_type == BROKER_RESOURCE:
            if res.resource_name not in ("", str(broker.node_id)):
                result["error_code"] = ErrorCode.INVALID_REQUEST
                result["error_message"] = f"unknown broker id {res.resource_name!r}"
                results.append(result)
                continue
            entries = describe_broker_configs(broker)
        else:
            result["error_code"] = ErrorCode.INVALID_REQUEST
            result["error_message"] = f"resource type {res.resource_type} is not supported"
            results.append(result)
            continue
        keys = res.configuration_keys
        if keys is not None:
            wanted = set(keys)
            entries = [e for e in entries if e.name in wanted]
        result["configs"] = [_render(e, include_synonyms, include_docs) for e in entries]
        results.append(result)
    return {"throttle_time": 0, "results": results}
