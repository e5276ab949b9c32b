"""``quorum live --mode live`` from the command line: the simulator demo, and missing keys."""

from __future__ import annotations

import pytest

from flows.cli import main
from tests.routers.conftest import run_live_simulator

pytestmark = pytest.mark.timeout(300)


def test_live_mode_without_keys_stops_with_the_variable_to_set(monkeypatch, capsys) -> None:
    for name in ("QUORUM_BINANCE_API_KEY", "QUORUM_BINANCE_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    code = main(["live", "--symbols", "BTC/USDT", "--mode", "live", "--duration", "1"])
    assert code != 0
    err = capsys.readouterr().err
    assert "live trading: live trading on binance needs QUORUM_BINANCE_API_KEY" in err


@pytest.mark.slow
def test_live_mode_on_the_simulator_places_signed_orders_and_books_their_fills(
    tmp_path, capsys
) -> None:
    from connectors.store.engine import open_store
    from connectors.store.trading import read_fills
    from connectors.store.venue import read_venue_records

    store = tmp_path / "live.sqlite"
    code = run_live_simulator("live-demo.yaml", store)
    assert code == 0
    out = capsys.readouterr().out
    assert "venue fills vs the paper estimate" in out
    engine = open_store(str(store))
    fills = read_fills(engine)
    commands = read_venue_records(engine, "command")
    assert fills.height > 0 and len(commands) > 0
    assert all(f.startswith("binance:") for f in fills["fill_id"].to_list())
