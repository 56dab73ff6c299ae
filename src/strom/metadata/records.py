"""Metadata records: every durable change of cluster metadata is one of these.

They are stored in the metadata log (``__cluster_metadata-0``) as Kafka record
batches; each record's key is the record type (ASCII) and its value the JSON
object below.  ``MetadataImage.replay`` (through a ``MetadataDelta``) applies them
in order, on the controller and in the broker's ``MetadataCache``; replaying the
whole log from the start rebuilds the image after a restart.  Field names
follow Kafka's metadata records (TopicRecord, PartitionRecord, ...) in snake case.

  topic          {"name", "topic_id"}
  partition      {"topic_id", "partition", "replicas", "isr", "leader", "leader_epoch", "partition_epoch"}
  remove_topic   {"topic_id"}
  config         {"resource_type" (2 topic, 4 broker), "resource_name", "name", "value" (null = delete)}
  producer_ids   {"broker_id", "next_producer_id"}  (a block of producer ids was handed out)
  register_broker {"broker_id", "incarnation_id", "broker_epoch", "endpoints": [{"name", "host", "port",
                  "security_protocol"}], "rack", "fenced", "in_controlled_shutdown"}
  unregister_broker {"broker_id", "broker_epoch"}
  broker_registration_change {"broker_id", "broker_epoch", "fenced", "in_controlled_shutdown"}
                  (null = unchanged)
  acl            {"id", "resource_type", "resource_name", "pattern_type", "principal", "host", "operation",
                  "permission_type"}  (Kafka's AccessControlEntryRecord; enum codes of ``strom.metadata.acls``)
  remove_acl     {"id"}  (Kafka's RemoveAccessControlEntryRecord)
  scram_credential {"name", "mechanism" (1 SCRAM-SHA-256, 2 SCRAM-SHA-512), "salt", "stored_key", "server_key",
                  "iterations"}  (Kafka's UserScramCredentialRecord; the byte fields in base64; it replaces
                  any earlier credential of that user and mechanism)
  remove_scram_credential {"name", "mechanism"}  (Kafka's RemoveUserScramCredentialRecord)

A broker's epoch is the offset of its ``register_broker`` record (Kafka's rule); a registration
record replaces any earlier registration of that broker id.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4


@dataclass(frozen=True)
class TopicRecord:
    TYPE: ClassVar[str] = "topic"
    name: str
    topic_id: str


@dataclass(frozen=True)
class PartitionRecord:
    TYPE: ClassVar[str] = "partition"
    topic_id: str
    partition: int
    replicas: list[int]
    isr: list[int]
    leader: int
    leader_epoch: int = 0
    partition_epoch: int = 0


@dataclass(frozen=True)
class RemoveTopicRecord:
    TYPE: ClassVar[str] = "remove_topic"
    topic_id: str


@dataclass(frozen=True)
class ConfigRecord:
    TYPE: ClassVar[str] = "config"
    resource_type: int
    resource_name: str
    name: str
    value: str | None


@dataclass(frozen=True)
class ProducerIdsRecord:
    TYPE: ClassVar[str] = "producer_ids"
    broker_id: int
    next_producer_id: int


@dataclass(frozen=True)
class BrokerEndpoint:
    """One listener of a broker: Kafka's BrokerEndpoint (name, host, port, security protocol id:
    0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL)."""

    name: str
    host: str
    port: int
    security_protocol: int = 0


@dataclass(frozen=True)
class RegisterBrokerRecord:
    TYPE: ClassVar[str] = "register_broker"
    broker_id: int
    incarnation_id: str
    broker_epoch: int
    endpoints: tuple[BrokerEndpoint, ...]
    rack: str | None = None
    fenced: bool = True
    in_controlled_shutdown: bool = False

    def __post_init__(self) -> None:  # decoded JSON carries the endpoints as objects
        object.__setattr__(self, "endpoints", tuple(
            e if isinstance(e, BrokerEndpoint) else BrokerEndpoint(**e) for e in self.endpoints))


@dataclass(frozen=True)
class UnregisterBrokerRecord:
    TYPE: ClassVar[str] = "unregister_broker"
    broker_id: int
    broker_epoch: int


@dataclass(frozen=True)
class BrokerRegistrationChangeRecord:
    """Fence/unfence and controlled shutdown of the registration ``broker_epoch``; None = unchanged."""

    TYPE: ClassVar[str] = "broker_registration_change"
    broker_id: int
    broker_epoch: int
    fenced: bool | None = None
    in_controlled_shutdown: bool | None = None


@dataclass(frozen=True)
class AccessControlEntryRecord:
    """One ACL binding, ``id`` a UUID string (Kafka's AccessControlEntryRecord)."""

    TYPE: ClassVar[str] = "acl"
    id: str
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int


@dataclass(frozen=True)
class RemoveAccessControlEntryRecord:
    TYPE: ClassVar[str] = "remove_acl"
    id: str


@dataclass(frozen=True)
class UserScramCredentialRecord:
    """A SCRAM credential (RFC 5802): ``salt``, ``stored_key`` and ``server_key`` in base64; the
    salted password itself is never stored."""

    TYPE: ClassVar[str] = "scram_credential"
    name: str
    mechanism: int
    salt: str
    stored_key: str
    server_key: str
    iterations: int


@dataclass(frozen=True)
class RemoveUserScramCredentialRecord:
    TYPE: ClassVar[str] = "remove_scram_credential"
    name: str
    mechanism: int


MetadataRecord = (TopicRecord | PartitionRecord | RemoveTopicRecord | ConfigRecord | ProducerIdsRecord
                  | RegisterBrokerRecord | UnregisterBrokerRecord | BrokerRegistrationChangeRecord
                  | AccessControlEntryRecord | RemoveAccessControlEntryRecord | UserScramCredentialRecord
                  | RemoveUserScramCredentialRecord)
_BY_TYPE: dict[str, Any] = {cls.TYPE: cls for cls in
                            (TopicRecord, PartitionRecord, RemoveTopicRecord, ConfigRecord, ProducerIdsRecord,
                             RegisterBrokerRecord, UnregisterBrokerRecord, BrokerRegistrationChangeRecord,
                             AccessControlEntryRecord, RemoveAccessControlEntryRecord, UserScramCredentialRecord,
                             RemoveUserScramCredentialRecord)}


def encode(record: MetadataRecord) -> tuple[bytes, bytes]:
    """(key, value) bytes of a record."""
    return record.TYPE.encode(), json.dumps(asdict(record), separators=(",", ":")).encode()


def decode(key: bytes, value: bytes) -> MetadataRecord:
    cls = _BY_TYPE.get(key.decode())
    if cls is None:
        raise ValueError(f"unknown metadata record type {key!r}")
    return cls(**json.loads(value))


__all__ = ["TopicRecord", "PartitionRecord", "RemoveTopicRecord", "ConfigRecord", "ProducerIdsRecord",
           "BrokerEndpoint", "RegisterBrokerRecord", "UnregisterBrokerRecord", "BrokerRegistrationChangeRecord",
           "AccessControlEntryRecord", "RemoveAccessControlEntryRecord", "UserScramCredentialRecord",
           "RemoveUserScramCredentialRecord",
           "MetadataRecord", "encode", "decode", "TOPIC_RESOURCE", "BROKER_RESOURCE", "field"]
