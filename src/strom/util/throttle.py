"""Counting repeated failures and logging them sparingly."""
from __future__ import annotations


class LogThrottle:
    """Counts occurrences of one kind of event and tells which to log: the first, then at most one
    per ``interval_ms`` (so a failing disk or loop logs a line a minute, with the count so far)."""

    def __init__(self, interval_ms: int = 60_000) -> None:
        self.interval_ms = interval_ms
        self.count = 0
        self._logged_ms: int | None = None

    def tick(self, now_ms: int) -> bool:
        """Count one occurrence at ``now_ms``; True when this one should be logged."""
        self.count += 1
        if self._logged_ms is None or now_ms - self._logged_ms >= self.interval_ms:
            self._logged_ms = now_ms
            return True
        return False
