"""AlterUserScramCredentials: v0.

Behaviour (Kafka's KRaft rules, see ``strom.controller.scram_control``):
- Upsertions store a credential per user and mechanism (SCRAM-SHA-256 = 1, SCRAM-SHA-512 = 2) in
  the metadata log: salt, iterations and the StoredKey/ServerKey derived from the salted password
  (which is not kept); deletions remove one.  Durable across restarts.
- One result per user, in the order the request first names them: DUPLICATE_RESOURCE for a user
  named more than once (in deletions and upsertions together), UNSUPPORTED_SASL_MECHANISM for an
  unknown mechanism, UNACCEPTABLE_CREDENTIAL for an empty name or iterations outside
  4096..16384, RESOURCE_NOT_FOUND for deleting a credential that does not exist.
- The answer waits until this broker's image holds the change.

Not implemented: authorization of the request (Kafka requires ALTER on the cluster), and
authentication with the credentials: SASL/SCRAM comes with the security work (docs/compatibility.md).
"""
from __future__ import annotations

from typing import Any

from strom.metadata.cache import METADATA_WAIT_MS
from strom.metadata.controller_client import ScramDeletion, ScramUpsertion
from strom.server.context import RequestContext

API_KEY = 51
VERSIONS = (0, 0)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    deletions = [ScramDeletion(d.name, d.mechanism) for d in request.deletions]
    upsertions = [ScramUpsertion(u.name, u.mechanism, u.iterations, bytes(u.salt), bytes(u.salted_password))
                  for u in request.upsertions]
    written = await ctx.broker.controller.alter_user_scram_credentials(deletions, upsertions)
    await ctx.broker.metadata.wait_for(written.metadata_offset, METADATA_WAIT_MS)
    return {"throttle_time": 0, "results": [{"user": r.name, "error_code": r.error_code,
                                             "error_message": r.error_message} for r in written.results]}
