"""DeleteAcls: v1-3.

Behaviour:
- Each filter deletes the stored bindings it matches, with DescribeAcls' matching semantics
  (``strom.metadata.acls.AclFilter``); its result lists them.  A binding matched by several
  filters of one request is deleted once and listed under each.  All deletions of a request are
  one metadata batch.
- A filter with an UNKNOWN element is INVALID_REQUEST for that filter; the others still apply.
- The answer waits until this broker's image no longer holds the deleted bindings.
- Versions: v1 added pattern types (v0 is not served: Kafka 4 removed it), v2 is flexible, v3 adds the
  USER resource type (Strom accepts it in every version).

Not implemented: authorization of the request; the bindings are not enforced (see docs/compatibility.md).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.metadata.acls import AclFilter
from strom.metadata.cache import METADATA_WAIT_MS
from strom.server.context import RequestContext

API_KEY = 31
VERSIONS = (1, 3)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    filters = [AclFilter(f.resource_type_filter, f.resource_name_filter, f.pattern_type_filter, f.principal_filter,
                         f.host_filter, f.operation, f.permission_type) for f in request.filters]
    written = await ctx.broker.controller.delete_acls(filters)
    await ctx.broker.metadata.wait_for(written.metadata_offset, METADATA_WAIT_MS)
    results = [
        {"error_code": r.error_code, "error_message": r.error_message,
         "matching_acls": [{"error_code": ErrorCode.NONE, "error_message": None, "resource_type": a.resource_type,
                            "resource_name": a.resource_name, "pattern_type": a.pattern_type,
                            "principal": a.principal, "host": a.host, "operation": a.operation,
                            "permission_type": a.permission_type} for a in r.matching_acls]}
        for r in written.results]
    return {"throttle_time": 0, "filter_results": results}
