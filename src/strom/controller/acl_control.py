"""ACL bindings in the metadata log (Kafka's AclControlManager): plans of CreateAcls and DeleteAcls.

Each ``plan_*`` reads one image and returns ``(records, results)``; the controller commits the
records (all of a request in one batch) and the image changes only when they are replayed.

- create: each binding is validated (``AclBinding.validate``: INVALID_REQUEST); a binding equal to
  one already stored, or to an earlier one of the same request, succeeds without a new record;
  a new one gets an ``AccessControlEntryRecord`` with a fresh UUID.
- delete: each filter is validated (``AclFilter.validate``) and matched against the image; every
  match gets one ``RemoveAccessControlEntryRecord`` even if several filters of the request match
  it, and is listed under every filter that matched it (Kafka's behaviour).

Not enforced: Strom authorizes every request whatever the bindings say (see docs/compatibility.md).
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence

from strom.errors import KafkaError
from strom.metadata.acls import AclBinding, AclFilter
from strom.metadata.controller_client import AclCreateResult, AclDeleteResult
from strom.metadata.image import MetadataImage
from strom.metadata.records import AccessControlEntryRecord, MetadataRecord, RemoveAccessControlEntryRecord


def plan_create_acls(image: MetadataImage, creations: Sequence[AclBinding]
                     ) -> tuple[list[MetadataRecord], list[AclCreateResult]]:
    existing = set(image.acls.values())
    records: list[MetadataRecord] = []
    results: list[AclCreateResult] = []
    for acl in creations:
        try:
            acl.validate()
        except KafkaError as exc:
            results.append(AclCreateResult(exc.code, exc.message))
            continue
        if acl not in existing:
            existing.add(acl)
            records.append(AccessControlEntryRecord(
                str(uuid.uuid4()), acl.resource_type, acl.resource_name, acl.pattern_type, acl.principal, acl.host,
                acl.operation, acl.permission_type))
        results.append(AclCreateResult())
    return records, results


def plan_delete_acls(image: MetadataImage, filters: Sequence[AclFilter]
                     ) -> tuple[list[MetadataRecord], list[AclDeleteResult]]:
    removed: dict[str, None] = {}  # ids, in order, once each
    results: list[AclDeleteResult] = []
    for f in filters:
        try:
            f.validate()
        except KafkaError as exc:
            results.append(AclDeleteResult(exc.code, exc.message))
            continue
        matched = [(acl_id, acl) for acl_id, acl in image.acls.items() if f.matches(acl)]
        removed.update((acl_id, None) for acl_id, _ in matched)
        results.append(AclDeleteResult(matching_acls=tuple(acl for _, acl in matched)))
    return [RemoveAccessControlEntryRecord(acl_id) for acl_id in removed], results
