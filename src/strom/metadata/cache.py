"""MetadataCache: the broker's view of cluster metadata, one immutable image at a time.

Brokers and controllers are separate roles even in one process.  The broker
never reads the controller object: it replays batches of *committed*
``__cluster_metadata`` records into its own ``MetadataImage`` and publishes
the new image after each batch.  Handlers read ``cache.image`` (or the helpers
below, which answer from the image and the node's static config alone);
writes go through a ``ControllerClient`` (``strom.metadata.controller_client``).

Where the batches come from is the node's business: today the in-process
controller hands over each batch it committed; with the raft quorum every
node replays the batches its replica of the metadata log commits.  Either way
``replay`` runs on the event loop, in log order, once per batch.

Publishing, in this order: (1) ``image`` becomes the new image; (2) every
listener, in subscription order, is called with ``(delta, image)`` —
``delta.records`` are the batch's records and ``delta.base`` the previous
image (so a listener can name what a RemoveTopicRecord removed); (3) tasks
waiting in ``wait_for`` for an offset up to the new one wake.  So a handler
that waited for the offset of its own commit sees the change in the image
*and* in everything the listeners wire (the broker's partition logs, the
group coordinator's topic view).  A listener that raises is logged and the
others still run: one broken subscriber must not stop the broker's image.

Layering: ``strom.metadata`` (image, records, this cache and the controller
client protocol) sits below the controller and the coordinators, so the
controller builds its images with the same code and the server reads the
broker's side without importing the controller at all.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from strom.config import BrokerConfig
from strom.metadata.image import EMPTY_IMAGE, MetadataDelta, MetadataImage, TopicImage
from strom.metadata.records import MetadataRecord

log = logging.getLogger(__name__)

Listener = Callable[[MetadataDelta, MetadataImage], None]

# How long a handler waits for its own commit to reach the image when its request carries no
# timeout.  In-process the commit is published before the controller client returns; the wait
# only matters once commits arrive through the raft log.
METADATA_WAIT_MS = 30_000


class MetadataCache:
    """The published image of node ``node_id``, with ``config`` its static broker config.

    Owned by the event loop; ``image`` is replaced (never changed) by ``replay``.  It also
    satisfies the group coordinator's ``MetadataView`` (topic_partitions, topic_id, ...)."""

    def __init__(self, node_id: int, config: BrokerConfig, image: MetadataImage = EMPTY_IMAGE) -> None:
        self.node_id = node_id
        self.config = config
        self.image = image
        self._listeners: list[Listener] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._controller_id = -1

    # ------------------------------------------------------------------ publishing
    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(delta, image)`` after each published batch, after the earlier subscribers."""
        self._listeners.append(listener)

    def replay(self, records: Iterable[MetadataRecord], offset: int) -> MetadataImage:
        """Apply one committed batch whose last record is at ``offset`` and publish the new image.
        A batch at or below the published offset is ignored (already applied)."""
        if offset <= self.image.offset:
            return self.image
        delta = MetadataDelta(self.image)
        for record in records:
            delta.replay(record)
        image = delta.apply(offset)
        self.image = image
        for listener in list(self._listeners):
            try:
                listener(delta, image)
            except Exception:
                log.exception("metadata listener %r failed on the batch ending at offset %d", listener, offset)
        self._wake(offset)
        return image

    def _wake(self, offset: int) -> None:
        still = []
        for target, future in self._waiters:
            if target <= offset:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((target, future))
        self._waiters = still

    async def wait_for(self, offset: int, timeout_ms: float) -> bool:
        """Wait until the published image holds ``offset`` (the metadata offset of a commit, as a
        ``ControllerClient`` returns it; -1 = nothing to wait for).  False if ``timeout_ms`` passed first.
        Returns at once, without yielding to the loop, when the image is already there."""
        if offset <= self.image.offset:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (offset, future)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(max(timeout_ms, 0) / 1000):
                await future
            return True
        except TimeoutError:
            return False
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    # ------------------------------------------------------------------ the broker's questions
    @property
    def live_brokers(self) -> list[int]:
        """Registered, unfenced brokers (ascending ids): the brokers that may lead partitions."""
        return self.image.live_brokers

    @property
    def controller_id(self) -> int:
        """The id of the active controller as this broker knows it, -1 when unknown (Kafka's answer in
        Metadata and DescribeCluster).  Fed by ``set_active_controller``: the node sets its own id when
        it runs the controller; the raft wiring will set the quorum leader on every leader change."""
        return self._controller_id

    def set_active_controller(self, node_id: int | None) -> None:
        self._controller_id = -1 if node_id is None else node_id

    def topic(self, name: str) -> TopicImage | None:
        return self.image.topics.get(name)

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicImage | None:
        return self.image.topics_by_id.get(topic_id)

    def dynamic_broker_configs(self) -> tuple[Mapping[str, str], Mapping[str, str]]:
        """(this node's, cluster-wide) dynamic broker overrides; the node's win."""
        return self.image.dynamic_broker_configs(self.node_id)

    def effective_broker_config(self) -> BrokerConfig:
        """The static config overlaid with dynamic cluster-wide ("") then per-node overrides."""
        return self.image.effective_broker_config(self.config, self.node_id)

    def topic_config_values(self, name: str) -> dict[str, Any]:
        """Effective typed topic config: broker defaults (static and dynamic) overlaid with the topic's overrides."""
        return self.image.topic_config_values(name, self.config, self.node_id)

    # ------------------------------------------------------------------ MetadataView (group coordinator)
    def topic_partitions(self, name: str) -> int | None:
        topic = self.image.topics.get(name)
        return len(topic.partitions) if topic is not None else None

    def topic_id(self, name: str) -> uuid.UUID | None:
        topic = self.image.topics.get(name)
        return topic.topic_id if topic is not None else None

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        topic = self.image.topics_by_id.get(topic_id)
        return topic.name if topic is not None else None

    def topic_names(self) -> list[str]:
        return list(self.image.topics)
