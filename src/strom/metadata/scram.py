"""SCRAM credentials (RFC 5802, KIP-554): mechanisms, Kafka's iteration bounds, stored keys.

AlterUserScramCredentials carries a salted password the client computed; the controller keeps
only what a SCRAM server needs, as Kafka does: the salt, the iteration count, StoredKey =
H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword, "Server Key").
Authentication with them comes with SASL (the security work); until then they are stored and
described (mechanism and iterations, never the secrets).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum

from strom.errors import ErrorCode, KafkaError

MIN_ITERATIONS = 4096  # Kafka's ScramMechanism.minIterations for both mechanisms
MAX_ITERATIONS = 16384  # and maxIterations


class ScramMechanism(IntEnum):
    UNKNOWN = 0
    SCRAM_SHA_256 = 1
    SCRAM_SHA_512 = 2

    @property
    def hash_name(self) -> str:
        return {ScramMechanism.SCRAM_SHA_256: "sha256", ScramMechanism.SCRAM_SHA_512: "sha512"}[self]


def mechanism(code: int) -> ScramMechanism:
    """The mechanism of a wire code; UNKNOWN for codes Kafka does not define."""
    try:
        return ScramMechanism(code)
    except ValueError:
        return ScramMechanism.UNKNOWN


@dataclass(frozen=True)
class ScramCredential:
    """What the image keeps for one user and mechanism."""

    mechanism: ScramMechanism
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


def derive_keys(mech: ScramMechanism, salted_password: bytes) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) of ``salted_password`` under ``mech``."""
    client_key = hmac.digest(salted_password, b"Client Key", mech.hash_name)
    stored_key = hashlib.new(mech.hash_name, client_key).digest()
    server_key = hmac.digest(salted_password, b"Server Key", mech.hash_name)
    return stored_key, server_key


def check_user_and_mechanism(name: str, code: int) -> ScramMechanism:
    """Kafka's checks of every deletion and upsertion: UNACCEPTABLE_CREDENTIAL for an empty user
    name, UNSUPPORTED_SASL_MECHANISM for an unknown mechanism."""
    if not name:
        raise KafkaError("Username must not be empty", ErrorCode.UNACCEPTABLE_CREDENTIAL)
    mech = mechanism(code)
    if mech is ScramMechanism.UNKNOWN:
        raise KafkaError("Unknown SCRAM mechanism", ErrorCode.UNSUPPORTED_SASL_MECHANISM)
    return mech


def check_iterations(iterations: int) -> None:
    if iterations < MIN_ITERATIONS:
        raise KafkaError(f"Too few iterations (at least {MIN_ITERATIONS})", ErrorCode.UNACCEPTABLE_CREDENTIAL)
    if iterations > MAX_ITERATIONS:
        raise KafkaError(f"Too many iterations (at most {MAX_ITERATIONS})", ErrorCode.UNACCEPTABLE_CREDENTIAL)


__all__ = ["ScramMechanism", "ScramCredential", "mechanism", "derive_keys", "check_user_and_mechanism",
           "check_iterations", "MIN_ITERATIONS", "MAX_ITERATIONS"]
