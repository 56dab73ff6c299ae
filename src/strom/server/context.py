"""What a handler sees: the request header, its connection and the broker's services.

Handlers read cluster metadata from ``metadata`` (the broker's published image) and change it only
through ``controller`` (a ``ControllerClient``), never through the controller object.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strom.protocol.codec import RequestHeader
from strom.util.metrics import BrokerMetrics

if TYPE_CHECKING:
    from strom.config import BrokerConfig
    from strom.coordinator.group.coordinator import GroupCoordinator
    from strom.coordinator.txn.coordinator import MarkerWriter, TransactionCoordinator
    from strom.metadata.cache import MetadataCache
    from strom.metadata.controller_client import ControllerClient
    from strom.replication.replica_manager import ReplicaManager
    from strom.server.connection import KafkaConnection
    from strom.util.clock import Clock


@dataclass
class BrokerServices:
    """The domain services a node hands to its handlers (built by ``strom.node``)."""

    node_id: int
    cluster_id: str
    host: str  # advertised host and port of the client listener
    port: int
    config: "BrokerConfig"
    controller: "ControllerClient"  # writes: forwarded to the active controller, wherever it runs
    replicas: "ReplicaManager"
    clock: "Clock"
    groups: "GroupCoordinator | None" = None
    transactions: "TransactionCoordinator | None" = None
    markers: "MarkerWriter | None" = None  # writes transaction markers into local partitions
    # starts the transaction coordinator on first use (creating __transaction_state); True once it runs
    ensure_transactions: "Callable[[], Awaitable[bool]] | None" = None
    rack: str | None = None
    listener_name: str = "PLAINTEXT"  # the client listener's name: picks each broker's endpoint in answers
    # reads: the broker's metadata image; None only in unit tests of handlers that never read it
    metadata: "MetadataCache" = None  # type: ignore[assignment]
    metrics: BrokerMetrics = field(default_factory=BrokerMetrics)  # hot-path counters and this node's registry


@dataclass
class RequestContext:
    header: RequestHeader
    connection: "KafkaConnection"
    broker: BrokerServices

    @property
    def api_version(self) -> int:
        return self.header.api_version

    @property
    def client_id(self) -> str | None:
        return self.header.client_id

    @property
    def client_host(self) -> str:
        return self.connection.peer_host

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - helpful error
        raise AttributeError(name)
