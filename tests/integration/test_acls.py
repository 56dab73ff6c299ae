"""ACL bindings and SCRAM credentials through kafka-python's KafkaAdminClient and confluent-kafka's
AdminClient against a real broker: created, described with Kafka's filters, deleted, and still there
after a broker restart (they live in the metadata log).  Strom stores them; it does not enforce them.
"""
from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType,
    ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion, UserScramCredentialUpsertion,
)

pytestmark = pytest.mark.timeout(120)

ANY_FILTER = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                              AclPermissionType.ANY)


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def test_kafka_python_acls_survive_a_restart(broker) -> None:
    from kafka.admin import (
        ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient, ResourcePattern,
        ResourcePatternFilter, ResourceType as KResourceType,
    )
    from kafka.errors import NoError

    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    read = ACL("User:test", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
               ResourcePattern(KResourceType.TOPIC, "orders"))
    write = ACL("User:test", "*", ACLOperation.WRITE, ACLPermissionType.DENY,
                ResourcePattern(KResourceType.TOPIC, "ord", ACLResourcePatternType.PREFIXED))
    bad = ACL("User:test", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
              ResourcePattern(KResourceType.CLUSTER, "not-the-cluster"))
    result = client.create_acls([read, write, bad])
    assert len(result["succeeded"]) == 2 and len(result["failed"]) == 1
    every = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                      ResourcePatternFilter(KResourceType.ANY, None, ACLResourcePatternType.ANY))
    acls, error = client.describe_acls(every)
    assert error is NoError and len(acls) == 2
    # MATCH: the bindings that apply to topic "orders" (its literal one and the prefix "ord")
    acls, error = client.describe_acls(ACLFilter(
        None, None, ACLOperation.ANY, ACLPermissionType.ANY,
        ResourcePatternFilter(KResourceType.TOPIC, "orders", ACLResourcePatternType.MATCH)))
    assert error is NoError and len(acls) == 2
    client.close()

    broker.restart()
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    acls, error = client.describe_acls(every)
    assert error is NoError
    assert sorted((a.operation, a.resource_pattern.resource_name) for a in acls) == [
        (ACLOperation.READ, "orders"), (ACLOperation.WRITE, "ord")]
    [(_, deleted, error)] = client.delete_acls([ACLFilter(
        "User:test", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
        ResourcePatternFilter(KResourceType.TOPIC, "orders", ACLResourcePatternType.LITERAL))])
    assert error is NoError and len(deleted) == 1
    acls, error = client.describe_acls(every)
    assert error is NoError and [a.operation for a in acls] == [ACLOperation.WRITE]
    client.close()


def test_confluent_acls_create_describe_delete_and_restart(broker) -> None:
    a = admin(broker.bootstrap)
    literal = AclBinding(ResourceType.TOPIC, "t1", ResourcePatternType.LITERAL, "User:u1", "*", AclOperation.READ,
                         AclPermissionType.ALLOW)
    prefixed = AclBinding(ResourceType.TOPIC, "t1", ResourcePatternType.PREFIXED, "User:u2", "*",
                          AclOperation.WRITE, AclPermissionType.DENY)
    group = AclBinding(ResourceType.GROUP, "g1", ResourcePatternType.PREFIXED, "User:u2", "*", AclOperation.ALL,
                       AclPermissionType.ALLOW)
    for f in a.create_acls([literal, prefixed, group], request_timeout=10).values():
        assert f.result() is None
    bad = AclBinding(ResourceType.TOPIC, "t1", ResourcePatternType.LITERAL, "no-colon", "*", AclOperation.READ,
                     AclPermissionType.ALLOW)
    with pytest.raises(KafkaException) as exc:
        a.create_acls([bad])[bad].result()
    assert exc.value.args[0].code() == KafkaError.INVALID_REQUEST
    assert sorted(a.describe_acls(ANY_FILTER).result()) == sorted([literal, prefixed, group])

    broker.restart()
    a = admin(broker.bootstrap)
    assert sorted(a.describe_acls(ANY_FILTER).result()) == sorted([literal, prefixed, group])
    only_prefixed = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.PREFIXED, None, None,
                                     AclOperation.ANY, AclPermissionType.ANY)
    assert sorted(a.delete_acls([only_prefixed])[only_prefixed].result()) == sorted([prefixed, group])
    topics = AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                              AclPermissionType.ANY)
    groups = AclBindingFilter(ResourceType.GROUP, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                              AclPermissionType.ANY)
    results = a.delete_acls([topics, groups])
    assert results[topics].result() == [literal] and results[groups].result() == []
    assert a.describe_acls(ANY_FILTER).result() == []


def test_confluent_scram_credentials_and_restart(broker) -> None:
    a = admin(broker.bootstrap)
    sha256, sha512 = ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512
    with pytest.raises(KafkaException) as exc:
        a.describe_user_scram_credentials(["alice"])["alice"].result()
    assert exc.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    done = a.alter_user_scram_credentials([
        UserScramCredentialUpsertion("alice", ScramCredentialInfo(sha256, 10000), b"password", b"salt"),
        UserScramCredentialUpsertion("bob", ScramCredentialInfo(sha512, 4096), b"password"),
        UserScramCredentialUpsertion("weak", ScramCredentialInfo(sha256, 4095), b"password")])
    assert done["alice"].result() is None and done["bob"].result() is None
    with pytest.raises(KafkaException) as exc:
        done["weak"].result()
    assert exc.value.args[0].code() == KafkaError.UNACCEPTABLE_CREDENTIAL
    assert a.alter_user_scram_credentials([UserScramCredentialUpsertion(
        "alice", ScramCredentialInfo(sha512, 8192), b"password")])["alice"].result() is None

    broker.restart()
    a = admin(broker.bootstrap)
    every = a.describe_user_scram_credentials().result()
    assert sorted(every) == ["alice", "bob"]
    assert sorted((i.mechanism, i.iterations) for i in every["alice"].scram_credential_infos) == [
        (sha256, 10000), (sha512, 8192)]
    assert a.alter_user_scram_credentials([UserScramCredentialDeletion("bob", sha512)])["bob"].result() is None
    with pytest.raises(KafkaException) as exc:
        a.alter_user_scram_credentials([UserScramCredentialDeletion("bob", sha512)])["bob"].result()
    assert exc.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    with pytest.raises(KafkaException) as exc:
        a.describe_user_scram_credentials(["bob"])["bob"].result()
    assert exc.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    assert [(i.mechanism, i.iterations)
            for i in a.describe_user_scram_credentials(["alice"])["alice"].result().scram_credential_infos] == [
        (sha256, 10000), (sha512, 8192)]


def test_kafka_python_scram_credentials(broker) -> None:
    from kafka.admin import KafkaAdminClient, ScramMechanism as KMech, UserScramCredentialUpsertion as KUpsert

    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    assert client.alter_user_scram_credentials([KUpsert("carol", KMech.SCRAM_SHA_512, "secret",
                                                        iterations=4096)]) == {"carol": None}
    described = client.describe_user_scram_credentials(["carol"])
    assert described["carol"]["error"] is None
    assert [(i["mechanism"], i["iterations"]) for i in described["carol"]["credential_infos"]] == [
        (KMech.SCRAM_SHA_512, 4096)]
    client.close()
