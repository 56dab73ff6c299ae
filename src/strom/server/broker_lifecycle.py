"""BrokerLifecycleManager: the broker's registration and heartbeats with the active controller.

Kafka's ``BrokerLifecycleManager``, written for one event loop.  ``run`` (a task of the node's
TaskGroup) does, through the ``ControllerClient`` only:

1. BrokerRegistration with a fresh ``incarnation_id`` (one per process start), the advertised
   listeners and ``broker.rack``.  A refusal (DUPLICATE_BROKER_REGISTRATION: another process holds
   this node id; INCONSISTENT_CLUSTER_ID ...) is logged and retried every heartbeat interval.
2. Once registered, it waits (up to one interval) until the broker's ``MetadataCache`` holds its
   own registration record, then heartbeats at once and every ``broker.heartbeat.interval.ms``
   with ``current_metadata_offset`` = the offset of the published image.  The controller unfences
   the broker when that offset reaches its registration (its epoch); ``wait_unfenced`` returns once
   the answer says unfenced *and* the broker's image shows it (so ``live_brokers`` includes it).
   In-process all of it commits at once: start-up is not delayed.
3. ``controlled_shutdown`` (SIGTERM) sets ``want_shut_down``, heartbeats at once and waits until
   the controller answers ``should_shut_down`` (the broker leads nothing that could move) or the
   timeout passes; then ``run`` returns and no more heartbeats are sent.

A heartbeat answered BROKER_ID_NOT_REGISTERED or STALE_BROKER_EPOCH (the controller lost or
replaced this registration) sends the broker back to step 1; other failures are retried at the
next interval.  Every timer goes through the ``Scheduler`` seam (VirtualScheduler in tests).

States (``state``): STARTING → RECOVERY (registered, fenced) → RUNNING (unfenced) →
PENDING_CONTROLLED_SHUTDOWN → SHUTTING_DOWN; RUNNING falls back to RECOVERY when fenced.
Concurrency: event loop only; one ``run`` per manager.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Sequence

from strom.errors import ErrorCode
from strom.metadata.cache import MetadataCache
from strom.metadata.controller_client import BrokerHeartbeat, ControllerClient, RegisterBroker
from strom.metadata.records import BrokerEndpoint
from strom.util.clock import Scheduler

log = logging.getLogger(__name__)


class BrokerLifecycleState(enum.Enum):
    STARTING = "starting"
    RECOVERY = "recovery"
    RUNNING = "running"
    PENDING_CONTROLLED_SHUTDOWN = "pending_controlled_shutdown"
    SHUTTING_DOWN = "shutting_down"


_REREGISTER = (ErrorCode.BROKER_ID_NOT_REGISTERED, ErrorCode.STALE_BROKER_EPOCH)


class BrokerLifecycleManager:
    def __init__(self, node_id: int, cluster_id: str, controller: ControllerClient, metadata: MetadataCache,
                 scheduler: Scheduler, *, listeners: Sequence[BrokerEndpoint], rack: str | None,
                 heartbeat_interval_ms: int, incarnation_id: uuid.UUID | None = None) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.incarnation_id = incarnation_id or uuid.uuid4()
        self.listeners = tuple(listeners)
        self.rack = rack
        self.broker_epoch = -1
        self.state = BrokerLifecycleState.STARTING
        self.last_error: tuple[ErrorCode, str | None] | None = None  # of the last refused request
        self._controller = controller
        self._metadata = metadata
        self._scheduler = scheduler
        self._interval_s = heartbeat_interval_ms / 1000
        self._want_shut_down = False
        self._wake = asyncio.Event()  # ends the pause between heartbeats early
        self._unfenced = asyncio.Event()
        self._shutdown_done = asyncio.Event()  # allowed to shut down, or gave up waiting
        self.shutdown_allowed = False

    # ------------------------------------------------------------------ the broker's side
    async def wait_unfenced(self) -> None:
        """Return once the controller has unfenced this broker and its image shows it."""
        await self._unfenced.wait()

    async def controlled_shutdown(self, timeout_ms: float) -> bool:
        """Ask to shut down and wait for the controller's permission; False when ``timeout_ms`` passed
        first or the broker never registered (then there is nothing to hand over)."""
        if self.broker_epoch < 0 or self.state is BrokerLifecycleState.SHUTTING_DOWN:
            return self.shutdown_allowed
        self._want_shut_down = True
        self.state = BrokerLifecycleState.PENDING_CONTROLLED_SHUTDOWN
        self._wake.set()
        timer = self._scheduler.call_later(timeout_ms / 1000, self._shutdown_done.set)
        try:
            await self._shutdown_done.wait()
        finally:
            timer.cancel()
        if not self.shutdown_allowed:
            log.warning("controlled shutdown: no permission from the controller within %d ms; stopping anyway",
                        timeout_ms)
        return self.shutdown_allowed

    # ------------------------------------------------------------------ the task
    async def run(self) -> None:
        """Register, then heartbeat until cancelled or allowed to shut down."""
        while not self.shutdown_allowed:
            if self.broker_epoch < 0:
                if not await self._register():
                    await self._pause()
                    continue
                await self._metadata.wait_for(self.broker_epoch, self._interval_s * 1000)
            await self._heartbeat()
            if not self.shutdown_allowed:
                await self._pause()

    async def _pause(self) -> None:
        """Sleep one heartbeat interval, or less when woken (controlled shutdown)."""
        if self._wake.is_set():
            self._wake.clear()
            return
        timer = self._scheduler.call_later(self._interval_s, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()
            self._wake.clear()

    async def _register(self) -> bool:
        request = RegisterBroker(self.node_id, self.cluster_id, self.incarnation_id, self.listeners, self.rack)
        try:
            result = await self._controller.register_broker(request)
        except Exception as exc:  # a forwarding client's connection trouble: retry
            log.warning("broker registration failed: %s; retrying", exc)
            return False
        if result.error_code:
            self.last_error = (result.error_code, result.error_message)
            log.error("the controller refused the registration of broker %d: %s: %s; retrying in %.0f ms",
                      self.node_id, result.error_code.name, result.error_message, self._interval_s * 1000)
            return False
        self.broker_epoch = result.broker_epoch
        self.state = BrokerLifecycleState.RECOVERY
        log.info("broker %d registered with epoch %d (incarnation %s)", self.node_id, self.broker_epoch,
                 self.incarnation_id, extra={"event": "registered", "broker": self.node_id,
                                             "broker_epoch": self.broker_epoch,
                                             "incarnation_id": str(self.incarnation_id)})
        return True

    async def _heartbeat(self) -> None:
        request = BrokerHeartbeat(self.node_id, self.broker_epoch, self._metadata.image.offset,
                                  want_fence=False, want_shut_down=self._want_shut_down)
        try:
            result = await self._controller.broker_heartbeat(request)
        except Exception as exc:
            log.warning("broker heartbeat failed: %s", exc)
            return
        if result.error_code:
            self.last_error = (result.error_code, result.error_message)
            if result.error_code in _REREGISTER:
                log.warning("broker heartbeat: %s: %s; registering again", result.error_code.name,
                            result.error_message)
                self.broker_epoch = -1
                self.state = BrokerLifecycleState.STARTING
                self._unfenced.clear()
            else:
                log.warning("broker heartbeat: %s: %s", result.error_code.name, result.error_message)
            return
        await self._metadata.wait_for(result.metadata_offset, self._interval_s * 1000)
        if result.should_shut_down:
            self.shutdown_allowed = True
            self.state = BrokerLifecycleState.SHUTTING_DOWN
            self._unfenced.clear()
            self._shutdown_done.set()
        elif result.is_fenced:
            if self.state is BrokerLifecycleState.RUNNING:
                log.warning("broker %d was fenced by the controller", self.node_id,
                            extra={"event": "fenced", "broker": self.node_id, "broker_epoch": self.broker_epoch})
                self.state = BrokerLifecycleState.RECOVERY
            self._unfenced.clear()
        else:
            if self.state is BrokerLifecycleState.RECOVERY:
                self.state = BrokerLifecycleState.RUNNING
                log.info("broker %d is unfenced", self.node_id,
                         extra={"event": "unfenced", "broker": self.node_id, "broker_epoch": self.broker_epoch})
            reg = self._metadata.image.brokers.get(self.node_id)
            if reg is not None and reg.epoch == self.broker_epoch and not reg.fenced:
                self._unfenced.set()
