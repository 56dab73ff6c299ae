"""ApiVersions: v0-4.

The answer is computed from the handler registry.  v0 requests are accepted
(aiokafka sends one first).  An unsupported version is answered by the
dispatcher with UNSUPPORTED_VERSION in a v0 body.  The response header is
always v0 (no tagged fields), as Kafka does.  v3+ client software name and
version are accepted and ignored.  No features are advertised yet.
"""
from __future__ import annotations

from typing import Any

from strom.server.context import RequestContext

API_KEY = 18
VERSIONS = (0, 4)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    from strom.server.registry import advertised_versions  # the registry imports this module

    return {
        "error_code": 0,
        "api_keys": [{"api_key": k, "min_version": lo, "max_version": hi} for k, lo, hi in advertised_versions()],
        "throttle_time": 0,
        "finalized_features_epoch": -1,
    }
