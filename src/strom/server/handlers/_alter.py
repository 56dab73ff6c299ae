"""Shared by AlterConfigs and IncrementalAlterConfigs: apply one resource's changes.

The change goes to the controller client; the answer waits until the broker's image holds the
commit, so the next resource of the request (and the client's next request) reads it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strom.errors import ErrorCode
from strom.metadata.cache import METADATA_WAIT_MS
from strom.metadata.controller_client import ConfigChanges
from strom.metadata.records import BROKER_RESOURCE
from strom.server.context import RequestContext


async def apply(ctx: RequestContext, resource_type: int, name: str, changes: Mapping[str, str | None], *,
                replace: bool, validate_only: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"resource_type": resource_type, "resource_name": name, "error_code": 0}
    if resource_type == BROKER_RESOURCE and name not in ("", str(ctx.broker.node_id)):
        out["error_code"], out["error_message"] = ErrorCode.INVALID_REQUEST, f"unknown broker id {name!r}"
        return out
    written = await ctx.broker.controller.alter_configs([ConfigChanges(resource_type, name, changes)],
                                                        replace=replace, validate_only=validate_only)
    [result] = written.results
    if result.error_code:
        out["error_code"], out["error_message"] = result.error_code, result.error_message
    await ctx.broker.metadata.wait_for(written.metadata_offset, METADATA_WAIT_MS)
    return out
