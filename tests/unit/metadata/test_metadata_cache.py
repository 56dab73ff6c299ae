"""The broker's metadata side: immutable images built by MetadataDelta, and MetadataCache publishing
(listener order, what listeners see, waiting for an offset)."""
from __future__ import annotations

import asyncio
import uuid
from types import MappingProxyType

import pytest

from strom.config import BrokerConfig
from strom.metadata.cache import MetadataCache
from strom.metadata.image import EMPTY_IMAGE, MetadataDelta, MetadataImage
from strom.metadata.records import (
    BROKER_RESOURCE, TOPIC_RESOURCE, BrokerEndpoint, BrokerRegistrationChangeRecord, ConfigRecord, PartitionRecord,
    ProducerIdsRecord, RegisterBrokerRecord, RemoveTopicRecord, TopicRecord, UnregisterBrokerRecord, decode, encode,
)

A, B = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))


def topic(name: str, topic_id: str, partitions: int = 1) -> list:
    return [TopicRecord(name, topic_id)] + [PartitionRecord(topic_id, p, [1], [1], 1) for p in range(partitions)]


def config() -> BrokerConfig:
    return BrokerConfig.load(overrides=["num.partitions=1"], env={})


# ---------------------------------------------------------------------------- images
def test_a_published_image_never_changes() -> None:
    first = EMPTY_IMAGE.replay(topic("a", A, 2) + [ConfigRecord(TOPIC_RESOURCE, "a", "retention.ms", "1000"),
                                                   ConfigRecord(BROKER_RESOURCE, "", "log.retention.ms", "5")], 2)
    snapshot = (dict(first.topics), dict(first.topics["a"].partitions), dict(first.topics["a"].configs),
                {k: dict(v) for k, v in first.broker_configs.items()}, first.offset)
    second = first.replay([PartitionRecord(A, 2, [1], [1], 1), ConfigRecord(TOPIC_RESOURCE, "a", "retention.ms", None),
                           ConfigRecord(BROKER_RESOURCE, "", "log.retention.ms", "6"), *topic("b", B),
                           RemoveTopicRecord(A)], 9)
    assert (dict(first.topics), dict(first.topics["a"].partitions), dict(first.topics["a"].configs),
            {k: dict(v) for k, v in first.broker_configs.items()}, first.offset) == snapshot
    assert list(second.topics) == ["b"] and list(second.topics_by_id) == [uuid.UUID(B)]
    assert second.broker_configs[""] == {"log.retention.ms": "6"} and second.offset == 9


def test_images_are_read_only() -> None:
    image = EMPTY_IMAGE.replay(topic("a", A) + [ConfigRecord(TOPIC_RESOURCE, "a", "retention.ms", "1")], 3)
    t = image.topics["a"]
    for mapping in (image.topics, image.topics_by_id, image.broker_configs, t.partitions, t.configs):
        assert isinstance(mapping, MappingProxyType)
        with pytest.raises(TypeError):
            mapping["x"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        image.offset = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        t.name = "b"  # type: ignore[misc]


def test_untouched_topics_are_shared_between_images() -> None:
    first = EMPTY_IMAGE.replay(topic("a", A) + topic("b", B), 3)
    second = first.replay([ConfigRecord(TOPIC_RESOURCE, "b", "retention.ms", "1")], 4)
    assert second.topics["a"] is first.topics["a"]
    assert second.topics["b"] is not first.topics["b"] and first.topics["b"].configs == {}
    assert second.topics_by_id[uuid.UUID(B)] is second.topics["b"]


def test_delta_replays_like_the_whole_log() -> None:
    """Replaying a log in one batch or record by record gives the same image."""
    records = [*topic("a", A, 2), ConfigRecord(TOPIC_RESOURCE, "a", "segment.ms", "60000"), RemoveTopicRecord(A),
               *topic("a", B, 3), ConfigRecord(TOPIC_RESOURCE, "a", "retention.ms", "7"),
               ConfigRecord(TOPIC_RESOURCE, "gone", "retention.ms", "7"),  # unknown topic: ignored
               ProducerIdsRecord(1, 1000), ProducerIdsRecord(1, 500)]
    at_once = EMPTY_IMAGE.replay(records, len(records) - 1)
    one_by_one: MetadataImage = EMPTY_IMAGE
    for offset, record in enumerate(records):
        one_by_one = one_by_one.replay([record], offset)
    assert at_once == one_by_one
    a = at_once.topics["a"]
    assert a.topic_id == uuid.UUID(B) and len(a.partitions) == 3 and a.configs == {"retention.ms": "7"}
    assert list(at_once.topics_by_id) == [uuid.UUID(B)] and at_once.next_producer_id == 1000


def test_delta_names_the_topics_it_removes() -> None:
    base = EMPTY_IMAGE.replay(topic("a", A) + topic("b", B), 3)
    delta = MetadataDelta(base)
    delta.replay(RemoveTopicRecord(A))
    delta.replay(RemoveTopicRecord(str(uuid.UUID(int=9))))  # unknown: nothing
    assert [t.name for t in delta.removed_topics] == ["a"] and delta.base is base


def test_broker_view_from_the_image_alone() -> None:
    image = EMPTY_IMAGE.replay(topic("a", A) + [
        ConfigRecord(TOPIC_RESOURCE, "a", "retention.ms", "1000"),
        ConfigRecord(BROKER_RESOURCE, "", "log.retention.ms", "5000"),
        ConfigRecord(BROKER_RESOURCE, "1", "log.retention.ms", "6000"),
        ConfigRecord(BROKER_RESOURCE, "", "log.segment.bytes", "2097152")], 6)
    cache = MetadataCache(1, config(), image)
    assert cache.dynamic_broker_configs() == ({"log.retention.ms": "6000"},
                                              {"log.retention.ms": "5000", "log.segment.bytes": "2097152"})
    effective = cache.effective_broker_config()
    assert effective["log.retention.ms"] == 6000 and effective["log.segment.bytes"] == 2097152
    assert cache.topic_config_values("a")["retention.ms"] == 1000
    assert cache.topic_config_values("a")["segment.bytes"] == 2097152
    assert cache.topic_config_values("missing")["retention.ms"] == 6000
    assert cache.topic("a") is image.topics["a"] and cache.topic_by_id(uuid.UUID(A)) is image.topics["a"]
    assert cache.topic_partitions("a") == 1 and cache.topic_partitions("x") is None
    assert cache.topic_id("a") == uuid.UUID(A) and cache.topic_name(uuid.UUID(A)) == "a"
    assert cache.topic_names() == ["a"] and cache.live_brokers == []  # nobody registered


def test_broker_registrations_replay_into_the_image() -> None:
    ep = (BrokerEndpoint("PLAINTEXT", "h1", 9092), BrokerEndpoint("INTERNAL", "i1", 9093, 1))
    records = [RegisterBrokerRecord(1, "inc-a", 0, ep, "r1"), RegisterBrokerRecord(2, "inc-b", 1, ep[:1]),
               BrokerRegistrationChangeRecord(1, 0, fenced=False),
               BrokerRegistrationChangeRecord(2, 1, fenced=False)]
    for r in records:  # every record survives its stored form
        assert decode(*encode(r)) == r
    image = EMPTY_IMAGE.replay(records, 3)
    assert image.live_brokers == [1, 2] and image.brokers[1].rack == "r1"
    assert image.brokers[1].endpoint("INTERNAL") == ep[1] and image.brokers[1].endpoint("OTHER") == ep[0]
    later = image.replay([BrokerRegistrationChangeRecord(2, 1, in_controlled_shutdown=True),
                          BrokerRegistrationChangeRecord(1, 0, fenced=True)], 5)
    assert later.live_brokers == [2] and [b.broker_id for b in later.usable_brokers] == []
    assert image.live_brokers == [1, 2]  # the older image did not change
    # a new registration replaces the old one; changes and unregistrations of the old epoch are ignored
    again = later.replay([RegisterBrokerRecord(1, "inc-c", 6, ep), BrokerRegistrationChangeRecord(1, 0, fenced=False),
                          UnregisterBrokerRecord(1, 0)], 8)
    assert (again.brokers[1].epoch, again.brokers[1].fenced, again.brokers[1].incarnation_id) == (6, True, "inc-c")
    gone = again.replay([UnregisterBrokerRecord(1, 6)], 9)
    assert 1 not in gone.brokers and 2 in gone.brokers


# ---------------------------------------------------------------------------- publishing
def test_listeners_run_in_order_and_see_the_published_image() -> None:
    cache = MetadataCache(1, config())
    seen: list[tuple[str, int, int, list[str], bool]] = []

    def listener(tag: str):
        def call(delta: MetadataDelta, image: MetadataImage) -> None:
            seen.append((tag, delta.base.offset, image.offset, list(image.topics), cache.image is image))
        return call

    cache.subscribe(listener("logs"))
    cache.subscribe(listener("groups"))
    cache.replay(topic("a", A), 1)
    cache.replay([RemoveTopicRecord(A)], 2)
    assert seen == [("logs", -1, 1, ["a"], True), ("groups", -1, 1, ["a"], True),
                    ("logs", 1, 2, [], True), ("groups", 1, 2, [], True)]


def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    cache = MetadataCache(1, config())
    got = []

    def broken(delta: MetadataDelta, image: MetadataImage) -> None:
        raise RuntimeError("boom")

    cache.subscribe(broken)
    cache.subscribe(lambda delta, image: got.append(image.offset))
    cache.replay(topic("a", A), 1)
    assert got == [1] and cache.image.offset == 1 and "boom" in caplog.text


def test_a_batch_already_applied_is_ignored() -> None:
    cache = MetadataCache(1, config())
    calls = []
    cache.subscribe(lambda delta, image: calls.append(image.offset))
    first = cache.replay(topic("a", A), 1)
    assert cache.replay(topic("a", A), 1) is first and calls == [1]


def test_wait_for_an_offset() -> None:
    async def main() -> None:
        cache = MetadataCache(1, config())
        cache.replay(topic("a", A), 1)
        assert await cache.wait_for(-1, 0) and await cache.wait_for(1, 0)  # already there: no wait at all

        order: list[str] = []
        cache.subscribe(lambda delta, image: order.append(f"listener {image.offset}"))

        async def waiter(offset: int) -> None:
            assert await cache.wait_for(offset, 10_000)
            assert cache.image.offset >= offset
            order.append(f"woke {offset}")

        async with asyncio.TaskGroup() as tg:
            tg.create_task(waiter(3))
            tg.create_task(waiter(5))
            await asyncio.sleep(0)  # both wait now
            cache.replay(topic("b", B), 3)
            await asyncio.sleep(0)
            assert order == ["listener 3", "woke 3"]
            cache.replay([ConfigRecord(TOPIC_RESOURCE, "b", "retention.ms", "1")], 5)
        assert order == ["listener 3", "woke 3", "listener 5", "woke 5"]
        assert cache._waiters == []

    asyncio.run(main())


def test_wait_for_gives_up_after_the_timeout() -> None:
    async def main() -> None:
        cache = MetadataCache(1, config())
        assert not await cache.wait_for(7, 10)
        assert cache._waiters == []
        cache.replay(topic("a", A), 7)  # nobody left to wake
        assert await cache.wait_for(7, 10)

    asyncio.run(main())
