"""Consumer-group rebalances end to end, with real clients against real Strom processes.

What a user relies on: a member joining mid-stream takes over partitions with
a clean handover (commit-after-process loses nothing and duplicates nothing
beyond records whose commit failed); a member killed with SIGKILL has its
partitions and uncommitted records handed to the survivor after the session
timeout; cooperative-sticky only revokes what moves; a static member that
restarts within its session timeout gets its partitions back without a
rebalance; committed offsets survive a broker restart; malformed group
requests get Kafka's error codes and never take the broker down.

Consumers run one per thread (aiokafka in its own event loop in a thread).
"""
from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.protocol.old.group import (HeartbeatRequest_v0, HeartbeatResponse_v0, JoinGroupRequest_v2,
                                      JoinGroupResponse_v2, SyncGroupRequest_v0, SyncGroupResponse_v0)

from conftest import unique, wait_until
from test_bad_input import connect, frame, header_v1, recv_frame

pytestmark = pytest.mark.timeout(60)

FAST = {"group.initial.rebalance.delay.ms": 0, "group.consumer.session.timeout.ms": 6000,
        "group.consumer.heartbeat.interval.ms": 500}
PARTITIONS = 6
ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID, INVALID_SESSION_TIMEOUT = 22, 23, 25, 26


@pytest.fixture
def gb(strom_factory):
    return strom_factory(FAST)


def create_topic(broker, partitions: int = PARTITIONS) -> str:
    name = unique("rb")
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(name, partitions, 1)])[name].result(10)
    return name


def produce(broker, topic: str, start: int, n: int) -> None:
    """Keyed records whose value is their unique id ``start..start+n-1``."""
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(topic, key=b"key-%d" % i, value=b"%d" % i)
    assert p.flush(10) == 0


def confluent_conf(broker, group: str, protocol: str = "classic", **extra) -> dict:
    conf = {"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "fetch.wait.max.ms": 100}
    if protocol == "classic":
        conf.update({"group.protocol": "classic", "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                     "partition.assignment.strategy": "range"})
    else:
        conf["group.protocol"] = "consumer"
    conf.update(extra)
    return conf


# ---- a member that processes and commits after each batch ------------------------------------------

class Member:
    """Bookkeeping shared by every client flavour.  ``pending`` holds processed, not yet committed
    records per partition; ``at_risk`` every record whose commit failed at least once (the only
    records allowed to be processed twice)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.processed: list[int] = []
        self.pending: dict[int, tuple[int, list[int]]] = {}
        self.at_risk: set[int] = set()
        self.assignment: set[int] = set()
        self.events: list[tuple[str, frozenset]] = []
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.revocations = 0  # bumped by every revoke/lost callback: the in-flight batch is stale

    def process(self, partition: int, offset: int, value: int) -> None:
        with self.lock:
            self.processed.append(value)
            _, values = self.pending.get(partition, (0, []))
            self.pending[partition] = (offset + 1, values + [value])

    def take_pending(self, only: set[int] | None = None) -> dict[int, tuple[int, list[int]]]:
        with self.lock:
            return {p: v for p, v in self.pending.items() if only is None or p in only}

    def committed(self, batch: dict) -> None:
        with self.lock:
            for p, (off, _) in batch.items():
                if p in self.pending and self.pending[p][0] == off:
                    del self.pending[p]

    def failed(self, batch: dict) -> None:
        with self.lock:
            for _, values in batch.values():
                self.at_risk.update(values)

    def drop(self, partitions: set[int]) -> None:
        """Partitions taken away: whatever is still uncommitted there will be redelivered."""
        with self.lock:
            self.revocations += 1
            for p in partitions:
                off_values = self.pending.pop(p, None)
                if off_values:
                    self.at_risk.update(off_values[1])


PROCESS_DELAY = 0.015  # per record: keeps the stream going while the third member joins


def run_confluent(m: Member, conf: dict, topic: str, stop: threading.Event) -> None:
    c = Consumer(conf)

    def flush(only=None):
        batch = m.take_pending(only)
        if not batch:
            return
        try:
            res = c.commit(offsets=[TopicPartition(topic, p, off) for p, (off, _) in batch.items()],
                           asynchronous=False)
            if any(tp.error is not None for tp in res or []):
                raise KafkaException(str([tp.error for tp in res]))
            m.committed(batch)
        except KafkaException as exc:
            m.failures.append(repr(exc))
            m.failed(batch)

    def on_assign(_, parts):
        m.events.append(("assign", frozenset(tp.partition for tp in parts)))

    def on_revoke(_, parts):
        revoked = {tp.partition for tp in parts}
        m.events.append(("revoke", frozenset(revoked)))
        flush(revoked)
        m.drop(revoked)

    def on_lost(_, parts):
        m.events.append(("lost", frozenset(tp.partition for tp in parts)))
        m.drop({tp.partition for tp in parts})

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    try:
        while not stop.is_set():
            batch, gen = c.consume(20, 0.2), m.revocations
            for msg in batch:
                if m.revocations != gen:
                    break  # a rebalance happened: the rest of the batch belongs to the next owner
                if msg.error() is None:
                    m.process(msg.partition(), msg.offset(), int(msg.value()))
                    time.sleep(PROCESS_DELAY)
            flush()
            m.assignment = {tp.partition for tp in c.assignment()}
    finally:
        c.close()


def run_kafka_python(m: Member, bootstrap: str, group: str, topic: str, stop: threading.Event) -> None:
    from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition as KTP
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500,
                      fetch_max_wait_ms=100)

    def flush(only=None):
        batch = m.take_pending(only)
        if not batch:
            return
        try:
            c.commit({KTP(topic, p): OffsetAndMetadata(off, "", -1) for p, (off, _) in batch.items()})
            m.committed(batch)
        except KafkaError as exc:
            m.failures.append(repr(exc))
            m.failed(batch)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            parts = {tp.partition for tp in revoked}
            m.events.append(("revoke", frozenset(parts)))
            flush(parts)
            m.drop(parts)

        def on_partitions_assigned(self, assigned):
            m.events.append(("assign", frozenset(tp.partition for tp in assigned)))

    # Warm the client's metadata first: a kafka-python leader that assigns before it knows the topic
    # rejoins at once, and kafka-python 3.0.12 then sometimes never re-enables its heartbeat thread
    # (seen: no Heartbeat after a successful SyncGroup; the broker expires the member).
    deadline = time.monotonic() + 10
    while not c.partitions_for_topic(topic) and time.monotonic() < deadline:
        time.sleep(0.05)
    c.subscribe([topic], listener=Listener())
    try:
        while not stop.is_set():
            batch, gen = c.poll(timeout_ms=200, max_records=20), m.revocations
            for tp, records in batch.items():
                for r in records:
                    if m.revocations != gen:
                        break  # a rebalance happened: the rest of the batch belongs to the next owner
                    m.process(tp.partition, r.offset, int(r.value))
                    time.sleep(PROCESS_DELAY)
            flush()
            m.assignment = {tp.partition for tp in c.assignment()}
    finally:
        c.close()


def run_aiokafka(m: Member, bootstrap: str, group: str, topic: str, stop: threading.Event) -> None:
    from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition as ATP
    from aiokafka.errors import KafkaError

    async def main():
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500,
                             fetch_max_wait_ms=100)

        async def flush(only=None):
            batch = m.take_pending(only)
            if not batch:
                return
            try:
                await c.commit({ATP(topic, p): off for p, (off, _) in batch.items()})
                m.committed(batch)
            except KafkaError as exc:
                m.failures.append(repr(exc))
                m.failed(batch)

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                parts = {tp.partition for tp in revoked}
                m.events.append(("revoke", frozenset(parts)))
                await flush(parts)
                m.drop(parts)

            async def on_partitions_assigned(self, assigned):
                m.events.append(("assign", frozenset(tp.partition for tp in assigned)))

        await c.start()
        c.subscribe([topic], listener=Listener())
        try:
            while not stop.is_set():
                batch = await c.getmany(timeout_ms=200, max_records=20)
                gen = m.revocations
                for tp, records in batch.items():
                    for r in records:
                        if m.revocations != gen:
                            break  # the rebalance ran concurrently: the rest of the batch is the next owner's
                        m.process(tp.partition, r.offset, int(r.value))
                        await asyncio.sleep(PROCESS_DELAY)
                await flush()
                m.assignment = {tp.partition for tp in c.assignment()}
        finally:
            await c.stop()

    asyncio.run(main())


def start_member(name: str, target, *args) -> Member:
    m = Member(name)

    def body():
        try:
            target(m, *args)
        except BaseException as exc:  # reported by the test
            m.error = exc

    m.thread = threading.Thread(target=body, name=name, daemon=True)
    m.thread.start()
    return m


def split_ok(members: list[Member], n: int = PARTITIONS) -> bool:
    owned = [m.assignment for m in members]
    return all(owned) and sum(map(len, owned)) == n and set().union(*owned) == set(range(n))


CLIENTS = ["confluent-classic", "confluent-kip848", "kafka-python", "aiokafka"]


@pytest.mark.parametrize("client", CLIENTS)
def test_third_member_joins_mid_stream_and_every_record_is_processed_once(gb, client):
    topic, group = create_topic(gb), unique("grp")
    total = 600
    produce(gb, topic, 0, total)
    stop = threading.Event()

    def launch(name):
        if client.startswith("confluent"):
            conf = confluent_conf(gb, group, "classic" if client == "confluent-classic" else "consumer")
            return start_member(name, run_confluent, conf, topic, stop)
        if client == "kafka-python":
            return start_member(name, run_kafka_python, gb.bootstrap, group, topic, stop)
        return start_member(name, run_aiokafka, gb.bootstrap, group, topic, stop)

    members: list[Member] = []
    try:
        members += [launch("c1"), launch("c2")]
        wait_until(lambda: split_ok(members) or any(m.error for m in members), 20)
        wait_until(lambda: sum(len(m.processed) for m in members) >= 60 or any(m.error for m in members), 20)
        before = sum(len(m.processed) for m in members)
        assert before < total, "the stream ended before the third member could join; slow the processing"
        members.append(launch("c3"))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not any(m.error for m in members):
            seen = set().union(*(m.processed for m in members))
            if len(seen) >= total and split_ok(members):
                break
            time.sleep(0.1)
        time.sleep(0.5)  # anything still to be redelivered shows up now
        owned = {m.name: sorted(m.assignment) for m in members}  # before closing triggers rebalances
        final_split = split_ok(members)
    finally:
        stop.set()
        for m in members:
            m.thread.join(15)
    for m in members:
        assert m.error is None, f"{m.name} failed: {m.error!r}"
    assert final_split, f"partitions not owned by exactly one of the 3 members: {owned}"
    everything = [v for m in members for v in m.processed]
    counts = collections.Counter(everything)
    dups = {v for v, n in counts.items() if n > 1}
    at_risk = set().union(*(m.at_risk for m in members))
    missing = set(range(total)) - set(counts)
    print(f"{client}: processed per member { {m.name: len(m.processed) for m in members} }, {before} before c3 "
          f"joined, {len(dups)} duplicates, {len(at_risk)} records had a failed commit, owned {owned}; "
          f"commit errors {collections.Counter(f for m in members for f in m.failures)}")
    assert not missing, f"{len(missing)} records never processed (e.g. {sorted(missing)[:10]}); owned {owned}"
    assert set(counts) == set(range(total))
    assert dups <= at_risk, (f"{len(dups)} duplicates, {len(dups - at_risk)} of them were committed "
                             f"(or never failed to commit) before being redelivered: "
                             f"{sorted(dups - at_risk)[:10]}; processed per member "
                             f"{ {m.name: len(m.processed) for m in members} }")
    assert members[2].processed, (f"the third member never processed anything ({before} records done "
                                  f"before it joined); owned {owned}")


# ---- a member killed with SIGKILL --------------------------------------------------------------------

VICTIM = r'''
import sys
from confluent_kafka import Consumer, TopicPartition
bootstrap, group, topic, protocol, commit_until = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "fetch.wait.max.ms": 100, "group.protocol": protocol}
if protocol == "classic":
    conf.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "partition.assignment.strategy": "range"})
c = Consumer(conf)
c.subscribe([topic])
commits = 0
last = None
while True:
    batch = {}
    for m in c.consume(50, 0.2):
        if m.error() is None:
            print("P", m.partition(), m.offset(), int(m.value()), flush=True)
            batch[m.partition()] = m.offset() + 1
    if batch and commits < commit_until:
        commits += 1
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in batch.items()], asynchronous=False)
        for p, o in batch.items():
            print("C", p, o, flush=True)
    a = sorted(tp.partition for tp in c.assignment())
    if a != last:
        print("A", *a, flush=True)
        last = a
'''


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_killed_member_partitions_and_uncommitted_records_go_to_the_survivor(gb, tmp_path, protocol):
    topic, group = create_topic(gb), unique("kill")
    script = tmp_path / "victim.py"
    script.write_text(VICTIM)
    stop = threading.Event()
    survivor = start_member("survivor", run_confluent, confluent_conf(gb, group, protocol), topic, stop)
    lines: list[list[str]] = []
    proc = None
    try:
        wait_until(lambda: survivor.assignment == set(range(PARTITIONS)) or survivor.error, 20)
        proc = subprocess.Popen([sys.executable, str(script), gb.bootstrap, group, topic, protocol, "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        def reader():
            for line in proc.stdout:
                lines.append(line.split())
        threading.Thread(target=reader, daemon=True).start()

        def victim_owned() -> set[int]:
            owned = [ln[1:] for ln in list(lines) if ln and ln[0] == "A"]
            return {int(p) for p in owned[-1]} if owned else set()

        def split() -> bool:
            v, s = victim_owned(), survivor.assignment
            return bool(v) and bool(s) and not (v & s) and v | s == set(range(PARTITIONS))
        wait_until(lambda: split() or survivor.error, 25)
        assert survivor.error is None
        victim_parts = victim_owned()
        assert victim_parts and not (victim_parts & survivor.assignment)
        total = 300
        produce(gb, topic, 0, total)
        # the victim commits its first batch only, then keeps processing without committing
        wait_until(lambda: len(set(survivor.processed) | {int(ln[3]) for ln in list(lines) if ln[0] == "P"})
                   >= total, 20)
        mark = len(survivor.processed)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        killed_at = time.monotonic()
        wait_until(lambda: survivor.assignment == set(range(PARTITIONS)) or survivor.error, 6 + 12)
        took = time.monotonic() - killed_at
        v_processed = {(int(ln[1]), int(ln[2])): int(ln[3]) for ln in lines if ln[0] == "P"}
        v_committed = {}
        for ln in lines:
            if ln[0] == "C":
                v_committed[int(ln[1])] = int(ln[2])
        uncommitted = {v for (p, off), v in v_processed.items() if off >= v_committed.get(p, 0)}
        assert uncommitted, "the victim committed everything; the test needs uncommitted records"
        wait_until(lambda: uncommitted <= set(survivor.processed[mark:]) or survivor.error, 10)
    finally:
        stop.set()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        survivor.thread.join(15)
    assert survivor.error is None, repr(survivor.error)
    redelivered = set(survivor.processed[mark:])
    assert took < 6 + 8, f"the dead member's partitions moved only after {took:.1f}s"
    assert redelivered == uncommitted, (f"survivor got {len(redelivered)} records after the kill, expected exactly "
                                        f"the victim's {len(uncommitted)} uncommitted ones; extra "
                                        f"{sorted(redelivered - uncommitted)[:10]} missing "
                                        f"{sorted(uncommitted - redelivered)[:10]}")
    seen = set(survivor.processed) | set(v_processed.values())
    assert seen == set(range(total)), f"skipped: {sorted(set(range(total)) - seen)[:10]}"


# ---- cooperative-sticky -----------------------------------------------------------------------------

def test_cooperative_sticky_revokes_only_the_partitions_that_move(gb):
    topic, group = create_topic(gb), unique("coop")
    conf = confluent_conf(gb, group, "classic", **{"partition.assignment.strategy": "cooperative-sticky"})
    stop = threading.Event()
    c1 = start_member("c1", run_confluent, conf, topic, stop)
    c2 = None
    try:
        wait_until(lambda: c1.assignment == set(range(PARTITIONS)) or c1.error, 20)
        assert c1.error is None
        c2 = start_member("c2", run_confluent, conf, topic, stop)

        def settled():
            return split_ok([c1, c2]) and len(c1.assignment) == len(c2.assignment) == PARTITIONS // 2
        wait_until(lambda: settled() or c1.error or c2.error, 25)
        time.sleep(1.5)  # any further (wrong) rebalance shows up now
        kept, moved, events = set(c1.assignment), set(c2.assignment), list(c1.events)  # before close revokes
    finally:
        stop.set()
        for m in (c1, c2):
            if m:
                m.thread.join(15)
    assert c1.error is None and c2.error is None, (c1.error, c2.error)
    assert kept and moved and not (kept & moved) and kept | moved == set(range(PARTITIONS)), (kept, moved)
    revoked = set().union(*(p for kind, p in events if kind in ("revoke", "lost")))
    assert not (revoked & kept), f"c1 revoked partitions it kept: {sorted(revoked & kept)}; events {events}"
    assert revoked == moved, f"c1 revoked {sorted(revoked)}, c2 owns {sorted(moved)}; events {events}"
    assert not [e for e in events if e[0] == "lost"], events


# ---- static membership ------------------------------------------------------------------------------

def test_static_member_restarting_within_session_timeout_causes_no_rebalance(gb):
    topic, group = create_topic(gb), unique("static")

    def conf(instance):
        return confluent_conf(gb, group, "classic", **{"group.instance.id": instance, "session.timeout.ms": 10000})
    stop_a, stop_b = threading.Event(), threading.Event()
    a = start_member("a", run_confluent, conf("inst-a"), topic, stop_a)
    b = b2 = None
    try:
        wait_until(lambda: a.assignment == set(range(PARTITIONS)) or a.error, 20)
        b = start_member("b", run_confluent, conf("inst-b"), topic, stop_b)
        wait_until(lambda: split_ok([a, b]) or a.error or b.error, 25)
        time.sleep(1)
        assert split_ok([a, b]), (a.assignment, b.assignment)
        a_parts, b_parts = set(a.assignment), set(b.assignment)
        a.events.clear()
        stop_b.set()
        b.thread.join(15)
        assert b.error is None, repr(b.error)
        stop_b2 = threading.Event()
        b2 = start_member("b2", run_confluent, conf("inst-b"), topic, stop_b2)
        wait_until(lambda: b2.assignment or b2.error, 9)
        time.sleep(2)  # a rebalance caused by the restart would reach a by now
        a_events = list(a.events)
        b2_parts = set(b2.assignment)
    finally:
        stop_a.set()
        for m in (a, b2):
            if m:
                if m is b2:
                    stop_b2.set()
                m.thread.join(15)
    assert a.error is None and b2.error is None, (a.error, b2.error)
    assert a_events == [], f"the other member saw a rebalance: {a_events}"
    assert a.assignment == a_parts
    assert b2_parts == b_parts, f"restarted static member got {sorted(b2_parts)}, had {sorted(b_parts)}"


# ---- broker restart ---------------------------------------------------------------------------------

def test_group_resumes_from_committed_offsets_after_broker_restart(gb):
    topic, group = create_topic(gb, 3), unique("rst")
    produce(gb, topic, 0, 90)
    conf = confluent_conf(gb, group, "classic")
    c = Consumer(conf)
    c.subscribe([topic])
    done: dict[int, list[tuple[int, int]]] = collections.defaultdict(list)
    deadline = time.monotonic() + 20
    while sum(map(len, done.values())) < 40 and time.monotonic() < deadline:
        for m in c.consume(10, 0.2):
            if m.error() is None:
                done[m.partition()].append((m.offset(), int(m.value())))
    assert sum(map(len, done.values())) >= 40
    res = c.commit(offsets=[TopicPartition(topic, p, recs[-1][0] + 1) for p, recs in done.items()],
                   asynchronous=False)
    assert all(tp.error is None for tp in res)
    c.close()
    processed = {v for recs in done.values() for _, v in recs}
    gb.restart()
    produce(gb, topic, 90, 30)
    expected = set(range(120)) - processed
    c = Consumer(conf)
    c.subscribe([topic])
    got: list[int] = []
    try:
        deadline = time.monotonic() + 25
        while len(got) < len(expected) and time.monotonic() < deadline:
            got += [int(m.value()) for m in c.consume(50, 0.2) if m.error() is None]
        end = time.monotonic() + 1
        while time.monotonic() < end:  # nothing more arrives
            got += [int(m.value()) for m in c.consume(50, 0.2) if m.error() is None]
    finally:
        c.close()
    reread = set(got) & processed
    assert not reread, f"{len(reread)} committed records were read again"
    assert set(got) == expected, f"skipped {sorted(expected - set(got))[:10]}"
    assert len(got) == len(expected), "a record was delivered twice"


# ---- bad group input over raw sockets -----------------------------------------------------------------

def rpc(s: socket.socket, req, resp_cls, cid: int):
    s.sendall(frame(header_v1(req.API_KEY, req.API_VERSION, cid) + req.encode()))
    body = recv_frame(s)
    assert struct.unpack(">i", body[:4])[0] == cid
    return resp_cls.decode(body[4:])


def join(group: str, session_ms: int = 6000, protocols=(("range", b"\x00\x00"),), member: str = ""):
    return JoinGroupRequest_v2(group_id=group, session_timeout_ms=session_ms, rebalance_timeout_ms=6000,
                               member_id=member, protocol_type="consumer", protocols=list(protocols))


def assert_serving(broker) -> None:
    assert broker.alive, f"broker died; log tail:\n{broker.log_tail()}"
    topic = create_topic(broker, 1)
    produce(broker, topic, 0, 3)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique("chk"),
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 3 and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append(int(m.value()))
    c.close()
    assert got == [0, 1, 2]


def test_bad_group_requests_get_kafka_error_codes(gb):
    with connect(gb) as s:
        s.settimeout(15)
        r = rpc(s, join(unique("bad"), protocols=()), JoinGroupResponse_v2, 1)
        assert r.error_code == INCONSISTENT_GROUP_PROTOCOL, r
        for i, timeout in enumerate((1, 10 ** 9)):
            r = rpc(s, join(unique("bad"), session_ms=timeout), JoinGroupResponse_v2, 2 + i)
            assert r.error_code == INVALID_SESSION_TIMEOUT, (timeout, r)

        group = unique("hb")
        r = rpc(s, join(group), JoinGroupResponse_v2, 10)
        assert r.error_code == 0, r
        gen, me = r.generation_id, r.member_id
        assert r.leader == me
        r = rpc(s, SyncGroupRequest_v0(group_id=group, generation_id=gen, member_id=me,
                                       assignments=[(me, b"\x00\x00")]), SyncGroupResponse_v0, 11)
        assert r.error_code == 0, r
        r = rpc(s, HeartbeatRequest_v0(group_id=group, generation_id=gen, member_id=me), HeartbeatResponse_v0, 12)
        assert r.error_code == 0, r
        r = rpc(s, HeartbeatRequest_v0(group_id=group, generation_id=gen + 7, member_id=me),
                HeartbeatResponse_v0, 13)
        assert r.error_code == ILLEGAL_GENERATION, r
        r = rpc(s, HeartbeatRequest_v0(group_id=group, generation_id=gen, member_id="nobody"),
                HeartbeatResponse_v0, 14)
        assert r.error_code == UNKNOWN_MEMBER_ID, r

        # oversized assignment (4 MiB) from the leader, and oversized protocol metadata
        big = unique("big")
        r = rpc(s, join(big), JoinGroupResponse_v2, 20)
        assert r.error_code == 0, r
        r = rpc(s, SyncGroupRequest_v0(group_id=big, generation_id=r.generation_id, member_id=r.member_id,
                                       assignments=[(r.member_id, b"\x01" * (4 << 20))]),
                SyncGroupResponse_v0, 21)
        assert r.error_code != 0 or len(r.assignment) == 4 << 20, (r.error_code, len(r.assignment))
        r = rpc(s, join(unique("bigmeta"), protocols=[("range", b"\x02" * (4 << 20))]), JoinGroupResponse_v2, 22)
        assert r.error_code != 0 or r.members, r.error_code
        # the same connection still works
        r = rpc(s, HeartbeatRequest_v0(group_id=group, generation_id=gen, member_id=me), HeartbeatResponse_v0, 23)
        assert r.error_code == 0, r
    assert_serving(gb)
