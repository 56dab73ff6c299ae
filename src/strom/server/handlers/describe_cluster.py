"""DescribeCluster: v0-2.

One node in combined mode: it is the only broker and the controller, so the
answer is the same for endpoint_type 1 (brokers) and 2 (controllers).
Authorized operations are not computed (-2147483648).
"""
from __future__ import annotations

from typing import Any

from strom.server.context import RequestContext

API_KEY = 60
VERSIONS = (0, 2)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    b = ctx.broker
    return {
        "throttle_time": 0, "error_code": 0, "endpoint_type": getattr(request, "endpoint_type", 1),
        "cluster_id": b.cluster_id, "controller_id": b.node_id,
        "brokers": [{"broker_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack, "is_fenced": False}],
        "cluster_authorized_operations": -2147483648,
    }
