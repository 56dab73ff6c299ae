"""CreateAcls: v1-3.

Behaviour:
- Each creation is stored as an ACL binding in the metadata log (``AccessControlEntryRecord``, see
  ``strom.controller.acl_control``), durable across restarts; one result per creation, in order.
- INVALID_REQUEST, per creation, as Kafka answers it: resource type UNKNOWN/ANY, pattern type other
  than LITERAL/PREFIXED, operation UNKNOWN/ANY, permission type other than ALLOW/DENY, an empty
  resource name, a CLUSTER resource not named ``kafka-cluster``, a principal without ``:``
  (``Type:name``).  Codes Kafka does not define count as UNKNOWN.
- Creating a binding that exists already succeeds and stores nothing new.
- The answer waits until this broker's image holds the new bindings (read your write).
- Versions: v1 added pattern types (v0 is not served: Kafka 4 removed it), v2 is flexible, v3 adds the
  USER resource type (Strom accepts it in every version).

Not implemented: authorization of the request, and enforcement of the bindings: Strom stores
them but allows every request (see docs/compatibility.md).
"""
from __future__ import annotations

from typing import Any

from strom.metadata.acls import AclBinding
from strom.metadata.cache import METADATA_WAIT_MS
from strom.server.context import RequestContext

API_KEY = 30
VERSIONS = (1, 3)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    creations = [AclBinding(c.resource_type, c.resource_name, c.resource_pattern_type, c.principal, c.host,
                            c.operation, c.permission_type) for c in request.creations]
    written = await ctx.broker.controller.create_acls(creations)
    await ctx.broker.metadata.wait_for(written.metadata_offset, METADATA_WAIT_MS)
    return {"throttle_time": 0, "results": [{"error_code": r.error_code, "error_message": r.error_message}
                                            for r in written.results]}
