"""Kafka clients of Strom (layer L2).

``wire.call``: blocking, one request per connection, for command line tools.
``Connection`` / ``PeerClient`` / ``NodeClient``: asyncio, pipelined, reconnecting, for brokers
and controllers talking to one another (see strom.client.peer for task ownership).
"""
from strom.client.backoff import ExponentialBackoff
from strom.client.connection import Connection, negotiate
from strom.client.errors import (
    ClientError, ConnectionFailed, ProtocolViolation, RequestTimedOut, UnknownNode, UnsupportedApi,
)
from strom.client.peer import NodeClient, PeerClient

__all__ = [
    "ClientError", "Connection", "ConnectionFailed", "ExponentialBackoff", "NodeClient", "PeerClient",
    "ProtocolViolation", "RequestTimedOut", "UnknownNode", "UnsupportedApi", "negotiate",
]
