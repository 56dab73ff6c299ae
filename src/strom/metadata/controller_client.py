"""ControllerClient: the broker's only way to change cluster metadata.

Handlers never call the controller object; they call this narrow protocol,
which works the same whether the active controller runs in this process
(``strom.controller.client.LocalControllerClient``) or in another one (a
forwarding client that re-sends CreateTopics, DeleteTopics, CreatePartitions,
AlterConfigs and AllocateProducerIds to the active controller — Kafka's
forwarding — and turns the answers back into these values).  So:

- every method is async and takes request-shaped values (Kafka's request
  fields in snake case, one entry per topic or resource, as the wire
  request carries them) and returns result values with a per-entry error
  code and message; nothing here raises for a per-entry failure;
- every write returns ``metadata_offset``: an offset of the metadata log at
  or after the commit of its records and of every commit its answer reflects
  (so TOPIC_ALREADY_EXISTS too can be read back).  The caller waits with
  ``MetadataCache.wait_for(metadata_offset, ...)`` before answering from the
  broker's image, so a client reads its own write.
  In-process it is the controller's committed offset right after the call; a
  forwarding client learns it from the active controller (the quorum's high
  watermark after the answer, e.g. from DescribeQuorum, bounds the commit).
- ``allocate_producer_id`` hands out one id; a forwarding client keeps a
  block from AllocateProducerIds and hands ids from it.
- ``register_broker`` and ``broker_heartbeat`` are the broker lifecycle
  (BrokerRegistration and BrokerHeartbeat, APIs 62 and 63): a forwarding
  client sends them to the active controller as they are.
- ``create_acls``, ``delete_acls`` (CreateAcls, DeleteAcls) and
  ``alter_user_scram_credentials`` (AlterUserScramCredentials) store ACL
  bindings and SCRAM credentials in the metadata log; a forwarding client
  sends those requests to the active controller as they are.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from strom.errors import ErrorCode
from strom.metadata.acls import AclBinding, AclFilter
from strom.metadata.records import BrokerEndpoint

T = TypeVar("T")


# ---------------------------------------------------------------------- requests
@dataclass(frozen=True)
class NewTopic:
    """CreateTopicsRequest.CreatableTopic: -1 partitions / replication factor take the broker
    defaults; ``assignments`` are (partition, broker ids) and exclude both counts."""

    name: str
    num_partitions: int = -1
    replication_factor: int = -1
    assignments: Sequence[tuple[int, Sequence[int]]] = ()
    configs: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicToDelete:
    """DeleteTopicsRequest.DeleteTopicState: by id when ``topic_id`` is set, else by name."""

    name: str | None
    topic_id: uuid.UUID | None = None


@dataclass(frozen=True)
class NewPartitions:
    """CreatePartitionsRequest.CreatePartitionsTopic: raise ``name`` to ``count`` partitions;
    ``assignments`` (one broker id list per new partition) or None to let the controller place them."""

    name: str
    count: int
    assignments: Sequence[Sequence[int]] | None = None


@dataclass(frozen=True)
class ConfigChanges:
    """One AlterConfigs resource: ``changes`` sets (value) or deletes (None) overrides.
    resource_type is Kafka's (2 topic, 4 broker; name "" = cluster-wide default)."""

    resource_type: int
    resource_name: str
    changes: Mapping[str, str | None]


# ---------------------------------------------------------------------- results
@dataclass
class TopicResult:
    """One CreateTopics answer (num_partitions, replication_factor and configs as created)."""

    name: str
    error_code: ErrorCode = ErrorCode.NONE
    error_message: str | None = None
    topic_id: uuid.UUID | None = None
    num_partitions: int = -1
    replication_factor: int = -1
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EntryResult:
    """The answer for one topic or resource of DeleteTopics, CreatePartitions or AlterConfigs.
    DeleteTopics fills both name and topic_id of the deleted topic."""

    name: str | None
    error_code: ErrorCode = ErrorCode.NONE
    error_message: str | None = None
    topic_id: uuid.UUID | None = None


@dataclass(frozen=True)
class WriteResult(Generic[T]):
    """Per-entry results in request order and the metadata offset to wait for (see the module doc)."""

    results: list[T]
    metadata_offset: int


@dataclass(frozen=True)
class RegisterBroker:
    """BrokerRegistrationRequest: one process (``incarnation_id``, new at every start) of broker
    ``broker_id`` with its advertised ``listeners``."""

    broker_id: int
    cluster_id: str
    incarnation_id: uuid.UUID
    listeners: Sequence[BrokerEndpoint]
    rack: str | None = None
    previous_broker_epoch: int = -1


@dataclass(frozen=True)
class RegisterBrokerResult:
    """BrokerRegistrationResponse: ``broker_epoch`` (-1 on error) is the offset of the registration
    record; ``metadata_offset`` as for every write (see the module doc)."""

    error_code: ErrorCode = ErrorCode.NONE
    error_message: str | None = None
    broker_epoch: int = -1
    metadata_offset: int = -1


@dataclass(frozen=True)
class BrokerHeartbeat:
    """BrokerHeartbeatRequest: ``current_metadata_offset`` is the offset of the broker's published image."""

    broker_id: int
    broker_epoch: int
    current_metadata_offset: int
    want_fence: bool = False
    want_shut_down: bool = False


@dataclass(frozen=True)
class BrokerHeartbeatResult:
    """BrokerHeartbeatResponse, plus the metadata offset of the records the heartbeat committed."""

    error_code: ErrorCode = ErrorCode.NONE
    error_message: str | None = None
    is_caught_up: bool = False
    is_fenced: bool = True
    should_shut_down: bool = False
    metadata_offset: int = -1


@dataclass(frozen=True)
class ScramDeletion:
    """AlterUserScramCredentialsRequest.ScramCredentialDeletion (mechanism: Kafka's code)."""

    name: str
    mechanism: int


@dataclass(frozen=True)
class ScramUpsertion:
    """AlterUserScramCredentialsRequest.ScramCredentialUpsertion."""

    name: str
    mechanism: int
    iterations: int
    salt: bytes
    salted_password: bytes


@dataclass(frozen=True)
class AclCreateResult:
    """The answer for one CreateAcls creation."""

    error_code: ErrorCode = ErrorCode.NONE
    error_message: str | None = None


@dataclass(frozen=True)
class AclDeleteResult:
    """The answer for one DeleteAcls filter: the bindings it matched (and so deleted)."""

    error_code: ErrorCode = ErrorCode.NONE
    error_message: str | None = None
    matching_acls: tuple[AclBinding, ...] = ()


class ControllerClient(Protocol):
    async def create_topics(self, topics: Sequence[NewTopic], *, validate_only: bool = False
                            ) -> WriteResult[TopicResult]: ...

    async def delete_topics(self, topics: Sequence[TopicToDelete]) -> WriteResult[EntryResult]: ...

    async def create_partitions(self, topics: Sequence[NewPartitions], *, validate_only: bool = False
                                ) -> WriteResult[EntryResult]: ...

    async def alter_configs(self, resources: Sequence[ConfigChanges], *, replace: bool,
                            validate_only: bool = False) -> WriteResult[EntryResult]:
        """``replace``: drop every override not named (legacy AlterConfigs) instead of
        changing only the named ones (IncrementalAlterConfigs)."""
        ...

    async def allocate_producer_id(self) -> int: ...

    async def register_broker(self, request: RegisterBroker) -> RegisterBrokerResult: ...

    async def broker_heartbeat(self, request: BrokerHeartbeat) -> BrokerHeartbeatResult: ...

    async def create_acls(self, creations: Sequence[AclBinding]) -> WriteResult[AclCreateResult]: ...

    async def delete_acls(self, filters: Sequence[AclFilter]) -> WriteResult[AclDeleteResult]: ...

    async def alter_user_scram_credentials(self, deletions: Sequence[ScramDeletion],
                                           upsertions: Sequence[ScramUpsertion]) -> WriteResult[EntryResult]:
        """One result per user named (``EntryResult.name``), in the order of first mention."""
        ...
