"""Route a request frame to its handler and encode the answer.

Kafka's answers to bad input, which we copy: an unknown API key, a version
outside the served range (except ApiVersions), or a body that does not decode
closes the connection; an ApiVersions request with an unsupported version gets
UNSUPPORTED_VERSION with our ranges in a v0 response.  An exception escaping a
handler is logged and closes that connection (the broker keeps serving others).

Metrics: each request that reaches its handler is counted per API with its time
from decoded header to encoded response (Kafka's RequestMetrics, kept as plain
counters in ``services.metrics``; see strom.util.metrics).
"""
from __future__ import annotations

import logging
from time import perf_counter

from strom.errors import ErrorCode
from strom.protocol import codec
from strom.protocol.fast import REQUEST_DECODERS
from strom.protocol.framing import LARGE_FRAME_BYTES
from strom.server.connection import CloseConnection, KafkaConnection, Response
from strom.server.context import BrokerServices, RequestContext
from strom.server.registry import HANDLERS, advertised_versions, api_name

log = logging.getLogger(__name__)

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
        if result is not None and not isinstance(result, (bytes, list)):  # else: none, or a fast encoder's frame
            response = codec.build_response(header.api_key, header.api_version, result)
            result = codec.encode_response(header.correlation_id, response,
                                           api_key=header.api_key, version=header.api_version)
        self._api_metrics[header.api_key].observe(perf_counter() - started)
        return result

    @staticmethod
    def _unsupported_api_versions(correlation_id: int) -> bytes:
        response = codec.build_response(API_VERSIONS, 0, {
            "error_code": ErrorCode.UNSUPPORTED_VERSION,
            "api_keys": [{"api_key": k, "min_version": lo, "max_version": hi}
                         for k, lo, hi in advertised_versions()],
        })
        return codec.encode_response(correlation_id, response, api_key=API_VERSIONS, version=0)
