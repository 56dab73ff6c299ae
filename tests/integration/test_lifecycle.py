"""Starting and stopping as operators do it (docs/operations.md).

SIGTERM in the middle of a busy produce is still a quick clean exit and keeps
every acknowledged record; SIGINT too; metadata changes acknowledged just
before a crash survive it; missing or corrupt indexes and a corrupt tail are
repaired at start-up; a second node on the same data dir with another node.id,
or on a port already taken, fails fast instead of hanging.
"""
from __future__ import annotations

import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from conftest import STROM, Broker

pytestmark = pytest.mark.timeout(120)


def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create_topic(broker, name: str, partitions: int = 1, config: dict | None = None) -> None:
    a = admin(broker)
    a.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(10)


def produce(broker, topic: str, values, **kw) -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "batch.num.messages": 20})
    for v in values:
        p.produce(topic, value=v, **kw)
        p.poll(0)
    assert p.flush(20) == 0


def read(broker, topic: str, expected: int, start: int = 0) -> list:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 50})
    c.assign([TopicPartition(topic, 0, start)])
    out: list = []
    deadline = time.monotonic() + 20
    while len(out) < expected and time.monotonic() < deadline:
        out.extend(m for m in c.consume(1000, 0.3) if m.error() is None)
    c.close()
    return out


def watermarks(broker, topic: str) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def test_sigterm_during_busy_produce_keeps_every_acknowledged_record(broker):
    create_topic(broker, "busy")
    acked: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 1,
                      "message.timeout.ms": 3000, "reconnect.backoff.max.ms": 100})
        i = 0
        while not stop.is_set():
            p.produce("busy", value=b"%d" % i, on_delivery=lambda err, msg: err or acked.append(int(msg.value())))
            p.poll(0)
            i += 1
            if i % 100 == 0:
                time.sleep(0.002)
        p.flush(5)

    t = threading.Thread(target=hammer)
    t.start()
    time.sleep(0.7)
    started = time.monotonic()
    broker.stop(timeout=10)  # asserts exit code 0
    elapsed = time.monotonic() - started
    stop.set()
    t.join()
    assert elapsed < 5, f"SIGTERM under load took {elapsed:.1f}s"
    assert acked, "nothing was acknowledged"
    broker.start()
    lo, hi = watermarks(broker, "busy")
    stored = [int(m.value()) for m in read(broker, "busy", hi)]
    assert len(stored) == hi
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged records lost by a clean shutdown, e.g. {sorted(missing)[:5]}"


def test_sigint_is_a_clean_stop_too(broker):
    create_topic(broker, "int")
    produce(broker, "int", [b"x"] * 10)
    broker.proc.send_signal(signal.SIGINT)
    code = broker.proc.wait(10)
    broker.cleanup()
    assert code in (0, 130), f"exit code {code} after SIGINT"
    assert (broker.data_dir / ".kafka_cleanshutdown").exists(), "no clean-shutdown marker after SIGINT"
    broker.start()
    assert watermarks(broker, "int") == (0, 10)


def test_metadata_acknowledged_before_a_crash_survives_it(broker):
    create_topic(broker, "made", 3, {"retention.ms": "4444444"})
    create_topic(broker, "doomed")
    a = admin(broker)
    res = ConfigResource(ConfigResource.Type.TOPIC, "made", incremental_configs=[
        ConfigEntry("max.message.bytes", "77777", incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([res])[res].result(10)
    a.delete_topics(["doomed"])["doomed"].result(10)
    del a
    broker.kill9()
    broker.start()
    a = admin(broker)
    topics = a.list_topics(timeout=5).topics
    assert "doomed" not in topics
    assert len(topics["made"].partitions) == 3
    key = ConfigResource(ConfigResource.Type.TOPIC, "made")
    cfg = a.describe_configs([key])[key].result(10)
    assert cfg["retention.ms"].value == "4444444" and cfg["max.message.bytes"].value == "77777"
    produce(broker, "made", [b"ok"], partition=2)


def test_missing_and_corrupt_indexes_are_rebuilt(broker):
    create_topic(broker, "idx", config={"internal.segment.bytes": "20000"})
    produce(broker, "idx", [b"%05d" % i + b"-" * 200 for i in range(400)])
    broker.stop()
    part = broker.partition_dir("idx")
    logs = sorted(part.glob("*.log"))
    assert len(logs) > 2
    for f in part.glob("*.index"):
        f.unlink()
    for f in part.glob("*.timeindex"):
        f.write_bytes(b"\xff" * 24)  # nonsense entries
    broker.start()
    assert watermarks(broker, "idx") == (0, 400)
    got = read(broker, "idx", 100, start=300)  # an offset deep in a later segment needs the index
    assert [m.offset() for m in got] == list(range(300, 400))
    assert [m.value()[:5] for m in got] == [b"%05d" % i for i in range(300, 400)]
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    first_ts = got[0].timestamp()[1]
    found = c.offsets_for_times([TopicPartition("idx", 0, first_ts)], timeout=10)
    c.close()
    assert found[0].offset <= 300 and found[0].offset >= 0


def test_corrupt_last_batch_is_truncated_at_recovery(broker):
    create_topic(broker, "rot")
    produce(broker, "rot", [b"%d" % i for i in range(100)])
    produce(broker, "rot", [b"last-batch-" + b"z" * 500])
    broker.kill9()
    seg = broker.partition_dir("rot") / "00000000000000000000.log"
    data = bytearray(seg.read_bytes())
    data[-100] ^= 0xFF  # inside the last batch's records: its CRC no longer matches
    seg.write_bytes(bytes(data))
    broker.start()
    lo, hi = watermarks(broker, "rot")
    assert (lo, hi) == (0, 100), "recovery should cut the log at the corrupt batch"
    produce(broker, "rot", [b"after"])
    got = read(broker, "rot", 101)
    assert [m.value() for m in got] == [b"%d" % i for i in range(100)] + [b"after"]


def test_port_already_in_use_fails_fast(broker, tmp_path):
    other = Broker(tmp_path / "other", tmp_path / "other.log")
    other.port = broker.port
    started = time.monotonic()
    proc = subprocess.run(other.command(), capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "broker ready" not in proc.stdout
    assert time.monotonic() - started < 15
    assert f"cannot listen on 127.0.0.1:{broker.port}" in proc.stderr and "Traceback" not in proc.stderr, \
        proc.stderr[-2000:]
    assert broker.alive


def test_data_dir_that_is_a_file_is_refused_with_a_message(tmp_path):
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("hello")
    proc = subprocess.run([str(STROM), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(not_a_dir)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "broker ready" not in proc.stdout
    assert "it exists and is not a directory" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not_a_dir.read_text() == "hello"


def test_second_node_id_on_the_same_data_dir_is_refused(broker):
    broker.stop()
    proc = subprocess.run([str(STROM), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(broker.data_dir),
                           "--override", "node.id=7"], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "broker ready" not in proc.stdout
    assert "node.id" in proc.stderr, proc.stderr[-2000:]
    broker.start()


def test_two_processes_on_one_data_dir(broker):
    """Kafka takes a lock on each log dir (.lock) so a second broker cannot corrupt the first one's data."""
    proc = subprocess.Popen([str(STROM), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(broker.data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_line = proc.stdout.readline()  # the ready line, or EOF when it exits
        assert "broker ready" not in first_line, \
            f"a second broker started on a data dir in use (no lock on the log dir): {first_line.strip()!r}"
        assert proc.wait(10) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert broker.alive
