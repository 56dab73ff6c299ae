"""``meta.properties`` and formatting of a node's directories (Kafka's ``kafka-storage.sh format``).

File format (Kafka's, version 1): a Java properties file in every log directory::

    #
    #Written by Strom
    version=1
    node.id=1
    cluster.id=<22-character base64url UUID>
    directory.id=<22-character base64url UUID, unique per directory>

Bootstrap voters (KIP-853, written by ``format --standalone`` / ``--initial-controllers`` into
the metadata log directory only, beside its ``meta.properties``): ``bootstrap.voters``, a
properties file the raft layer reads at first start to learn the initial voter set::

    #Written by strom storage format
    version=1
    cluster.id=<cluster id>
    kraft.version=1
    controller.listener.name=CONTROLLER
    initial.controllers=1@host:9093:<directory id>,2@host:9094:<directory id>

``initial.controllers`` uses the syntax of the ``--initial-controllers`` flag: comma-separated
``id@host:port:directoryId`` (IPv6 hosts in brackets).  The metadata directory of a listed
voter carries that voter's directory id as its ``directory.id``.  Kafka writes the same
information as a binary bootstrap snapshot (``__cluster_metadata-0/00000000000000000000-
0000000000.checkpoint``); Strom keeps a text file until its raft log has snapshots.

When a node must be formatted before it starts (``formatting_required``): when it is configured
for a quorum as Kafka requires, i.e. ``controller.quorum.voters`` /
``controller.quorum.bootstrap.servers`` name controllers or ``process.roles`` is other than the
combined ``broker,controller`` (a broker-only or controller-only node is always part of a larger
cluster).  The embedded single node (combined roles, whether or not ``process.roles`` says so, and
no quorum setting: `make serve`'s config/server.properties) formats its first directory itself on
first start.

Every function here does blocking file I/O: call them at start-up or from a tool, not from a
running event loop.  Errors are ``MetaPropertiesError`` with a one-line message.
"""
from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from strom.config import BrokerConfig, parse_properties
from strom.storage.files import write_atomically

META_PROPERTIES = "meta.properties"
BOOTSTRAP_VOTERS = "bootstrap.voters"
META_VERSION = 1


class MetaPropertiesError(Exception):
    """A directory cannot be formatted or used; the message is one line meant for the operator."""


# ---------------------------------------------------------------------------- ids
def random_uuid() -> str:
    """A random UUID as Kafka prints it: 22 characters of unpadded base64url.  Like Kafka's
    ``Uuid.randomUuid`` it never starts with '-' (it would read as a flag) and is never zero."""
    while True:
        raw = uuid.uuid4().bytes
        text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def check_uuid(text: str, what: str = "Cluster ID") -> str:
    """``text`` if it is a base64url-encoded 16-byte UUID (Kafka's form), else MetaPropertiesError."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 16 or base64.urlsafe_b64encode(raw).decode().rstrip("=") != text:
        raise MetaPropertiesError(f"{what} string {text!r} does not appear to be a valid UUID "
                                  f"(22 characters of base64url, as 'strom storage random-uuid' prints)")
    return text


# ---------------------------------------------------------------------------- meta.properties
@dataclass(frozen=True)
class MetaProperties:
    cluster_id: str
    node_id: int
    directory_id: str | None = None
    version: int = META_VERSION

    def text(self) -> str:
        lines = ["#", "#Written by Strom", f"version={self.version}", f"node.id={self.node_id}",
                 f"cluster.id={self.cluster_id}"]
        if self.directory_id is not None:
            lines.append(f"directory.id={self.directory_id}")
        return "\n".join(lines) + "\n"


def _read_props(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MetaPropertiesError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return {k: v for k, v, _line in parse_properties(text)}
    except ValueError as exc:
        raise MetaPropertiesError(f"{path} is malformed: {exc}") from None


def read_meta_properties(directory: Path) -> MetaProperties | None:
    """The ``meta.properties`` of ``directory``, or None when there is none (not formatted)."""
    path = directory / META_PROPERTIES
    if not path.exists():
        return None
    props = _read_props(path)
    try:
        version = int(props.get("version", "0"))
        node_id = int(props["node.id"])
        cluster_id = props["cluster.id"]
    except KeyError as exc:
        raise MetaPropertiesError(f"{path} has no {exc.args[0]}") from None
    except ValueError as exc:
        raise MetaPropertiesError(f"{path} is malformed: {exc}") from None
    if version != META_VERSION:
        raise MetaPropertiesError(f"{path} has version={version}; only version={META_VERSION} (KRaft) is supported")
    return MetaProperties(cluster_id, node_id, props.get("directory.id"), version)


def write_meta_properties(directory: Path, meta: MetaProperties) -> None:
    """Write ``directory/meta.properties`` atomically and durably (fsync before the rename)."""
    write_atomically(directory / META_PROPERTIES, meta.text().encode(), fsync=True)


# ---------------------------------------------------------------------------- initial voters
@dataclass(frozen=True)
class InitialVoter:
    """One entry of ``--initial-controllers``: ``id@host:port:directoryId``."""

    node_id: int
    host: str
    port: int
    directory_id: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.node_id}@{host}:{self.port}:{self.directory_id}"


_VOTER_RE = re.compile(r"^(\d+)@(\[[0-9A-Za-z:%.\-]+\]|[0-9A-Za-z%._\-]+):(\d+):([A-Za-z0-9_\-]+)$")


def parse_initial_controllers(text: str) -> list[InitialVoter]:
    """Parse ``id@host:port:directoryId,...``; MetaPropertiesError names the bad entry."""
    voters: list[InitialVoter] = []
    for item in (part.strip() for part in text.split(",")):
        match = _VOTER_RE.match(item)
        if not match:
            raise MetaPropertiesError(f"'{item}' is not an initial controller of the form id@host:port:directoryId")
        node_id, host, port, directory_id = match.groups()
        if not 0 <= int(port) <= 65535:
            raise MetaPropertiesError(f"port {port} of '{item}' is out of range 0..65535")
        check_uuid(directory_id, f"Directory ID of '{item}':")
        voters.append(InitialVoter(int(node_id), host.strip("[]"), int(port), directory_id))
    ids = [v.node_id for v in voters]
    if len(set(ids)) != len(ids):
        raise MetaPropertiesError(f"--initial-controllers names a voter id more than once: {text}")
    if len({v.directory_id for v in voters}) != len(voters):
        raise MetaPropertiesError(f"--initial-controllers names a directory id more than once: {text}")
    return voters


@dataclass(frozen=True)
class BootstrapVoters:
    """The content of ``bootstrap.voters`` (see the module docstring)."""

    cluster_id: str
    voters: tuple[InitialVoter, ...]
    controller_listener_name: str
    kraft_version: int = 1

    def text(self) -> str:
        return ("#Written by strom storage format\n"
                f"version=1\ncluster.id={self.cluster_id}\nkraft.version={self.kraft_version}\n"
                f"controller.listener.name={self.controller_listener_name}\n"
                f"initial.controllers={','.join(map(str, self.voters))}\n")


def read_bootstrap_voters(directory: Path) -> BootstrapVoters | None:
    """The initial voter set written by ``format`` into the metadata directory, or None."""
    path = directory / BOOTSTRAP_VOTERS
    if not path.exists():
        return None
    props = _read_props(path)
    try:
        return BootstrapVoters(props["cluster.id"], tuple(parse_initial_controllers(props["initial.controllers"])),
                               props["controller.listener.name"], int(props.get("kraft.version", "1")))
    except KeyError as exc:
        raise MetaPropertiesError(f"{path} has no {exc.args[0]}") from None
    except (ValueError, MetaPropertiesError) as exc:
        raise MetaPropertiesError(f"{path} is malformed: {exc}") from None


# ---------------------------------------------------------------------------- formatting
def formatting_required(config: BrokerConfig) -> bool:
    """True when the node is configured for a quorum and so must be formatted before it starts."""
    return (set(config["process.roles"]) != {"broker", "controller"} or bool(config["controller.quorum.voters"])
            or bool(config["controller.quorum.bootstrap.servers"]))


@dataclass(frozen=True)
class Formatted:
    directory: Path
    kind: str  # "data directory", "metadata directory", "metadata voter directory"
    meta: MetaProperties


def format_directories(directories: Sequence[Path], *, cluster_id: str, node_id: int, metadata_directory: Path,
                       initial_voters: Sequence[InitialVoter] | None = None,
                       controller_listener_name: str | None = None,
                       ignore_formatted: bool = False) -> list[Formatted]:
    """Format every directory that has no ``meta.properties`` (as ``kafka-storage.sh format``).

    Refuses (MetaPropertiesError, nothing written) when a directory is already formatted and
    ``ignore_formatted`` is false, or is formatted for another cluster or node id.  With
    ``initial_voters`` the metadata directory also gets ``bootstrap.voters``, and if this node is
    one of them that directory's ``directory.id`` is the voter's.  Returns what was formatted
    (empty when every directory already was).
    """
    check_uuid(cluster_id)
    if node_id < 0:
        raise MetaPropertiesError("You must specify a valid non-negative node.id")
    dirs = sorted(dict.fromkeys(Path(d) for d in directories))
    if metadata_directory not in dirs:
        raise MetaPropertiesError(f"the metadata log directory {metadata_directory} is not one of {dirs}")
    existing: dict[Path, MetaProperties] = {}
    for d in dirs:
        if d.exists() and not d.is_dir():
            raise MetaPropertiesError(f"{d} exists and is not a directory")
        meta = read_meta_properties(d)
        if meta is None:
            continue
        if meta.cluster_id != cluster_id:
            raise MetaPropertiesError(f"{d} is already formatted for cluster {meta.cluster_id}, not {cluster_id}")
        if meta.node_id != node_id:
            raise MetaPropertiesError(f"{d} is already formatted for node.id {meta.node_id}, not {node_id}")
        existing[d] = meta
    if existing and not ignore_formatted:
        first = next(iter(existing))
        raise MetaPropertiesError(f"Log directory {first} is already formatted. "
                                  f"Use --ignore-formatted to ignore this directory and format the others.")
    voters = {v.node_id: v for v in initial_voters or ()}
    if voters and controller_listener_name is None:
        raise MetaPropertiesError("initial controllers need a controller listener name")
    taken = {m.directory_id for m in existing.values()} | {v.directory_id for v in voters.values()}
    done: list[Formatted] = []
    for d in dirs:
        if d in existing:
            continue
        kind = "data directory"
        directory_id = None
        if d == metadata_directory:
            kind = "metadata directory"
            if node_id in voters:
                kind = "metadata voter directory"
                directory_id = voters[node_id].directory_id
        while directory_id is None or (directory_id in taken and kind != "metadata voter directory"):
            directory_id = random_uuid()
        taken.add(directory_id)
        meta = MetaProperties(cluster_id, node_id, directory_id)
        try:
            d.mkdir(parents=True, exist_ok=True)
            if d == metadata_directory and voters:
                boot = BootstrapVoters(cluster_id, tuple(voters.values()), controller_listener_name or "")
                write_atomically(d / BOOTSTRAP_VOTERS, boot.text().encode(), fsync=True)
            write_meta_properties(d, meta)  # last: a directory counts as formatted once this exists
        except OSError as exc:
            raise MetaPropertiesError(f"Error while writing {d / META_PROPERTIES}: {exc.strerror or exc}") from None
        done.append(Formatted(d, kind, meta))
    return done


def load_for_startup(directories: Sequence[Path], *, node_id: int, require_formatted: bool) -> MetaProperties:
    """Check a node's directories at start-up and return the first one's ``meta.properties``.

    ``directories[0]`` holds the metadata log.  Every formatted directory must carry this node
    id and one cluster id, and directory ids must be unique; a ``bootstrap.voters`` file must name
    that cluster too.  An unformatted directory is refused when ``require_formatted``; otherwise
    (the embedded default) every existing unformatted directory is formatted with the cluster id
    of the others, or a fresh one.  Raises MetaPropertiesError with a one-line message.
    """
    found: dict[Path, MetaProperties | None] = {d: read_meta_properties(d) for d in directories}
    first: tuple[Path, MetaProperties] | None = None
    directory_ids: dict[str, Path] = {}
    for d, meta in found.items():
        if meta is None:
            if require_formatted:
                raise MetaPropertiesError(f"no {META_PROPERTIES} in {d}: this node is configured for a quorum "
                                          f"(process.roles or controller.quorum.*), so format it first with "
                                          f"'strom storage format -t CLUSTER_ID -c server.properties'")
            continue
        if meta.node_id != node_id:
            raise MetaPropertiesError(f"node.id {node_id} does not match node.id={meta.node_id} "
                                      f"in {d / META_PROPERTIES}")
        if first is None:
            first = (d, meta)
        elif meta.cluster_id != first[1].cluster_id:
            raise MetaPropertiesError(f"{d} is formatted for cluster {meta.cluster_id} but {first[0]} for cluster "
                                      f"{first[1].cluster_id}: a node's directories must belong to one cluster")
        if meta.directory_id is not None:
            if meta.directory_id in directory_ids:
                raise MetaPropertiesError(f"{d} and {directory_ids[meta.directory_id]} have the same directory.id "
                                          f"{meta.directory_id} (was a directory copied?)")
            directory_ids[meta.directory_id] = d
    cluster_id = first[1].cluster_id if first is not None else random_uuid()
    boot = read_bootstrap_voters(directories[0])
    if boot is not None and boot.cluster_id != cluster_id:
        raise MetaPropertiesError(f"{directories[0] / BOOTSTRAP_VOTERS} is for cluster {boot.cluster_id} but "
                                  f"{directories[0]} is formatted for cluster {cluster_id}")
    for d, meta in found.items():
        if meta is None and d.is_dir():
            directory_id = random_uuid()
            while directory_id in directory_ids:
                directory_id = random_uuid()
            directory_ids[directory_id] = d
            found[d] = MetaProperties(cluster_id, node_id, directory_id)
            try:
                write_meta_properties(d, found[d])  # type: ignore[arg-type]
            except OSError as exc:
                raise MetaPropertiesError(f"cannot write {d / META_PROPERTIES}: {exc.strerror or exc}") from None
    meta = found[directories[0]]
    if meta is None:
        raise MetaPropertiesError(f"{directories[0]} does not exist")
    return meta
