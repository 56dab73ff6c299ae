"""meta.properties, formatting and the start-up check (strom.storage.meta_properties)."""
from __future__ import annotations

import base64

import pytest

from strom.config import BrokerConfig
from strom.storage.meta_properties import (
    BOOTSTRAP_VOTERS, InitialVoter, MetaProperties, MetaPropertiesError, check_uuid, format_directories,
    formatting_required, load_for_startup, parse_initial_controllers, random_uuid, read_bootstrap_voters,
    read_meta_properties, write_meta_properties,
)

CLUSTER = "MkU3OEVBNTcwNTJENDM2Qg"


def test_random_uuid_is_kafka_shaped():
    ids = {random_uuid() for _ in range(200)}
    assert len(ids) == 200
    for text in ids:
        assert len(text) == 22 and not text.startswith("-")
        assert len(base64.urlsafe_b64decode(text + "==")) == 16
        assert check_uuid(text) == text


@pytest.mark.parametrize("bad", ["", "bad", "MkU3OEVBNTcwNTJENDM2Q", "MkU3OEVBNTcwNTJENDM2Qg==",
                                 "MkU3OEVBNTcwNTJENDM2Q!"])
def test_check_uuid_rejects(bad):
    with pytest.raises(MetaPropertiesError, match="does not appear to be a valid UUID"):
        check_uuid(bad)


def test_meta_properties_round_trip(tmp_path):
    meta = MetaProperties(CLUSTER, 3, random_uuid())
    write_meta_properties(tmp_path, meta)
    assert read_meta_properties(tmp_path) == meta
    assert "version=1\nnode.id=3\ncluster.id=" in (tmp_path / "meta.properties").read_text()
    assert read_meta_properties(tmp_path / "missing") is None


@pytest.mark.parametrize("text,error", [("version=1\ncluster.id=x\n", "has no node.id"),
                                        ("version=1\nnode.id=x\ncluster.id=y\n", "malformed"),
                                        ("version=0\nbroker.id=1\nnode.id=1\ncluster.id=y\n", "version=0")])
def test_bad_meta_properties_are_one_line_errors(tmp_path, text, error):
    (tmp_path / "meta.properties").write_text(text)
    with pytest.raises(MetaPropertiesError, match=error) as info:
        read_meta_properties(tmp_path)
    assert "\n" not in str(info.value)


def test_parse_initial_controllers():
    a, b = random_uuid(), random_uuid()
    voters = parse_initial_controllers(f"1@localhost:9093:{a}, 2@[::1]:9094:{b}")
    assert voters == [InitialVoter(1, "localhost", 9093, a), InitialVoter(2, "::1", 9094, b)]
    assert str(voters[1]) == f"2@[::1]:9094:{b}"
    for bad in ["1@localhost:9093", f"x@h:1:{a}", f"1@h:99999:{a}", "1@h:1:notauuid", f"1@h:1:{a},1@h:2:{b}",
                f"1@h:1:{a},2@h:2:{a}"]:
        with pytest.raises(MetaPropertiesError):
            parse_initial_controllers(bad)


def test_format_writes_every_directory_and_the_voters_file(tmp_path):
    meta_dir, data_dir = tmp_path / "a", tmp_path / "b"
    voter_dir_id = random_uuid()
    voters = [InitialVoter(1, "localhost", 9093, voter_dir_id), InitialVoter(2, "localhost", 9094, random_uuid())]
    done = format_directories([data_dir, meta_dir], cluster_id=CLUSTER, node_id=1, metadata_directory=meta_dir,
                              initial_voters=voters, controller_listener_name="CONTROLLER")
    assert [(f.directory, f.kind) for f in done] == [(meta_dir, "metadata voter directory"),
                                                      (data_dir, "data directory")]
    assert read_meta_properties(meta_dir) == MetaProperties(CLUSTER, 1, voter_dir_id)
    other = read_meta_properties(data_dir)
    assert other.cluster_id == CLUSTER and other.directory_id not in (None, voter_dir_id)
    boot = read_bootstrap_voters(meta_dir)
    assert boot.cluster_id == CLUSTER and list(boot.voters) == voters and boot.controller_listener_name == "CONTROLLER"
    assert not (data_dir / BOOTSTRAP_VOTERS).exists()


def test_format_refuses_formatted_directories_unless_ignored(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    format_directories([a], cluster_id=CLUSTER, node_id=1, metadata_directory=a)
    with pytest.raises(MetaPropertiesError, match=f"Log directory {a} is already formatted. Use --ignore-formatted"):
        format_directories([a, b], cluster_id=CLUSTER, node_id=1, metadata_directory=a)
    assert not b.exists()  # nothing written
    done = format_directories([a, b], cluster_id=CLUSTER, node_id=1, metadata_directory=a, ignore_formatted=True)
    assert [f.directory for f in done] == [b]
    assert format_directories([a, b], cluster_id=CLUSTER, node_id=1, metadata_directory=a,
                              ignore_formatted=True) == []
    with pytest.raises(MetaPropertiesError, match=f"{a} is already formatted for cluster {CLUSTER}, not "):
        format_directories([a], cluster_id=random_uuid(), node_id=1, metadata_directory=a, ignore_formatted=True)
    with pytest.raises(MetaPropertiesError, match="formatted for node.id 1, not 2"):
        format_directories([a], cluster_id=CLUSTER, node_id=2, metadata_directory=a, ignore_formatted=True)


def test_format_refuses_a_file_where_a_directory_should_be(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(MetaPropertiesError, match="is not a directory"):
        format_directories([tmp_path / "f"], cluster_id=CLUSTER, node_id=1, metadata_directory=tmp_path / "f")


def test_embedded_default_formats_itself_and_keeps_its_cluster_id(tmp_path):
    meta = load_for_startup([tmp_path], node_id=1, require_formatted=False)
    assert check_uuid(meta.cluster_id) and meta.directory_id
    assert load_for_startup([tmp_path], node_id=1, require_formatted=False) == meta
    with pytest.raises(MetaPropertiesError, match=f"node.id 2 does not match node.id=1 in {tmp_path}"):
        load_for_startup([tmp_path], node_id=2, require_formatted=False)


def test_quorum_node_refuses_an_unformatted_directory(tmp_path):
    with pytest.raises(MetaPropertiesError, match=f"no meta.properties in {tmp_path}: .*strom storage format"):
        load_for_startup([tmp_path], node_id=1, require_formatted=True)
    assert not (tmp_path / "meta.properties").exists()
    format_directories([tmp_path], cluster_id=CLUSTER, node_id=1, metadata_directory=tmp_path)
    assert load_for_startup([tmp_path], node_id=1, require_formatted=True).cluster_id == CLUSTER


def test_directories_of_two_clusters_are_refused_naming_both(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    other = random_uuid()
    format_directories([a], cluster_id=CLUSTER, node_id=1, metadata_directory=a)
    format_directories([b], cluster_id=other, node_id=1, metadata_directory=b)
    for require in (True, False):
        with pytest.raises(MetaPropertiesError) as info:
            load_for_startup([a, b], node_id=1, require_formatted=require)
        assert str(info.value).startswith(f"{b} is formatted for cluster {other} but {a} for cluster {CLUSTER}")


def test_copied_directory_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    format_directories([a], cluster_id=CLUSTER, node_id=1, metadata_directory=a)
    b.mkdir()
    (b / "meta.properties").write_bytes((a / "meta.properties").read_bytes())
    with pytest.raises(MetaPropertiesError, match="have the same directory.id"):
        load_for_startup([a, b], node_id=1, require_formatted=True)


def test_bootstrap_voters_of_another_cluster_are_refused(tmp_path):
    voters = [InitialVoter(1, "localhost", 9093, random_uuid())]
    format_directories([tmp_path], cluster_id=CLUSTER, node_id=1, metadata_directory=tmp_path,
                       initial_voters=voters, controller_listener_name="CONTROLLER")
    meta = read_meta_properties(tmp_path)
    write_meta_properties(tmp_path, MetaProperties(random_uuid(), 1, meta.directory_id))
    with pytest.raises(MetaPropertiesError, match="bootstrap.voters is for cluster"):
        load_for_startup([tmp_path], node_id=1, require_formatted=True)


def test_embedded_default_adds_missing_directories_to_the_cluster(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    format_directories([a], cluster_id=CLUSTER, node_id=1, metadata_directory=a)
    b.mkdir()
    assert load_for_startup([a, b], node_id=1, require_formatted=False).cluster_id == CLUSTER
    assert read_meta_properties(b).cluster_id == CLUSTER


@pytest.mark.parametrize("overrides,required", [
    ([], False),
    (["node.id=2"], False),
    (["process.roles=broker,controller"], False),  # the embedded single node, as config/server.properties
    (["process.roles=broker"], True),
    (["process.roles=controller"], True),
    (["controller.quorum.voters=1@localhost:9093"], True),
    (["controller.quorum.bootstrap.servers=localhost:9093"], True),
])
def test_formatting_required(overrides, required):
    assert formatting_required(BrokerConfig.load(overrides=overrides, env={})) is required
