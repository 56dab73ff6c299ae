"""Shared pieces of the ``strom`` command: client flags, terminal output, error reporting.

Conventions (docs/cli.md): Kafka's flag names; errors go to stderr as
``Error: <KAFKA_ERROR_NAME>: <message>`` and exit 1; usage errors exit 2 (argparse);
colour and progress only when the stream is a terminal and ``NO_COLOR`` is unset.
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
import socket
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any, NoReturn

from strom.config import (
    ConfigError,
    describe_broker_config,
    describe_topic_config,
    parse_host_port,
    read_properties,
)
from strom.errors import ErrorCode

DEFAULT_BOOTSTRAP = "localhost:9092"
BOOTSTRAP_ENV = "STROM_BOOTSTRAP_SERVERS"
CLIENT_ID = "strom-cli"  # every client the CLI starts, unless -X client.id=... says otherwise
FORMAT_HELP = "output format: text (default, Kafka's layout) or json"


class CliError(Exception):
    """A failure to report as ``Error: <name>: <message>`` with exit status ``exit_code``."""

    def __init__(self, message: str, *, name: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.name else self.message


# ---------------------------------------------------------------------------- the parser
class StromArgumentParser(argparse.ArgumentParser):
    """The parser class of ``strom`` and (through argparse's ``parser_class``) of every noun and verb.

    * No abbreviations: ``--partition`` never silently means ``--partitions``.
    * A parser reports the arguments it does not know itself, with its own usage and a
      "did you mean", instead of handing them up to the top-level parser.
    * A parser with verbs (``topic``, ``group``, ``config``) finds its verb anywhere among its
      arguments and moves it first, so flags may come before the verb
      (``strom topic --bootstrap-server B list``), and accepts Kafka's ``--VERB`` spelling
      (``strom topic --create --topic T``) through ``verb_aliases``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)
        self.verb_aliases: dict[str, str] = {}  # "--create" -> "create"

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        arg_list = list(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(self._verb_first(arg_list), namespace)
        if extras:
            self.error(self._unrecognized(extras))
        return namespace, extras

    def error(self, message: str) -> NoReturn:
        wrong = re.search(r"argument (?:COMMAND|VERB): invalid choice: '([^']*)'", message)
        if wrong:
            close = difflib.get_close_matches(wrong.group(1), list(self._verbs()), n=1)
            if close:
                message += f"; did you mean {close[0]}?"
            if self.verb_aliases:
                message += f" (Kafka's spellings {', '.join(sorted(self.verb_aliases))} work too)"
        super().error(message)

    def _verbs(self) -> dict[str, argparse.ArgumentParser]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    def _verb_first(self, args: list[str]) -> list[str]:
        verbs = self._verbs()
        if not verbs:
            return args
        takes_value = {option for parser in (self, *verbs.values()) for action in parser._actions
                       if action.nargs != 0 for option in action.option_strings}
        i = 0
        while i < len(args):
            token = args[i]
            if token in self.verb_aliases or (token in verbs and not token.startswith("-")):
                if i == 0 and token in verbs:
                    return args  # already first
                return [self.verb_aliases.get(token, token), *args[:i], *args[i + 1:]]
            if token == "--" or not token.startswith("-"):
                return args
            i += 2 if token in takes_value else 1
        return args

    def _unrecognized(self, extras: Sequence[str]) -> str:
        message = f"unrecognized arguments: {' '.join(extras)}"
        known = [o for o in self._option_string_actions if o.startswith("--")]
        for extra in extras:
            if extra.startswith("--"):
                close = difflib.get_close_matches(extra.split("=", 1)[0], known, n=1, cutoff=0.6)
                if close:
                    return f"{message}; did you mean {close[0]}?"
        return message


def add_verb_aliases(noun: argparse.ArgumentParser) -> None:
    """Accept Kafka's ``--VERB`` flags (``--create``, ``--list``, ``--describe`` ...) for every verb of ``noun``."""
    assert isinstance(noun, StromArgumentParser)
    verbs = noun._verbs()
    for name, parser in verbs.items():
        flag = f"--{name}"
        clash = [p.prog for p in verbs.values() if flag in p._option_string_actions]
        assert not clash, f"{flag} is a flag of {clash}, it cannot also name a verb"
        noun.verb_aliases[flag] = name
    noun.epilog = (f"Kafka's spellings work too, anywhere on the line ({', '.join(noun.verb_aliases)}), and flags "
                   f"may come before the verb: '{noun.prog} --bootstrap-server HOST:PORT {next(iter(verbs))} ...'.")


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


def property_type(known: Mapping[str, type], tool: str) -> Callable[[str], tuple[str, str]]:
    """argparse type for a Kafka console tool's ``--property NAME=VALUE``: NAME must be one of
    ``known`` (name -> bool or str) and a bool takes ``true``/``false`` (any case)."""

    def parse(text: str) -> tuple[str, str]:
        name, value = key_value(text)
        kind = known.get(name)
        if kind is None:
            raise argparse.ArgumentTypeError(f"unknown property '{name}'; the {tool}'s properties this command "
                                             f"honours are {', '.join(known)}")
        if kind is bool and value.strip().lower() not in ("true", "false"):
            raise argparse.ArgumentTypeError(f"{name} takes true or false, not '{value}'")
        return name, value

    return parse


def is_true(value: str) -> bool:
    """Kafka's reading of a boolean property: "true" in any case, anything else is false."""
    return value.strip().lower() == "true"


def unescape_separator(text: str) -> str:
    """Let ``--key-separator '\\t'`` mean a tab, as shells make a literal tab awkward."""
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape") if "\\" in text else text


# ---------------------------------------------------------------------------- client flags
ADMIN_TIMEOUT_MS = 30000


def admin_verb(verbs: Any, name: str, help_: str) -> argparse.ArgumentParser:
    """A verb of an admin noun (topic, group): client arguments plus ``--timeout-ms``."""
    p = verbs.add_parser(name, help=f"{help_} (or --{name})", description=help_)
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


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", help=FORMAT_HELP)


def bootstrap_servers(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> str:
    environ = os.environ if env is None else env
    return args.bootstrap_server or environ.get(BOOTSTRAP_ENV) or DEFAULT_BOOTSTRAP


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``(host, port)`` of each entry of a ``bootstrap.servers`` list (``[proto://]host[:port]``,
    IPv6 in brackets, port 9092 when left out, as librdkafka reads it); usage error if malformed."""
    addresses = []
    for item in filter(None, (s.strip() for s in bootstrap.split(","))):
        item = item.split("://", 1)[-1]
        host, sep, port = item.rpartition(":")
        if (item.startswith("[") and item.endswith("]")) or (not sep and "[" not in item):
            host, port = item, "9092"  # no port
        elif not sep or not port.isdigit() or ("[" in host) != host.endswith("]"):
            raise CliError(f"bad bootstrap server '{item}': expected HOST:PORT", exit_code=2)
        addresses.append((host.strip("[]") or "localhost", int(port)))
    if not addresses:
        raise CliError("no bootstrap server given", exit_code=2)
    return addresses


PROBE_TIMEOUT_S = 3.0


def check_reachable(bootstrap: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail fast (``_TRANSPORT``, naming every address tried) when no bootstrap address accepts a
    TCP connection because each one refuses it, cannot be resolved or has no route. An address
    that accepts, or does not answer within ``timeout_s``, ends the check: the client library then
    works with the command's own time-outs (a slow broker is not a dead one)."""
    failures = []
    for host, port in bootstrap_addresses(bootstrap):
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            return
        except socket.gaierror as exc:
            failures.append(f"{where} (cannot resolve host: {exc.strerror or exc})")
        except (TimeoutError, socket.timeout):
            return
        except OSError as exc:
            failures.append(f"{where} ({(exc.strerror or str(exc)).lower()})")
    raise CliError(f"cannot connect to any bootstrap server: {', '.join(failures)}", name="_TRANSPORT")


def client_config(args: argparse.Namespace, base: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """librdkafka settings: ``base`` < ``--command-config`` file < ``-X`` flags; bootstrap from the flag."""
    # librdkafka logs every failed connection attempt at level 3 (error) ~20 times a second; the
    # command reports the resulting failure itself. `-X log_level=7` brings the logs back.
    conf: dict[str, Any] = {"log_level": 2, "client.id": CLIENT_ID, **(base or {})}
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
def error_code_name(code: int) -> str:
    """Apache Kafka's name for a broker error code (``UNKNOWN_ERROR_<code>`` for one it does not know)."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"UNKNOWN_ERROR_{code}"


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


def with_config_suggestion(error: CliError, names: Iterable[str], *, topic: bool) -> CliError:
    """A broker's INVALID_CONFIG for a setting name it does not know, told in the words
    ``strom.config`` uses at creation ("unknown topic setting 'x'; did you mean 'y'?"). Other
    errors, and messages that already suggest a name, are returned unchanged."""
    if error.name != "INVALID_CONFIG" or "did you mean" in error.message:
        return error
    describe = describe_topic_config if topic else describe_broker_config
    for name in names:
        if name not in error.message:
            continue
        try:
            describe(name)
        except ConfigError as exc:
            return CliError(exc.message, name=error.name)
    return error


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
