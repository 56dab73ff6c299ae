"""The HTTP side port's small server: routes, content negotiation and bounds on hostile input,
over real loopback sockets."""
from __future__ import annotations

import asyncio
import gzip

import pytest
from prometheus_client import CollectorRegistry, Counter

from strom.http import server as http_server
from strom.http.server import HttpServer


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    Counter("strom_test_requests", "A counter.", registry=reg).inc(3)
    return reg


async def exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)  # the server closes after its answer
    writer.close()
    return data


def split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return lines[0], headers, body


def run(test, **patches) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            server = HttpServer(registry(), tg)
            _, port = await server.start("127.0.0.1", 0)
            serving = tg.create_task(server.serve())
            try:
                await test(port)
            finally:
                serving.cancel()
        with pytest.raises(OSError):  # the listening socket is closed once serving ends
            await asyncio.open_connection("127.0.0.1", port)
    asyncio.run(main())


def test_metrics_in_text_format_gzip_and_openmetrics():
    async def test(port: int) -> None:
        status, headers, body = split(await exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert status == "HTTP/1.1 200 OK" and headers["content-type"].startswith("text/plain; version=0.0.4")
        assert b"strom_test_requests_total 3.0" in body and int(headers["content-length"]) == len(body)
        status, headers, body = split(await exchange(
            port, b"GET /metrics?x=1 HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n"))
        assert headers["content-encoding"] == "gzip" and b"strom_test_requests_total 3.0" in gzip.decompress(body)
        status, headers, body = split(await exchange(
            port, b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n"))
        assert headers["content-type"].startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")
        status, headers, body = split(await exchange(port, b"HEAD /metrics HTTP/1.0\r\n\r\n"))
        assert status.endswith("200 OK") and body == b"" and int(headers["content-length"]) > 0
    run(test)


def test_other_paths_methods_and_malformed_requests():
    async def test(port: int) -> None:
        assert split(await exchange(port, b"GET / HTTP/1.1\r\n\r\n"))[0].endswith("200 OK")
        assert split(await exchange(port, b"GET /admin HTTP/1.1\r\n\r\n"))[0].endswith("404 Not Found")
        status, headers, _ = split(await exchange(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"))
        assert status.endswith("405 Method Not Allowed") and headers["allow"] == "GET, HEAD"
        assert split(await exchange(port, b"hello\r\n\r\n"))[0].endswith("400 Bad Request")
        assert split(await exchange(port, b"\x00\x00\x00\x10kafka\n\n"))[0].endswith("400 Bad Request")
        huge = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * (http_server.MAX_HEAD_BYTES + 10)
        assert split(await exchange(port, huge))[0].endswith("431 Request Header Fields Too Large")
    run(test)


def test_a_request_head_that_never_ends_times_out(monkeypatch):
    monkeypatch.setattr(http_server, "REQUEST_TIMEOUT_S", 0.2)

    async def test(port: int) -> None:
        assert split(await exchange(port, b"GET /metrics HTTP/1.1\r\n"))[0].endswith("408 Request Timeout")
    run(test)


def test_connections_beyond_the_limit_are_closed_at_accept(monkeypatch):
    monkeypatch.setattr(http_server, "MAX_CONNECTIONS", 2)

    async def test(port: int) -> None:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0)  # let the server accept them
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed without an answer
        writer.close()
        for _, w in held:
            w.close()
    run(test)
