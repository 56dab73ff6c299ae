"""AlterConfigs: v0-2 (legacy: the named configs replace every override of the resource).

Behaviour:
- TOPIC (2) and BROKER (4; "" = cluster-wide default, or this node's id)
  resources; every override the request does not name is removed
  (``Controller.alter_*_configs(replace=True)``); validate_only checks and
  changes nothing.
- Errors per resource, as Kafka's ConfigAdminManager answers them: a resource
  named twice, a config named twice in one resource, or a null value is
  INVALID_REQUEST; an unknown topic UNKNOWN_TOPIC_OR_PARTITION; an unknown
  topic config or a bad value INVALID_CONFIG with the reason; other resource
  types (BROKER_LOGGER, ...) INVALID_REQUEST.
- Versions: v1 is v0 (throttle semantics only), v2 is flexible.

Not implemented: authorization; create/alter policies.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from strom.errors import ErrorCode
from strom.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE
from strom.server.context import RequestContext
from strom.server.handlers._alter import apply

API_KEY = 33
VERSIONS = (0, 2)


def precheck(resource: Any, counts: Counter[tuple[int, str]], *, null_allowed: Iterable[str] = ()
             ) -> str | None:
    """Why a resource is INVALID_REQUEST before any config is looked at (shared with
    IncrementalAlterConfigs), or None.  ``null_allowed``: config names whose value may be null."""
    if resource.resource_type not in (TOPIC_RESOURCE, BROKER_RESOURCE):
        return f"Unsupported resource type {resource.resource_type}"
    if counts[(resource.resource_type, resource.resource_name)] > 1:
        return "Each resource must appear at most once."
    names = [c.name for c in resource.configs]
    if len(names) != len(set(names)):
        return "Error due to duplicate config keys"
    allowed = set(null_allowed)
    nulls = [c.name for c in resource.configs if c.value is None and c.name not in allowed]
    if nulls:
        return "Null value not supported for : " + ", ".join(nulls)
    return None


def resource_counts(resources: Iterable[Any]) -> Counter[tuple[int, str]]:
    return Counter((r.resource_type, r.resource_name) for r in resources)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    counts = resource_counts(request.resources)
    responses = []
    for res in request.resources:
        problem = precheck(res, counts)
        if problem is not None:
            responses.append({"resource_type": res.resource_type, "resource_name": res.resource_name,
                              "error_code": ErrorCode.INVALID_REQUEST, "error_message": problem})
            continue
        changes = {c.name: c.value for c in res.configs}
        responses.append(await apply(ctx, res.resource_type, res.resource_name, changes, replace=True,
                                     validate_only=request.validate_only))
    return {"throttle_time": 0, "responses": responses}
