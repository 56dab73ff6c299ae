"""DescribeCluster: v0-2.

Behaviour:
- brokers: every registered broker of the broker's metadata image that is unfenced, with its
  endpoint on this listener's name (else its first endpoint) and its rack; v2's
  include_fenced_brokers adds the fenced ones, each with is_fenced.
- controller_id: the active controller as the broker's metadata cache knows it (this node when it
  runs the controller; the quorum leader once raft is wired), -1 when unknown.
- endpoint_type (v1+): 1 (brokers) answers as above; 2 (controllers) answers the active controller
  alone, at its broker endpoint, because our controller listens on the client listener for now.
  Any other value is UNSUPPORTED_ENDPOINT_TYPE.

Not implemented: authorized operations are never computed
(cluster_authorized_operations = -2147483648, "not requested/unknown").
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.metadata.image import BrokerRegistration
from strom.server.context import RequestContext

API_KEY = 60
VERSIONS = (0, 2)
BROKERS, CONTROLLERS = 1, 2
AUTHORIZED_OPERATIONS_OMITTED = -2147483648


def broker_entry(reg: BrokerRegistration, listener_name: str) -> dict[str, Any]:
    endpoint = reg.endpoint(listener_name)
    return {"broker_id": reg.broker_id, "host": endpoint.host if endpoint else "", "port": endpoint.port if endpoint
            else -1, "rack": reg.rack, "is_fenced": reg.fenced}


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    b = ctx.broker
    metadata = b.metadata
    endpoint_type = getattr(request, "endpoint_type", BROKERS)
    out: dict[str, Any] = {
        "throttle_time": 0, "error_code": ErrorCode.NONE, "error_message": None, "endpoint_type": endpoint_type,
        "cluster_id": b.cluster_id, "controller_id": metadata.controller_id, "brokers": [],
        "cluster_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }
    if endpoint_type not in (BROKERS, CONTROLLERS):
        out["error_code"] = ErrorCode.UNSUPPORTED_ENDPOINT_TYPE
        out["error_message"] = f"Unsupported endpoint type {endpoint_type}"
        return out
    brokers = metadata.image.brokers
    if endpoint_type == CONTROLLERS:
        chosen = [brokers[metadata.controller_id]] if metadata.controller_id in brokers else []
    else:
        include_fenced = getattr(request, "include_fenced_brokers", False)
        chosen = [reg for _id, reg in sorted(brokers.items()) if include_fenced or not reg.fenced]
    out["brokers"] = [broker_entry(reg, b.listener_name) for reg in chosen]
    return out
