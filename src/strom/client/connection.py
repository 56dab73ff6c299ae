"""One asyncio connection to a Kafka peer: pipelined requests matched by correlation id.

Lifecycle: ``await Connection.open(host, port, tg=...)`` connects, starts the connection's
reader task *in the TaskGroup ``tg`` given by the owner*, and negotiates versions with
ApiVersions before returning.  The reader task never raises into ``tg``: every transport or
protocol failure fails the connection instead (below) and the task ends.  ``aclose()`` (or
``close()`` from synchronous code) fails what is in flight and lets the reader end; a closed
connection is never reused (the owner opens a new one, see ``PeerClient``).

Requests: ``send`` encodes with ``strom.protocol.codec``, assigns the next correlation id,
writes the frame and waits for the answer; any number may be in flight.  Kafka answers in
request order, so responses are matched against the oldest request in flight, and a response
whose correlation id is not that one fails the connection (``ProtocolViolation``).  A response
size prefix is checked against ``max_response_bytes`` before anything is read for it.

Failure rule (as Kafka's NetworkClient): a request that times out fails with
``RequestTimedOut`` *and closes the connection*, failing every other request in flight with
``ConnectionFailed`` (a slow or stuck peer is dropped and reconnected).  A caller that
cancels its ``send`` leaves the connection open; the late answer is read and dropped.

Versions: for each API the connection uses the highest version both the peer (its
ApiVersions answer) and our codec support; ``send(version=None)`` picks it, an explicit
version must be within both ranges, otherwise ``UnsupportedApi``.

Concurrency: one event loop; everything here runs on it.  Not shared across loops.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strom import __version__
from strom.client.errors import ConnectionFailed, ProtocolViolation, RequestTimedOut, UnsupportedApi
from strom.errors import ErrorCode
from strom.protocol import codec

log = logging.getLogger(__name__)

API_VERSIONS = codec.API_VERSIONS_KEY
PRODUCE = 0
DEFAULT_MAX_RESPONSE_BYTES = 100 * 1024 * 1024
DEFAULT_REQUEST_TIMEOUT_S = 30.0  # Kafka's request.timeout.ms
DEFAULT_CONNECT_TIMEOUT_S = 10.0  # Kafka's socket.connection.setup.timeout.ms
_CORRELATION_IDS = 2**31


def api_name(api_key: int) -> str:
    """Kafka's name of an API (``Metadata``), or ``api N`` when the codec does not know it."""
    rng = codec.supported_range(api_key)
    if rng is None:
        return f"api {api_key}"
    return codec.request_type(api_key, rng[1]).__name__.removesuffix("Request")


@dataclass(slots=True)
class _InFlight:
    correlation_id: int
    api_key: int
    version: int
    future: asyncio.Future[Any]


def negotiate(peer: Mapping[int, tuple[int, int]]) -> dict[int, int]:
    """api_key -> the highest version both the peer's ranges and our codec support
    (APIs with no common version are left out)."""
    chosen = {}
    for api_key, (peer_min, peer_max) in peer.items():
        ours = codec.supported_range(api_key)
        if ours is None:
            continue
        hi = min(ours[1], peer_max)
        if hi >= max(ours[0], peer_min):
            chosen[api_key] = hi
    return chosen


class Connection:
    """See the module docstring.  ``peer_versions`` (api_key -> (min, max)) and ``versions``
    (api_key -> chosen version) are set once open."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, address: tuple[str, int],
                 client_id: str | None, max_response_bytes: int) -> None:
        self.address = address
        self.client_id = client_id
        self.max_response_bytes = max_response_bytes
        self.peer_versions: dict[int, tuple[int, int]] = {}
        self.versions: dict[int, int] = {}
        self._reader = reader
        self._writer = writer
        self._in_flight: deque[_InFlight] = deque()
        self._ids = itertools.count()
        self._closed: ClientErrorInfo | None = None
        self._reader_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    async def open(cls, host: str, port: int, *, tg: asyncio.TaskGroup, client_id: str | None = "strom",
                   max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                   timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> Connection:
        """Connect and negotiate versions within ``timeout`` seconds.  Raises ``ConnectionFailed``,
        ``RequestTimedOut`` or ``ProtocolViolation``; on failure nothing is left open."""
        where = f"{host}:{port}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=2**16)
        except TimeoutError:
            raise RequestTimedOut(f"could not connect to {where} within {timeout * 1000:.0f} ms") from None
        except OSError as exc:
            raise ConnectionFailed(f"could not connect to {where}: {exc.strerror or exc}") from None
        conn = cls(reader, writer, address=(host, port), client_id=client_id, max_response_bytes=max_response_bytes)
        conn._reader_task = tg.create_task(conn._read_loop(), name=f"strom-client-reader {where}")
        try:
            await conn._negotiate(deadline)
        except BaseException:
            await conn.aclose()
            raise
        return conn

    async def _negotiate(self, deadline: float) -> None:
        """ApiVersions at our highest version; on UNSUPPORTED_VERSION retry once at the highest
        version the peer named for ApiVersions (Kafka's client does the same)."""
        ours = codec.supported_range(API_VERSIONS)
        assert ours is not None
        version = ours[1]
        data = {"client_software_name": "strom", "client_software_version": __version__}
        for _attempt in range(2):
            remaining = max(deadline - asyncio.get_running_loop().time(), 0.0)
            response = await self._request(API_VERSIONS, version, data, remaining)
            ranges = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
            if response.error_code == ErrorCode.UNSUPPORTED_VERSION and API_VERSIONS in ranges:
                peer_max = ranges[API_VERSIONS][1]
                if peer_max < version and peer_max >= ours[0]:
                    version = peer_max
                    continue
            if response.error_code != ErrorCode.NONE:
                raise UnsupportedApi(f"{self.where} refused ApiVersions v{version}: "
                                     f"{ErrorCode(response.error_code).name}")
            self.peer_versions = ranges
            self.versions = negotiate(ranges)
            return
        raise UnsupportedApi(f"{self.where} supports no ApiVersions version we can send")

    # ------------------------------------------------------------------ requests
    @property
    def where(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def pick_version(self, api_key: int, version: int | None = None) -> int:
        """The version to send ``api_key`` at; ``UnsupportedApi`` when there is none."""
        if api_key not in self.versions:
            peer = self.peer_versions.get(api_key)
            detail = "" if peer is None else (f": it supports v{peer[0]}-v{peer[1]}, we support "
                                              f"{_range_text(codec.supported_range(api_key))}")
            raise UnsupportedApi(f"{self.where} does not support API {api_name(api_key)} ({api_key}){detail}")
        if version is None:
            return self.versions[api_key]
        peer = self.peer_versions[api_key]
        ours = codec.supported_range(api_key)
        assert ours is not None
        if not (peer[0] <= version <= peer[1] and ours[0] <= version <= ours[1]):
            raise UnsupportedApi(f"{api_name(api_key)} v{version} is not supported: {self.where} supports "
                                 f"v{peer[0]}-v{peer[1]}, we support {_range_text(ours)}")
        return version

    async def send(self, api_key: int, data: Mapping[str, Any] | Any, version: int | None = None, *,
                   timeout: float = DEFAULT_REQUEST_TIMEOUT_S) -> Any:
        """Send one request (``data``: a dict or a kio request entity) and return the decoded
        response entity (None for a Produce with acks=0, which Kafka does not answer: it returns
        once the request is written).  Raises the errors of strom.client.errors (see the module
        docstring), and KeyError/TypeError when ``data`` cannot be built into the request."""
        return await self._request(api_key, self.pick_version(api_key, version), data, timeout)

    async def _request(self, api_key: int, version: int, data: Mapping[str, Any] | Any, timeout: float) -> Any:
        if self._closed is not None:
            raise self._closed.exception()
        correlation_id = next(self._ids) % _CORRELATION_IDS
        frame = codec.encode_request(api_key, version, correlation_id, self.client_id, data)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        expects_response = not (api_key == PRODUCE and _acks(data) == 0)
        if expects_response:
            self._in_flight.append(_InFlight(correlation_id, api_key, version, future))
        else:
            future.set_result(None)  # Kafka sends no response to a Produce with acks=0
        self._writer.write(frame)
        try:
            async with asyncio.timeout(timeout):
                await self._writer.drain()
                return await future
        except TimeoutError:
            message = (f"no answer to {api_name(api_key)} v{version} from {self.where} "
                       f"within {timeout * 1000:.0f} ms")
            self._fail(ConnectionFailed, f"connection to {self.where} closed: another request timed out")
            raise RequestTimedOut(message) from None
        except (ConnectionError, OSError) as exc:  # drain() on a broken transport
            self._fail(ConnectionFailed, f"connection to {self.where} lost: {exc}")
            raise self._closed.exception() from None  # type: ignore[union-attr]

    # ------------------------------------------------------------------ receiving
    async def _read_loop(self) -> None:
        """Owned by the TaskGroup given to ``open``; ends (never raises) when the connection fails."""
        reader = self._reader
        try:
            while True:
                head = await reader.readexactly(4)
                size = int.from_bytes(head, "big", signed=True)
                if size < 4 or size > self.max_response_bytes:
                    self._fail(ProtocolViolation, f"{self.where} sent a response of {size} bytes "
                                                  f"(allowed 4..{self.max_response_bytes})")
                    return
                payload = await reader.readexactly(size)
                if not self._deliver(payload):
                    return
        except asyncio.IncompleteReadError as exc:
            what = "mid-response" if exc.partial or self._in_flight else "the connection"
            self._fail(ConnectionFailed, f"{self.where} closed {what}")
        except (ConnectionError, OSError) as exc:
            self._fail(ConnectionFailed, f"connection to {self.where} lost: {exc}")
        except Exception as exc:  # never let the owner's TaskGroup die of one connection
            log.exception("client connection to %s failed", self.where)
            self._fail(ConnectionFailed, f"connection to {self.where} failed: {exc!r}")

    def _deliver(self, payload: bytes) -> bool:
        """Match one response to the oldest request in flight; False once the connection failed."""
        correlation_id = int.from_bytes(payload[:4], "big", signed=True)
        if not self._in_flight:
            self._fail(ProtocolViolation, f"{self.where} sent a response (correlation id {correlation_id}) "
                                          f"with no request in flight")
            return False
        head = self._in_flight[0]
        if correlation_id != head.correlation_id:
            self._fail(ProtocolViolation, f"{self.where} answered correlation id {correlation_id}, "
                                          f"expected {head.correlation_id}")
            return False
        self._in_flight.popleft()
        version = head.version
        if head.api_key == API_VERSIONS and payload[4:6] == int(ErrorCode.UNSUPPORTED_VERSION).to_bytes(2, "big"):
            version = 0  # Kafka answers an unsupported ApiVersions version with a v0 body
        try:
            _, response = codec.decode_response(head.api_key, version, payload)
        except codec.DecodeError as exc:
            message = f"malformed {api_name(head.api_key)} v{version} response from {self.where}: {exc}"
            if not head.future.done():
                head.future.set_exception(ProtocolViolation(message))
            self._fail(ProtocolViolation, message)
            return False
        if not head.future.done():  # the caller may have cancelled
            head.future.set_result(response)
        return True

    # ------------------------------------------------------------------ closing
    def _fail(self, kind: type[Exception], message: str) -> None:
        """Close the connection once; every request still in flight fails with ``kind(message)``."""
        if self._closed is not None:
            return
        self._closed = ClientErrorInfo(kind, message)
        while self._in_flight:
            entry = self._in_flight.popleft()
            if not entry.future.done():
                entry.future.set_exception(kind(message))
        self._writer.close()

    def close(self, reason: str = "connection closed by the client") -> None:
        """Fail what is in flight with ``ConnectionFailed(reason)`` and close the socket."""
        self._fail(ConnectionFailed, f"{reason} ({self.where})")

    async def aclose(self, reason: str = "connection closed by the client") -> None:
        """``close`` and wait for the reader task and the socket to finish."""
        self.close(reason)
        task = self._reader_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task])
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass


@dataclass(frozen=True, slots=True)
class ClientErrorInfo:
    """Why a connection closed: raised afresh (a new exception object) for each later caller."""

    kind: type[Exception]
    message: str

    def exception(self) -> Exception:
        return self.kind(self.message)


def _acks(data: Mapping[str, Any] | Any) -> Any:
    return data.get("acks") if isinstance(data, Mapping) else getattr(data, "acks", None)


def _range_text(rng: tuple[int, int] | None) -> str:
    return "none" if rng is None else f"v{rng[0]}-v{rng[1]}"
