"""Reconnect backoff with Kafka's semantics (``reconnect.backoff.ms`` / ``reconnect.backoff.max.ms``).

After the n-th consecutive failure (n = 1, 2, ...) the next connection attempt waits
``min(initial_ms * 2**(n-1), max_ms)`` scaled by a random factor in ``[1 - jitter, 1 + jitter]``
(Kafka: initial 50 ms, max 1000 ms, jitter 0.2), never more than ``max_ms * (1 + jitter)``.
A successful connection resets it.  Pure arithmetic: the caller owns the clock and the sleeping.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class ExponentialBackoff:
    initial_ms: float = 50.0
    max_ms: float = 1000.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, repr=False)
    failures: int = 0

    def failed(self) -> float:
        """Record one more failure; returns the delay in milliseconds before the next attempt."""
        self.failures += 1
        return self.delay_ms(self.failures)

    def delay_ms(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        exp = min(failures - 1, 62)
        base = min(self.initial_ms * (2 ** exp), self.max_ms)
        if self.jitter:
            base *= self.rng.uniform(1 - self.jitter, 1 + self.jitter)
        return base

    def reset(self) -> None:
        self.failures = 0
