"""DescribeCluster: v0-2.

Behaviour:
- One node in combined mode (broker and controller): it is the only broker
  and the active controller, so controller_id is this node and the broker
  list is this node with its advertised host, port and rack.
- endpoint_type (v1+): 1 (brokers) and 2 (controllers) get the same answer,
  because our controller listens on the client listener; any other value is
  UNSUPPORTED_ENDPOINT_TYPE (Kafka's broker answers 2 with
  MISMATCHED_ENDPOINT_TYPE; a combined node may answer it).
- v2 adds is_fenced (always false: a live node is never fenced) and
  include_fenced_brokers (nothing to include).

Not implemented: authorized operations are never computed
(cluster_authorized_operations = -2147483648, "not requested/unknown").
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 60
VERSIONS = (0, 2)
BROKERS, CONTROLLERS = 1, 2
AUTHORIZED_OPERATIONS_OMITTED = -2147483648


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    b = ctx.broker
    endpoint_type = getattr(request, "endpoint_type", BROKERS)
    out: dict[str, Any] = {
        "throttle_time": 0, "error_code": ErrorCode.NONE, "error_message": None, "endpoint_type": endpoint_type,
        "cluster_id": b.cluster_id, "controller_id": b.node_id, "brokers": [],
        "cluster_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }
    if endpoint_type not in (BROKERS, CONTROLLERS):
        out["error_code"] = ErrorCode.UNSUPPORTED_ENDPOINT_TYPE
        out["error_message"] = f"Unsupported endpoint type {endpoint_type}"
        return out
    out["brokers"] = [{"broker_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack, "is_fenced": False}]
    return out
