"""What a Kafka user types in the first hour, through the ``strom`` command as typed, against a real
broker: the same partition for a key from every client, a quick and clear failure when no broker
listens, Kafka's spellings (``--create``, flags before the verb, ``--property``), no abbreviations,
"did you mean" for misspelt flags and configs, ``strom config`` like kafka-configs.sh, Kafka's form
of the TopicId, and the CLI's client id."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer, TopicCollection
from confluent_kafka.admin import AdminClient
from kafka import KafkaProducer

from conftest import unique, wait_until

STROM = str(Path(sys.executable).with_name("strom"))

pytestmark = pytest.mark.timeout(120)


def strom(*args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([STROM, *args], input=input, capture_output=True, text=True, timeout=timeout,
                          env={k: v for k, v in os.environ.items() if k != "STROM_BOOTSTRAP_SERVERS"})


# ---------------------------------------------------------------------------- 1. partitioner
def test_a_key_lands_on_the_same_partition_from_the_cli_kafka_python_and_librdkafka(shared_broker):
    bs = shared_broker.bootstrap
    t = unique("keyed")
    assert strom("topic", "create", "--topic", t, "--partitions", "6", "--bootstrap-server", bs).returncode == 0
    keys = [f"user:{i}" for i in range(24)]
    produced = strom("produce", "--topic", t, "--key-separator", "|", "--bootstrap-server", bs,
                     input="".join(f"{k}|cli\n" for k in keys))
    assert produced.returncode == 0, produced.stderr
    kp = KafkaProducer(bootstrap_servers=bs)
    for k in keys:
        kp.send(t, key=k.encode(), value=b"kafka-python")
    kp.flush()
    kp.close()
    ck = Producer({"bootstrap.servers": bs, "partitioner": "murmur2_random"})
    for k in keys:
        ck.produce(t, key=k, value="librdkafka")
    assert ck.flush(30) == 0

    out = strom("consume", "--topic", t, "--from-beginning", "--max-messages", str(3 * len(keys)),
                "--timeout-ms", "10000", "--property", "print.partition=true", "--property", "print.key=true",
                "--bootstrap-server", bs)
    assert out.returncode == 0, out.stderr
    partitions: dict[str, dict[str, str]] = {}
    for line in out.stdout.splitlines():
        partition, key, source = line.split("\t")
        partitions.setdefault(key, {})[source] = partition
    assert len(partitions) == len(keys)
    for key, by_source in partitions.items():
        assert len(set(by_source.values())) == 1, f"{key}: {by_source}"
    assert partitions["user:1"]["cli"] == "Partition:2"  # Java's murmur2 (librdkafka's CRC32 says 0)


# ---------------------------------------------------------------------------- 2. no broker
DOWN = "127.0.0.1:1,127.0.0.1:9"  # nothing listens on these ports: connections are refused


@pytest.mark.parametrize("argv", [
    ["topic", "list"],
    ["topic", "describe", "--topic", "t"],
    ["produce", "--topic", "t"],
    ["consume", "--topic", "t"],
    ["group", "list"],
    ["config", "describe", "--entity-type", "brokers", "--entity-default"],
    ["perf", "produce", "--topic", "t", "--num-records", "1", "--record-size", "1"],
], ids=lambda argv: " ".join(argv[:2]))
def test_a_broker_that_is_down_fails_in_seconds_naming_the_addresses(argv):
    # Without the probe these wait 30 s (admin), 120 s (produce) or forever (consume): the
    # subprocess time-out below fails the test.
    res = strom(*argv, "--bootstrap-server", DOWN, input="x\n", timeout=20)
    assert res.returncode == 1, res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("Error: _TRANSPORT: "), res.stderr
    assert "127.0.0.1:1 (connection refused)" in res.stderr and "127.0.0.1:9 (connection refused)" in res.stderr


@pytest.mark.parametrize(("argv", "message"), [
    (["topic", "alter", "--topic", "t"], "nothing to alter"),
    (["consume", "--topic", "t", "--group", "g", "--partition", "0"], "--partition cannot be used with --group"),
    (["config", "describe", "--entity-type", "topics", "--entity-default"], "brokers only"),
    (["topic", "list", "--command-config", "/nonexistent/client.properties"], "cannot read"),
], ids=lambda v: " ".join(v[:2]) if isinstance(v, list) else "")
def test_a_usage_error_is_reported_before_the_broker_is_tried(argv, message):
    res = strom(*argv, "--bootstrap-server", DOWN, timeout=20)
    assert res.returncode == 2 and message in res.stderr, res.stderr


def test_a_broker_that_accepts_but_does_not_answer_keeps_the_configured_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshake; nobody ever answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        res = strom("topic", "list", "--bootstrap-server", f"127.0.0.1:{port}", "--timeout-ms", "3000", timeout=30)
        waited = time.monotonic() - started
    assert res.returncode == 1 and "cannot connect" not in res.stderr, res.stderr
    assert waited >= 2.5  # it waited for the answer as long as it was told to


# ---------------------------------------------------------------------------- 3. Kafka's spellings
def test_kafka_verb_flags_and_flags_before_the_verb(shared_broker):
    bs = shared_broker.bootstrap
    t = unique("spell")
    created = strom("topic", "--create", "--topic", t, "--partitions", "2", "--bootstrap-server", bs)
    assert (created.returncode, created.stdout.strip()) == (0, f"Created topic {t}."), created.stderr
    listed = strom("topic", "--bootstrap-server", bs, "list")
    assert listed.returncode == 0 and t in listed.stdout.split(), listed.stderr
    assert t in strom("topic", "--bootstrap-server", bs, "--list").stdout.split()
    [desc] = json.loads(strom("topic", "--bootstrap-server", bs, "--format", "json", "describe", "--topic", t).stdout)
    assert desc["partition_count"] == 2
    described = strom("topic", "--describe", "--topic", t, "--bootstrap-server", bs)
    assert described.stdout.startswith(f"Topic: {t}\t"), described.stderr
    assert strom("topic", "--topic", t, "--alter", "--partitions", "3", "--bootstrap-server", bs).returncode == 0
    assert "PartitionCount: 3" in strom("topic", "--describe", "--topic", t, "--bootstrap-server", bs).stdout
    assert strom("group", "--bootstrap-server", bs, "--list").returncode == 0
    configs = strom("config", "--bootstrap-server", bs, "--describe", "--entity-type", "topics", "--entity-name", t)
    assert configs.stdout.strip() == f"Dynamic configs for topic {t} are:", configs.stderr
    assert strom("topic", "--delete", "--topic", t, "--bootstrap-server", bs).returncode == 0
    assert t not in strom("topic", "--list", "--bootstrap-server", bs).stdout.split()


def test_console_producer_and_consumer_properties(shared_broker):
    bs = shared_broker.bootstrap
    t = unique("props")
    assert strom("topic", "create", "--topic", t, "--bootstrap-server", bs).returncode == 0
    produced = strom("produce", "--topic", t, "--property", "parse.key=true", "--property", "key.separator=:",
                     "--property", "null.marker=NULL", "--bootstrap-server", bs, input="k1:v1\nk2:NULL\nNULL:v3\n")
    assert produced.returncode == 0, produced.stderr
    p = Producer({"bootstrap.servers": bs})
    p.produce(t, key="k4", value="v4", headers=[("h1", b"x"), ("h2", b"y")])
    assert p.flush(30) == 0
    out = strom("consume", "--topic", t, "--from-beginning", "--max-messages", "4", "--timeout-ms", "10000",
                "--property", "print.key=true", "--property", "print.offset=true", "--property", "print.headers=true",
                "--property", "key.separator=|", "--property", "line.separator=;", "--property", "null.literal=-",
                "--bootstrap-server", bs)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("Offset:0|NO_HEADERS|k1|v1;Offset:1|NO_HEADERS|k2|-;Offset:2|NO_HEADERS|-|v3;"
                          "Offset:3|h1:x,h2:y|k4|v4;")
    values_only = strom("consume", "--topic", t, "--from-beginning", "--max-messages", "1", "--timeout-ms", "10000",
                        "--property", "print.value=false", "--property", "print.key=true", "--bootstrap-server", bs)
    assert values_only.stdout == "k1\n", values_only.stderr

    for command in ("consume", "produce"):
        bad = strom(command, "--topic", t, "--property", "print.keys=true", "--bootstrap-server", bs, input="")
        assert bad.returncode == 2 and f"usage: strom {command}" in bad.stderr, bad.stderr
        assert "unknown property 'print.keys'" in bad.stderr
    switch = strom("consume", "--topic", t, "--property", "print.key=yes", "--bootstrap-server", bs)
    assert switch.returncode == 2 and "print.key takes true or false" in switch.stderr, switch.stderr


# ---------------------------------------------------------------------------- 4, 5. no abbreviations, did you mean
def test_an_abbreviated_flag_is_refused_with_the_verbs_usage_and_a_suggestion(shared_broker):
    bs = shared_broker.bootstrap
    t = unique("abbrev")
    res = strom("topic", "create", "--topic", t, "--partition", "3", "--bootstrap-server", bs)
    assert res.returncode == 2, res.stdout
    assert res.stderr.startswith("usage: strom topic create"), res.stderr
    assert "unrecognized arguments: --partition 3; did you mean --partitions?" in res.stderr
    assert t not in strom("topic", "list", "--bootstrap-server", bs).stdout.split()
    res = strom("consume", "--topic", t, "--from-begining", "--bootstrap-server", bs)
    assert res.returncode == 2 and "usage: strom consume" in res.stderr, res.stderr
    assert "did you mean --from-beginning?" in res.stderr


def test_a_misspelt_config_on_alter_gets_did_you_mean(shared_broker):
    bs = shared_broker.bootstrap
    t = unique("typo")
    assert strom("topic", "create", "--topic", t, "--bootstrap-server", bs).returncode == 0
    created = strom("topic", "create", "--topic", unique("typo"), "--config", "retension.ms=5",
                    "--bootstrap-server", bs)
    assert "did you mean 'retention.ms'?" in created.stderr
    for argv in (["topic", "alter", "--topic", t], ["config", "alter", "--entity-type", "topics", "--entity-name", t]):
        res = strom(*argv, "--add-config", "retension.ms=5", "--bootstrap-server", bs)
        assert res.returncode == 1, res.stdout
        assert res.stderr.strip() == \
            "Error: INVALID_CONFIG: unknown topic setting 'retension.ms'; did you mean 'retention.ms'?"


# ---------------------------------------------------------------------------- 6. strom config
def test_config_describe_and_alter_like_kafka_configs(broker):
    bs = ["--bootstrap-server", broker.bootstrap]
    t = "cfg"
    assert strom("topic", "create", "--topic", t, *bs).returncode == 0

    everything = strom("config", "describe", "--entity-type", "brokers", "--entity-name", "1", "--all", *bs)
    assert everything.returncode == 0, everything.stderr
    lines = everything.stdout.splitlines()
    assert lines[0] == "All configs for broker 1 are:"
    assert "  num.partitions=1 sensitive=false synonyms={DEFAULT_CONFIG:num.partitions=1}" in lines
    names = [line.split("=", 1)[0] for line in lines[1:]]
    assert names == sorted(names) and len(names) > 50
    assert strom("config", "describe", "--entity-type", "brokers", "--entity-name", "1", *bs).stdout == \
        "Dynamic configs for broker 1 are:\n"

    altered = strom("config", "alter", "--entity-type", "brokers", "--entity-default",
                    "--add-config", "log.retention.ms=3600000", *bs)
    assert altered.stdout == "Completed updating default config for brokers in the cluster.\n", altered.stderr
    assert strom("config", "--describe", "--entity-type", "brokers", "--entity-default", *bs).stdout == (
        "Default configs for brokers in the cluster are:\n"
        "  log.retention.ms=3600000 sensitive=false "
        "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000}\n")

    altered = strom("config", "--alter", "--entity-type", "topics", "--entity-name", t,
                    "--add-config", "retention.ms=5000,leader.replication.throttled.replicas=[0:1,1:1]", *bs)
    assert altered.stdout == f"Completed updating config for topic {t}.\n", altered.stderr
    described = strom("config", "describe", "--topic", t, *bs).stdout.splitlines()
    assert described[0] == f"Dynamic configs for topic {t} are:"
    assert described[1] == ("  leader.replication.throttled.replicas=0:1,1:1 sensitive=false "
                            "synonyms={DYNAMIC_TOPIC_CONFIG:leader.replication.throttled.replicas=0:1,1:1}")
    assert described[2].startswith(
        "  retention.ms=5000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=5000")
    assert len(described) == 3

    deleted = strom("config", "alter", "--topic", t, "--delete-config", "retention.ms,leader.replication.throttled.replicas", *bs)
    assert deleted.returncode == 0, deleted.stderr
    [entity] = json.loads(strom("config", "describe", "--topic", t, "--all", "--format", "json", *bs).stdout)
    assert (entity["entity_type"], entity["entity_name"]) == ("topics", t)
    retention = next(c for c in entity["configs"] if c["name"] == "retention.ms")
    assert retention["value"] == "3600000" and retention["source"] == "DYNAMIC_DEFAULT_BROKER_CONFIG"
    assert {"name": "log.retention.ms", "value": "3600000", "source": "DYNAMIC_DEFAULT_BROKER_CONFIG"} in \
        retention["synonyms"]

    missing = strom("config", "describe", "--entity-type", "topics", "--entity-name", "nosuch", *bs)
    assert missing.returncode == 1 and "nosuch" in missing.stderr, missing.stderr
    usage = strom("config", "describe", "--entity-type", "topics", "--entity-default", *bs)
    assert usage.returncode == 2 and "brokers only" in usage.stderr, usage.stderr


# ---------------------------------------------------------------------------- 7, 8. TopicId, messages, client id
def test_topic_id_is_printed_as_kafka_prints_it(shared_broker):
    bs = shared_broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    for _ in range(40):  # until an id whose Kafka form differs from standard base64 (p = 1/2 each)
        t = unique("tid")
        assert strom("topic", "create", "--topic", t, "--bootstrap-server", bs).returncode == 0
        uuid = admin.describe_topics(TopicCollection([t]))[t].result(timeout=30).topic_id
        standard = str(uuid)  # librdkafka: standard base64 alphabet
        if "+" in standard or "/" in standard:
            break
    kafka_form = standard.replace("+", "-").replace("/", "_").rstrip("=")
    first = strom("topic", "describe", "--topic", t, "--bootstrap-server", bs).stdout.splitlines()[0]
    assert f"\tTopicId: {kafka_form}\t" in first
    [desc] = json.loads(strom("topic", "describe", "--topic", t, "--format", "json", "--bootstrap-server", bs).stdout)
    assert desc["topic_id"] == kafka_form and len(kafka_form) == 22


def test_describe_of_a_missing_topic_names_it(shared_broker):
    res = strom("topic", "describe", "--topic", "nosuch", "--bootstrap-server", shared_broker.bootstrap)
    assert (res.returncode, res.stderr) == (1, "Error: UNKNOWN_TOPIC_OR_PARTITION: Topic 'nosuch' does not exist.\n")


def test_cli_consumers_use_client_id_strom_cli(shared_broker):
    bs = shared_broker.bootstrap
    t, g = unique("cid"), unique("cidg")
    assert strom("topic", "create", "--topic", t, "--bootstrap-server", bs).returncode == 0
    consumer = subprocess.Popen([STROM, "consume", "--topic", t, "--group", g, "--max-messages", "1",
                                 "--from-beginning", "--bootstrap-server", bs],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def member_row():
            rows = strom("group", "describe", "--group", g, "--members", "--bootstrap-server", bs).stdout.splitlines()
            return rows[1:] if len(rows) > 1 else None
        [row] = wait_until(member_row, timeout=60, interval=0.5)
        assert row.split()[3] == "strom-cli", row
    finally:
        strom("produce", "--topic", t, "--bootstrap-server", bs, input="bye\n")
        try:
            consumer.wait(30)
        finally:
            consumer.kill()
            consumer.communicate()
