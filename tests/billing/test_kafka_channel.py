"""The Kafka push channel against a real broker (Tansu): each customer's own topic, only what
the plan delivers, as late as it says, metered once."""

from __future__ import annotations

from datetime import timedelta

from confluent_kafka.admin import AdminClient

from connectors.billing_push.kafka import KafkaPush, customer_topic
from connectors.kafka.config import KafkaConfig
from connectors.kafka.envelope import decode_envelope
from connectors.store.billing import read_usage
from flows.billing_delivery import deliver
from schemas.billing import Channel
from tests.billing.conftest import PUSH_NOW as NOW
from tests.billing.conftest import PUSH_SIGNALS as SIGNALS


def _ids(read, servers: str, topic: str, expected: int) -> list[str]:
    return [decode_envelope(m.value()).id for m in read(servers, topic, expected, 30.0)]


def test_kafka_channel_publishes_each_customers_entitled_signals_to_their_topic(
    push_store, tansu: str, read_topic
) -> None:
    engine = push_store
    config = KafkaConfig(bootstrap_servers=tansu, topic_partitions=1)
    sender = KafkaPush(config)
    try:
        first = deliver(engine, Channel.KAFKA, sender, NOW)
        later = deliver(engine, Channel.KAFKA, sender, NOW + timedelta(minutes=10))
        again = deliver(engine, Channel.KAFKA, sender, NOW + timedelta(minutes=10))
    finally:
        sender.close()
    delivered = {c.customer: c.delivered for c in first.customers}
    assert delivered == {"ana": 0, "bea": 1, "cy": 0, "eve": 5}  # ana, cy: no Kafka on their plans
    assert later.delivered == 1 and again.delivered == 0

    eve = _ids(read_topic, tansu, customer_topic("quorum.v1", "eve"), 5)
    assert eve == [s.fused_id for s in SIGNALS]  # Enterprise: every band and asset, no delay
    bea_topic = customer_topic("quorum.v1", "bea")
    bea = read_topic(tansu, bea_topic, 2, 30.0)
    assert [decode_envelope(m.value()).id for m in bea] == ["old-open", "new-open"]
    envelope = decode_envelope(bea[0].value())
    assert envelope.schema == "quorum.v1.fused_signals" and bea[0].key() == b"BTC-PERP"
    assert [c["timeframe"] for c in envelope.data["contributions"]] == ["1h", "4h"]
    # Pro has no Kafka channel: no topic was ever made for ana
    topics = AdminClient({"bootstrap.servers": tansu}).list_topics(timeout=10).topics
    assert customer_topic("quorum.v1", "ana") not in topics
    # metered once per customer and signal, whatever the passes
    usage = read_usage(engine)
    assert sorted(u.signal_id for u in usage if u.customer_id == "bea") == ["new-open", "old-open"]
    assert len([u for u in usage if u.customer_id == "eve"]) == 5
