"""BrokerRegistration: v0-4 (as Kafka 4 controllers advertise).

Behaviour: a broker process registers with the active controller, through the ControllerClient
(``register_broker``); the answer carries its broker epoch, the offset of its registration record.
Errors: DUPLICATE_BROKER_REGISTRATION (another incarnation of that node id is alive),
INCONSISTENT_CLUSTER_ID, INVALID_REGISTRATION (no incarnation id, negative broker id).
Versions: v1 adds is_migrating_zk_broker (ignored: no ZooKeeper), v2 log_dirs (ignored), v3
previous_broker_epoch (passed on, not yet used), v4 sends features with min version 0.

Kafka serves this API on the controller listener only; Strom serves one listener today, so the
broker listener answers it (it moves to the controller listener with the raft wiring).  Features
and log directories are not checked; no authorization (Kafka requires CLUSTER_ACTION).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.metadata.controller_client import RegisterBroker
from strom.metadata.records import BrokerEndpoint
from strom.server.context import RequestContext

API_KEY = 62
VERSIONS = (0, 4)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    if request.incarnation_id is None or request.incarnation_id.int == 0:
        return {"throttle_time": 0, "error_code": ErrorCode.INVALID_REGISTRATION, "broker_epoch": -1}
    listeners = [BrokerEndpoint(lst.name, lst.host, int(lst.port), int(lst.security_protocol))
                 for lst in request.listeners]
    result = await ctx.broker.controller.register_broker(RegisterBroker(
        int(request.broker_id), request.cluster_id, request.incarnation_id, listeners, request.rack,
        int(getattr(request, "previous_broker_epoch", -1))))
    return {"throttle_time": 0, "error_code": result.error_code, "broker_epoch": result.broker_epoch}
