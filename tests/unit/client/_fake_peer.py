"""An in-process fake Kafka peer on 127.0.0.1:0 for the client's transport edge cases.

It answers ApiVersions with the ranges it is given (Kafka's way: UNSUPPORTED_VERSION in a v0
body for a version above its own) and hands every other request to a scripted ``on_request``
coroutine, which may answer, stay silent or misbehave.  Frames are built with the real codec.
"""
from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from strom.errors import ErrorCode
from strom.protocol import codec

DEFAULT_RANGES = {18: (0, 4), 3: (0, 12)}


def response_frame(api_key: int, version: int, correlation_id: int, data: dict[str, Any]) -> bytes:
    return codec.encode_response(correlation_id, codec.build_response(api_key, version, data),
                                 api_key=api_key, version=version)


def metadata_answer(header: codec.RequestHeader, cluster_id: str = "fake") -> bytes:
    return response_frame(3, header.api_version, header.correlation_id,
                          {"cluster_id": cluster_id, "controller_id": 1, "brokers": [], "topics": []})


class FakePeer:
    def __init__(self, ranges: dict[int, tuple[int, int]] | None = None,
                 on_request: Callable[[codec.RequestHeader, asyncio.StreamWriter], Awaitable[None]] | None = None
                 ) -> None:
        self.ranges = dict(DEFAULT_RANGES if ranges is None else ranges)
        self.on_request = on_request
        self.requests: list[codec.RequestHeader] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.address = ("127.0.0.1", 0)

    async def __aenter__(self) -> FakePeer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.address = self._server.sockets[0].getsockname()[:2]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        for w in self.writers:
            w.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                frame = await reader.readexactly(size)
                header, _ = codec.parse_request_header(frame)
                self.requests.append(header)
                if header.api_key == 18:
                    writer.write(self._api_versions(header))
                elif self.on_request is not None:
                    await self.on_request(header, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _api_versions(self, header: codec.RequestHeader) -> bytes:
        keys = [{"api_key": k, "min_version": lo, "max_version": hi} for k, (lo, hi) in self.ranges.items()]
        lo, hi = self.ranges.get(18, (0, 0))
        if not lo <= header.api_version <= hi:
            return response_frame(18, 0, header.correlation_id,
                                  {"error_code": ErrorCode.UNSUPPORTED_VERSION, "api_keys": keys})
        return response_frame(18, header.api_version, header.correlation_id, {"error_code": 0, "api_keys": keys})
