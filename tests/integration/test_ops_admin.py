"""The admin APIs operations tools call (DescribeLogDirs, AlterReplicaLogDirs,
DescribeTopicPartitions, ListConfigResources) through kafka-python's KafkaAdminClient, and
``strom log-dirs describe``, against a real broker; data written with confluent-kafka.

confluent-kafka 2.16 binds none of these APIs (its describe_topics sends Metadata), so it only
writes the records whose sizes are checked here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import errors as Errors
from kafka.admin import KafkaAdminClient
from kafka.structs import TopicPartitionReplica

from conftest import unique

STROM = str(Path(sys.executable).with_name("strom"))
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def admin(shared_broker):
    client = KafkaAdminClient(bootstrap_servers=shared_broker.bootstrap)
    yield client
    client.close()


def create(broker, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)


def produce(broker, topic: str, partition: int, count: int) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(count):
        producer.produce(topic, value=b"v" * 100 + str(i).encode(), partition=partition)
    assert producer.flush(15) == 0


def segment_bytes(broker, topic: str, partition: int) -> int:
    return sum(f.stat().st_size for f in broker.partition_dir(topic, partition).glob("*.log"))


def test_describe_log_dirs_reports_the_bytes_on_disk(shared_broker, admin):
    topic = unique("sizes")
    create(shared_broker, topic, 2)
    produce(shared_broker, topic, 1, 50)
    [answer] = admin.describe_log_dirs(topic_partitions={topic: [0, 1]})
    assert answer["broker"] == 1
    [log_dir] = answer["log_dirs"]
    assert log_dir["error_code"] == 0
    assert log_dir["log_dir"] == str(shared_broker.data_dir.resolve())
    [entry] = log_dir["topics"]
    sizes = {p["partition_index"]: p["partition_size"] for p in entry["partitions"]}
    assert sizes == {0: 0, 1: segment_bytes(shared_broker, topic, 1)} and sizes[1] > 50 * 100
    assert 0 < log_dir["usable_bytes"] <= log_dir["total_bytes"]
    everything = admin.describe_log_dirs()[0]["log_dirs"][0]["topics"]
    assert {t["name"] for t in everything} >= {topic, "__consumer_offsets"}


def test_alter_replica_log_dirs_moves_nothing_and_says_why(shared_broker, admin):
    topic = unique("move")
    create(shared_broker, topic, 1)
    here = admin.describe_log_dirs()[0]["log_dirs"][0]["log_dir"]
    result = admin.alter_replica_log_dirs({
        TopicPartitionReplica(topic, 0, 1): here,
        TopicPartitionReplica(unique("absent"), 0, 1): here,
    })
    assert sorted((tpr.topic == topic, err) for tpr, err in result.items()) == [
        (False, Errors.UnknownTopicOrPartitionError), (True, Errors.NoError)]
    elsewhere = admin.alter_replica_log_dirs({TopicPartitionReplica(topic, 0, 1): here + "-other"})
    assert list(elsewhere.values()) == [Errors.LogDirNotFoundError]
    assert shared_broker.partition_dir(topic, 0).is_dir()


def test_describe_topic_partitions_pages_with_a_cursor(shared_broker, admin):
    first, second = sorted([unique("page"), unique("page")])
    create(shared_broker, first, 3)
    create(shared_broker, second, 2)
    seen, cursor, requests = [], None, 0
    while True:
        requests += 1
        answer = admin.describe_topic_partitions([second, first], response_partition_limit=2, cursor=cursor)
        for t in answer["topics"]:
            assert t["error_code"] == 0
            seen += [(t["name"], p["partition_index"], p["leader_id"]) for p in t["partitions"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
        assert requests < 10
    assert seen == [(first, 0, 1), (first, 1, 1), (first, 2, 1), (second, 0, 1), (second, 1, 1)]
    assert requests == 3
    missing = admin.describe_topic_partitions([unique("absent")])["topics"][0]
    assert missing["error_code"] == Errors.UnknownTopicOrPartitionError.errno and missing["partitions"] == []


def test_list_config_resources_lists_topics_and_the_broker(shared_broker, admin):
    topic = unique("configs")
    create(shared_broker, topic, 1)
    listed = admin.list_config_resources()
    assert topic in listed["topic"] and listed["broker"] == ["1"]
    assert admin.list_config_resources(resource_types=["BROKER"]) == {"broker": ["1"]}
    with pytest.raises(Errors.UnsupportedVersionError):
        admin.list_config_resources(resource_types=["BROKER_LOGGER"])


def strom(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([STROM, *args], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "NO_COLOR"})


def test_strom_log_dirs_describe_prints_kafkas_json_and_a_table(shared_broker):
    topic = unique("cli")
    create(shared_broker, topic, 2)
    produce(shared_broker, topic, 0, 10)
    bs = ["--bootstrap-server", shared_broker.bootstrap]
    done = strom("log-dirs", "describe", *bs, "--topic-list", topic)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["version"] == 1 and [b["broker"] for b in out["brokers"]] == [1]
    [log_dir] = out["brokers"][0]["logDirs"]
    assert log_dir["logDir"] == str(shared_broker.data_dir.resolve()) and log_dir["error"] is None
    assert log_dir["partitions"] == [
        {"partition": f"{topic}-0", "size": segment_bytes(shared_broker, topic, 0), "offsetLag": 0, "isFuture": False},
        {"partition": f"{topic}-1", "size": 0, "offsetLag": 0, "isFuture": False}]

    table = strom("log-dirs", "describe", *bs, "--topic-list", topic, "--broker-list", "1", "--format", "text")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["BROKER", "DIR", "TOTAL-BYTES", "USABLE-BYTES", "ERROR"]
    assert int(lines[1].split()[2]) >= int(lines[1].split()[3]) > 0
    assert lines[3].split() == ["BROKER", "DIR", "TOPIC", "PARTITION", "SIZE", "OFFSET-LAG", "IS-FUTURE"]
    assert [line.split()[2:5] for line in lines[4:]] == [
        [topic, "0", str(segment_bytes(shared_broker, topic, 0))], [topic, "1", "0"]]

    wrong = strom("log-dirs", "describe", *bs, "--broker-list", "1,7")
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "The given brokers do not exist from --broker-list: 7" in wrong.stderr
