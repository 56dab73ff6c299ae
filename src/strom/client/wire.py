"""A blocking, one-request-per-connection Kafka client for tools (PLAINTEXT only).

``call`` opens a TCP connection, sends one request encoded by the protocol
codec, reads one response (at most ``MAX_RESPONSE_BYTES``, checked before
anything is allocated for it) and closes the connection.  It is for command
line tools that need an API the client libraries do not bind; brokers talk to
each other with an asyncio client (the replication issue).  Any failure to
get a well-formed answer raises ``WireError``; ``WireError.transient`` tells
whether retrying (the same or another broker) can help.
"""
from __future__ import annotations

import socket
import struct
from collections.abc import Mapping
from typing import Any

from strom.protocol import codec

MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class WireError(Exception):
    """No usable answer: ``name`` is a Kafka error name (REQUEST_TIMED_OUT, CORRUPT_MESSAGE, ...)
    or ``_TRANSPORT`` for a connection failure."""

    def __init__(self, message: str, name: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.transient = transient


def call(address: tuple[str, int], api_key: int, version: int, data: Mapping[str, Any], *,
         client_id: str, correlation_id: int, timeout_s: float) -> Any:
    """Send one request to ``address`` and return the decoded response entity."""
    where = f"{address[0]}:{address[1]}"
    if timeout_s <= 0:
        raise WireError(f"no answer from {where} in time", "REQUEST_TIMED_OUT", transient=True)
    frame = codec.encode_request(api_key, version, correlation_id, client_id, data)
    try:
        with socket.create_connection(address, timeout=timeout_s) as sock:
            sock.sendall(frame)
            (size,) = struct.unpack(">i", recv_exact(sock, 4))
            if size < 4 or size > MAX_RESPONSE_BYTES:
                raise WireError(f"bad response size {size} from {where}", "CORRUPT_MESSAGE", transient=False)
            payload = recv_exact(sock, size)
    except socket.timeout:
        raise WireError(f"no answer from {where} in time", "REQUEST_TIMED_OUT", transient=True) from None
    except OSError as exc:
        raise WireError(f"{where}: {exc.strerror or exc}", "_TRANSPORT", transient=True) from None
    try:
        got, response = codec.decode_response(api_key, version, payload)
    except codec.DecodeError as exc:
        raise WireError(f"malformed answer from {where}: {exc}", "CORRUPT_MESSAGE", transient=False) from None
    if got != correlation_id:
        raise WireError("response correlation id does not match the request", "CORRUPT_MESSAGE", transient=False)
    return response


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes; ConnectionError if the peer closes first."""
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
