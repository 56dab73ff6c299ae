"""What a handler sees: the request header, its connection and the broker's services."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strom.protocol.codec import RequestHeader

if TYPE_CHECKING:
    from strom.config import BrokerConfig
    from strom.controller.controller import Controller
    from strom.coordinator.group.coordinator import GroupCoordinator
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
    controller: "Controller"
    replicas: "ReplicaManager"
    clock: "Clock"
    groups: "GroupCoordinator | None" = None
    rack: str | None = None


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
