"""ACL and SCRAM-credential handlers (CreateAcls, DescribeAcls, DeleteAcls, AlterUserScramCredentials,
DescribeUserScramCredentials) against a real single-node Controller on a temp dir, through the codec in
every served version (the ``Node`` of test_admin_handlers), plus replay of the stored metadata after a
restart of the controller.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from strom.config import BrokerConfig
from strom.controller.controller import Controller
from strom.controller.metadata_log import MetadataLog
from strom.errors import ErrorCode
from strom.metadata.acls import AclBinding, AclOperation, AclPermissionType, PatternType, ResourceType
from strom.metadata.cache import MetadataCache
from strom.metadata.records import decode, encode
from strom.metadata.scram import ScramMechanism
from strom.util.clock import FakeClock

from .test_admin_handlers import Node, versions

DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS, DESCRIBE_SCRAM, ALTER_SCRAM = 29, 30, 31, 50, 51
R, P, O, A = ResourceType, PatternType, AclOperation, AclPermissionType
SHA256, SHA512 = ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def creation(rtype: int, name: str, ptype: int, principal: str = "User:alice", host: str = "*",
             op: int = O.READ, perm: int = A.ALLOW) -> dict[str, Any]:
    return {"resource_type": rtype, "resource_name": name, "resource_pattern_type": ptype, "principal": principal,
            "host": host, "operation": op, "permission_type": perm}


def acl_filter(rtype: int = R.ANY, name: str | None = None, ptype: int = P.ANY, principal: str | None = None,
               host: str | None = None, op: int = O.ANY, perm: int = A.ANY) -> dict[str, Any]:
    return {"resource_type_filter": rtype, "resource_name_filter": name, "pattern_type_filter": ptype,
            "principal_filter": principal, "host_filter": host, "operation": op, "permission_type": perm}


def create(node: Node, version: int, *creations: dict[str, Any]) -> list[tuple[int, str | None]]:
    results = node.call(CREATE_ACLS, version, {"creations": list(creations)})["results"]
    return [(r["error_code"], r["error_message"]) for r in results]


def described(node: Node, version: int, **f: Any) -> list[tuple[int, str, int, str, str, int, int]]:
    """Flat (resource type, name, pattern type, principal, host, operation, permission) of DescribeAcls."""
    out = node.call(DESCRIBE_ACLS, version, acl_filter(**f))
    assert out["error_code"] == ErrorCode.NONE, out
    return [(r["resource_type"], r["resource_name"], r["pattern_type"], a["principal"], a["host"], a["operation"],
             a["permission_type"]) for r in out["resources"] for a in r["acls"]]


# ---------------------------------------------------------------- CreateAcls / DescribeAcls
@pytest.mark.parametrize("version", versions(CREATE_ACLS))
def test_create_then_describe_grouped_by_resource(node: Node, version: int) -> None:
    assert create(node, version, creation(R.TOPIC, "orders", P.LITERAL),
                  creation(R.TOPIC, "orders", P.LITERAL, principal="User:bob", op=O.WRITE, perm=A.DENY),
                  creation(R.GROUP, "g-", P.PREFIXED, op=O.ALL)) == [(0, None)] * 3
    out = node.call(DESCRIBE_ACLS, version, acl_filter())
    assert out["error_code"] == ErrorCode.NONE
    assert [(r["resource_type"], r["resource_name"], r["pattern_type"], len(r["acls"])) for r in out["resources"]] \
        == [(R.TOPIC, "orders", P.LITERAL, 2), (R.GROUP, "g-", P.PREFIXED, 1)]
    assert out["resources"][0]["acls"][1] == {"principal": "User:bob", "host": "*", "operation": O.WRITE,
                                              "permission_type": A.DENY}


def test_creating_an_existing_binding_stores_nothing_new(node: Node) -> None:
    c = creation(R.TOPIC, "t", P.LITERAL)
    assert create(node, 3, c, c) == [(0, None), (0, None)]
    assert create(node, 3, c) == [(0, None)]
    assert len(node.metadata.image.acls) == 1


@pytest.mark.parametrize(("bad", "reason"), [
    ({"resource_type": R.ANY}, "Invalid resourceType ANY"),
    ({"resource_type": R.UNKNOWN}, "Invalid resourceType UNKNOWN"),
    ({"resource_type": 99}, "Invalid resourceType UNKNOWN"),
    ({"resource_pattern_type": P.MATCH}, "Invalid patternType MATCH"),
    ({"resource_pattern_type": P.ANY}, "Invalid patternType ANY"),
    ({"operation": O.ANY}, "Invalid operation ANY"),
    ({"operation": O.UNKNOWN}, "Invalid operation UNKNOWN"),
    ({"permission_type": A.ANY}, "Invalid permissionType ANY"),
    ({"resource_name": ""}, "Resource name should not be empty"),
    ({"principal": "alice"}, "Could not parse principal"),
    ({"resource_type": R.CLUSTER, "resource_name": "c"}, "The only valid name for the CLUSTER resource"),
])
def test_create_rejects_what_kafka_rejects(node: Node, bad: dict[str, Any], reason: str) -> None:
    good = creation(R.TOPIC, "t", P.LITERAL)
    [(code, message), ok] = create(node, 3, {**good, **bad}, good)
    assert code == ErrorCode.INVALID_REQUEST and message is not None and message.startswith(reason)
    assert ok == (0, None)  # the other creations of the request still apply
    assert len(node.metadata.image.acls) == 1


def test_cluster_resource_named_kafka_cluster_is_accepted(node: Node) -> None:
    assert create(node, 3, creation(R.CLUSTER, "kafka-cluster", P.LITERAL, op=O.ALTER)) == [(0, None)]


def test_describe_filters(node: Node) -> None:
    create(node, 3,
           creation(R.TOPIC, "orders", P.LITERAL),
           creation(R.TOPIC, "*", P.LITERAL, principal="User:bob"),
           creation(R.TOPIC, "ord", P.PREFIXED, op=O.WRITE),
           creation(R.TOPIC, "other", P.PREFIXED, host="10.0.0.1"),
           creation(R.GROUP, "orders", P.LITERAL, perm=A.DENY))
    names = lambda **f: sorted((r[0], r[1], r[2]) for r in described(node, 3, **f))  # noqa: E731
    assert len(described(node, 3)) == 5
    # MATCH: what applies to topic "orders": literal of that name, the wildcard, and prefixes of it
    assert names(rtype=R.TOPIC, name="orders", ptype=P.MATCH) == [
        (R.TOPIC, "*", P.LITERAL), (R.TOPIC, "ord", P.PREFIXED), (R.TOPIC, "orders", P.LITERAL)]
    # ANY with a name: exact name, any pattern type; LITERAL: exact name and type
    assert names(name="orders") == [(R.TOPIC, "orders", P.LITERAL), (R.GROUP, "orders", P.LITERAL)]
    assert names(rtype=R.TOPIC, name="ord", ptype=P.LITERAL) == []
    assert names(ptype=P.PREFIXED) == [(R.TOPIC, "ord", P.PREFIXED), (R.TOPIC, "other", P.PREFIXED)]
    assert names(ptype=P.MATCH) == names()  # MATCH without a name matches every pattern
    # entry fields
    assert names(principal="User:bob") == [(R.TOPIC, "*", P.LITERAL)]
    assert names(host="10.0.0.1") == [(R.TOPIC, "other", P.PREFIXED)]
    assert names(op=O.WRITE) == [(R.TOPIC, "ord", P.PREFIXED)]
    assert names(perm=A.DENY) == [(R.GROUP, "orders", P.LITERAL)]
    assert names(rtype=R.GROUP, perm=A.ALLOW) == []


@pytest.mark.parametrize("version", versions(DESCRIBE_ACLS))
@pytest.mark.parametrize("bad", [{"rtype": R.UNKNOWN}, {"ptype": P.UNKNOWN}, {"op": O.UNKNOWN},
                                 {"perm": A.UNKNOWN}, {"op": 77}])
def test_describe_with_unknown_filter_is_invalid_request(node: Node, version: int, bad: dict[str, Any]) -> None:
    out = node.call(DESCRIBE_ACLS, version, acl_filter(**bad))
    assert out["error_code"] == ErrorCode.INVALID_REQUEST and out["error_message"] and out["resources"] == []


# ---------------------------------------------------------------- DeleteAcls
@pytest.mark.parametrize("version", versions(DELETE_ACLS))
def test_delete_by_filters(node: Node, version: int) -> None:
    create(node, 3, creation(R.TOPIC, "t", P.LITERAL), creation(R.TOPIC, "t", P.PREFIXED, op=O.WRITE),
           creation(R.GROUP, "g", P.PREFIXED, op=O.ALL))
    out = node.call(DELETE_ACLS, version, {"filters": [
        acl_filter(ptype=P.PREFIXED), acl_filter(rtype=R.GROUP), acl_filter(op=O.UNKNOWN),
        acl_filter(rtype=R.USER)]})
    prefixed, group, invalid, none = out["filter_results"]
    assert prefixed["error_code"] == 0
    assert sorted((m["resource_type"], m["resource_name"], m["pattern_type"], m["operation"], m["error_code"])
                  for m in prefixed["matching_acls"]) == [(R.TOPIC, "t", P.PREFIXED, O.WRITE, 0),
                                                          (R.GROUP, "g", P.PREFIXED, O.ALL, 0)]
    # a binding matched by two filters is deleted once and listed under both
    assert [(m["resource_type"], m["resource_name"]) for m in group["matching_acls"]] == [(R.GROUP, "g")]
    assert invalid["error_code"] == ErrorCode.INVALID_REQUEST and invalid["matching_acls"] == []
    assert none == {"error_code": 0, "error_message": None, "matching_acls": []}
    assert described(node, 3) == [(R.TOPIC, "t", P.LITERAL, "User:alice", "*", O.READ, A.ALLOW)]


def test_delete_match_removes_what_applies_to_a_resource(node: Node) -> None:
    create(node, 3, creation(R.TOPIC, "*", P.LITERAL), creation(R.TOPIC, "a", P.PREFIXED),
           creation(R.TOPIC, "abc", P.LITERAL), creation(R.TOPIC, "b", P.PREFIXED))
    out = node.call(DELETE_ACLS, 3, {"filters": [acl_filter(rtype=R.TOPIC, name="abc", ptype=P.MATCH)]})
    assert len(out["filter_results"][0]["matching_acls"]) == 3
    assert [r[1] for r in described(node, 3)] == ["b"]


# ---------------------------------------------------------------- SCRAM credentials
def upsertion(name: str, mechanism: int = SHA256, iterations: int = 8192, salt: bytes = b"salt",
              salted_password: bytes = b"salted") -> dict[str, Any]:
    return {"name": name, "mechanism": mechanism, "iterations": iterations, "salt": salt,
            "salted_password": salted_password}


def alter(node: Node, deletions: list[tuple[str, int]] = (), upsertions: list[dict[str, Any]] = ()  # type: ignore[assignment]
          ) -> list[tuple[str, int]]:
    out = node.call(ALTER_SCRAM, 0, {"deletions": [{"name": n, "mechanism": m} for n, m in deletions],
                                     "upsertions": list(upsertions)})
    for r in out["results"]:
        assert (r["error_code"] == 0) == (r["error_message"] is None), r
    return [(r["user"], r["error_code"]) for r in out["results"]]


def describe_scram(node: Node, users: list[str] | None) -> list[tuple[str, int, list[tuple[int, int]]]]:
    out = node.call(DESCRIBE_SCRAM, 0, {"users": None if users is None else [{"name": u} for u in users]})
    assert out["error_code"] == 0
    return [(r["user"], r["error_code"], [(c["mechanism"], c["iterations"]) for c in r["credential_infos"]])
            for r in out["results"]]


def test_scram_upsert_describe_delete(node: Node) -> None:
    assert describe_scram(node, ["alice"]) == [("alice", ErrorCode.RESOURCE_NOT_FOUND, [])]
    assert alter(node, upsertions=[upsertion("alice"), upsertion("bob", SHA512, 4096)]) == [
        ("alice", 0), ("bob", 0)]
    assert alter(node, upsertions=[upsertion("alice", SHA512, 16384)]) == [("alice", 0)]
    assert alter(node, upsertions=[upsertion("alice", SHA256, 10000)]) == [("alice", 0)]  # replaces
    every = [("alice", 0, [(SHA256, 10000), (SHA512, 16384)]), ("bob", 0, [(SHA512, 4096)])]
    assert describe_scram(node, None) == every
    assert describe_scram(node, []) == every
    assert describe_scram(node, ["bob", "carol", "bob", "alice"]) == [
        ("bob", ErrorCode.DUPLICATE_RESOURCE, []), ("carol", ErrorCode.RESOURCE_NOT_FOUND, []),
        ("alice", 0, [(SHA256, 10000), (SHA512, 16384)])]
    assert alter(node, deletions=[("alice", SHA512), ("bob", SHA512)]) == [("alice", 0), ("bob", 0)]
    assert describe_scram(node, None) == [("alice", 0, [(SHA256, 10000)])]
    assert describe_scram(node, ["bob"]) == [("bob", ErrorCode.RESOURCE_NOT_FOUND, [])]


def test_scram_stores_keys_not_the_salted_password(node: Node) -> None:
    alter(node, upsertions=[upsertion("alice", SHA256, salt=b"NaCl", salted_password=b"secret")])
    cred = node.metadata.image.scram_credentials["alice"][SHA256]
    client_key = hmac.digest(b"secret", b"Client Key", "sha256")
    assert (cred.salt, cred.iterations) == (b"NaCl", 8192)
    assert cred.stored_key == hashlib.sha256(client_key).digest()
    assert cred.server_key == hmac.digest(b"secret", b"Server Key", "sha256")
    log_bytes = b"".join(v for _, v in (encode(r) for r in _all_records(node)))
    assert b"secret" not in log_bytes and base64.b64encode(b"secret") not in log_bytes


def _all_records(node: Node) -> list[Any]:
    return list(node.controller.log.read_all())


def test_scram_errors(node: Node) -> None:
    alter(node, upsertions=[upsertion("dave")])
    assert alter(node, deletions=[("x", SHA256), ("dave", 0)], upsertions=[
        upsertion("few", iterations=4095), upsertion("many", iterations=16385), upsertion("", SHA256),
        upsertion("odd", mechanism=3), upsertion("twice"), upsertion("twice", SHA512),
        upsertion("dave")]) == [
        ("x", ErrorCode.RESOURCE_NOT_FOUND), ("dave", ErrorCode.DUPLICATE_RESOURCE),
        ("few", ErrorCode.UNACCEPTABLE_CREDENTIAL), ("many", ErrorCode.UNACCEPTABLE_CREDENTIAL),
        ("", ErrorCode.UNACCEPTABLE_CREDENTIAL), ("odd", ErrorCode.UNSUPPORTED_SASL_MECHANISM),
        ("twice", ErrorCode.DUPLICATE_RESOURCE)]
    assert alter(node, deletions=[("dave", SHA512)]) == [("dave", ErrorCode.RESOURCE_NOT_FOUND)]
    assert describe_scram(node, None) == [("dave", 0, [(SHA256, 8192)])]  # nothing else changed


# ---------------------------------------------------------------- durability
def test_acls_and_credentials_replay_after_restart(tmp_path: Path) -> None:
    node = Node(tmp_path)
    create(node, 3, creation(R.TOPIC, "t", P.LITERAL), creation(R.GROUP, "g", P.PREFIXED, op=O.ALL),
           creation(R.TOPIC, "gone", P.LITERAL))
    node.call(DELETE_ACLS, 3, {"filters": [acl_filter(name="gone")]})
    alter(node, upsertions=[upsertion("alice"), upsertion("alice2", SHA512)])
    alter(node, deletions=[("alice2", SHA512)])
    before = node.metadata.image
    node.controller.log.close()

    config = BrokerConfig.load(overrides=[], env={})
    clock = FakeClock()
    controller = Controller(MetadataLog(tmp_path, clock, clean=False), config, node_id=1, scheduler=clock)
    controller.load()
    cache = MetadataCache(1, config)
    cache.replay(controller.log.read_all(), controller.committed_offset)
    for image in (controller.image, cache.image):
        assert sorted(image.acls.values()) == sorted(before.acls.values()) == [
            AclBinding(R.TOPIC, "t", P.LITERAL, "User:alice", "*", O.READ, A.ALLOW),
            AclBinding(R.GROUP, "g", P.PREFIXED, "User:alice", "*", O.ALL, A.ALLOW)]
        assert dict(image.scram_credentials["alice"]) == dict(before.scram_credentials["alice"])
        assert set(image.scram_credentials) == {"alice"}


def test_records_round_trip_through_bytes(node: Node) -> None:
    create(node, 3, creation(R.TOPIC, "t", P.LITERAL))
    alter(node, upsertions=[upsertion("alice")], deletions=[])
    alter(node, deletions=[("alice", SHA256)])
    records = [r for r in _all_records(node) if r.TYPE in ("acl", "scram_credential", "remove_scram_credential")]
    assert [r.TYPE for r in records] == ["acl", "scram_credential", "remove_scram_credential"]
    assert all(decode(*encode(r)) == r for r in records)


def test_images_are_not_changed_by_later_records(node: Node) -> None:
    create(node, 3, creation(R.TOPIC, "t", P.LITERAL))
    alter(node, upsertions=[upsertion("alice")])
    before = node.metadata.image
    acls, credentials = dict(before.acls), {u: dict(c) for u, c in before.scram_credentials.items()}
    create(node, 3, creation(R.TOPIC, "u", P.LITERAL))
    node.call(DELETE_ACLS, 3, {"filters": [acl_filter(name="t")]})
    alter(node, upsertions=[upsertion("alice", SHA512), upsertion("bob")])
    alter(node, deletions=[("alice", SHA256)])
    assert dict(before.acls) == acls
    assert {u: dict(c) for u, c in before.scram_credentials.items()} == credentials
    after = node.metadata.image
    assert [a.resource_name for a in after.acls.values()] == ["u"]
    assert {u: sorted(c) for u, c in after.scram_credentials.items()} == {"alice": [SHA512], "bob": [SHA256]}
