"""``strom storage random-uuid|format``: prepare a node's directories (Kafka's ``kafka-storage.sh``).

``random-uuid`` prints a new cluster id.  ``format -t CLUSTER_ID -c server.properties`` writes
``meta.properties`` into every ``log.dirs`` directory; with ``--standalone`` or
``--initial-controllers`` it also records the initial KIP-853 voter set in the metadata
directory (the first of ``log.dirs``).  File formats and the start-up rule (which nodes must be
formatted) are in strom.storage.meta_properties.  Failures print ``Error: <message>`` and exit 1;
a bad configuration exits 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from strom.cli._common import CliError
from strom.config import BrokerConfig, ConfigError
from strom.storage.meta_properties import (
    InitialVoter, MetaPropertiesError, format_directories, parse_initial_controllers, random_uuid,
)


def register(subparsers: Any) -> None:
    storage = subparsers.add_parser("storage", help="format a node's directories (like kafka-storage.sh)",
                                    description="Prepare storage directories (like kafka-storage.sh).")
    verbs = storage.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("random-uuid", help="print a random UUID to use as a cluster id",
                         description="Print a random UUID (base64url, as Kafka prints them).")
    p.set_defaults(func=run_random_uuid)

    p = verbs.add_parser("format", help="write meta.properties into the node's log directories",
                         description="Format the log directories of this node (like kafka-storage.sh format).")
    p.add_argument("--cluster-id", "-t", required=True, help="the cluster id (from 'strom storage random-uuid')")
    p.add_argument("--config", "-c", required=True, metavar="FILE", help="the node's server.properties")
    p.add_argument("--override", metavar="KEY=VALUE", action="append", default=[],
                   help="set one property, after the file and environment (repeatable; as 'strom serve')")
    p.add_argument("--ignore-formatted", "-g", action="store_true",
                   help="skip directories that are already formatted instead of failing")
    p.add_argument("--release-version", "-r", metavar="VERSION",
                   help="accepted for compatibility and ignored (Strom has no metadata.version levels yet)")
    p.add_argument("--feature", "-f", action="append", default=[], metavar="NAME=LEVEL",
                   help="accepted for compatibility and ignored")
    quorum = p.add_mutually_exclusive_group()
    quorum.add_argument("--standalone", "-s", action="store_true",
                        help="start a dynamic quorum with this controller as its only voter")
    quorum.add_argument("--initial-controllers", "-I", metavar="ID@HOST:PORT:DIRECTORY_ID,...",
                        help="the initial voters of a dynamic quorum; format every node with the same list")
    quorum.add_argument("--no-initial-controllers", "-N", action="store_true",
                        help="a controller that joins an existing dynamic quorum (no initial voters)")
    p.set_defaults(func=run_format)


def run_random_uuid(args: argparse.Namespace) -> int:
    print(random_uuid())
    return 0


def run_format(args: argparse.Namespace) -> int:
    try:
        config = BrokerConfig.load(properties_file=args.config, overrides=args.override)
    except ConfigError as exc:
        raise CliError(str(exc), exit_code=2) from None
    if args.release_version is not None:
        print(f"note: --release-version {args.release_version} is ignored: Strom has no metadata.version "
              f"feature levels yet", file=sys.stderr)
    for feature in args.feature:
        print(f"note: --feature {feature} is ignored: Strom has no feature levels yet", file=sys.stderr)
    try:
        voters = initial_voters(args, config)
        dirs = [Path(d).resolve() for d in config.data_dirs]
        done = format_directories(dirs, cluster_id=args.cluster_id, node_id=config.node_id,
                                  metadata_directory=dirs[0], initial_voters=voters,
                                  controller_listener_name=controller_listener(config).name if voters else None,
                                  ignore_formatted=args.ignore_formatted)
    except MetaPropertiesError as exc:
        raise CliError(str(exc)) from None
    if not done:
        print("All of the log directories are already formatted.")
    for f in done:
        print(f"Formatting {f.kind} {f.directory} (cluster.id {f.meta.cluster_id}, node.id {f.meta.node_id}, "
              f"directory.id {f.meta.directory_id}).")
    if voters and any(f.directory == dirs[0] for f in done):
        print(f"Initial controllers: {','.join(map(str, voters))}")
    return 0


def controller_listener(config: BrokerConfig) -> Any:
    """The listener quorum traffic uses: the first controller listener, else (a combined node
    without controller.listener.names) the first listener."""
    listeners = config.controller_listeners or config.listeners
    return listeners[0]


def initial_voters(args: argparse.Namespace, config: BrokerConfig) -> list[InitialVoter] | None:
    """The KIP-853 initial voter set the flags ask for, checked against the configuration as Kafka does."""
    dynamic_flag = args.standalone or args.initial_controllers is not None or args.no_initial_controllers
    is_controller = "controller" in config.process_roles
    if dynamic_flag and config.quorum_voters:
        raise MetaPropertiesError("You cannot use --standalone, --initial-controllers or --no-initial-controllers "
                                  "with controller.quorum.voters set (a static quorum); for a dynamic quorum "
                                  "remove it and set controller.quorum.bootstrap.servers instead")
    if (is_controller and not config.quorum_voters and config.quorum_bootstrap_servers and not dynamic_flag):
        raise MetaPropertiesError("Because controller.quorum.voters is not set on this controller, you must "
                                  "specify one of --standalone, --initial-controllers or --no-initial-controllers")
    if args.standalone:
        if not is_controller:
            raise MetaPropertiesError("You cannot use --standalone on a broker node.")
        listener = controller_listener(config)
        return [InitialVoter(config.node_id, listener.host or "localhost", listener.port, random_uuid())]
    if args.initial_controllers is not None:
        voters = parse_initial_controllers(args.initial_controllers)
        if not is_controller and any(v.node_id == config.node_id for v in voters):
            raise MetaPropertiesError(f"node {config.node_id} is listed in --initial-controllers but "
                                      f"process.roles does not include controller")
        return voters
    return None
