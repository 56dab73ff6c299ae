"""Cluster metadata as both roles see it (Kafka's ``metadata``/``image`` modules).

- ``records``: the metadata records of ``__cluster_metadata`` and their encoding;
- ``image``: ``MetadataImage``, an immutable value, and ``MetadataDelta``, which builds the next one;
- ``cache``: ``MetadataCache``, the broker's published image and its listeners;
- ``controller_client``: ``ControllerClient``, the broker's narrow write path to the active controller;
- ``names``: topic name rules.
- ``acls``: ACL bindings and filters (Kafka's enums, validation, matching); ``scram``: SCRAM
  mechanisms, iteration bounds and key derivation.  Both are stored, not enforced, for now.

Layering (pyproject's import-linter contracts): this package sits below ``strom.controller`` and
``strom.coordinator`` and above raft/replication, so the controller builds its images with the same
code and ``strom.server`` reads metadata and writes through the client without importing
``strom.controller`` (a forbidden contract checks it).  The in-process client lives with the
controller (``strom.controller.client``); ``strom.node`` wires the two roles together.
"""
