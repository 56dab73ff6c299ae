"""DescribeUserScramCredentials: v0.

Behaviour (Kafka's, KIP-554):
- ``users`` null or empty describes every user that has a credential; else each named user, in
  order: its mechanisms and iteration counts (never the salt or keys), RESOURCE_NOT_FOUND for a
  user without credentials, DUPLICATE_RESOURCE for a user named more than once.
- Read from this broker's metadata image.

Not implemented: authorization of the request (Kafka requires DESCRIBE on the cluster).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 50
VERSIONS = (0, 0)


def _described(user: str, credentials: Any) -> dict[str, Any]:
    return {"user": user, "error_code": ErrorCode.NONE, "error_message": None,
            "credential_infos": [{"mechanism": int(m), "iterations": c.iterations}
                                 for m, c in sorted(credentials.items())]}


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    stored = ctx.broker.metadata.image.scram_credentials
    results: list[dict[str, Any]] = []
    if not request.users:
        results = [_described(user, stored[user]) for user in sorted(stored)]
    else:
        counts = Counter(u.name for u in request.users)
        for user in dict.fromkeys(u.name for u in request.users):
            if counts[user] > 1:
                results.append({"user": user, "error_code": ErrorCode.DUPLICATE_RESOURCE, "credential_infos": [],
                                "error_message": f"Cannot describe SCRAM credentials for the same user twice in a "
                                                 f"single request: {user}"})
            elif user not in stored:
                results.append({"user": user, "error_code": ErrorCode.RESOURCE_NOT_FOUND, "credential_infos": [],
                                "error_message": f"attemptToDescribeUserThatDoesNotExist: {user}"})
            else:
                results.append(_described(user, stored[user]))
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "error_message": None, "results": results}
