"""ListConfigResources (KIP-1142): v0-1.

Behaviour:
- v0 is Kafka 3.7's ListClientMetricsResources under its new name: it
  lists client-metrics resources, and Strom has none (KIP-714 client
  metrics are not implemented), so the list is empty.
- v1 lists the resources of the requested resource_types, or of every
  supported type when the list is empty: TOPIC (2) every topic, internal
  ones included; BROKER (4) this broker's id; CLIENT_METRICS (16) and
  GROUP (32) none (neither can carry configs in Strom yet).  A type outside
  these (BROKER_LOGGER (8), or an unknown byte) is UNSUPPORTED_VERSION for
  the whole request, as Kafka answers a type it does not support.

Not implemented: BROKER_LOGGER resources (DescribeConfigs does not serve
them either); no authorization (Kafka requires DESCRIBE_CONFIGS on the
cluster).
"""
from __future__ import annotations

from typing import Any

from strom.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE
from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 74
VERSIONS = (0, 1)
CLIENT_METRICS_RESOURCE, GROUP_RESOURCE = 16, 32
SUPPORTED = (TOPIC_RESOURCE, BROKER_RESOURCE, CLIENT_METRICS_RESOURCE, GROUP_RESOURCE)


def _names(ctx: RequestContext, resource_type: int) -> list[str]:
    if resource_type == TOPIC_RESOURCE:
        return sorted(ctx.broker.metadata.image.topics)
    if resource_type == BROKER_RESOURCE:
        return [str(ctx.broker.node_id)]
    return []  # CLIENT_METRICS, GROUP: none can exist yet


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if ctx.api_version == 0:
        return {"throttle_time": 0, "error_code": ErrorCode.NONE, "config_resources": []}
    types = list(dict.fromkeys(request.resource_types)) or list(SUPPORTED)
    if any(t not in SUPPORTED for t in types):
        return {"throttle_time": 0, "error_code": ErrorCode.UNSUPPORTED_VERSION, "config_resources": []}
    resources = [{"resource_name": name, "resource_type": t} for t in types for name in _names(ctx, t)]
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "config_resources": resources}
