"""SCRAM credentials in the metadata log (Kafka's ScramControlManager): the plan of AlterUserScramCredentials.

``plan_alter_scram`` reads one image and returns ``(records, results)``, one result per user in
the order the request first names them.  Kafka's rules:

- a user named more than once in the request (in deletions, upsertions or both, whatever the
  mechanisms) gets DUPLICATE_RESOURCE and none of its changes is applied;
- an empty user name is UNACCEPTABLE_CREDENTIAL, an unknown mechanism UNSUPPORTED_SASL_MECHANISM;
- deleting a credential that does not exist is RESOURCE_NOT_FOUND;
- an upsertion needs 4096..16384 iterations (UNACCEPTABLE_CREDENTIAL otherwise); it stores the salt,
  the iterations and the StoredKey/ServerKey derived from the salted password
  (``strom.metadata.scram.derive_keys``), never the salted password.

Users are independent: one user's error does not stop another's change.
"""
from __future__ import annotations

import base64
from collections.abc import Sequence

from strom.errors import ErrorCode, KafkaError
from strom.metadata.controller_client import EntryResult, ScramDeletion, ScramUpsertion
from strom.metadata.image import MetadataImage
from strom.metadata.records import MetadataRecord, RemoveUserScramCredentialRecord, UserScramCredentialRecord
from strom.metadata.scram import check_iterations, check_user_and_mechanism, derive_keys

_DUPLICATE = "A user credential cannot be altered twice in the same request"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _plan_one(image: MetadataImage, change: ScramDeletion | ScramUpsertion) -> MetadataRecord:
    mech = check_user_and_mechanism(change.name, change.mechanism)
    if isinstance(change, ScramDeletion):
        if mech not in image.scram_credentials.get(change.name, {}):
            raise KafkaError("Attempt to delete a user credential that does not exist", ErrorCode.RESOURCE_NOT_FOUND)
        return RemoveUserScramCredentialRecord(change.name, int(mech))
    check_iterations(change.iterations)
    stored_key, server_key = derive_keys(mech, change.salted_password)
    return UserScramCredentialRecord(change.name, int(mech), _b64(change.salt), _b64(stored_key), _b64(server_key),
                                     change.iterations)


def plan_alter_scram(image: MetadataImage, deletions: Sequence[ScramDeletion], upsertions: Sequence[ScramUpsertion]
                     ) -> tuple[list[MetadataRecord], list[EntryResult]]:
    by_user: dict[str, list[ScramDeletion | ScramUpsertion]] = {}
    for change in [*deletions, *upsertions]:
        by_user.setdefault(change.name, []).append(change)
    records: list[MetadataRecord] = []
    results: list[EntryResult] = []
    for user, changes in by_user.items():
        if len(changes) > 1:
            results.append(EntryResult(user, ErrorCode.DUPLICATE_RESOURCE, _DUPLICATE))
            continue
        try:
            records.append(_plan_one(image, changes[0]))
        except KafkaError as exc:
            results.append(EntryResult(user, exc.code, exc.message))
        else:
            results.append(EntryResult(user))
    return records, results
