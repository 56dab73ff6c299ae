"""Shared by AlterConfigs and IncrementalAlterConfigs: apply one resource's changes."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strom.controller.records import BROKER_RESOURCE, TOPIC_RESOURCE
from strom.errors import ErrorCode, KafkaError
from strom.server.context import RequestContext


async def apply(ctx: RequestContext, resource_type: int, name: str, changes: Mapping[str, str | None], *,
                replace: bool, validate_only: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"resource_type": resource_type, "resource_name": name, "error_code": 0}
    controller = ctx.broker.controller
    try:
        if resource_type == TOPIC_RESOURCE:
            await controller.alter_topic_configs(name, changes, replace=replace, validate_only=validate_only)
        elif resource_type == BROKER_RESOURCE:
            if name not in ("", str(ctx.broker.node_id)):
                raise KafkaError(f"unknown broker id {name!r}", ErrorCode.INVALID_REQUEST)
            await controller.alter_broker_configs(name, changes, replace=replace, validate_only=validate_only)
        else:
            raise KafkaError(f"resource type {resource_type} is not supported", ErrorCode.INVALID_REQUEST)
    except KafkaError as exc:
        out["error_code"], out["error_message"] = exc.code, exc.message
    return out
