"""``strom serve``: run one node (broker and controller combined by default).

Configuration precedence, lowest first: Strom's defaults < the properties file
(``--config FILE`` or a positional FILE, as ``kafka-server-start.sh server.properties``)
< ``KAFKA_*``/``STROM_*`` environment variables < ``--override key=value`` < the explicit
flags ``--listen`` (replaces ``listeners``) and ``--data-dir`` (replaces ``log.dirs``).
A bad setting, or one that Strom cannot serve yet (``BrokerConfig.check_implemented``:
TLS/SASL listeners, other quorum voters, compaction, the HTTP port ...), prints one line and
exits 2; otherwise the exit status is ``strom.node.run``'s.

Logs go to stderr, one line per event: ``--log-format text`` (default) or ``json``, at
``--log-level`` (else ``$STROM_LOG_LEVEL``, else info); see strom.util.logs for the formats.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from strom.cli._common import host_port
from strom.config import BrokerConfig, ConfigError
from strom.util import logs

LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "critical")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="run a broker (and controller) node",
        description="Run a Strom node. Settings use Apache Kafka's names; see docs/configuration.md.")
    parser.add_argument("config_file", nargs="?", metavar="FILE", help="server.properties (same as --config)")
    parser.add_argument("--config", dest="config", metavar="FILE", help="a Java properties file (server.properties)")
    parser.add_argument("--override", metavar="KEY=VALUE", action="append", default=[],
                        help="set one property, after the file and environment (repeatable)")
    parser.add_argument("--listen", metavar="HOST:PORT", type=host_port,
                        help="shorthand for listeners=PLAINTEXT://HOST:PORT (port 0 = ephemeral)")
    parser.add_argument("--data-dir", metavar="DIR", help="shorthand for log.dirs=DIR")
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.lower,
                        help="logging level; debug adds one line per request (default: $STROM_LOG_LEVEL or info)")
    parser.add_argument("--log-format", choices=logs.FORMATS, default="text",
                        help="text: one readable line per event; json: one JSON object per line (default: text)")
    parser.set_defaults(func=run)


def build_config(args: argparse.Namespace, env: Any = None) -> BrokerConfig:
    """The node's BrokerConfig from the parsed flags; raises ConfigError."""
    if args.config and args.config_file and args.config != args.config_file:
        raise ConfigError(f"two properties files given ('{args.config_file}' and --config '{args.config}')")
    properties_file = args.config or args.config_file
    overrides = list(args.override)
    if args.listen is not None:
        host, port = args.listen
        shown = f"[{host}]" if ":" in host else host
        overrides.append(f"listeners=PLAINTEXT://{shown}:{port}")
    config = BrokerConfig.load(properties_file=properties_file, overrides=overrides, env=env)
    if args.data_dir is not None:
        if not args.data_dir.strip():
            raise ConfigError("invalid value '' for setting 'log.dirs' (from --data-dir): must name a directory",
                              setting="log.dirs", source="--data-dir")
        config = config.with_overrides(**{"log.dirs": [args.data_dir]})
    return config


def configure_logging(level: str | None, fmt: str = "text") -> None:
    """Logs to stderr at ``level`` (else $STROM_LOG_LEVEL, else info) in ``fmt`` (strom.util.logs)."""
    logs.configure(logs.parse_level(level or os.environ.get("STROM_LOG_LEVEL")), fmt)


def run(args: argparse.Namespace) -> int:
    try:
        config = build_config(args)
        config.check_implemented()
    except ConfigError as exc:
        print(f"strom serve: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(args.log_level, args.log_format)
    from strom import node  # lazy: the node is heavy and other commands never need it

    try:
        return int(node.run(config) or 0)
    except KeyboardInterrupt:
        return 130
