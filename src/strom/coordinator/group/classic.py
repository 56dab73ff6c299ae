"""Classic consumer groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup): placeholder until implemented."""
from __future__ import annotations

from typing import Any


class ClassicGroupManager:
    def __init__(self, coordinator: Any) -> None:
        self.coordinator = coordinator

    def replay(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        pass

    def on_topics_changed(self, topics: dict[str, int]) -> None:
        pass
