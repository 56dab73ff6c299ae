"""Broker registration on a real node: the node registers itself with its rack and is seen by
Kafka clients; BrokerRegistration over the wire refuses a second process with the same node id and
shows fenced brokers to DescribeCluster v2 only; ``strom cluster describe``; SIGTERM runs a
controlled shutdown and still exits 0 quickly; a restart registers again with a new epoch."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from strom.client import wire

STROM = str(Path(sys.executable).with_name("strom"))
BROKER_REGISTRATION, DESCRIBE_CLUSTER = 62, 60

pytestmark = pytest.mark.timeout(120)


def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 2})


def live_nodes(broker) -> list[tuple[int, str, int, str | None]]:
    client = admin(broker)  # kept alive until the future is resolved
    described = client.describe_cluster(request_timeout=10).result()
    return [(n.id, n.host, n.port, n.rack) for n in described.nodes]


def register_over_the_wire(broker, broker_id: int, rack: str | None = None) -> dict:
    response = wire.call(("127.0.0.1", broker.port), BROKER_REGISTRATION, 4, {
        "broker_id": broker_id, "cluster_id": cluster_id(broker), "incarnation_id": uuid.uuid4(),
        "listeners": [{"name": "PLAINTEXT", "host": "10.0.0.9", "port": 9099, "security_protocol": 0}],
        "features": [], "rack": rack}, client_id="test", correlation_id=1, timeout_s=10)
    return {"error_code": int(response.error_code), "broker_epoch": response.broker_epoch}


def cluster_id(broker) -> str:
    return re.search(r"cluster (\S+),", broker.ready_line).group(1)


def epochs(broker) -> list[int]:
    return [int(m) for m in re.findall(r"broker 1 registered \(epoch (\d+)", Path(broker.log_path).read_text())]


def test_a_single_node_registers_itself_with_its_rack(strom_factory):
    broker = strom_factory({"broker.rack": "rack-a"})
    client = admin(broker)
    described = client.describe_cluster(request_timeout=10).result()
    assert described.controller.id == 1
    assert [(n.id, n.host, n.port, n.rack) for n in described.nodes] == [(1, "127.0.0.1", broker.port, "rack-a")]
    metadata = client.list_topics(timeout=10)
    assert list(metadata.brokers) == [1] and metadata.controller_id == 1
    # another process claiming node id 1 is refused while this one is alive
    assert register_over_the_wire(broker, 1)["error_code"] == 101  # DUPLICATE_BROKER_REGISTRATION
    # a topic cannot have more replicas than live brokers (Kafka's message)
    futures = client.create_topics([NewTopic("rf2", 1, 2)], request_timeout=10)
    with pytest.raises(Exception) as exc:
        futures["rf2"].result()
    assert exc.value.args[0].name() == "INVALID_REPLICATION_FACTOR"
    assert "cannot be reached because only 1 broker(s) are registered" in exc.value.args[0].str()


def test_strom_cluster_describe_lists_brokers_fenced_ones_too(strom_factory):
    broker = strom_factory({"broker.rack": "rack-a"})
    registered = register_over_the_wire(broker, 2, rack="rack-b")  # registers, never heartbeats: fenced
    assert registered["error_code"] == 0 and registered["broker_epoch"] > 0
    text = subprocess.run([STROM, "cluster", "describe", "--bootstrap-server", broker.bootstrap],
                          capture_output=True, text=True, timeout=60)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"Cluster ID: {cluster_id(broker)}" and lines[1] == "Controller: 1"
    assert lines[2].split() == ["ID", "HOST", "PORT", "RACK", "FENCED"]
    assert [line.split() for line in lines[3:]] == [["1", "127.0.0.1", str(broker.port), "rack-a", "false"],
                                                    ["2", "10.0.0.9", "9099", "rack-b", "true"]]
    out = subprocess.run([STROM, "cluster", "describe", "--bootstrap-server", broker.bootstrap, "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    doc = json.loads(out.stdout)
    assert doc["controller_id"] == 1 and doc["cluster_id"] == cluster_id(broker)
    assert doc["brokers"] == [{"id": 1, "host": "127.0.0.1", "port": broker.port, "rack": "rack-a", "fenced": False},
                              {"id": 2, "host": "10.0.0.9", "port": 9099, "rack": "rack-b", "fenced": True}]
    # clients see live brokers only
    assert [n[0] for n in live_nodes(broker)] == [1]
    assert list(admin(broker).list_topics(timeout=10).brokers) == [1]
    unreachable = subprocess.run([STROM, "cluster", "describe", "--bootstrap-server", "127.0.0.1:1",
                                  "--timeout-ms", "500"], capture_output=True, text=True, timeout=60)
    assert unreachable.returncode == 1 and unreachable.stderr.startswith("Error: _TRANSPORT")


def test_sigterm_shuts_down_in_a_controlled_way_and_a_restart_registers_with_a_new_epoch(broker):
    assert len(epochs(broker)) == 1
    broker.stop(timeout=5)  # asserts exit code 0
    log = Path(broker.log_path).read_text()
    assert "broker 1 may shut down (controlled shutdown)" in log, log[-2000:]
    broker.start()
    second = epochs(broker)
    assert len(second) == 2 and second[1] > second[0]
    assert [n[0] for n in live_nodes(broker)] == [1]
    # after a crash the old registration is still unfenced in the log: this node's own broker is
    # not kept waiting for its session to expire (it belonged to the dead process)
    broker.kill9()
    broker.start()
    third = epochs(broker)
    assert len(third) == 3 and third[2] > third[1]
    assert "DUPLICATE_BROKER_REGISTRATION" not in Path(broker.log_path).read_text()
    assert [n[0] for n in live_nodes(broker)] == [1]
