"""``strom storage random-uuid|format`` as a user types it, and what ``strom serve`` does with the result."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Broker

STROM = str(Path(sys.executable).with_name("strom"))
pytestmark = pytest.mark.timeout(120)
# a node of a (static, single-voter) quorum: it must be formatted before it starts, as in Kafka
QUORUM = {"process.roles": "broker,controller", "controller.quorum.voters": "1@127.0.0.1:19093"}


def strom(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([STROM, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ})


def properties(path: Path, **props: str) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


def serve_refused(data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """``strom serve`` that must exit on its own (it refuses the directory)."""
    result = strom("serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *extra)
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


def test_random_uuid_prints_a_new_base64url_uuid():
    first, second = strom("storage", "random-uuid"), strom("storage", "random-uuid")
    assert first.returncode == 0 and second.returncode == 0
    assert len(first.stdout.strip()) == 22 and first.stdout != second.stdout


def test_format_then_serve_a_quorum_node(tmp_path):
    cluster_id = strom("storage", "random-uuid").stdout.strip()
    data = tmp_path / "data"
    conf = properties(tmp_path / "server.properties", **QUORUM, **{"node.id": "1", "log.dirs": str(data)})
    result = strom("storage", "format", "-t", cluster_id, "-c", str(conf))
    assert result.returncode == 0, result.stderr
    assert f"Formatting metadata directory {data}" in result.stdout
    meta = (data / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}\n" in meta and "node.id=1\n" in meta and "version=1\n" in meta
    assert "directory.id=" in meta

    again = strom("storage", "format", "-t", cluster_id, "-c", str(conf))
    assert again.returncode == 1
    assert again.stderr.strip() == (f"Error: Log directory {data} is already formatted. "
                                    f"Use --ignore-formatted to ignore this directory and format the others.")
    ignored = strom("storage", "format", "-t", cluster_id, "-c", str(conf), "--ignore-formatted")
    assert ignored.returncode == 0 and "All of the log directories are already formatted." in ignored.stdout

    node = Broker(data, tmp_path / "strom.log", QUORUM)
    try:
        node.start()
        assert f"cluster {cluster_id}" in node.ready_line
        node.stop()
    finally:
        node.cleanup()


def test_quorum_node_refuses_an_unformatted_directory(tmp_path):
    result = serve_refused(tmp_path / "data", "--override", "controller.quorum.voters=1@127.0.0.1:19093")
    assert result.returncode == 1
    assert result.stderr.startswith(f"strom: no meta.properties in {tmp_path / 'data'}")
    assert "strom storage format" in result.stderr


def test_node_refuses_a_directory_formatted_for_another_node(tmp_path):
    """A data dir formatted for node 1 is refused by node 2 with one line (directories of two
    clusters are refused too: tests/unit/storage/test_meta_properties.py; a second log dir is refused
    at start-up until JBOD lands)."""
    data = tmp_path / "data"
    cluster_id = strom("storage", "random-uuid").stdout.strip()
    conf = properties(tmp_path / "p.properties", **{"log.dirs": str(data), "node.id": "1"})
    assert strom("storage", "format", "-t", cluster_id, "-c", str(conf)).returncode == 0
    result = strom("serve", "--config", str(conf), "--override", "node.id=2", "--listen", "127.0.0.1:0")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"strom: node.id 2 does not match node.id=1 in {data / 'meta.properties'}"


def test_embedded_default_needs_no_format_step(broker):
    meta = (broker.data_dir / "meta.properties").read_text()
    assert "cluster.id=" in meta and "directory.id=" in meta
    cluster = next(line.split("=", 1)[1] for line in meta.splitlines() if line.startswith("cluster.id="))
    assert f"cluster {cluster}" in broker.ready_line
    broker.restart()
    assert f"cluster {cluster}" in broker.ready_line


def test_standalone_records_the_initial_voter(tmp_path):
    cluster_id = strom("storage", "random-uuid").stdout.strip()
    data = tmp_path / "data"
    conf = properties(tmp_path / "controller.properties", **{
        "process.roles": "controller", "node.id": "3", "log.dirs": str(data),
        "listeners": "CONTROLLER://localhost:9093", "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT",
        "controller.quorum.bootstrap.servers": "localhost:9093"})
    missing = strom("storage", "format", "-t", cluster_id, "-c", str(conf))
    assert missing.returncode == 1 and "you must specify one of --standalone" in missing.stderr
    result = strom("storage", "format", "-t", cluster_id, "-c", str(conf), "--standalone", "-r", "3.9-IV0")
    assert result.returncode == 0, result.stderr
    assert "--release-version 3.9-IV0 is ignored" in result.stderr
    meta = dict(line.split("=", 1) for line in (data / "meta.properties").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    voters = dict(line.split("=", 1) for line in (data / "bootstrap.voters").read_text().splitlines()
                  if "=" in line and not line.startswith("#"))
    assert voters["cluster.id"] == cluster_id and voters["controller.listener.name"] == "CONTROLLER"
    assert voters["initial.controllers"] == f"3@localhost:9093:{meta['directory.id']}"


def test_static_quorum_rejects_dynamic_flags_and_brokers_reject_standalone(tmp_path):
    cluster_id = strom("storage", "random-uuid").stdout.strip()
    static = properties(tmp_path / "static.properties", **QUORUM, **{"log.dirs": str(tmp_path / "s")})
    result = strom("storage", "format", "-t", cluster_id, "-c", str(static), "--standalone")
    assert result.returncode == 1 and "controller.quorum.voters set" in result.stderr
    assert strom("storage", "format", "-t", cluster_id, "-c", str(static)).returncode == 0
    broker_only = properties(tmp_path / "broker.properties", **{
        "process.roles": "broker", "log.dirs": str(tmp_path / "b"),
        "controller.quorum.voters": "1@localhost:9093"})
    result = strom("storage", "format", "-t", cluster_id, "-c", str(broker_only), "--standalone")
    assert result.returncode == 1


def test_bad_cluster_id_and_config_errors(tmp_path):
    conf = properties(tmp_path / "p.properties", **{"log.dirs": str(tmp_path / "d")})
    result = strom("storage", "format", "-t", "not-a-uuid", "-c", str(conf))
    assert result.returncode == 1 and "does not appear to be a valid UUID" in result.stderr
    result = strom("storage", "format", "-t", "MkU3OEVBNTcwNTJENDM2Qg", "-c", str(tmp_path / "missing.properties"))
    assert result.returncode == 2 and result.stderr.startswith("strom storage: error: cannot read properties file")
    result = strom("storage", "format", "-c", str(conf))
    assert result.returncode == 2 and "--cluster-id" in result.stderr
    assert not (tmp_path / "d").exists()
