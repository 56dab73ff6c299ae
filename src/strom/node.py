"""Composition root: builds the layers of one Strom node, runs them, shuts them down.

Start-up order: data dir and ``meta.properties`` (cluster id, node id) →
metadata log replay (controller image) → log manager (recovery of partition
logs) → partitions wired from the image → background tasks → listener.  The
node prints one ready line to stdout once it accepts connections:

    strom: broker ready on HOST:PORT (node N, cluster ID, data DIR)

Shutdown (SIGTERM/SIGINT): stop accepting and close connections, cancel the
background tasks (all in the node's TaskGroup), close the logs, write
checkpoints and the clean-shutdown marker so the next start skips recovery.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import signal
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from strom.config import BrokerConfig
from strom.controller.controller import Controller
from strom.controller.image import MetadataImage
from strom.controller.metadata_log import METADATA_DIR, MetadataLog
from strom.controller.records import (
    BROKER_RESOURCE, ConfigRecord, MetadataRecord, PartitionRecord, RemoveTopicRecord, TopicRecord,
)
from strom.coordinator.group.coordinator import OFFSETS_TOPIC, GroupConfig, GroupCoordinator
from strom.replication.replica_manager import ReplicaManager
from strom.replication.writer import LocalPartitionWriter
from strom.server.context import BrokerServices
from strom.server.dispatcher import Dispatcher
from strom.server.listener import KafkaListener
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.storage.segment import MAX_OPEN_INACTIVE
from strom.util.clock import SYSTEM_CLOCK

log = logging.getLogger("strom")

CLEAN_SHUTDOWN_MARKER = ".kafka_cleanshutdown"


class _Shutdown(Exception):
    pass


def lock_data_dir(data_dir: Path) -> int:
    """Take an exclusive lock on ``<data>/.lock`` (Kafka's) so two processes never share a data dir.
    The lock lives as long as the returned descriptor (the process)."""
    import fcntl
    import os
    fd = os.open(data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise SystemExit(f"strom: {data_dir} is in use by another process (it holds {data_dir / '.lock'})")
    return fd


def read_meta_properties(data_dir: Path, node_id: int) -> str:
    """Return the cluster id from ``meta.properties``, creating the file on first start (Kafka's format)."""
    path = data_dir / "meta.properties"
    if path.exists():
        props = {}
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                props[k.strip()] = v.strip()
        stored = int(props.get("node.id", node_id))
        if stored != node_id:
            raise SystemExit(f"strom: node.id {node_id} does not match node.id={stored} in {path}")
        return props["cluster.id"]
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    directory_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    path.write_text(f"#\n#Written by Strom\nversion=1\nnode.id={node_id}\ncluster.id={cluster_id}\n"
                    f"directory.id={directory_id}\n")
    return cluster_id


class ImageView:
    """The coordinators' read-only view of topic metadata (the controller's current image)."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    def topic_partitions(self, name: str) -> int | None:
        topic = self._controller.image.topics.get(name)
        return len(topic.partitions) if topic is not None else None

    def topic_id(self, name: str) -> uuid.UUID | None:
        topic = self._controller.image.topics.get(name)
        return topic.topic_id if topic is not None else None

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        topic = self._controller.image.topics_by_id.get(topic_id)
        return topic.name if topic is not None else None

    def topic_names(self) -> list[str]:
        return list(self._controller.image.topics)


def group_config(config: BrokerConfig) -> GroupConfig:
    return GroupConfig(
        num_partitions=config["offsets.topic.num.partitions"],
        offsets_retention_ms=config["offsets.retention.minutes"] * 60_000,
        initial_rebalance_delay_ms=config["group.initial.rebalance.delay.ms"],
        min_session_timeout_ms=config["group.min.session.timeout.ms"],
        max_session_timeout_ms=config["group.max.session.timeout.ms"],
        max_size=config["group.max.size"],
        offset_metadata_max_bytes=config["offset.metadata.max.bytes"],
        consumer_session_timeout_ms=config["group.consumer.session.timeout.ms"],
        consumer_heartbeat_interval_ms=config["group.consumer.heartbeat.interval.ms"],
        consumer_assignors=tuple(config["group.consumer.assignors"]),
    )


class Node:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.clock = SYSTEM_CLOCK
        self.node_id: int = config["node.id"]
        self._stop = asyncio.Event()
        self.groups: GroupCoordinator | None = None

    # ------------------------------------------------------------------ wiring
    def log_config(self, topic: str) -> LogConfig:
        """The topic's effective config, plus the broker-only ``producer.id.expiration.ms``."""
        return LogConfig.from_props({**self.controller.topic_config_values(topic),
                                     "producer.id.expiration.ms": self.config["producer.id.expiration.ms"]})

    def _wire_partitions(self, image: MetadataImage) -> None:
        for topic in image.topics.values():
            config = self.log_config(topic.name)
            for p in topic.partitions.values():
                if self.node_id in p.replicas:
                    self.replicas.ensure_partition(topic.name, topic.topic_id, p.partition, config,
                                                   leader_id=p.leader, leader_epoch=p.leader_epoch)

    def _on_metadata(self, records: Sequence[MetadataRecord], image: MetadataImage) -> None:
        for record in records:
            if isinstance(record, PartitionRecord):
                topic = image.topics_by_id.get(uuid.UUID(record.topic_id))
                if topic is not None and self.node_id in record.replicas:
                    self.replicas.ensure_partition(topic.name, topic.topic_id, record.partition,
                                                   self.log_config(topic.name), leader_id=record.leader,
                                                   leader_epoch=record.leader_epoch)
            elif isinstance(record, RemoveTopicRecord):
                name = self._topic_names.pop(record.topic_id, None)
                if name is not None:
                    self.replicas.remove_topic(name)
            elif isinstance(record, ConfigRecord):
                if record.resource_type == BROKER_RESOURCE:
                    for name in image.topics:
                        self.replicas.update_config(name, self.log_config(name))
                elif record.resource_name in image.topics:
                    self.replicas.update_config(record.resource_name, self.log_config(record.resource_name))
        self._topic_names = {str(t.topic_id): t.name for t in image.topics.values()}
        if self.groups is not None and any(isinstance(r, (PartitionRecord, RemoveTopicRecord, TopicRecord))
                                           for r in records):
            self.groups.on_topics_changed({t.name: len(t.partitions) for t in image.topics.values()})

    async def _ensure_offsets_topic(self) -> None:
        """Create ``__consumer_offsets`` on first start (Kafka creates it on the first FindCoordinator)."""
        if OFFSETS_TOPIC in self.controller.image.topics:
            return
        rf = min(self.config["offsets.topic.replication.factor"], len(self.controller.live_brokers))
        results = await self.controller.create_topics([{
            "name": OFFSETS_TOPIC, "num_partitions": self.config["offsets.topic.num.partitions"],
            "replication_factor": rf,
            "configs": {"cleanup.policy": "compact",
                        "segment.bytes": str(self.config["offsets.topic.segment.bytes"])}}], internal=True)
        if results[0].error_code:
            raise RuntimeError(f"cannot create {OFFSETS_TOPIC}: {results[0].error_message}")

    async def _expire_offsets_loop(self) -> None:
        interval = self.config["offsets.retention.check.interval.ms"] / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                expired = await self.groups.expire_offsets()
                if expired:
                    log.info("expired %d committed offset(s)", expired)
            except Exception:
                log.exception("offset expiration failed")

    # ------------------------------------------------------------------ run
    async def serve(self) -> int:
        config = self.config
        data_dir = Path(config.data_dirs[0]).resolve()
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "it exists and is not a directory" if data_dir.exists() else exc.strerror
            raise SystemExit(f"strom: cannot use {data_dir} as the data directory (log.dirs): {reason}") from None
        self._lock_fd = lock_data_dir(data_dir)
        cluster_id = read_meta_properties(data_dir, self.node_id)
        clean = (data_dir / CLEAN_SHUTDOWN_MARKER).exists()

        self.metadata_log = MetadataLog(data_dir, self.clock, clean=clean)
        self.controller = Controller(self.metadata_log, config, self.node_id, max_partitions=partition_budget())
        self.controller.load()
        defaults = {**config.topic_defaults(), "producer.id.expiration.ms": config["producer.id.expiration.ms"]}
        self.log_manager = LogManager([data_dir], LogConfig.from_props(defaults), clock=self.clock,
                                      exclude={METADATA_DIR})
        self.log_manager.load()
        self.replicas = ReplicaManager(self.log_manager, self.node_id, self.clock,
                                       retention_check_interval_ms=config["log.retention.check.interval.ms"])
        self._wire_partitions(self.controller.image)
        self._topic_names = {str(t.topic_id): t.name for t in self.controller.image.topics.values()}
        self.controller.add_listener(self._on_metadata)

        # one client listener (BrokerConfig.check_implemented refuses more); controller listeners are not
        # bound: a single-node quorum has no peers
        listener_conf = config.broker_listeners[0]
        services = BrokerServices(node_id=self.node_id, cluster_id=cluster_id, host=listener_conf.host or "localhost",
                                  port=listener_conf.port, config=config, controller=self.controller,
                                  replicas=self.replicas, clock=self.clock)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        try:
            async with asyncio.TaskGroup() as tg:
                self.replicas.start(tg)
                self.replicas.purge_unknown((t.name, p) for t in self.controller.image.topics.values()
                                            for p in t.partitions)
                await self._ensure_offsets_topic()
                self.groups = GroupCoordinator(LocalPartitionWriter(self.replicas), group_config(config),
                                               self.clock, ImageView(self.controller), tg.create_task)
                loaded = self.groups.load()
                log.info("group coordinator loaded %d record(s) from %s", loaded, OFFSETS_TOPIC)
                services.groups = self.groups
                tg.create_task(self._expire_offsets_loop())
                listener = KafkaListener(Dispatcher(services), tg, max_frame_bytes=config["socket.request.max.bytes"],
                                         max_connections=config["max.connections"],
                                         max_connections_per_ip=config["max.connections.per.ip"])
                try:
                    host, port = await listener.start(listener_conf.host, listener_conf.port)
                except OSError as exc:  # Kafka: "Socket server failed to bind to ...", then exit
                    raise SystemExit(f"strom: cannot listen on {listener_conf.host or '0.0.0.0'}:"
                                     f"{listener_conf.port}: {exc.strerror or exc}") from None
                tg.create_task(listener.close_idle(config["connections.max.idle.ms"]))
                advertised = next((a for a in config.advertised_listeners if a.name == listener_conf.name),
                                  config.advertised_listeners[0])
                services.host = advertised.host or (host if host not in ("0.0.0.0", "::") else "localhost")
                services.port = advertised.port or port
                print(f"strom: broker ready on {host}:{port} (node {self.node_id}, cluster {cluster_id}, "
                      f"data {data_dir})", flush=True)
                await self._stop.wait()
                log.info("shutting down")
                await listener.stop()
                raise _Shutdown
        except* _Shutdown:
            pass
        finally:
            self.replicas.close()
            clean = self.log_manager.shutdown()
            self.metadata_log.close()
        log.info("stopped cleanly" if clean else "stopped (unclean: see the errors above)")
        return 0


def raise_open_file_limit() -> None:
    """Lift the soft RLIMIT_NOFILE to the hard limit: every partition keeps its active segment open."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform without the limit
        pass


def partition_budget() -> int:
    """Partitions this process can hold open: an active partition keeps up to 3 files open (.log
    and, once written, .index and .timeindex); 256 descriptors go to inactive segments and 512 are
    left for connections and the rest."""
    try:
        import resource
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform without the limit
        return 2**31 - 1
    if soft == resource.RLIM_INFINITY:
        return 2**31 - 1
    return max((soft - MAX_OPEN_INACTIVE - 512) // 3, 0)


def run(config: BrokerConfig) -> int:
    """Run a node until SIGTERM/SIGINT; returns the process exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise_open_file_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(Node(config).serve())
    return uvloop.run(Node(config).serve())
