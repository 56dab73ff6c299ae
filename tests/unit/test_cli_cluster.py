"""``strom cluster describe`` without a broker: arguments, bootstrap parsing and the text layout."""
from __future__ import annotations

import pytest

from strom.cli import cluster
from strom.cli._common import CliError
from strom.cli.main import build_parser


def test_describe_arguments() -> None:
    args = build_parser().parse_args(["cluster", "describe", "--bootstrap-server", "h:1", "--format", "json"])
    assert args.func is cluster.run_describe and args.format == "json" and args.timeout_ms == 30000


def test_text_layout_aligns_columns_and_marks_unknowns() -> None:
    text = cluster.render({"cluster_id": "abc", "controller_id": -1, "brokers": [
        {"id": 1, "host": "localhost", "port": 9092, "rack": None, "fenced": False},
        {"id": 12, "host": "h", "port": 19092, "rack": "rack-b", "fenced": None}]})
    assert text.splitlines() == [
        "Cluster ID: abc",
        "Controller: -",
        "ID HOST      PORT  RACK   FENCED",
        "1  localhost 9092  -      false",
        "12 h         19092 rack-b -",
    ]
