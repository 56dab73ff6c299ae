"""Composition root: builds the layers of one Strom node, runs them, shuts them down.

Start-up order: data dir and ``meta.properties`` (cluster id, node id; see
strom.storage.meta_properties for when the directories must be formatted first) →
metadata log replay (the controller's image, then the broker's metadata
cache) → log manager (recovery of partition logs) → partitions wired from the
broker's image → background tasks → listener bound (not yet serving) → broker
registration and first heartbeat (``BrokerLifecycleManager``; in-process both
commit at once, so the node is unfenced as soon as its cache has replayed its
own registration) → ``__consumer_offsets`` and the group coordinator →
listener serving.  The node prints one ready line to stdout once it accepts
connections:

    strom: broker ready on HOST:PORT (node N, cluster ID, data DIR)

and, when ``strom.http.port`` is set, a second line with the HTTP side port (strom.http):

    strom: metrics on http://HOST:PORT/metrics

Shutdown (SIGTERM/SIGINT): controlled shutdown through the lifecycle manager
(a heartbeat with want_shut_down, waiting at most broker.session.timeout.ms for
the controller's permission), stop accepting and close connections, cancel the
background tasks (all in the node's TaskGroup), close the logs, write
checkpoints and the clean-shutdown marker so the next start skips recovery.

Broker and controller roles meet only here: the controller's commit listener
feeds each committed batch to the broker's ``MetadataCache`` (the raft log
will take its place), whose listeners wire the partition logs and tell the
group coordinator; handlers get the cache and a ``LocalControllerClient``.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from strom.config import BrokerConfig
from strom.controller.client import LocalControllerClient
from strom.controller.controller import Controller
from strom.controller.metadata_log import METADATA_DIR, MetadataLog
from strom.raft.core import CONFIG_NAMES as RAFT_CONFIG_NAMES
from strom.raft.core import RaftConfig
from strom.coordinator.group.coordinator import OFFSETS_TOPIC, GroupConfig, GroupCoordinator
from strom.coordinator.txn.coordinator import TRANSACTION_STATE_TOPIC, TransactionCoordinator, TxnConfig
from strom.coordinator.txn.markers import LocalMarkerWriter
from strom.http import BrokerSources, start_http_server
from strom.metadata.cache import METADATA_WAIT_MS, MetadataCache
from strom.metadata.controller_client import NewTopic
from strom.metadata.image import MetadataDelta, MetadataImage
from strom.metadata.records import (
    BROKER_RESOURCE, BrokerEndpoint, ConfigRecord, PartitionRecord, RemoveTopicRecord, TopicRecord,
)
from strom.replication.log_cleaner import LogCleanerManager
from strom.replication.replica_manager import ReplicaManager
from strom.replication.writer import LocalPartitionWriter
from strom.server.broker_lifecycle import BrokerLifecycleManager
from strom.server.context import BrokerServices
from strom.server.dispatcher import Dispatcher
from strom.server.listener import KafkaListener
from strom.storage.log_config import LogConfig
from strom.storage.log_manager import LogManager
from strom.storage.meta_properties import MetaPropertiesError, formatting_required, load_for_startup
from strom.storage.segment import MAX_OPEN_INACTIVE
from strom.util import logs
from strom.util.clock import SystemScheduler
from strom.util.metrics import BrokerMetrics

log = logging.getLogger("strom")

CLEAN_SHUTDOWN_MARKER = ".kafka_cleanshutdown"
SECURITY_PROTOCOL_IDS = {"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}  # Kafka's SecurityProtocol


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


def txn_config(config: BrokerConfig) -> TxnConfig:
    return TxnConfig(
        num_partitions=config["transaction.state.log.num.partitions"],
        max_timeout_ms=config["transaction.max.timeout.ms"],
        id_expiration_ms=config["transactional.id.expiration.ms"],
        abort_interval_ms=config["transaction.abort.timed.out.transaction.cleanup.interval.ms"],
        expire_interval_ms=config["transaction.remove.expired.transaction.cleanup.interval.ms"],
    )


class Node:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.clock = SystemScheduler()  # the one real clock: every timer and sleep below goes through it
        self.node_id: int = config["node.id"]
        self._stop = asyncio.Event()
        self._stop_requested = 0.0  # time.monotonic() of the first SIGTERM/SIGINT: the shutdown's duration starts
        self.groups: GroupCoordinator | None = None
        self.transactions: TransactionCoordinator | None = None
        self._txn_start: asyncio.Task[bool] | None = None

    def request_stop(self) -> None:
        """Begin the orderly shutdown (the SIGTERM/SIGINT handler)."""
        if not self._stop_requested:
            self._stop_requested = time.monotonic()
        self._stop.set()

    # ------------------------------------------------------------------ wiring
    def log_config(self, topic: str) -> LogConfig:
        """The topic's effective config, plus the broker-only ``producer.id.expiration.ms``."""
        return LogConfig.from_props({**self.metadata.topic_config_values(topic),
                                     "producer.id.expiration.ms": self.config["producer.id.expiration.ms"]})

    def _wire_partitions(self, image: MetadataImage) -> None:
        replicas = leaders = 0
        for topic in image.topics.values():
            config = self.log_config(topic.name)
            for p in topic.partitions.values():
                if self.node_id in p.replicas:
                    self.replicas.ensure_partition(topic.name, topic.topic_id, p.partition, config,
                                                   leader_id=p.leader, leader_epoch=p.leader_epoch)
                    replicas += 1
                    leaders += p.leader == self.node_id
        log.info("loaded %d partition replica(s), leader of %d", replicas, leaders,
                 extra={"event": "partitions_loaded", "replicas": replicas, "leaders": leaders})

    def _log_new_replicas(self, topic: str, new: list[PartitionRecord]) -> None:
        """One line for the partitions of ``topic`` this node got a replica of in one metadata batch."""
        led = sorted(r.partition for r in new if r.leader == self.node_id)
        followed = sorted(r.partition for r in new if r.leader != self.node_id)
        log.info("%s: new replica(s) here: leader of %d partition(s), follower of %d", topic, len(led), len(followed),
                 extra={"event": "replicas_created", "topic": topic, "leader_of": led, "follower_of": followed,
                        "leader_epochs": sorted({r.leader_epoch for r in new})})

    def _on_metadata(self, delta: MetadataDelta, image: MetadataImage) -> None:
        """The broker's log wiring: create, reconfigure and remove partition logs as the image changes."""
        removed = {str(t.topic_id): t.name for t in delta.removed_topics}
        created: dict[str, list[PartitionRecord]] = {}
        for record in delta.records:
            if isinstance(record, PartitionRecord):
                topic = image.topics_by_id.get(uuid.UUID(record.topic_id))
                if topic is not None and self.node_id in record.replicas:
                    if (topic.name, record.partition) not in self.replicas.partitions:
                        created.setdefault(topic.name, []).append(record)
                    self.replicas.ensure_partition(topic.name, topic.topic_id, record.partition,
                                                   self.log_config(topic.name), leader_id=record.leader,
                                                   leader_epoch=record.leader_epoch)
            elif isinstance(record, RemoveTopicRecord):
                name = removed.get(record.topic_id)
                if name is not None:
                    self.replicas.remove_topic(name)
            elif isinstance(record, ConfigRecord):
                if record.resource_type == BROKER_RESOURCE:
                    for name in image.topics:
                        self.replicas.update_config(name, self.log_config(name))
                elif record.resource_name in image.topics:
                    self.replicas.update_config(record.resource_name, self.log_config(record.resource_name))
        for name, records in created.items():
            self._log_new_replicas(name, records)

    def _on_topics(self, delta: MetadataDelta, image: MetadataImage) -> None:
        """The group coordinator's topic view: rebalance groups whose topics changed."""
        if self.groups is not None and any(isinstance(r, (PartitionRecord, RemoveTopicRecord, TopicRecord))
                                           for r in delta.records):
            self.groups.on_topics_changed({t.name: len(t.partitions) for t in image.topics.values()})

    async def _ensure_offsets_topic(self) -> None:
        """Create ``__consumer_offsets`` on first start (Kafka creates it on the first FindCoordinator)."""
        config = self.config
        await self._ensure_internal_topic(OFFSETS_TOPIC, config["offsets.topic.num.partitions"],
                                          config["offsets.topic.replication.factor"],
                                          {"segment.bytes": str(config["offsets.topic.segment.bytes"])})

    async def _ensure_transaction_state_topic(self) -> None:
        """Create ``__transaction_state`` (compacted, like Kafka's) unless it exists."""
        config = self.config
        await self._ensure_internal_topic(TRANSACTION_STATE_TOPIC, config["transaction.state.log.num.partitions"],
                                          config["transaction.state.log.replication.factor"],
                                          {"segment.bytes": str(config["transaction.state.log.segment.bytes"]),
                                           "min.insync.replicas": str(config["transaction.state.log.min.isr"])})

    async def ensure_transactions(self) -> bool:
        """Start the transaction coordinator unless it runs: create ``__transaction_state`` (Kafka
        creates it at the first FindCoordinator for a transactional id, so a broker that never sees
        a transaction holds none of its partitions), load it and start its timers.  Concurrent
        callers share one attempt; a failed attempt is logged and the next caller tries again.
        Returns whether the coordinator runs."""
        if self.transactions is not None:
            return True
        starting = self._txn_start
        if starting is None or (starting.done() and not starting.result()):
            starting = self._txn_start = self._tg.create_task(self._start_transactions())
        return await asyncio.shield(starting)

    async def _start_transactions(self) -> bool:
        try:
            await self._ensure_transaction_state_topic()
            writer = LocalPartitionWriter(self.replicas)
            markers = LocalMarkerWriter(writer, self.groups)
            txns = TransactionCoordinator(writer, txn_config(self.config), self.clock,
                                          self.controller_client.allocate_producer_id, markers)
            loaded = txns.load()
            completed = await txns.complete_pending()
        except Exception:
            log.exception("could not start the transaction coordinator")
            return False
        log.info("transaction coordinator loaded %d record(s) from %s; completed %d transaction(s) left prepared",
                 loaded, TRANSACTION_STATE_TOPIC, completed)
        self.transactions = txns
        self._services.transactions, self._services.markers = txns, markers
        self._tg.create_task(txns.run_abort_timer())
        self._tg.create_task(txns.run_expire_timer())
        return True

    async def _ensure_internal_topic(self, name: str, partitions: int, replication_factor: int,
                                     configs: dict[str, str]) -> None:
        if self.metadata.topic(name) is not None:
            return
        rf = min(replication_factor, len(self.metadata.live_brokers))
        written = await self.controller_client.create_topics([NewTopic(
            name, partitions, rf, configs={"cleanup.policy": "compact", **configs})])
        [result] = written.results
        if result.error_code:
            raise RuntimeError(f"cannot create {name}: {result.error_message}")
        if not await self.metadata.wait_for(written.metadata_offset, METADATA_WAIT_MS):
            raise RuntimeError(f"{name} was created but the broker's metadata did not catch up")

    async def _expire_offsets_loop(self) -> None:
        interval = self.config["offsets.retention.check.interval.ms"] / 1000
        while True:
            await self.clock.sleep(interval)
            try:
                expired = await self.groups.expire_offsets()
                if expired:
                    log.info("expired %d committed offset(s)", expired,
                             extra={"event": "offsets_expired", "offsets": expired})
            except Exception:
                log.exception("offset expiration failed")

    async def _unless_stopped(self, tg: asyncio.TaskGroup, awaitable: Coroutine[Any, Any, None]) -> bool:
        """Await ``awaitable`` unless SIGTERM comes first (then False); both waits belong to ``tg``."""
        work = tg.create_task(awaitable)
        stop = tg.create_task(self._stop.wait())
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        work.cancel()
        stop.cancel()
        return work.done() and not work.cancelled()

    # ------------------------------------------------------------------ run
    async def serve(self) -> int:
        started = time.monotonic()
        config = self.config
        data_dir = Path(config.data_dirs[0]).resolve()
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "it exists and is not a directory" if data_dir.exists() else exc.strerror
            raise SystemExit(f"strom: cannot use {data_dir} as the data directory (log.dirs): {reason}") from None
        self._lock_fd = lock_data_dir(data_dir)
        try:
            cluster_id = load_for_startup([data_dir, *(Path(d).resolve() for d in config.data_dirs[1:])],
                                          node_id=self.node_id,
                                          require_formatted=formatting_required(config)).cluster_id
        except MetaPropertiesError as exc:
            raise SystemExit(f"strom: {exc}") from None
        clean = (data_dir / CLEAN_SHUTDOWN_MARKER).exists()

        try:
            raft_config = RaftConfig.from_properties({name: config[name] for name in RAFT_CONFIG_NAMES})
            self.metadata_log = MetadataLog(data_dir, self.clock, clean=clean, node_id=self.node_id,
                                            cluster_id=cluster_id or "", raft_config=raft_config)
        except ValueError as exc:  # a malformed quorum-state file
            raise SystemExit(f"strom: {exc}") from None
        roles = config.process_roles
        self.controller = Controller(self.metadata_log, config, self.node_id, max_partitions=partition_budget(),
                                     scheduler=self.clock, cluster_id=cluster_id,
                                     local_broker_id=self.node_id if "broker" in roles else None)
        self.controller.load()
        self.metadata = MetadataCache(self.node_id, config)
        self.metadata.replay(self.metadata_log.read_all(), self.metadata_log.end_offset - 1)
        # the one place the broker learns the active controller (the raft wiring will feed it)
        self.metadata.set_active_controller(self.node_id if "controller" in roles else None)
        self.metadata_log.add_commit_listener(self.metadata.replay)  # each committed run, from raft
        self.controller_client = LocalControllerClient(self.controller)
        defaults = {**config.topic_defaults(), "producer.id.expiration.ms": config["producer.id.expiration.ms"]}
        self.log_manager = LogManager([data_dir], LogConfig.from_props(defaults), clock=self.clock,
                                      exclude={METADATA_DIR})
        self.log_manager.load()
        self.replicas = ReplicaManager(self.log_manager, self.node_id, self.clock,
                                       retention_check_interval_ms=config["log.retention.check.interval.ms"])
        self._wire_partitions(self.metadata.image)
        self.metadata.subscribe(self._on_metadata)
        self.metadata.subscribe(self._on_topics)

        # one client listener (BrokerConfig.check_implemented refuses more); controller listeners are not
        # bound: a single-node quorum has no peers
        listener_conf = config.broker_listeners[0]
        services = BrokerServices(node_id=self.node_id, cluster_id=cluster_id, host=listener_conf.host or "localhost",
                                  port=listener_conf.port, config=config, controller=self.controller_client,
                                  replicas=self.replicas, clock=self.clock, metadata=self.metadata,
                                  listener_name=listener_conf.name,
                                  metrics=BrokerMetrics(CollectorRegistry(auto_describe=False)))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop)
            except (NotImplementedError, RuntimeError):
                pass
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.metadata_log.run())
                tg.create_task(self.controller.run())
                self.replicas.start(tg)
                self.cleaner = LogCleanerManager(self.replicas, self.clock, threads=config["log.cleaner.threads"],
                                                 dedupe_buffer_size=config["log.cleaner.dedupe.buffer.size"],
                                                 backoff_ms=config["log.cleaner.backoff.ms"])
                if config["log.cleaner.enable"]:
                    self.cleaner.start(tg)
                self.replicas.purge_unknown((t.name, p) for t in self.metadata.image.topics.values()
                                            for p in t.partitions)
                listener = KafkaListener(Dispatcher(services), tg, max_frame_bytes=config["socket.request.max.bytes"],
                                         max_connections=config["max.connections"],
                                         max_connections_per_ip=config["max.connections.per.ip"])
                try:
                    host, port = await listener.start(listener_conf.host, listener_conf.port, serve=False)
                except OSError as exc:  # Kafka: "Socket server failed to bind to ...", then exit
                    raise SystemExit(f"strom: cannot listen on {listener_conf.host or '0.0.0.0'}:"
                                     f"{listener_conf.port}: {exc.strerror or exc}") from None
                advertised = next((a for a in config.advertised_listeners if a.name == listener_conf.name),
                                  config.advertised_listeners[0])
                services.host = advertised.host or (host if host not in ("0.0.0.0", "::") else "localhost")
                services.port = advertised.port or port
                self.lifecycle = BrokerLifecycleManager(
                    self.node_id, cluster_id, self.controller_client, self.metadata, self.clock,
                    listeners=[BrokerEndpoint(advertised.name, services.host, services.port,
                                              SECURITY_PROTOCOL_IDS.get(config.security_protocol(advertised.name), 0))],
                    rack=config["broker.rack"], heartbeat_interval_ms=config["broker.heartbeat.interval.ms"])
                tg.create_task(self.lifecycle.run())
                if not await self._unless_stopped(tg, self.lifecycle.wait_unfenced()):
                    raise _Shutdown
                await self._ensure_offsets_topic()
                self.groups = GroupCoordinator(LocalPartitionWriter(self.replicas), group_config(config),
                                               self.clock, self.metadata, tg.create_task)
                loaded = self.groups.load()
                log.info("group coordinator loaded %d record(s) from %s", loaded, OFFSETS_TOPIC,
                         extra={"event": "groups_loaded", "records": loaded})
                services.groups = self.groups
                tg.create_task(self._expire_offsets_loop())
                self._tg, self._services = tg, services
                services.ensure_transactions = self.ensure_transactions
                if self.metadata.topic(TRANSACTION_STATE_TOPIC) is not None:  # transactions were used: load now
                    if not await self._start_transactions():
                        raise RuntimeError(f"cannot load the transaction coordinator from {TRANSACTION_STATE_TOPIC}")
                await listener.start_serving()
                tg.create_task(listener.close_idle(config["connections.max.idle.ms"]))
                http_url = None
                if config.http_port is not None:  # the HTTP side port: Prometheus /metrics
                    http_url = await start_http_server(tg, services.metrics, BrokerSources(
                        self.node_id, self.replicas, image=lambda: self.metadata.image, groups=lambda: self.groups,
                        active_controller=lambda: self.metadata.controller_id == self.node_id,
                        listener_name=listener_conf.name, now_ms=self.clock.now_ms),
                        config["strom.http.host"], config.http_port)
                print(f"strom: broker ready on {host}:{port} (node {self.node_id}, cluster {cluster_id}, "
                      f"data {data_dir})", flush=True)
                if http_url is not None:
                    print(f"strom: metrics on {http_url}/metrics", flush=True)
                took = time.monotonic() - started
                log.info("started in %.3f s: node %d, cluster %s, listening on %s:%d", took, self.node_id,
                         cluster_id, host, port,
                         extra={"event": "started", "duration_ms": round(took * 1000), "node_id": self.node_id,
                                "cluster_id": cluster_id, "host": host, "port": port, "data_dir": str(data_dir)})
                await self._stop.wait()
                log.info("shutting down", extra={"event": "stopping", "node_id": self.node_id})
                await self.lifecycle.controlled_shutdown(config["broker.session.timeout.ms"])
                await listener.stop()
                raise _Shutdown
        except* _Shutdown:
            pass
        finally:
            self.controller.heartbeats.close()
            self.replicas.close()
            clean = self.log_manager.shutdown()
            self.metadata_log.close()
        took = time.monotonic() - (self._stop_requested or started)
        log.info("stopped %s in %.3f s", "cleanly" if clean else "(unclean: see the errors above)", took,
                 extra={"event": "stopped", "duration_ms": round(took * 1000), "clean": clean, "node_id": self.node_id})
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
    if not logging.getLogger().handlers:  # `strom serve` configures them (--log-format, --log-level)
        logs.configure(logging.INFO, "text")
    raise_open_file_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(Node(config).serve())
    return uvloop.run(Node(config).serve())
