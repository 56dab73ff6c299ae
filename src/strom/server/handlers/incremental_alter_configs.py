"""IncrementalAlterConfigs: v0-1.

Behaviour:
- Operations: 0 SET, 1 DELETE (back to the inherited value), 2 APPEND and
  3 SUBTRACT.  APPEND/SUBTRACT work only on list-typed configs (e.g.
  cleanup.policy; else INVALID_CONFIG, as Kafka's controller answers) and are
  computed from the current effective value; APPEND skips values already
  present; a SUBTRACT that empties the list sets "" (then validated).
- TOPIC (2) and BROKER (4; "" or this node's id) resources; configs not named
  keep their overrides; validate_only checks and changes nothing.
- Errors per resource: a resource named twice, a config named twice, a null
  value for SET/APPEND/SUBTRACT or an unknown operation is INVALID_REQUEST;
  an unknown topic UNKNOWN_TOPIC_OR_PARTITION; an unknown config or bad value
  INVALID_CONFIG with the reason.
- Versions: v1 is flexible, otherwise the same.

Not implemented: BROKER_LOGGER (8), CLIENT_METRICS (16) and GROUP (32)
resources (INVALID_REQUEST); authorization; alter policies.
"""
from __future__ import annotations

from typing import Any

from strom.config import BROKER_CONFIGS, TOPIC_CONFIGS
from strom.errors import ErrorCode, KafkaError
from strom.metadata.records import TOPIC_RESOURCE
from strom.server.context import RequestContext
from strom.server.handlers._alter import apply
from strom.server.handlers.alter_configs import precheck, resource_counts
from strom.server.topic_configs import describe_broker_configs, describe_topic_configs

API_KEY = 44
VERSIONS = (0, 1)
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
_OP_NAMES = {APPEND: "APPEND", SUBTRACT: "SUBTRACT"}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _current_list(ctx: RequestContext, resource_type: int, name: str, key: str) -> list[str]:
    """The current effective value of list config ``key`` of the resource, split."""
    broker = ctx.broker
    if resource_type == TOPIC_RESOURCE:
        entries = describe_topic_configs(broker, name)
    else:
        dynamic = broker.metadata.image.broker_configs.get(name, {})
        if key in dynamic:
            return _split(dynamic[key])
        entries = describe_broker_configs(broker)
    for entry in entries:
        if entry.name == key:
            return _split(entry.value)
    return []


def _changes(ctx: RequestContext, res: Any) -> dict[str, str | None]:
    """The resource's operations as set (value) / delete (None) changes; KafkaError if one is bad."""
    table = TOPIC_CONFIGS if res.resource_type == TOPIC_RESOURCE else BROKER_CONFIGS
    changes: dict[str, str | None] = {}
    for c in res.configs:
        op = c.config_operation
        if op == SET:
            changes[c.name] = c.value
        elif op == DELETE:
            changes[c.name] = None
        elif op in (APPEND, SUBTRACT):
            if getattr(table.get(c.name), "type", None) != "list":
                raise KafkaError(f"Can't {_OP_NAMES[op]} to key {c.name} because its type is not LIST.",
                                 ErrorCode.INVALID_CONFIG)
            items = _current_list(ctx, res.resource_type, res.resource_name, c.name)
            given = _split(c.value)
            if op == APPEND:
                items += [v for v in dict.fromkeys(given) if v not in items]
            else:
                items = [v for v in items if v not in given]
            changes[c.name] = ",".join(items)
        else:
            raise KafkaError(f"Unknown alter config operation type {op}", ErrorCode.INVALID_REQUEST)
    return changes


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    counts = resource_counts(request.resources)
    responses = []
    for res in request.resources:
        base = {"resource_type": res.resource_type, "resource_name": res.resource_name}
        deletes = [c.name for c in res.configs if c.config_operation == DELETE]
        problem = precheck(res, counts, null_allowed=deletes)
        if problem is not None:
            responses.append({**base, "error_code": ErrorCode.INVALID_REQUEST, "error_message": problem})
            continue
        if res.resource_type == TOPIC_RESOURCE and ctx.broker.metadata.topic(res.resource_name) is None:
            responses.append({**base, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                              "error_message": f"Topic '{res.resource_name}' does not exist."})
            continue
        try:
            changes = _changes(ctx, res)
        except KafkaError as exc:
            responses.append({**base, "error_code": exc.code, "error_message": exc.message})
            continue
        responses.append(await apply(ctx, res.resource_type, res.resource_name, changes, replace=False,
                                     validate_only=request.validate_only))
    return {"throttle_time": 0, "responses": responses}
