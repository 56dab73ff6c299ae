"""The strom command against a real broker: topic admin, produce and consume through stdin/stdout."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

STROM = str(Path(sys.executable).with_name("strom"))


def strom(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([STROM, *args], input=input, capture_output=True, text=True, timeout=60)


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


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
def test_kcat_round_trip(broker):
    produced = subprocess.run(["kcat", "-b", broker.bootstrap, "-P", "-t", "kc", "-K:"], input="a:1\nb:2\n",
                              capture_output=True, text=True, timeout=30)
    assert produced.returncode == 0, produced.stderr
    consumed = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", "kc", "-e", "-f", "%k=%s\\n"],
                              capture_output=True, text=True, timeout=30)
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == ["a=1", "b=2"]
    listing = subprocess.run(["kcat", "-b", broker.bootstrap, "-L"], capture_output=True, text=True, timeout=30)
    assert "topic \"kc\"" in listing.stdout
