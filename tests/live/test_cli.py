"""``quorum live`` and ``quorum simulator`` from the command line (in-process, bounded)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.cli import main

pytestmark = pytest.mark.timeout(120)


def test_live_on_the_simulator_runs_the_flow_into_the_store(tmp_path, capsys):
    from connectors.store.engine import open_store
    from connectors.store.market import read_candles, read_runs

    store = tmp_path / "live.sqlite"
    code = main(
        [
            "live",
            "--simulator",
            "--symbols",
            "BTC/USDT",
            # long enough for the feed to connect and go live on a loaded machine (the check
            # below is on what happened, not on how fast)
            "--duration",
            "10",
            "--speed",
            "30",
            "--timeframes",
            "1m,5m",
            "--store",
            str(store),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "[feed] binance BTC/USDT: live" in out
    assert "feed binance-0: messages" in out
    engine = open_store(str(store))
    runs = read_runs(engine)
    assert runs["command"].to_list() == ["live"]
    summary = runs["summary"][0]
    assert summary["records_in"] > 0 and summary["records_per_s"] > 0  # counted before stored
    from api.reads.ops import store_health
    from connectors.store.feed_health import recent_events

    with engine.connect() as conn:
        health = store_health(conn, now=datetime.now(UTC), stale_bars=3.0)
        events = recent_events(conn)
    [connection] = health.connections
    assert (connection.source, connection.symbol) == ("binance", "BTC/USDT")
    assert connection.counters["messages"] > 0
    assert any(e["status"] == "live" for e in events)  # the transition to live is kept
    candles = read_candles(engine, symbol="BTC/USDT")
    assert candles.height >= 1 and set(candles["timeframe"].to_list()) <= {"1m", "5m"}
    engine.dispose()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["live", "--simulator", "--symbols", "ETH/USDT", "--duration", "1"],
            "the simulator does not serve ['ETH/USDT']",
        ),
        (["live", "--symbols", "BTC/USDT", "--timeframes", "7m"], "--timeframes: unknown"),
        (["live", "--symbols", "BTC/USDT", "--duration", "0"], "--duration must be > 0"),
        (
            ["live", "--simulator", "--exchange", "kraken", "--symbols", "BTC/USD"],
            "--simulator speaks Binance",
        ),
        (
            ["live", "--exchange", "no-such-exchange", "--symbols", "BTC/USD", "--duration", "1"],
            "unknown ccxt exchange 'no-such-exchange'",
        ),
        (["live", "--symbols", "BTCUSDT", "--duration", "1"], "not a unified spot symbol"),
    ],
)
def test_live_rejects_what_it_cannot_run(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_simulator_command_serves_for_a_while(capsys):
    assert main(["simulator", "--duration", "0.2", "--speed", "5"]) == 0
    out = capsys.readouterr().out
    assert "ws://127.0.0.1:" in out and "http://127.0.0.1:" in out
    assert "BTC/USDT, XRP/ETH, BTC/USDC" in out


def test_live_resumes_from_its_recovery_directory_under_the_same_run(tmp_path):
    from connectors.store.engine import open_store
    from connectors.store.market import read_runs

    store = tmp_path / "live.sqlite"
    argv = [
        "live",
        "--simulator",
        "--symbols",
        "BTC/USDT",
        "--duration",
        "3",
        "--speed",
        "30",
        "--timeframes",
        "1m,5m",
        "--store",
        str(store),
        "--quiet",
        "--workers",
        "2",
        "--recovery-dir",
        str(tmp_path / "recovery"),
        "--snapshot-interval",
        "1",
    ]
    assert main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "recovery").glob("part-*.sqlite3")) == [
        "part-0.sqlite3",
        "part-1.sqlite3",
    ]
    assert main(argv) == 0
    engine = open_store(str(store))
    try:
        runs = read_runs(engine)
        assert runs.height == 1 and runs["finished_at"].null_count() == 0
    finally:
        engine.dispose()
