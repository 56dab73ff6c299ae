"""Broker sessions and the broker control state machine (Kafka's BrokerHeartbeatManager, afresh).

Sessions are controller-local, not replicated: a broker's session starts when it registers (or,
for a broker registered and unfenced in the log, when this controller loads), is renewed by every
heartbeat, and expires ``broker.session.timeout.ms`` after the last one.  On expiry the manager
records the broker as *expired* and calls ``on_expired``; the controller then fences it through
the log.  A session ends (without expiring) when the broker is allowed to shut down.  A new active
controller starts every unfenced broker's session afresh, as Kafka does.

Timers go through the ``Scheduler`` seam, so a test drives them with a ``VirtualScheduler``: a
broker whose last heartbeat was at t is reported expired at exactly t + timeout.

The control state of a registered broker follows from its registration in the image
(``state_of``) and moves on each heartbeat by ``NEXT_STATE`` below (Kafka's
``calculateNextBrokerState``):

  current              | want_shut_down                  | want_fence | caught up | otherwise
  ---------------------+---------------------------------+------------+-----------+----------
  FENCED               | SHUTDOWN_NOW                    | FENCED     | UNFENCED  | FENCED
  UNFENCED             | CONTROLLED_SHUTDOWN, or         | FENCED     | UNFENCED  | UNFENCED
                       | SHUTDOWN_NOW when it leads none |            |           |
  CONTROLLED_SHUTDOWN  | SHUTDOWN_NOW when it leads none, else CONTROLLED_SHUTDOWN (any request)
  SHUTDOWN_NOW         | SHUTDOWN_NOW (terminal)

"Leads none" means: no partition it leads has another usable in-sync replica to take over (see
``Controller.movable_leaderships``).  "Caught up": the heartbeat's ``current_metadata_offset`` is at
or past the broker's registration record (its epoch): the broker's image holds its own registration.
Concurrency: event loop only.
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from strom.metadata.image import BrokerRegistration
from strom.util.clock import Scheduler, TimerHandle


class BrokerControlState(enum.Enum):
    FENCED = "fenced"
    UNFENCED = "unfenced"
    CONTROLLED_SHUTDOWN = "controlled_shutdown"
    SHUTDOWN_NOW = "shutdown_now"


def state_of(registration: BrokerRegistration) -> BrokerControlState:
    if registration.fenced:
        return BrokerControlState.FENCED
    if registration.in_controlled_shutdown:
        return BrokerControlState.CONTROLLED_SHUTDOWN
    return BrokerControlState.UNFENCED


def next_state(current: BrokerControlState, *, want_fence: bool, want_shut_down: bool, caught_up: bool,
               has_leaderships: bool) -> BrokerControlState:
    """One heartbeat's transition (the table in the module docstring)."""
    s = BrokerControlState
    if current is s.SHUTDOWN_NOW:
        return s.SHUTDOWN_NOW
    if current is s.CONTROLLED_SHUTDOWN:
        return s.CONTROLLED_SHUTDOWN if has_leaderships else s.SHUTDOWN_NOW
    if want_shut_down:
        if current is s.FENCED or not has_leaderships:
            return s.SHUTDOWN_NOW
        return s.CONTROLLED_SHUTDOWN
    if want_fence:
        return s.FENCED
    if current is s.FENCED:
        return s.UNFENCED if caught_up else s.FENCED
    return s.UNFENCED


@dataclass
class _Session:
    epoch: int
    deadline: float  # scheduler monotonic seconds
    timer: TimerHandle


class BrokerHeartbeatManager:
    """Sessions of the registered brokers, by broker id.  ``on_expired()`` is called (from a timer)
    when a session expires; ``take_expired`` then hands the (broker id, epoch) pairs over once."""

    def __init__(self, scheduler: Scheduler, session_timeout_ms: int, on_expired: Callable[[], None]) -> None:
        self._scheduler = scheduler
        self._timeout_s = session_timeout_ms / 1000
        self._on_expired = on_expired
        self._sessions: dict[int, _Session] = {}
        self._expired: dict[int, int] = {}  # broker id -> epoch of the expired session

    def touch(self, broker_id: int, epoch: int) -> None:
        """Start or renew the session of ``broker_id``'s registration ``epoch`` (register, heartbeat)."""
        old = self._sessions.get(broker_id)
        if old is not None:
            old.timer.cancel()
        self._expired.pop(broker_id, None)
        timer = self._scheduler.call_later(self._timeout_s, self._expire, broker_id, epoch)
        self._sessions[broker_id] = _Session(epoch, self._scheduler.monotonic() + self._timeout_s, timer)

    def end(self, broker_id: int) -> None:
        """Forget the session (the broker was allowed to shut down, or was unregistered)."""
        old = self._sessions.pop(broker_id, None)
        if old is not None:
            old.timer.cancel()
        self._expired.pop(broker_id, None)

    def has_valid_session(self, broker_id: int) -> bool:
        session = self._sessions.get(broker_id)
        return session is not None and session.deadline > self._scheduler.monotonic()

    def _expire(self, broker_id: int, epoch: int) -> None:
        session = self._sessions.get(broker_id)
        if session is None or session.epoch != epoch:
            return
        del self._sessions[broker_id]
        self._expired[broker_id] = epoch
        self._on_expired()

    def take_expired(self) -> dict[int, int]:
        expired, self._expired = self._expired, {}
        return expired

    def close(self) -> None:
        for session in self._sessions.values():
            session.timer.cancel()
        self._sessions.clear()
