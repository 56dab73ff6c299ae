"""The controller listener's dispatcher: ApiVersions and the KRaft RPCs, answered by the raft
quorum through its ``NetworkChannel``.

APIs (advertised by ApiVersions on this listener only; the broker listener does not serve them):
ApiVersions v0-4, Fetch v12+ (of ``__cluster_metadata-0`` only), Vote, BeginQuorumEpoch,
EndQuorumEpoch, DescribeQuorum, FetchSnapshot in every version the codec has. A request for
another topic or partition, a malformed one, an unknown API or version, or a quorum that does
not answer within its request timeout closes the connection (the peer retries).
"""
from __future__ import annotations

from collections.abc import Callable

from strom.errors import ErrorCode
from strom.protocol import codec
from strom.raft.network import NetworkChannel
from strom.raft.wire import FETCH_MIN_VERSION
from strom.server.connection import CloseConnection, KafkaConnection, Response

API_VERSIONS = 18
_RAFT_APIS = (1, 52, 53, 54, 55, 59)


def quorum_versions() -> dict[int, tuple[int, int]]:
    """API key -> (min, max) version served on the controller listener."""
    ranges: dict[int, tuple[int, int]] = {API_VERSIONS: (0, 4)}
    for api_key in _RAFT_APIS:
        supported = codec.supported_range(api_key)
        assert supported is not None
        low, high = supported
        ranges[api_key] = (max(low, FETCH_MIN_VERSION) if api_key == 1 else low, high)
    return ranges


class _ListenerMetrics:
    """Where a listener may report its open connections (the shape of the broker's metrics hook)."""

    def __init__(self) -> None:
        self.connection_count: Callable[[], int] = lambda: 0


class _QuorumServices:
    def __init__(self) -> None:
        self.metrics = _ListenerMetrics()


class QuorumDispatcher:
    def __init__(self, channel: NetworkChannel) -> None:
        self.channel = channel
        self.versions = quorum_versions()
        self.services = _QuorumServices()  # what KafkaListener may hook its connection count into

    def _api_versions(self, correlation_id: int, version: int, error: ErrorCode = ErrorCode.NONE) -> bytes:
        response = codec.build_response(API_VERSIONS, version, {
            "error_code": error, "throttle_time": 0, "finalized_features_epoch": -1,
            "api_keys": [{"api_key": k, "min_version": lo, "max_version": hi}
                         for k, (lo, hi) in sorted(self.versions.items())]})
        return codec.encode_response(correlation_id, response, api_key=API_VERSIONS, version=version)

    async def __call__(self, conn: KafkaConnection, frame: bytes | memoryview) -> Response | None:
        try:
            header, offset = codec.parse_request_header(frame)
        except codec.DecodeError as exc:
            raise CloseConnection(f"bad request header: {exc}") from None
        supported = self.versions.get(header.api_key)
        if supported is None:
            raise CloseConnection(f"API {header.api_key} is not served on the controller listener")
        if not supported[0] <= header.api_version <= supported[1]:
            if header.api_key == API_VERSIONS:
                return self._api_versions(header.correlation_id, 0, ErrorCode.UNSUPPORTED_VERSION)
            raise CloseConnection(f"unsupported version {header.api_version} of API {header.api_key}")
        try:
            request = codec.decode_request(header.api_key, header.api_version, frame, offset)
        except codec.DecodeError as exc:
            raise CloseConnection(str(exc)) from None
        if header.api_key == API_VERSIONS:
            return self._api_versions(header.correlation_id, header.api_version)
        try:
            response = await self.channel.handle(header.api_key, header.api_version, request)
        except ValueError as exc:
            raise CloseConnection(f"not a request for the quorum: {exc}") from None
        except TimeoutError:
            raise CloseConnection("the quorum did not answer in time") from None
        return codec.encode_response(header.correlation_id, response, api_key=header.api_key,
                                     version=header.api_version)
