"""The store split's configuration: readable errors, what the ledger keeps, the CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.store.engine import open_store
from connectors.store.market import read_candles
from flows.cli import main as cli_main
from flows.config import ConfigError, load_config
from flows.store_options import ledger_writer
from schemas.batches import CandleBatch

BARS = CandleBatch.from_columns("A/B", "1m", [0], [1.0], [2.0], [0.5], [1.5], [9.0])


def test_the_embedded_default_is_unchanged() -> None:
    config = load_config()
    assert config.store.timeseries is None
    assert config.store.ledger is None
    assert config.store.ledger_skips() == ()


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"timeseries": "tcp::addr=qdb:9009;"}, "store.timeseries.address: Value error, QuestDB "
         "address 'tcp::addr=qdb:9009;' must be questdb://HOST:PORT or an ILP-over-HTTP "
         "configuration string"),
        ({"timeseries": "http::addr=qdb;password=hunter2;"}, "it has no addr=HOST:PORT"),
        ({"timeseries": "questdb://qdb"}, "must be questdb://HOST:PORT"),
        ({"ledger": "mysql://db/quorum"}, "store.ledger: Value error, ledger store "
         "'mysql://db/quorum' must be a SQLite file path or a sqlite:// or postgresql:// URL"),
        ({"timeseries": {"address": "questdb://q:9000", "auto_flush_rows": 0}},
         "store.timeseries.auto_flush_rows: Input should be greater than or equal to 1"),
        ({"timeseries_in_ledger": "sometimes"}, "store.timeseries_in_ledger: Input should be "
         "a valid boolean"),
    ],
)  # fmt: skip
def test_bad_store_settings_name_the_field_and_value(store: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(overrides={"store": store})
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_timeseries_store_takes_a_url_a_conf_string_or_a_mapping() -> None:
    by_url = load_config(overrides={"store": {"timeseries": "questdbs://qdb:9000"}})
    assert by_url.store.timeseries.conf() == (
        "https::addr=qdb:9000;auto_flush_rows=10000;auto_flush_interval=1000;"
    )
    by_conf = load_config(
        overrides={"store": {"timeseries": "http::addr=qdb:9000;auto_flush_rows=500;"}}
    )
    assert by_conf.store.timeseries.conf() == (
        "http::addr=qdb:9000;auto_flush_rows=500;auto_flush_interval=1000;"
    )
    mapping = {"address": "questdb://qdb:9000", "auto_flush_interval_ms": 250}
    by_mapping = load_config(overrides={"store": {"timeseries": mapping}})
    assert by_mapping.store.timeseries.conf().endswith("auto_flush_interval=250;")


@pytest.mark.parametrize(("in_ledger", "kept"), [(True, [1.5]), (False, [])])
def test_the_ledger_keeps_candles_unless_told_not_to(in_ledger: bool, kept: list) -> None:
    store = {"timeseries": "questdb://qdb:9000", "timeseries_in_ledger": in_ledger}
    config = load_config(overrides={"store": store})
    engine = open_store("sqlite://")
    counts = ledger_writer(config, "run-1").write(engine, [BARS])
    assert counts == {"CandleBatch": len(kept)}
    assert read_candles(engine)["close"].to_list() == kept


def test_until_idle_without_a_kafka_source_is_an_error(tmp_path: Path, capsys) -> None:
    assert cli_main(["run", "--until-idle", "5", "--store", str(tmp_path / "q.sqlite")]) == 2
    assert "--until-idle ends a Kafka-fed run once its input is idle: use it with --source " in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "q.sqlite").exists()


def test_a_bad_timeseries_flag_stops_quorum_run_before_it_starts(tmp_path: Path, capsys) -> None:
    argv = ["run", "--timeseries-store", "qdb:9000", "--store", str(tmp_path / "q.sqlite")]
    assert cli_main(argv) == 2
    assert "store.timeseries.address: Value error, QuestDB address 'qdb:9000' must be" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "q.sqlite").exists()
