"""ACL bindings and filters: Kafka's enums, validation of a new binding and filter matching.

A binding (Kafka's ``AclBinding``) is a resource pattern (resource type, name, pattern type)
and an entry (principal, host, operation, permission type); the metadata image keeps them by
id (``AccessControlEntryRecord``).  A filter (Kafka's ``AclBindingFilter``) selects bindings for
DescribeAcls and DeleteAcls with Kafka's semantics:

- resource type ANY, pattern type ANY, operation ANY, permission type ANY, and a null name,
  principal or host match everything in that field; otherwise a field must be equal;
- pattern type MATCH with a name selects the bindings that would apply to that resource: a
  LITERAL binding of that name or of the wildcard ``*``, and every PREFIXED binding whose name
  is a prefix of it (MATCH with a null name matches every pattern type);
- a filter with an UNKNOWN element (code 0, or a code Kafka does not define) is invalid.

Enforcement is not here: Strom stores and serves bindings but authorizes every request
(security listeners and an authorizer come with the security work).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from strom.errors import ErrorCode, KafkaError

WILDCARD = "*"
CLUSTER_NAME = "kafka-cluster"


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14
    TWO_PHASE_COMMIT = 15


class AclPermissionType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


def _code(enum: type[IntEnum], value: int) -> IntEnum:
    """Kafka's ``fromCode``: a code it does not define is UNKNOWN."""
    try:
        return enum(value)
    except ValueError:
        return enum(0)


@dataclass(frozen=True, order=True)
class AclBinding:
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int

    def validate(self) -> None:
        """Raise INVALID_REQUEST unless this binding may be created (Kafka's AclControlManager.validateNewAcl
        and the broker's checks before it)."""
        pattern = _code(PatternType, self.pattern_type)
        if pattern not in (PatternType.LITERAL, PatternType.PREFIXED):
            raise _invalid(f"Invalid patternType {pattern.name}")
        resource = _code(ResourceType, self.resource_type)
        if resource in (ResourceType.UNKNOWN, ResourceType.ANY):
            raise _invalid(f"Invalid resourceType {resource.name}")
        operation = _code(AclOperation, self.operation)
        if operation in (AclOperation.UNKNOWN, AclOperation.ANY):
            raise _invalid(f"Invalid operation {operation.name}")
        permission = _code(AclPermissionType, self.permission_type)
        if permission not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
            raise _invalid(f"Invalid permissionType {permission.name}")
        if not self.resource_name:
            raise _invalid("Resource name should not be empty")
        if resource is ResourceType.CLUSTER and self.resource_name != CLUSTER_NAME:
            raise _invalid(f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}")
        if ":" not in self.principal:
            raise _invalid(f"Could not parse principal from `{self.principal}` (no colon is present separating "
                           f"the principal type from the principal name)")


@dataclass(frozen=True)
class AclFilter:
    """None for ``resource_name``, ``principal`` or ``host`` matches any value."""

    resource_type: int
    resource_name: str | None
    pattern_type: int
    principal: str | None
    host: str | None
    operation: int
    permission_type: int

    def validate(self) -> None:
        """Raise INVALID_REQUEST for a filter with an UNKNOWN element (Kafka's validateFilter)."""
        if (_code(ResourceType, self.resource_type) is ResourceType.UNKNOWN
                or _code(PatternType, self.pattern_type) is PatternType.UNKNOWN):
            raise _invalid("Unknown patternFilter.")
        if (_code(AclOperation, self.operation) is AclOperation.UNKNOWN
                or _code(AclPermissionType, self.permission_type) is AclPermissionType.UNKNOWN):
            raise _invalid("Unknown entryFilter.")

    def matches(self, acl: AclBinding) -> bool:
        return self._matches_pattern(acl) and self._matches_entry(acl)

    def _matches_pattern(self, acl: AclBinding) -> bool:
        if self.resource_type != ResourceType.ANY and self.resource_type != acl.resource_type:
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH, acl.pattern_type):
            return False
        if self.resource_name is None:
            return True
        if self.pattern_type in (PatternType.ANY, acl.pattern_type):
            return self.resource_name == acl.resource_name
        # MATCH: the bindings that apply to the named resource
        if acl.pattern_type == PatternType.LITERAL:
            return acl.resource_name in (self.resource_name, WILDCARD)
        return acl.pattern_type == PatternType.PREFIXED and self.resource_name.startswith(acl.resource_name)

    def _matches_entry(self, acl: AclBinding) -> bool:
        if self.principal is not None and self.principal != acl.principal:
            return False
        if self.host is not None and self.host != acl.host:
            return False
        if self.operation != AclOperation.ANY and self.operation != acl.operation:
            return False
        return self.permission_type == AclPermissionType.ANY or self.permission_type == acl.permission_type


def _invalid(message: str) -> KafkaError:
    return KafkaError(message, ErrorCode.INVALID_REQUEST)


__all__ = ["AclBinding", "AclFilter", "ResourceType", "PatternType", "AclOperation", "AclPermissionType",
           "WILDCARD", "CLUSTER_NAME"]
