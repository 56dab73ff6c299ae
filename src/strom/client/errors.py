"""Errors of the asyncio client, each a ``KafkaError`` with the code Kafka's own client would report.

``ConnectionFailed`` (NETWORK_EXCEPTION, retriable): no connection, or it was lost or closed
while the request was in flight; the request may or may not have been processed.
``RequestTimedOut`` (REQUEST_TIMED_OUT, retriable): no answer within the request's timeout.
``UnsupportedApi`` (UNSUPPORTED_VERSION): the peer (or our codec) cannot serve that API/version.
``UnknownNode`` (BROKER_NOT_AVAILABLE): ``NodeClient`` has no address for that node id.
``ProtocolViolation`` (CORRUPT_MESSAGE): the peer broke the wire protocol (wrong correlation
id, oversized or undecodable frame); the connection is closed.
"""
from __future__ import annotations

from strom.errors import ErrorCode, KafkaError


class ClientError(KafkaError):
    """Base of the client's errors."""


class ConnectionFailed(ClientError):
    code = ErrorCode.NETWORK_EXCEPTION


class RequestTimedOut(ClientError):
    code = ErrorCode.REQUEST_TIMED_OUT


class UnsupportedApi(ClientError):
    code = ErrorCode.UNSUPPORTED_VERSION


class UnknownNode(ClientError):
    code = ErrorCode.BROKER_NOT_AVAILABLE


class ProtocolViolation(ClientError):
    code = ErrorCode.CORRUPT_MESSAGE


__all__ = ["ClientError", "ConnectionFailed", "RequestTimedOut", "UnsupportedApi", "UnknownNode",
           "ProtocolViolation"]
