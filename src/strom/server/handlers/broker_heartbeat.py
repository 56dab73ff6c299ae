"""BrokerHeartbeat: v0-1 (as Kafka 4.0 controllers advertise).

Behaviour: a registered broker's heartbeat, through the ControllerClient (``broker_heartbeat``):
it renews the broker's session (``broker.session.timeout.ms``), unfences it once
``current_metadata_offset`` has reached its registration, fences it on ``want_fence``, and runs a
controlled shutdown on ``want_shut_down`` (``should_shut_down`` once it leads nothing that could
move).  Errors: BROKER_ID_NOT_REGISTERED, STALE_BROKER_EPOCH.  v1 adds offline_log_dirs (tagged;
ignored: one log directory is watched by the broker itself).

Served on the broker listener for now, like BrokerRegistration (see there); no authorization.
"""
from __future__ import annotations

from typing import Any

from strom.metadata.controller_client import BrokerHeartbeat
from strom.server.context import RequestContext

API_KEY = 63
VERSIONS = (0, 1)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    result = await ctx.broker.controller.broker_heartbeat(BrokerHeartbeat(
        int(request.broker_id), int(request.broker_epoch), int(request.current_metadata_offset),
        bool(request.want_fence), bool(request.want_shut_down)))
    return {"throttle_time": 0, "error_code": result.error_code, "is_caught_up": result.is_caught_up,
            "is_fenced": result.is_fenced, "should_shut_down": result.should_shut_down}
