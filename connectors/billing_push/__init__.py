"""Push delivery channels of the billing feed: per-customer Kafka topics and signed webhooks."""
