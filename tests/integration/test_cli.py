"""The strom command against a real broker: topic admin, produce and consume through stdin/stdout,
exit codes and messages as docs/cli.md promises them; kcat when it is installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import unique

STROM = str(Path(sys.executable).with_name("strom"))


def _cli_available() -> bool:
    try:
        return subprocess.run([STROM, "topic", "--help"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not _cli_available(), reason="`strom topic --help` fails: the CLI is not there yet")]


def strom(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([STROM, *args], input=input, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_topic_produce_consume_round_trip(broker):
    bs = ["--bootstrap-server", broker.bootstrap]
    assert strom("topic", "create", "--topic", "cli", "--partitions", "2", "--config", "retention.ms=60000",
                 *bs).returncode == 0
    listed = strom("topic", "list", *bs)
    assert "cli" in listed.stdout.split()
    described = strom("topic", "describe", "--topic", "cli", *bs)
    assert "PartitionCount: 2" in described.stdout and "retention.ms=60000" in described.stdout
    as_json = json.loads(strom("topic", "describe", "--topic", "cli", "--format", "json", *bs).stdout)
    assert "cli" in json.dumps(as_json)
    again = strom("topic", "create", "--topic", "cli", *bs)
    assert again.returncode == 1 and "TOPIC_ALREADY_EXISTS" in again.stderr + again.stdout

    lines = [f"k{i}:value {i}" for i in range(20)]
    assert strom("produce", "--topic", "cli", "--key-separator", ":", *bs, input="\n".join(lines) + "\n").returncode == 0
    out = strom("consume", "--topic", "cli", "--from-beginning", "--max-messages", "20", "--timeout-ms", "10000",
                "--print-key", "--key-separator", ":", *bs)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.splitlines()) == sorted(lines)

    assert strom("topic", "alter", "--topic", "cli", "--partitions", "3", *bs).returncode == 0
    assert "PartitionCount: 3" in strom("topic", "describe", "--topic", "cli", *bs).stdout
    assert strom("topic", "delete", "--topic", "cli", *bs).returncode == 0
    assert "cli" not in strom("topic", "list", *bs).stdout.split()


def test_topic_messages_exit_codes_and_json(shared_broker):
    bs = ["--bootstrap-server", shared_broker.bootstrap]
    t = unique("clit")
    created = strom("topic", "create", "--topic", t, "--partitions", "3", "--config", "retention.ms=1000", *bs)
    assert (created.returncode, created.stdout.strip()) == (0, f"Created topic {t}."), created.stderr
    dup = strom("topic", "create", "--topic", t, *bs)
    assert dup.returncode == 1 and dup.stderr.startswith("Error: TOPIC_ALREADY_EXISTS:"), dup.stderr
    assert strom("topic", "create", "--topic", t, "--if-not-exists", *bs).returncode == 0

    listed = json.loads(strom("topic", "list", "--format", "json", *bs).stdout)
    assert {"name": t, "partitions": 3, "replicas": 1}.items() <= next(x for x in listed if x["name"] == t).items()
    [desc] = json.loads(strom("topic", "describe", "--topic", t, "--format", "json", *bs).stdout)
    assert desc["name"] == t and desc["partition_count"] == 3 and desc["replication_factor"] == 1
    assert desc["configs"] == {"retention.ms": "1000"} and desc["internal"] is False
    assert [(p["partition"], p["leader"], p["replicas"], p["isr"]) for p in desc["partitions"]] == \
        [(i, 1, [1], [1]) for i in range(3)]
    text = strom("topic", "describe", "--topic", t, *bs).stdout.splitlines()
    assert text[0].startswith(f"Topic: {t}\tTopicId: ") and "\tPartitionCount: 3\tReplicationFactor: 1\t" in text[0]
    assert text[1] == f"\tTopic: {t}\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1"

    altered = strom("topic", "alter", "--topic", t, "--add-config", "max.message.bytes=50000", *bs)
    assert altered.returncode == 0 and f"Completed updating config for topic {t}." in altered.stdout
    shrink = strom("topic", "alter", "--topic", t, "--partitions", "2", *bs)
    assert shrink.returncode == 1 and "INVALID_PARTITIONS" in shrink.stderr

    deleted = strom("topic", "delete", "--topic", t, *bs)
    assert (deleted.returncode, deleted.stdout.strip()) == (0, f"Deleted topic {t}.")
    gone = strom("topic", "delete", "--topic", t, *bs)
    assert gone.returncode == 1 and gone.stderr.startswith("Error: UNKNOWN_TOPIC_OR_PARTITION:"), gone.stderr
    assert strom("topic", "delete", "--topic", t, "--if-exists", *bs).returncode == 0


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_options(shared_broker, codec):
    bs = ["--bootstrap-server", shared_broker.bootstrap]
    t = unique("clip")
    assert strom("topic", "create", "--topic", t, "--partitions", "2", *bs).returncode == 0
    lines = ["first", "", "with\ttab", "ünïcödé", "last"]
    produced = strom("produce", "--topic", t, "--partition", "1", "--compression", codec, "--acks", "1", *bs,
                     input="\r\n".join(lines) + "\r\n")
    assert produced.returncode == 0, produced.stderr
    out = strom("consume", "--topic", t, "--partition", "1", "--offset", "1", "--max-messages", "4",
                "--timeout-ms", "10000", "--print-partition", "--print-offset", "--print-key", *bs)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"Partition:1\tOffset:{i}\tnull\t{v}" for i, v in enumerate(lines) if i >= 1]
    assert "Processed a total of 4 messages" in out.stderr
    ts = strom("consume", "--topic", t, "--from-beginning", "--max-messages", "1", "--timeout-ms", "10000",
               "--print-timestamp", *bs)
    stamp, value = ts.stdout.rstrip("\n").split("\t")
    assert value == "first" and stamp.startswith("CreateTime:")
    assert abs(int(stamp.split(":")[1]) - time.time() * 1000) < 120_000


def test_consume_timeout_and_unknown_topic(shared_broker):
    bs = ["--bootstrap-server", shared_broker.bootstrap]
    t = unique("clie")
    assert strom("topic", "create", "--topic", t, *bs).returncode == 0
    started = time.monotonic()
    empty = strom("consume", "--topic", t, "--from-beginning", "--timeout-ms", "1500", *bs)
    assert empty.returncode == 0 and empty.stdout == "" and time.monotonic() - started < 15
    assert "Processed a total of 0 messages" in empty.stderr
    missing = strom("consume", "--topic", unique("nope"), "--from-beginning", "--timeout-ms", "3000", *bs)
    assert missing.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in missing.stderr, missing.stderr


def test_produce_line_without_separator_flushes_earlier_lines_and_fails(shared_broker):
    bs = ["--bootstrap-server", shared_broker.bootstrap]
    t = unique("clis")
    assert strom("topic", "create", "--topic", t, *bs).returncode == 0
    bad = strom("produce", "--topic", t, "--key-separator", ":", *bs, input="a:1\nb:2\nno separator\nc:3\n")
    assert bad.returncode == 1 and bad.stderr.startswith("Error: INVALID_RECORD:"), bad.stderr
    out = strom("consume", "--topic", t, "--from-beginning", "--timeout-ms", "2000", "--key-separator", "=", *bs)
    assert out.stdout.splitlines() == ["a=1", "b=2"]


def test_bootstrap_from_the_environment(shared_broker):
    t = unique("clienv")
    created = strom("topic", "create", "--topic", t, env={"STROM_BOOTSTRAP_SERVERS": shared_broker.bootstrap})
    assert created.returncode == 0, created.stderr
    assert t in strom("topic", "list", env={"STROM_BOOTSTRAP_SERVERS": shared_broker.bootstrap}).stdout.split()


def test_unreachable_broker_fails_within_the_timeout():
    started = time.monotonic()
    res = strom("topic", "list", "--bootstrap-server", "127.0.0.1:1", "--timeout-ms", "2000", timeout=30)
    assert res.returncode == 1 and res.stderr.startswith("Error: _"), res.stderr
    assert time.monotonic() - started < 15


def test_serve_rejects_bad_settings_with_exit_2(tmp_path):
    res = strom("serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                "--override", "log.retention.hourz=1", timeout=30)
    assert res.returncode == 2 and "log.retention.hours" in res.stderr, res.stderr
    res = strom("serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                "--override", "num.partitions=lots", timeout=30)
    assert res.returncode == 2 and "num.partitions" in res.stderr, res.stderr
    assert "broker ready" not in res.stdout


KCAT = shutil.which("kcat")
needs_kcat = pytest.mark.skipif(KCAT is None, reason="kcat is not installed")


def kcat(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([KCAT, *args], input=input, capture_output=True, text=True, timeout=30)


@needs_kcat
def test_kcat_round_trip(broker):
    produced = kcat("-b", broker.bootstrap, "-P", "-t", "kc", "-K:", input="a:1\nb:2\n")
    assert produced.returncode == 0, produced.stderr
    consumed = kcat("-b", broker.bootstrap, "-C", "-t", "kc", "-e", "-f", "%k=%s\\n")
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == ["a=1", "b=2"]
    listing = kcat("-b", broker.bootstrap, "-L")
    assert "topic \"kc\"" in listing.stdout


@needs_kcat
@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_kcat_compressed_partitioned_offsets_and_listing(shared_broker, codec):
    bs = shared_broker.bootstrap
    t = unique("kcat")
    assert strom("topic", "create", "--topic", t, "--partitions", "3", "--bootstrap-server", bs).returncode == 0
    produced = kcat("-b", bs, "-P", "-t", t, "-p", "2", "-z", codec, "-H", "h1=v1",
                    input="".join(f"m{i}\n" for i in range(20)))
    assert produced.returncode == 0, produced.stderr
    consumed = kcat("-b", bs, "-C", "-t", t, "-p", "2", "-o", "5", "-c", "3", "-e", "-f", "%p:%o:%s:%h\\n")
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == [f"2:{i}:m{i}:h1=v1" for i in (5, 6, 7)]
    listing = kcat("-b", bs, "-L", "-t", t)
    assert f'topic "{t}" with 3 partitions' in listing.stdout, listing.stdout
    assert "partition 2, leader 1, replicas: 1, isrs: 1" in listing.stdout
    empty = kcat("-b", bs, "-C", "-t", t, "-p", "0", "-o", "beginning", "-e")
    assert empty.returncode == 0 and empty.stdout == ""
