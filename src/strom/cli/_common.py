"""Shared pieces of the ``strom`` command: client flags, terminal output, error reporting.

Conventions (docs/cli.md): Kafka's flag names; errors go to stderr as
``Error: <KAFKA_ERROR_NAME>: <message>`` and exit 1; usage errors exit 2 (argparse);
colour and progress only when the stream is a terminal and ``NO_COLOR`` is unset.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import IO, Any

from strom.config import ConfigError, parse_host_port, read_properties
from strom.errors import ErrorCode

DEFAULT_BOOTSTRAP = "localhost:9092"
BOOTSTRAP_ENV = "STROM_BOOTSTRAP_SERVERS"


class CliError(Exception):
    """A failure to report as ``Error: <name>: <message>`` with exit status ``exit_code``."""

    def __init__(self, message: str, *, name: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.name else self.message


# ---------------------------------------------------------------------------- argument types
def key_value(text: str) -> tuple[str, str]:
    """argparse type for ``key=value``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got '{text}'")
    return key.strip(), value


def host_port(text: str) -> tuple[str, int]:
    """argparse type for ``HOST:PORT`` (``[::1]:9092`` for IPv6, ``:9092`` for all interfaces)."""
    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def unescape_separator(text: str) -> str:
    """Let ``--key-separator '\\t'`` mean a tab, as shells make a literal tab awkward."""
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape") if "\\" in text else text


# ---------------------------------------------------------------------------- client flags
ADMIN_TIMEOUT_MS = 30000


def admin_verb(verbs: Any, name: str, help_: str) -> argparse.ArgumentParser:
    """A verb of an admin noun (topic, group): client arguments plus ``--timeout-ms``."""
    p = verbs.add_parser(name, help=help_, description=help_)
    add_client_arguments(p)
    p.add_argument("--timeout-ms", type=positive_int, default=ADMIN_TIMEOUT_MS, metavar="MS",
                   help=f"give up after this long (default {ADMIN_TIMEOUT_MS})")
    return p


def add_client_arguments(parser: argparse.ArgumentParser, *, config_aliases: tuple[str, ...] = (),
                         property_aliases: tuple[str, ...] = ()) -> None:
    parser.add_argument("--bootstrap-server", metavar="HOST:PORT[,HOST:PORT...]",
                        help=f"broker(s) to connect to (default: ${BOOTSTRAP_ENV} or {DEFAULT_BOOTSTRAP})")
    parser.add_argument("--command-config", *config_aliases, dest="command_config", metavar="FILE",
                        help="properties file with librdkafka client settings")
    parser.add_argument("-X", *property_aliases, dest="client_property", metavar="KEY=VALUE", type=key_value,
                        action="append", default=[], help="a librdkafka client setting (repeatable)")


def bootstrap_servers(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> str:
    environ = os.environ if env is None else env
    return args.bootstrap_server or environ.get(BOOTSTRAP_ENV) or DEFAULT_BOOTSTRAP


def client_config(args: argparse.Namespace, base: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """librdkafka settings: ``base`` < ``--command-config`` file < ``-X`` flags; bootstrap from the flag."""
    # librdkafka logs every failed connection attempt at level 3 (error) ~20 times a second; the
    # command reports the resulting failure itself. `-X log_level=7` brings the logs back.
    conf: dict[str, Any] = {"log_level": 2, **(base or {})}
    if args.command_config:
        try:
            conf.update(read_properties(args.command_config))
        except OSError as exc:
            raise CliError(f"cannot read {args.command_config}: {exc.strerror or exc}", exit_code=2) from None
        except (ValueError, ConfigError) as exc:
            raise CliError(f"malformed {args.command_config}: {exc}", exit_code=2) from None
    conf.update(dict(args.client_property))
    conf["bootstrap.servers"] = bootstrap_servers(args, env)
    return conf


# ---------------------------------------------------------------------------- errors
def kafka_error_name(error: Any) -> str:
    """Kafka's name for a confluent_kafka KafkaError: broker codes by Apache Kafka's name
    (UNKNOWN_TOPIC_OR_PARTITION), librdkafka's local errors by theirs (_TRANSPORT)."""
    code = error.code()
    if code >= 0:
        try:
            return ErrorCode(code).name
        except ValueError:
            pass
    return str(error.name())


def from_kafka(exc: BaseException) -> CliError:
    """Turn a confluent_kafka exception (or a KafkaError value) into a CliError."""
    error = exc.args[0] if exc.args and hasattr(exc.args[0], "code") else exc
    if hasattr(error, "code") and hasattr(error, "str"):
        return CliError(str(error.str()), name=kafka_error_name(error))
    return CliError(str(exc), name=type(exc).__name__)


# ---------------------------------------------------------------------------- terminal output
def use_colour(stream: IO[Any], env: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if env is None else env
    if "NO_COLOR" in environ:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def is_terminal(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, colour: str, stream: IO[Any]) -> str:
    codes = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}
    return f"\033[{codes[colour]}m{text}\033[0m" if use_colour(stream) else text


def print_error(error: CliError | str, stream: IO[Any] | None = None) -> None:
    out = sys.stderr if stream is None else stream
    text = str(error)
    print(paint("Error:", "red", out) + " " + text, file=out)


def progress(text: str, stream: IO[Any] | None = None) -> None:
    """A status line for humans: only on a terminal."""
    out = sys.stderr if stream is None else stream
    if is_terminal(out):
        print(paint(text, "dim", out), file=out)
