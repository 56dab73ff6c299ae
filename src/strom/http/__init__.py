"""The HTTP side port of a broker (layer L5): Prometheus ``/metrics`` today; the admin REST API
and the web console later.  ``start_http_server`` is what strom.node calls."""
from __future__ import annotations

import asyncio

from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

from strom.http.metrics import BrokerCollector, BrokerSources
from strom.http.server import HttpServer
from strom.util.metrics import BrokerMetrics

__all__ = ["BrokerSources", "start_http_server"]


async def start_http_server(tg: asyncio.TaskGroup, metrics: BrokerMetrics, sources: BrokerSources,
                            host: str, port: int) -> str:
    """Register the broker's collector (and the process/platform/GC collectors) in the node's own
    registry (``metrics.registry``), bind ``host:port`` (port 0: a free one) and serve it in ``tg``
    until the node shuts down.  Returns the base URL, ``http://HOST:PORT``.  A port that cannot be
    bound ends start-up with a message naming strom.http.port."""
    registry = metrics.registry
    collector = BrokerCollector(metrics, sources)
    registry.register(collector)
    ProcessCollector(registry=registry)  # process_* (CPU, memory, open files), read from /proc
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    server = HttpServer(registry, tg, prepare=collector.prepare)
    try:
        bound_host, bound_port = await server.start(host, port)
    except OSError as exc:
        raise SystemExit(f"strom: cannot listen on {host or '0.0.0.0'}:{port} (strom.http.host, strom.http.port): "
                         f"{exc.strerror or exc}") from None
    tg.create_task(server.serve())
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return f"http://{shown}:{bound_port}"
