"""Topic name rules (Kafka's ``Topic.validate``), shared by the controller and the broker's handlers."""
from __future__ import annotations

import re

from strom.errors import ErrorCode, KafkaError

_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_NAME = 249


def validate_topic_name(name: str | None) -> None:
    """Raise INVALID_TOPIC_EXCEPTION with Kafka's reason unless ``name`` is a legal topic name."""
    if not name:
        raise KafkaError("topic name is empty", ErrorCode.INVALID_TOPIC_EXCEPTION)
    if name in (".", ".."):
        raise KafkaError(f"topic name cannot be '{name}'", ErrorCode.INVALID_TOPIC_EXCEPTION)
    if len(name) > MAX_TOPIC_NAME:
        raise KafkaError(f"topic name is longer than {MAX_TOPIC_NAME} characters", ErrorCode.INVALID_TOPIC_EXCEPTION)
    if not _LEGAL_TOPIC.match(name):
        raise KafkaError(f"topic name '{name}' has characters other than ASCII alphanumerics, '.', '_' and '-'",
                         ErrorCode.INVALID_TOPIC_EXCEPTION)
