#!/usr/bin/env python3
"""referee: Strom against another Kafka-compatible broker, same workloads, alternating runs.

A measurement tool, not part of Strom; no test runs it. It drives the workloads with Strom's own
benchmark command (`strom perf produce|consume`, librdkafka through confluent-kafka) and, for the
latency workloads, a rate-limited producer of its own that keeps every record's latency. Around
each phase it reads the broker process's CPU time (utime + stime from /proc/PID/stat) and, at the
end, its peak resident memory (VmHWM from /proc/PID/status), so it runs on Linux.

    .venv/bin/python bench/referee.py                               # Strom alone (started here)
    .venv/bin/python bench/referee.py --peer 127.0.0.1:9092 --peer-pid PID --runs 3
    .venv/bin/python bench/referee.py --quick --workload small-acks1

Strom is started by the script (`strom serve` on 127.0.0.1, an ephemeral port, a fresh data
directory under /tmp/strom-referee-*, removed at the end) unless --strom/--strom-pid name a
running one. The peer (Tansu, Apache Kafka, ...) is started by you, on the same machine, and
named by its bootstrap address and process id. With --runs N every workload runs N times per
broker, alternating which goes first; the table shows medians and Strom/peer ratios (for
broker_cpu_s and latency a ratio below 1 favours Strom).

Workloads (--quick divides the record counts by 10):

    small-acks1           3,000,000 x 100 B, 1 partition, acks=1
    small-acksall-6p-lz4  3,000,000 x 100 B, 6 partitions, lz4, acks=all
    1KiB-acksall          600,000 x 1 KiB, 1 partition, acks=all
    latency-5k-linger0    5,000 records/s x 100 B for 10 s, linger.ms=0, acks=all
    latency-30k-linger0   30,000 records/s x 100 B for 10 s, linger.ms=0, acks=all

Throughput workloads: `strom perf produce` (linger.ms=5, batch.size=1000000) then
`strom perf consume` of the same records by a fresh group; the consume figures are the fetch
rates (first to last record, so a broker's initial rebalance delay does not count).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

STROM = Path(sys.executable).with_name("strom")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Workload:
    name: str
    records: int
    size: int
    acks: str = "1"
    partitions: int = 1
    compression: str = "none"
    rate: int = -1  # records/s for the latency workloads


WORKLOADS = [
    Workload("small-acks1", 3_000_000, 100, acks="1"),
    Workload("small-acksall-6p-lz4", 3_000_000, 100, acks="all", partitions=6, compression="lz4"),
    Workload("1KiB-acksall", 600_000, 1024, acks="all"),
    Workload("latency-5k-linger0", 50_000, 100, acks="all", rate=5_000),
    Workload("latency-30k-linger0", 300_000, 100, acks="all", rate=30_000),
]


@dataclass
class Broker:
    label: str
    bootstrap: str
    pid: int

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def vm_hwm_mb(self) -> float:
        match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{self.pid}/status").read_text(), re.M)
        return int(match.group(1)) / 1024 if match else float("nan")


def start_strom() -> tuple[Broker, subprocess.Popen, Path]:
    data = Path(tempfile.mkdtemp(prefix="strom-referee-"))
    proc = subprocess.Popen([str(STROM), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data / "data"),
                             "--override", "group.initial.rebalance.delay.ms=0"],
                            stdout=subprocess.PIPE, stderr=open(data / "strom.log", "wb"), text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"broker ready on ([\d.]+):(\d+)", line)
    if not match:
        proc.kill()
        sys.exit(f"referee: strom did not start: {line!r}; see {data / 'strom.log'}")
    return Broker("Strom", f"{match.group(1)}:{match.group(2)}", proc.pid), proc, data


def perf(broker: Broker, *args: str) -> dict:
    out = subprocess.run([str(STROM), "perf", *args, "--bootstrap-server", broker.bootstrap, "--format", "json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"referee: strom perf {' '.join(args)} against {broker.label} failed: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def throughput(broker: Broker, w: Workload, records: int) -> dict[str, float]:
    topic = f"referee-{w.name}-{uuid.uuid4().hex[:8]}"
    cpu = broker.cpu_s()
    produced = perf(broker, "produce", "--topic", topic, "--num-records", str(records), "--record-size",
                    str(w.size), "--acks", w.acks, "--compression", w.compression, "--partitions", str(w.partitions))
    produce_cpu = broker.cpu_s() - cpu
    cpu = broker.cpu_s()
    consumed = perf(broker, "consume", "--topic", topic, "--messages", str(records))
    consume_cpu = broker.cpu_s() - cpu
    return {"produce.records_per_s": produced["records_per_s"], "produce.MB_per_s": produced["mb_per_s"],
            "consume.records_per_s": consumed["fetch_records_per_s"], "consume.MB_per_s": consumed["fetch_mb_per_s"],
            "produce.broker_cpu_s": produce_cpu, "consume.broker_cpu_s": consume_cpu}


def latency(broker: Broker, w: Workload, records: int) -> dict[str, float]:
    """Produce ``records`` at ``w.rate`` records/s with linger.ms=0; every record's latency
    (librdkafka's Message.latency(): from produce() to the broker's acknowledgement)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"referee-{w.name}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, w.partitions, 1)])[topic].result(30)
    latencies: list[float] = []
    errors: list[object] = []

    def on_delivery(err, msg) -> None:
        if err is not None:
            errors.append(err)
        else:
            latencies.append(msg.latency() * 1000)

    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "acks": w.acks})
    value = b"x" * w.size
    cpu = broker.cpu_s()
    started = time.monotonic()
    for i in range(records):
        due = started + i / w.rate
        while (now := time.monotonic()) < due:
            p.poll(min(due - now, 0.001))
        p.produce(topic, value, on_delivery=on_delivery)
        p.poll(0)
    p.flush(60)
    produce_cpu = broker.cpu_s() - cpu
    if errors:
        sys.exit(f"referee: {len(errors)} delivery errors against {broker.label}, e.g. {errors[0]}")
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))]

    return {"latency.p50_ms": pct(0.5), "latency.p99_ms": pct(0.99), "produce.broker_cpu_s": produce_cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", metavar="HOST:PORT", help="bootstrap address of the broker to compare with")
    parser.add_argument("--peer-pid", type=int, help="process id of that broker (for CPU and memory)")
    parser.add_argument("--peer-name", default="peer", help="its name in the table (default: peer)")
    parser.add_argument("--strom", metavar="HOST:PORT", help="a running Strom instead of starting one")
    parser.add_argument("--strom-pid", type=int, help="process id of that Strom")
    parser.add_argument("--runs", type=int, default=1, help="runs per workload and broker (default 1)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the records")
    parser.add_argument("--workload", action="append", choices=[w.name for w in WORKLOADS],
                        help="run only these (repeatable)")
    args = parser.parse_args()
    if bool(args.peer) != bool(args.peer_pid) or bool(args.strom) != bool(args.strom_pid):
        parser.error("--peer needs --peer-pid and --strom needs --strom-pid")

    proc = data = None
    if args.strom:
        strom = Broker("Strom", args.strom, args.strom_pid)
    else:
        strom, proc, data = start_strom()
    brokers = [Broker(args.peer_name, args.peer, args.peer_pid)] if args.peer else []
    brokers.append(strom)
    try:
        for w in [w for w in WORKLOADS if not args.workload or w.name in args.workload]:
            records = max(w.records // 10, 1000) if args.quick else w.records
            results: dict[str, dict[str, list[float]]] = {b.label: {} for b in brokers}
            for run in range(args.runs):
                for b in brokers if run % 2 == 0 else brokers[::-1]:
                    figures = latency(b, w, records) if w.rate > 0 else throughput(b, w, records)
                    for key, value in figures.items():
                        results[b.label].setdefault(key, []).append(value)
            print(f"== {w.name}" + (f" ({records:,} records)" if args.quick else ""))
            header = "".join(f"{b.label:>14}" for b in brokers) + ("  Strom/peer" if len(brokers) > 1 else "")
            print(f"{'':32}{header}")
            for key in results[strom.label]:
                medians = [statistics.median(results[b.label][key]) for b in brokers]
                row = "".join(f"{m:>14.3f}" if m < 100 else f"{m:>14.0f}" for m in medians)
                if len(brokers) > 1:
                    row += f"  {medians[1] / medians[0]:.2f}" if medians[0] else "  -"
                print(f"{key:32}{row}")
        print("== peak RSS (VmHWM)")
        for b in brokers:
            print(f"{b.label:32}{b.vm_hwm_mb():>14.0f} MB")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
