"""``strom cluster describe``: the brokers of the cluster and its active controller.

Sends DescribeCluster v2 with ``include_fenced_brokers`` through ``strom.client.wire`` (the
client libraries do not bind the fenced flag), trying each bootstrap server in turn until one
answers or ``--timeout-ms`` passes; a broker that serves only v0-1 is asked again in v1, whose
answer has no fenced brokers.  Text output:

    Cluster ID: <id>
    Controller: <node id>
    ID HOST      PORT  RACK  FENCED
    1  localhost 9092  -     false

``--format json``: {"cluster_id", "controller_id", "brokers": [{"id", "host", "port", "rack",
"fenced"}]} (fenced is null when the broker could not say).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from strom.cli._common import (
    CLIENT_ID, CliError, add_format_argument, admin_verb, bootstrap_addresses, bootstrap_servers,
)
from strom.client import wire
from strom.errors import ErrorCode

API_DESCRIBE_CLUSTER = 60
HEADERS = ("ID", "HOST", "PORT", "RACK", "FENCED")


def register(subparsers: Any) -> None:
    cluster = subparsers.add_parser("cluster", help="describe the cluster's brokers and controller",
                                    description="Cluster information (like kafka-cluster.sh / kafka-metadata-quorum.sh).")
    verbs = cluster.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = admin_verb(verbs, "describe", "list the brokers (fenced ones too) and the active controller")
    add_format_argument(p)
    p.set_defaults(func=run_describe)


def describe_cluster(bootstrap: Sequence[tuple[str, int]], timeout_s: float) -> dict[str, Any]:
    """The cluster as the first bootstrap server that answers describes it (see the module doc)."""
    deadline = time.monotonic() + timeout_s
    last: CliError | None = None
    correlation = 0
    while True:
        for address in bootstrap:
            for version in (2, 1):
                correlation += 1
                data = {"include_cluster_authorized_operations": False, "include_fenced_brokers": True,
                        "endpoint_type": 1}
                try:
                    response = wire.call(address, API_DESCRIBE_CLUSTER, version, data, client_id=CLIENT_ID,
                                         correlation_id=correlation, timeout_s=deadline - time.monotonic())
                except wire.WireError as exc:
                    last = CliError(exc.message, name=exc.name)
                    if not exc.transient and version == 2:
                        continue  # e.g. a broker that cannot decode v2: ask in v1
                    break
                if response.error_code == ErrorCode.UNSUPPORTED_VERSION and version == 2:
                    continue
                if response.error_code != 0:
                    raise CliError(response.error_message or "DescribeCluster failed",
                                   name=ErrorCode(response.error_code).name)
                return {
                    "cluster_id": response.cluster_id,
                    "controller_id": response.controller_id,
                    "brokers": [{"id": b.broker_id, "host": b.host, "port": b.port, "rack": b.rack,
                                 "fenced": getattr(b, "is_fenced", None) if version >= 2 else None}
                                for b in sorted(response.brokers, key=lambda b: b.broker_id)],
                }
        if time.monotonic() + 0.2 >= deadline:
            raise last or CliError("no bootstrap server answered", name="_TRANSPORT")
        time.sleep(0.2)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def render(cluster: dict[str, Any]) -> str:
    controller = cluster["controller_id"]
    rows = [list(HEADERS)] + [[_cell(b[k]) for k in ("id", "host", "port", "rack", "fenced")]
                              for b in cluster["brokers"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    table = "\n".join(" ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
    return (f"Cluster ID: {cluster['cluster_id']}\n"
            f"Controller: {controller if controller is not None and controller >= 0 else '-'}\n{table}")


def run_describe(args: argparse.Namespace, out: IO[Any] | None = None) -> int:
    out = out or sys.stdout
    cluster = describe_cluster(bootstrap_addresses(bootstrap_servers(args)), args.timeout_ms / 1000)
    print(json.dumps(cluster, indent=2) if args.format == "json" else render(cluster), file=out)
    return 0
