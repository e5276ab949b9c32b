"""``quorum live --kafka … --ingest-only`` on the loopback simulator, into a real broker (Tansu)."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest

from connectors.kafka.json_schemas import load_schema
from connectors.kafka.topics import Kind
from flows.cli import main


@pytest.mark.slow
def test_ingest_only_publishes_the_exchange_trades(tansu: str, read_topic: Any, capsys) -> None:
    argv = ["live", "--simulator", "--symbols", "BTC/USDT", "--duration", "12", "--speed", "30"]
    assert main([*argv, "--kafka", tansu, "--ingest-only"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "records in" in x)  # trades the feed emitted
    published = int(line.split("│")[2].strip().replace(",", ""))
    assert published > 0
    messages = read_topic(tansu, "quorum.v1.trades", published, timeout=60)
    values = [orjson.loads(m.value()) for m in messages]
    assert len({v["id"] for v in values}) == len(values) == published
    assert {m.key() for m in messages} == {b"BTC/USDT"}
    validator = jsonschema.Draft202012Validator(load_schema(Kind.TRADES))
    for value in values[:100]:
        validator.validate(value)
    ids = sorted(int(v["data"]["trade_id"]) for v in values)
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # no trade lost or repeated


def test_ingest_only_needs_a_broker(capsys) -> None:
    assert main(["live", "--simulator", "--symbols", "BTC/USDT", "--ingest-only"]) == 2
    assert "--ingest-only publishes to Kafka" in capsys.readouterr().err
