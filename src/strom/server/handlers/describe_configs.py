"""DescribeConfigs: v1-4.

Behaviour:
- TOPIC (2): every topic config with its effective value and source (see
  ``strom.server.topic_configs``).  An illegal name is INVALID_TOPIC_EXCEPTION,
  a missing topic UNKNOWN_TOPIC_OR_PARTITION, per resource.  read_only is false.
- BROKER (4): name = this node's id describes every broker config with its
  value and source (a setting given at start-up is STATIC_BROKER_CONFIG);
  name "" describes the cluster-wide dynamic defaults only
  (``kafka-configs --entity-default``), as Kafka does.  read_only is true for
  every setting that cannot change at runtime (``strom.config.DYNAMIC_BROKER_CONFIGS``,
  the set AlterConfigs accepts).  A non-numeric name or another broker's id is
  INVALID_REQUEST (Kafka: "Unexpected broker id").
- configuration_keys null or empty means every config, else only those named.
  Configs marked ``internal`` are listed only when named or set on the topic.
- include_synonyms (v1+) fills synonyms as Kafka 4 lists them (see
  ``strom.server.topic_configs``), else they are empty; v3+ include_documentation
  fills documentation; config_type (v3+) is always set.  Sensitive (password)
  values are null, in synonyms too.
- Versions: v1-v4 differ only in v3's documentation/config_type and v4's
  flexible encoding.  v0 is not served (Kafka 4 removed it).

Not implemented: BROKER_LOGGER (8), CLIENT_METRICS (16) and GROUP (32)
resources answer INVALID_REQUEST; no authorization (every config visible).
"""
from __future__ import annotations

from typing import Any

from strom.config import BROKER_CONFIGS, TOPIC_CONFIGS
from strom.errors import ErrorCode, KafkaError
from strom.metadata.names import validate_topic_name
from strom.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE
from strom.server.context import BrokerServices, RequestContext
from strom.server.topic_configs import TOPIC_CONFIG, ConfigEntry, describe_broker_configs, describe_topic_configs

API_KEY = 32
VERSIONS = (1, 4)


def _render(entry: ConfigEntry, synonyms: bool, docs: bool) -> dict[str, Any]:
    sensitive = entry.is_sensitive
    out: dict[str, Any] = {"name": entry.name, "value": None if sensitive else entry.value,
                           "read_only": entry.read_only, "config_source": entry.source,
                           "is_sensitive": sensitive, "synonyms": [], "config_type": entry.config_type,
                           "documentation": None}
    if synonyms:
        out["synonyms"] = [{"name": n, "value": None if sensitive else v, "source": s} for n, v, s in entry.synonyms]
    if docs:
        out["documentation"] = entry.documentation
    return out


def _entries(broker: BrokerServices, resource_type: int, name: str) -> list[ConfigEntry]:
    """Every config of one resource; KafkaError for a resource that cannot be described."""
    if resource_type == TOPIC_RESOURCE:
        validate_topic_name(name)
        if broker.metadata.topic(name) is None:
            raise KafkaError(f"Topic '{name}' does not exist.", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return describe_topic_configs(broker, name)
    if resource_type == BROKER_RESOURCE:
        if name == "":
            return describe_broker_configs(broker, cluster_default=True)
        if not name.lstrip("-").isdigit():
            raise KafkaError(f"Broker id must be an integer, but it is: {name}", ErrorCode.INVALID_REQUEST)
        if int(name) != broker.node_id:
            raise KafkaError(f"Unexpected broker id, expected {broker.node_id} or empty string, but received {name}",
                             ErrorCode.INVALID_REQUEST)
        return describe_broker_configs(broker)
    raise KafkaError(f"Unsupported resource type {resource_type} in DescribeConfigs", ErrorCode.INVALID_REQUEST)


def _visible(entry: ConfigEntry, resource_type: int) -> bool:
    table = TOPIC_CONFIGS if resource_type == TOPIC_RESOURCE else BROKER_CONFIGS
    definition = table.get(entry.name)
    return not getattr(definition, "internal", False) or entry.source == TOPIC_CONFIG


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.broker
    include_synonyms = bool(getattr(request, "include_synonyms", False))
    include_docs = bool(getattr(request, "include_documentation", False))
    results = []
    for res in request.resources:
        result: dict[str, Any] = {"resource_type": res.resource_type, "resource_name": res.resource_name,
                                  "error_code": ErrorCode.NONE, "error_message": None, "configs": []}
        try:
            entries = _entries(broker, res.resource_type, res.resource_name)
        except KafkaError as exc:
            result["error_code"], result["error_message"] = exc.code, exc.message
            results.append(result)
            continue
        if res.configuration_keys:
            wanted = set(res.configuration_keys)
            entries = [e for e in entries if e.name in wanted]
        else:
            entries = [e for e in entries if _visible(e, res.resource_type)]
        result["configs"] = [_render(e, include_synonyms, include_docs) for e in entries]
        results.append(result)
    return {"throttle_time": 0, "results": results}
