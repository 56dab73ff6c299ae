"""DescribeAcls: v1-3.

Behaviour:
- The filter selects stored bindings with Kafka's semantics (``strom.metadata.acls.AclFilter``:
  ANY, MATCH, null name/principal/host, literal, prefixed and the ``*`` wildcard); they are
  answered grouped by resource pattern, sorted.
- A filter with an UNKNOWN element (resource type, pattern type, operation or permission type 0,
  or a code Kafka does not define) is INVALID_REQUEST at the top level.
- Versions: v1 added pattern types (v0, literal only, is not served: Kafka 4 removed it), v2 is
  flexible, v3 adds the USER resource type (Strom accepts it in every version).

Not implemented: authorization of the request (every client may describe every binding), and
enforcement of the bindings (they are stored, not applied: see docs/compatibility.md).
"""
from __future__ import annotations

from itertools import groupby
from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.metadata.acls import AclFilter
from strom.server.context import RequestContext

API_KEY = 29
VERSIONS = (1, 3)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    acl_filter = AclFilter(request.resource_type_filter, request.resource_name_filter, request.pattern_type_filter,
                           request.principal_filter, request.host_filter, request.operation, request.permission_type)
    try:
        acl_filter.validate()
    except KafkaError as exc:
        return {"throttle_time": 0, "error_code": exc.code, "error_message": exc.message, "resources": []}
    matched = sorted(acl for acl in ctx.broker.metadata.image.acls.values() if acl_filter.matches(acl))
    resources = [
        {"resource_type": rtype, "resource_name": name, "pattern_type": ptype,
         "acls": [{"principal": a.principal, "host": a.host, "operation": a.operation,
                   "permission_type": a.permission_type} for a in acls]}
        for (rtype, name, ptype), acls in groupby(matched, key=lambda a: (a.resource_type, a.resource_name,
                                                                            a.pattern_type))]
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "error_message": None, "resources": resources}
