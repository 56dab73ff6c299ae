"""``strom log-dirs describe``: the log directories of brokers and the size of each partition.

Like Apache Kafka's ``kafka-log-dirs.sh --describe``: ``--bootstrap-server``, ``--topic-list
a,b`` (only these topics' partitions), ``--broker-list 0,1`` (only these brokers; default every
broker in the cluster's metadata). The default output is Kafka's JSON on one line::

    {"version":1,"brokers":[{"broker":0,"logDirs":[{"logDir":"/data","error":null,
      "partitions":[{"partition":"t-0","size":123,"offsetLag":0,"isFuture":false}]}]}]}

``--format text`` prints two tables instead: each log directory with the total and usable
bytes of its file system (DescribeLogDirs v4+, ``-`` when the broker does not say), then each
partition with its size.

How: Metadata (the brokers and their addresses) from the first bootstrap server that answers,
then ApiVersions and DescribeLogDirs (the highest version both sides have, at most v4) to each
broker, through the blocking ``strom.client.wire`` client (PLAINTEXT only: confluent-kafka 2.16
has no binding for DescribeLogDirs).

Differences from Kafka's tool (also in docs/cli.md): the "Querying brokers ..." progress lines
go to stderr and only on a terminal, so stdout is only the JSON; a log directory's ``error`` is
Kafka's error name (``KAFKA_STORAGE_ERROR``) rather than a Java exception class name.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any

from strom.cli._common import CLIENT_ID, CliError, admin_verb, bootstrap_addresses, client_config, progress
from strom.cli.group import render_table
from strom.client import wire
from strom.errors import ErrorCode

API_METADATA, API_DESCRIBE_LOG_DIRS, API_API_VERSIONS = 3, 35, 18
METADATA_VERSION, MAX_DESCRIBE_LOG_DIRS_VERSION = 12, 4
DIR_HEADERS = ("BROKER", "DIR", "TOTAL-BYTES", "USABLE-BYTES", "ERROR")
PARTITION_HEADERS = ("BROKER", "DIR", "TOPIC", "PARTITION", "SIZE", "OFFSET-LAG", "IS-FUTURE")


def register(subparsers: Any) -> None:
    noun = subparsers.add_parser("log-dirs", help="describe brokers' log directories (kafka-log-dirs.sh)",
                                 description="Log directories and the size of each partition in them.")
    verbs = noun.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = admin_verb(verbs, "describe", "the log directories of brokers and the size of each partition")
    p.add_argument("--topic-list", type=_names, default=[], metavar="TOPIC[,TOPIC...]",
                   help="only these topics (default: every topic)")
    p.add_argument("--broker-list", type=_broker_ids, default=[], metavar="ID[,ID...]",
                   help="only these brokers (default: every broker)")
    p.add_argument("--format", choices=("json", "text"), default="json",
                   help="Kafka's JSON (default) or tables")
    p.set_defaults(func=run_describe)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _broker_ids(text: str) -> list[int]:
    try:
        return [int(n) for n in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated broker ids, got '{text}'") from None


class _Client:
    """One request per connection through ``strom.client.wire`` until a common deadline."""

    def __init__(self, conf: Mapping[str, Any], timeout_s: float) -> None:
        protocol = str(conf.get("security.protocol", "plaintext")).lower()
        if protocol != "plaintext":
            raise CliError(f"this command speaks PLAINTEXT only, not security.protocol={protocol}", exit_code=2)
        self.bootstrap = bootstrap_addresses(str(conf["bootstrap.servers"]))
        self.client_id = str(conf.get("client.id", CLIENT_ID))
        self.deadline = time.monotonic() + timeout_s
        self.correlation_id = 0

    def call(self, address: tuple[str, int], api_key: int, version: int, data: Mapping[str, Any]) -> Any:
        self.correlation_id += 1
        try:
            return wire.call(address, api_key, version, data, client_id=self.client_id,
                             correlation_id=self.correlation_id, timeout_s=self.deadline - time.monotonic())
        except wire.WireError as exc:
            raise CliError(exc.message, name=exc.name) from None

    def brokers(self) -> dict[int, tuple[str, int]]:
        """Every broker of the cluster (id -> address), from the first bootstrap server that answers."""
        last: CliError | None = None
        for address in self.bootstrap:
            try:
                response = self.call(address, API_METADATA, METADATA_VERSION,
                                     {"topics": [], "allow_auto_topic_creation": False})
            except CliError as exc:
                last = exc
                continue
            return {b.node_id: (b.host, b.port) for b in response.brokers}
        raise last or CliError("no bootstrap server answered", name="_TRANSPORT")

    def describe_log_dirs(self, address: tuple[str, int]) -> Any:
        versions = self.call(address, API_API_VERSIONS, 0, {})
        served = {k.api_key: k for k in versions.api_keys}
        if API_DESCRIBE_LOG_DIRS not in served or served[API_DESCRIBE_LOG_DIRS].max_version < 1:
            raise CliError(f"the broker at {address[0]}:{address[1]} does not serve DescribeLogDirs v1+",
                           name="UNSUPPORTED_VERSION")
        version = min(served[API_DESCRIBE_LOG_DIRS].max_version, MAX_DESCRIBE_LOG_DIRS_VERSION)
        response = self.call(address, API_DESCRIBE_LOG_DIRS, version, {"topics": None})
        error = int(getattr(response, "error_code", 0))
        if error:
            raise CliError(f"DescribeLogDirs failed on {address[0]}:{address[1]}", name=_code_name(error))
        return response


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"UNKNOWN_ERROR_{code}"


def describe(client: _Client, broker_ids: Sequence[int], topics: Sequence[str]) -> list[dict[str, Any]]:
    """Kafka's ``brokers`` list: per broker its log dirs, each with error, total/usable bytes
    (None when unknown) and the partitions of ``topics`` (all when empty)."""
    known = client.brokers()
    missing = [b for b in broker_ids if b not in known]
    if missing:
        raise CliError(f"The given brokers do not exist from --broker-list: {','.join(map(str, missing))}. "
                       f"Current existent brokers: {','.join(map(str, sorted(known)))}")
    wanted = set(topics)
    out = []
    for broker_id in (list(dict.fromkeys(broker_ids)) or sorted(known)):
        response = client.describe_log_dirs(known[broker_id])
        dirs = []
        for result in response.results:
            partitions = [{"partition": f"{t.name}-{p.partition_index}", "size": int(p.partition_size),
                           "offsetLag": int(p.offset_lag), "isFuture": bool(p.is_future_key)}
                          for t in result.topics if not wanted or t.name in wanted for p in t.partitions]
            total, usable = int(getattr(result, "total_bytes", -1)), int(getattr(result, "usable_bytes", -1))
            dirs.append({"logDir": result.log_dir,
                         "error": None if int(result.error_code) == 0 else _code_name(int(result.error_code)),
                         "partitions": partitions,
                         "totalBytes": None if total < 0 else total, "usableBytes": None if usable < 0 else usable})
        out.append({"broker": broker_id, "logDirs": dirs})
    return out


def kafka_json(brokers: Sequence[Mapping[str, Any]]) -> str:
    """Kafka's layout exactly (totals are not part of it)."""
    return json.dumps({"version": 1, "brokers": [
        {"broker": b["broker"], "logDirs": [{"logDir": d["logDir"], "error": d["error"], "partitions": d["partitions"]}
                                            for d in b["logDirs"]]} for b in brokers]}, separators=(",", ":"))


def text_tables(brokers: Sequence[Mapping[str, Any]]) -> str:
    dirs = [(b["broker"], d["logDir"], d["totalBytes"], d["usableBytes"], d["error"])
            for b in brokers for d in b["logDirs"]]
    parts = [(b["broker"], d["logDir"], *p["partition"].rsplit("-", 1), p["size"], p["offsetLag"],
              str(p["isFuture"]).lower()) for b in brokers for d in b["logDirs"] for p in d["partitions"]]
    return render_table(DIR_HEADERS, dirs) + "\n\n" + render_table(PARTITION_HEADERS, parts)


def run_describe(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    client = _Client(client_config(args), args.timeout_ms / 1000)
    progress("Querying brokers for log directories information")
    brokers = describe(client, args.broker_list, args.topic_list)
    progress(f"Received log directory information from brokers {','.join(str(b['broker']) for b in brokers)}")
    print(kafka_json(brokers) if args.format == "json" else text_tables(brokers), file=out)
    return 0
