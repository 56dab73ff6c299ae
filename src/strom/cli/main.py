"""The ``strom`` command: nouns and verbs (``strom serve``, ``strom topic create`` ...).

Each noun lives in its own module with ``register(subparsers)``, which adds an argparse
sub-parser whose ``func`` default runs it and returns the exit status (and, optionally, a
``validate`` default that raises the usage errors argparse cannot see, before any connection). Exit statuses:
0 success, 1 a failure reported as ``Error: <KAFKA_ERROR_NAME>: <message>``, 2 a usage or
configuration error, 130 interrupted. Every parser is a ``StromArgumentParser`` (no
abbreviations, "did you mean" for unknown flags, verbs anywhere and Kafka's ``--VERB``
spellings). Before a command that talks to a broker runs, its bootstrap addresses are probed so
that a broker that is down fails in seconds rather than after the client's time-out.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from strom import __version__
from strom.cli import (
    _common, cluster, config, consume, dev, group, log_dirs, perf, produce, serve, storage, topic, transactions,
)
from strom.cli._common import CliError, StromArgumentParser, bootstrap_servers, client_config, print_error

COMMANDS = (serve, storage, topic, group, config, produce, consume, perf, log_dirs, transactions, cluster, dev)


def build_parser() -> argparse.ArgumentParser:
    parser = StromArgumentParser(
        prog="strom",
        description="Strom, a Kafka-compatible commit log. Flags follow Apache Kafka's tools.",
        epilog="Run 'strom COMMAND --help' for a command's flags.")
    parser.add_argument("--version", action="version", version=f"strom {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        validate = getattr(args, "validate", None)
        if validate is not None:  # usage errors before any connection
            validate(args)
        if hasattr(args, "bootstrap_server"):  # the command talks to a broker
            client_config(args)  # a bad --command-config file is a usage error too
            _common.check_reachable(bootstrap_servers(args))
        return int(func(args) or 0)
    except CliError as exc:
        if exc.exit_code == 2 and exc.name is None:
            print(f"strom {args.command}: error: {exc.message}", file=sys.stderr)
        else:
            print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``strom consume | head``): silence the flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
