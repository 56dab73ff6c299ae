"""Cluster metadata shared by both roles: records, immutable images, the broker's cache, the controller client."""
