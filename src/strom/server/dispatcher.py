"""Route a request frame to its handler and encode the answer.

Kafka's answers to bad input, which we copy: an unknown API key, a version
outside the served range (except ApiVersions), or a body that does not decode
closes the connection; an ApiVersions request with an unsupported version gets
UNSUPPORTED_VERSION with our ranges in a v0 response.  An exception escaping a
handler is logged and closes that connection (the broker keeps serving others).

Metrics: each request that reaches its handler is counted per API with its time
from decoded header to encoded response (Kafka's RequestMetrics, kept as plain
counters in ``services.metrics``; see strom.util.metrics).

Request log (Kafka's ``kafka.request.logger``): at DEBUG, the ``strom.request`` logger writes one line
per request that reaches its handler, with the fields ``api``, ``api_version``, ``correlation_id``,
``client_id``, ``client_host``, ``duration_ms`` and ``error_code`` (the response's top-level error
code; absent for responses the fast path encodes itself, and per-partition errors are not shown).
At INFO the hot path pays one cached ``isEnabledFor`` check.
"""
from __future__ import annotations

import logging
from logging import DEBUG
from time import perf_counter

from strom.errors import ErrorCode
from strom.protocol import codec
from strom.protocol.fast import REQUEST_DECODERS
from strom.protocol.framing import LARGE_FRAME_BYTES
from strom.server.connection import CloseConnection, KafkaConnection, Response
from strom.server.context import BrokerServices, RequestContext
from strom.server.registry import HANDLERS, advertised_versions, api_name

log = logging.getLogger(__name__)
request_log = logging.getLogger("strom.request")

API_VERSIONS = 18


class Dispatcher:
    def __init__(self, services: BrokerServices) -> None:
        self.services = services
        self._api_metrics = {key: services.metrics.api(key, api_name(key)) for key in HANDLERS}

    async def __call__(self, conn: KafkaConnection, frame: bytes | memoryview) -> Response | None:
        started = perf_counter()
        try:
            header, offset = codec.parse_request_header(frame)
        except codec.DecodeError as exc:
            raise CloseConnection(f"bad request header: {exc}") from None
        handler = HANDLERS.get(header.api_key)
        if handler is None:
            raise CloseConnection(f"unknown API key {header.api_key}")
        lo, hi = handler.VERSIONS
        if not lo <= header.api_version <= hi:
            if header.api_key == API_VERSIONS:
                return self._unsupported_api_versions(header.correlation_id)
            raise CloseConnection(f"unsupported version {header.api_version} of API {header.api_key}")
        try:
            fast_decode = REQUEST_DECODERS.get(header.api_key) if len(frame) >= LARGE_FRAME_BYTES else None
            if fast_decode is not None:
                request = fast_decode(header.api_version, frame, offset)
            else:
                request = codec.decode_request(header.api_key, header.api_version, frame, offset)
        except codec.DecodeError as exc:
            if header.api_key == API_VERSIONS:
                return self._unsupported_api_versions(header.correlation_id)
            raise CloseConnection(str(exc)) from None
        ctx = RequestContext(header, conn, self.services)
        result = await handler.handle(ctx, request)
        response = result
        if result is not None and not isinstance(result, (bytes, list)):  # else: none, or a fast encoder's frame
            response = codec.build_response(header.api_key, header.api_version, result)
            result = codec.encode_response(header.correlation_id, response,
                                           api_key=header.api_key, version=header.api_version)
        elapsed = perf_counter() - started
        self._api_metrics[header.api_key].observe(elapsed)
        if request_log.isEnabledFor(DEBUG):
            self._log_request(header, conn, response, elapsed)
        return result

    @staticmethod
    def _log_request(header: codec.RequestHeader, conn: KafkaConnection, response: object,
                     elapsed: float) -> None:
        name = api_name(header.api_key)
        error = response.get("error_code") if isinstance(response, dict) else getattr(response, "error_code", None)
        fields = {"api": name, "api_version": header.api_version, "correlation_id": header.correlation_id,
                  "client_id": header.client_id, "client_host": conn.peer_host,
                  "duration_ms": round(elapsed * 1000, 3)}
        if error is not None:
            fields["error_code"] = int(error)
        request_log.debug("%s v%d correlation %d from %s (%s) in %.3f ms%s", name, header.api_version,
                          header.correlation_id, header.client_id, conn.peer_host, elapsed * 1000,
                          f": error {_error_name(int(error))}" if error else "", extra=fields)

    @staticmethod
    def _unsupported_api_versions(correlation_id: int) -> bytes:
        response = codec.build_response(API_VERSIONS, 0, {
            "error_code": ErrorCode.UNSUPPORTED_VERSION,
            "api_keys": [{"api_key": k, "min_version": lo, "max_version": hi}
                         for k, lo, hi in advertised_versions()],
        })
        return codec.encode_response(correlation_id, response, api_key=API_VERSIONS, version=0)


def _error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)
