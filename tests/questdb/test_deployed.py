"""The ``python -m bytewax.run flows.deployed:flow`` entry takes its QuestDB from
``QUORUM_TIMESERIES_STORE``, like the compose file's flow service."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from bytewax.testing import run_main

from connectors.files import shipped_path
from connectors.store.engine import open_store
from connectors.store.market import read_candles
from flows.deployed import flow_from_env
from tests.questdb.fake_server import FakeQuestDB


def test_the_deployed_flow_writes_the_time_series_to_questdb(tmp_path: Path) -> None:
    data = tmp_path / "btc-perp_1m_first-day.parquet"
    pl.read_parquet(shipped_path("btc-perp_1m_2022-01")).head(1440).write_parquet(data)
    store = str(tmp_path / "ledger.sqlite")
    with FakeQuestDB() as questdb:
        env = {
            "QUORUM_DATA": str(data),
            "QUORUM_STORE": store,
            "QUORUM_TIMESERIES_STORE": f"questdb://{questdb.addr}",
        }
        run_main(flow_from_env(env))
    engine = open_store(store)
    ledger = read_candles(engine, timeframe="1m")
    engine.dispose()
    one_minute = [line for line in questdb.rows("candles") if line.symbols["timeframe"] == "1m"]
    assert len(one_minute) == len(ledger) == 1440  # the ledger keeps its copy by default
    assert [line.columns["close"] for line in one_minute] == ledger["close"].to_list()
    assert len(questdb.ddl) == 6
