"""quorum kafka: Kafka utilities — ``publish`` loads a trades/candles file into a topic."""

from __future__ import annotations

import argparse

from flows.kafka_options import add_kafka_option

HELP = "Kafka utilities: publish a trades/candles file into a topic"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    publish = sub.add_parser(
        "publish", help="load a trades/candles file (Parquet or CSV) into a topic, as envelopes"
    )
    publish.add_argument("file", help="trades or candles file (Parquet or CSV)")
    add_kafka_option(publish)
    publish.add_argument("--topic", required=True, help="topic to write, e.g. quorum.v1.trades")
    publish.add_argument("--symbol", help="symbol for files without a symbol column")
    publish.add_argument(
        "--partitions", type=int, default=1, help="partitions if the topic is created (default 1)"
    )
    publish.add_argument("--config", help="YAML configuration (kafka.settings: SASL, TLS …)")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from connectors.files import MarketDataFileError
    from connectors.kafka.publish import publish_file
    from connectors.kafka.sink import KafkaDeliveryError, KafkaSetupError
    from flows.cli import UserError
    from flows.config import ConfigError, load_config
    from flows.kafka_options import kafka_overrides, parse_kafka_url

    if not args.kafka:
        raise UserError("--kafka BOOTSTRAP is required (host:port of a broker)")
    if args.partitions < 1:
        raise UserError(f"--partitions must be >= 1, got {args.partitions}")
    try:
        parse_kafka_url(f"kafka://{args.kafka}/{args.topic}")
        config = load_config(args.config, kafka_overrides(args)).kafka
    except (ConfigError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if not Path(args.file).exists():
        raise UserError(f"data file {args.file} does not exist")
    config = config.model_copy(update={"topic_partitions": args.partitions})
    try:
        done = publish_file(args.file, config, args.topic, args.symbol)
    except MarketDataFileError as exc:
        raise UserError(str(exc)) from None
    except (KafkaDeliveryError, KafkaSetupError) as exc:
        raise UserError(str(exc)) from None
    print(
        f"published {done.messages:,} {done.kind} of {', '.join(done.symbols)} to {done.topic}"
        + (f" ({done.unreadable_rows} unreadable rows left out)" if done.unreadable_rows else "")
    )
    return 0
