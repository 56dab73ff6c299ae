"""Where handlers read cluster metadata: the one seam between a handler and the metadata it sees.

Handlers built on this read topics and live brokers only through these functions, so moving
them from the controller's image to a broker-side metadata cache changes this module alone.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strom.controller.image import MetadataImage
    from strom.server.context import BrokerServices


def metadata_image(broker: "BrokerServices") -> "MetadataImage":
    """The metadata image this broker answers from (topics by name and by id, configs)."""
    return broker.controller.image


def live_brokers(broker: "BrokerServices") -> frozenset[int]:
    """The ids of the brokers that are alive (registered and not fenced)."""
    return frozenset(broker.controller.live_brokers)
