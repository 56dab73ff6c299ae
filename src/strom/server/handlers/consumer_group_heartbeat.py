"""ConsumerGroupHeartbeat: v0-1 (KIP-848, the broker-side "consumer" group protocol).

Join (member epoch 0), heartbeat, leave (-1) and static leave (-2) of a
consumer group; the coordinator (coordinator/group/consumer_group.py) computes
the assignment.  v0: the broker generates the member id when the client sends
an empty one; v1: the client generates it (required) and may subscribe with a
regular expression (``subscribed_topic_regex``, matched with Python's ``re``,
see consumer_group.py for the differences from RE2/J).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.protocol.codec import millis
from strom.server.context import RequestContext

API_KEY = 68
VERSIONS = (0, 1)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    groups = ctx.broker.groups
    if groups is None:
        return {"throttle_time": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "member_epoch": 0,
                "heartbeat_interval": 0}
    owned = request.topic_partitions
    result = await groups.consumer.heartbeat(
        request.group_id, request.member_id, request.member_epoch,
        instance_id=request.instance_id, rack_id=request.rack_id,
        rebalance_timeout_ms=millis(request.rebalance_timeout),
        subscribed_topic_names=request.subscribed_topic_names,
        subscribed_topic_regex=getattr(request, "subscribed_topic_regex", None),
        server_assignor=request.server_assignor,
        topic_partitions=None if owned is None else [(tp.topic_id, tp.partitions) for tp in owned],
        client_id=ctx.client_id or "", client_host=ctx.client_host, api_version=ctx.api_version)
    return {"throttle_time": 0, "error_code": result["error_code"], "error_message": result["error_message"],
            "member_id": result["member_id"], "member_epoch": result["member_epoch"],
            "heartbeat_interval": result["heartbeat_interval_ms"], "assignment": result["assignment"]}
