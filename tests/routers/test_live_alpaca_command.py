"""``quorum live --exchange alpaca --mode live``: stock orders through the Alpaca router.

Market data from the loopback Alpaca data WebSocket and REST (:class:`VendorStreams`,
:class:`MarketDataProviders`: a seeded AAPL tape of regular-session minutes), orders through
``alpaca-py`` to the simulator's Alpaca trading API (its matching engine, on a step clock
stepped with the streams'). Decisions come from the tape itself with the low decision
bands of ``flows/profiles/live-alpaca.yaml``; no manual action is needed.

The loopback broker fills AAPL against the same :class:`StockTape` the data servers replay
(``ExchangeSimulator(alpaca_tape=TAPE)``), its clock stepped with the streams', so its fills
sit within a few basis points of the paper estimate the run reports next to them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.alpaca_router import fill_key
from connectors.simulator import ExchangeSimulator, SimulatorConfig
from connectors.simulator.alpaca import _NAMESPACE as ALPACA_NAMESPACE
from connectors.simulator.market_data_providers import MarketDataProviders, StockTape
from connectors.simulator.market_data_streams import VendorStreams
from flows.cli import main
from schemas.common import ns_to_datetime

from .conftest import wait_for

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

PROFILE = Path(__file__).resolve().parents[2] / "flows" / "profiles" / "live-alpaca.yaml"
TAPE = StockTape(("AAPL",), "2024-01-02", "2024-01-03")
START_NS = 1_704_205_740 * 10**9  # 2024-01-02 14:29 UTC: a minute before the first session
MINUTE_NS = 60 * 10**9
AFTER_FILL = 10  # tape minutes published after the first fill
RUN_SECONDS = "75"  # the run's length; the tape is released well before (see market())


@pytest.fixture
def broker() -> Iterator[ExchangeSimulator]:
    """The loopback broker on the streams' clock: it fills AAPL against the tape they replay."""
    config = SimulatorConfig(start_ms=START_NS // 1_000_000, ping_interval=None)
    simulator = ExchangeSimulator(config, alpaca_tape=TAPE).start()
    yield simulator
    simulator.stop()


def on_the_tapes_clock(monkeypatch: pytest.MonkeyPatch, streams: VendorStreams) -> None:
    """The run's feed tells time by the streams' clock, as the loopback broker does: its
    market hours (XNYS) are the tape's 2024 sessions, not the hour this test happens to run at
    (by the machine's clock, every entry of a run at night was refused: "feed closed")."""
    from connectors.market_data import stream

    class TapeClockedSource(stream.VendorStreamSource):
        def __init__(self, *args: Any, **options: Any) -> None:
            super().__init__(*args, wall=lambda: ns_to_datetime(streams.now_ns), **options)

    monkeypatch.setattr(stream, "VendorStreamSource", TapeClockedSource)


def filled(broker: ExchangeSimulator) -> list[Any]:
    return [o for o in broker.alpaca.engine.orders.values() if o.executed > 0]


def test_quorum_live_on_alpaca_sends_stock_orders_and_books_their_fills_once(
    broker, tmp_path, monkeypatch, capfd
) -> None:
    from connectors.store.audit import verify_store
    from connectors.store.engine import open_store
    from connectors.store.trading import read_fills, read_orders
    from connectors.store.venue import read_venue_records
    from operators.candles.calendars import calendar_for

    calendar_for("XNYS")  # built once per process (seconds): before the run starts
    with MarketDataProviders(TAPE) as rest, VendorStreams(TAPE, start_ns=START_NS) as streams:
        monkeypatch.setenv("APCA_API_KEY_ID", rest.key_id)
        monkeypatch.setenv("APCA_API_SECRET_KEY", rest.secret)
        monkeypatch.setenv("QUORUM_ALPACA_API_KEY", "simulator")  # the loopback demo account
        monkeypatch.setenv("QUORUM_ALPACA_API_SECRET", "simulator-secret")
        on_the_tapes_clock(monkeypatch, streams)
        stop = threading.Event()
        store = tmp_path / "alpaca.sqlite"

        def market() -> None:
            """A tape minute every 0.05 s once subscribed, on the broker's clock and the
            streams' alike, until ``AFTER_FILL`` minutes after the broker's first fill (the
            paper estimate of that order fills on the bars after it)."""
            left = AFTER_FILL
            while not stop.wait(0.05) and left:
                if streams.subscribed_clients:
                    broker.advance(60_000)  # the broker's book first: never behind the stream
                    streams.advance(60_000)
                    left -= 1 if filled(broker) else 0

        ticker = threading.Thread(target=market, daemon=True)
        ticker.start()
        try:
            code = main(["live", "--exchange", "alpaca", "--symbols", "AAPL",
                         "--ws-url", streams.url, "--rest-url", rest.url,
                         "--broker-url", broker.rest_url, "--timeframes", "1m,5m",
                         "--mode", "live", "--config", str(PROFILE), "--store", str(store),
                         "--duration", RUN_SECONDS])  # fmt: skip
        finally:
            stop.set()
            ticker.join(10)
    printed = capfd.readouterr()
    assert code == 0, printed.err
    wait_for(lambda: filled(broker), "an order filled at the broker", deadline=1.0)

    engine = open_store(str(store))
    commands = read_venue_records(engine, "command")
    placed = [c for c in commands if c["kind"] == "place"]
    assert placed and all(c["venue"] == "alpaca" for c in placed)
    xnys = calendar_for("XNYS")
    sent_at = [int(c["ts_ns"]) if "ts_ns" in c else _ns(c["ts"]) for c in placed]
    assert all(xnys.is_open([t - 1]) for t in sent_at), "an order went out of session"

    # every fill the broker made is booked once, under the order the flow sent; an order sent
    # in the run's last moments may end it unbooked (the next run's reconciliation books it),
    # never half booked, and the first order (the tape stops soon after its fill) is booked
    fills = read_fills(engine)
    booked = dict(zip(fills["fill_id"].to_list(), fills["quantity"].to_list(), strict=True))
    assert len(booked) == fills.height  # each fill id once
    at_broker = sorted(filled(broker), key=lambda o: o.order_id)
    assert {o.client_id for o in at_broker} <= {c["order_id"] for c in placed}
    expected = {o.order_id: broker_fills(o) for o in at_broker}
    assert set(booked) <= {key for keys in expected.values() for key in keys}
    for order_id, keys in expected.items():
        if order_id == at_broker[0].order_id or set(keys) & set(booked):
            assert {k: Decimal(str(booked.get(k))) for k in keys} == keys, order_id

    # the broker filled against the tape the streams replayed: a buy at the ask, a sell at the
    # bid of the last quote known at the broker's time of the order
    for order in at_broker:
        quote = TAPE.quotes_in("AAPL", 0, order.time_ms * 1_000_000 + 1).row(-1, named=True)
        touch = Decimal(repr(quote["ask" if order.side == "BUY" else "bid"]))
        assert {fill.price for fill in order.fills} == {touch}, order.order_id

    # venue vs paper in the stored comparisons: within what the spreads, the paper's impact
    # and the tape's own move between the order's bar and its fills explain
    compared = [
        c for c in read_venue_records(engine, "comparison") if c["difference_bps"] is not None
    ]
    assert compared, "no venue fill was compared with the paper estimate"
    orders = read_orders(engine)
    created = dict(zip(orders["order_id"], orders["created_at"].dt.epoch("ns"), strict=True))
    last_at_broker = max(o.time_ms for o in at_broker) * 1_000_000  # an order may have children
    for c in compared:
        window = (created[c["order_id"]], max(last_at_broker, _ns(c["ts"])))
        bound = slippage_bound_bps(*window, Decimal(c["paper_quantity"]))
        assert abs(c["difference_bps"]) <= bound, (c, bound)

    result = verify_store(engine)
    assert result.ok, result.message
    engine.dispose()
    assert "venue alpaca: placed" in printed.out
    for secret in (rest.key_id, rest.secret, "simulator-secret"):
        assert secret not in printed.out + printed.err


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ([], "set trading.live.session_calendar: XNYS"),
        (["--broker-url", "http://127.0.0.1:9"], "set trading.live.session_calendar: XNYS"),
        (["--config", str(PROFILE)], "live trading on alpaca needs QUORUM_ALPACA_API_KEY"),
    ],
)
def test_live_stock_orders_need_market_hours_and_the_brokers_keys(
    extra, said, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "data-key")  # the data feed's keys: not the broker's
    monkeypatch.setenv("APCA_API_SECRET_KEY", "data-secret")
    for name in ("QUORUM_ALPACA_API_KEY", "QUORUM_ALPACA_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    args = ["live", "--exchange", "alpaca", "--symbols", "AAPL", "--mode", "live"]
    assert main([*args, "--duration", "1", *extra]) == 2
    assert said in capsys.readouterr().err


def test_broker_url_is_alpacas_and_polygon_has_no_broker(monkeypatch, capsys) -> None:
    code = main(["live", "--symbols", "BTC/USDT", "--broker-url", "http://127.0.0.1:9"])
    assert code == 2 and "use it with --exchange alpaca" in capsys.readouterr().err
    monkeypatch.setenv("POLYGON_API_KEY", "data-key")
    code = main(["live", "--exchange", "polygon", "--symbols", "AAPL", "--mode", "live"])
    assert code == 2 and "polygon is market data only" in capsys.readouterr().err


def slippage_bound_bps(decided_ns: int, last_ns: int, paper_quantity: Decimal) -> float:
    """How far venue − paper (bps) can be from 0 for an order decided at ``decided_ns`` whose
    venue and paper fills were done by ``last_ns``, from the tape and the configured costs:
    the venue charges no fee and fills at the touch (at most the tape's widest quote from a
    trade price); the paper estimate fills a later bar's open moved by half its quote's spread
    plus its impact (:class:`SlippageModel`, the profile's default); between the two the price
    moves at most the tape's range over the minute before the decision to ``last_ns``."""
    from operators.execution.costs import SlippageModel

    start, end = decided_ns - MINUTE_NS, last_ns + MINUTE_NS
    quotes = TAPE.quotes["AAPL"]
    spread = float(((quotes["ask"] - quotes["bid"]) / quotes["bid"]).max()) * 1e4
    prices = TAPE.trades_in("AAPL", start, end)["price"]
    move = float((prices.max() - prices.min()) / prices.min()) * 1e4
    volume = float(TAPE.bars("AAPL", "1m", start, end)["v"].min())
    return move + spread + spread / 2 + SlippageModel().impact_bps(float(paper_quantity), volume)


def broker_fills(order: Any) -> dict[str, Decimal]:
    """The router's fill ids of a broker order (``<venue>:<Alpaca order id>:<cumulative>``,
    :func:`connectors.alpaca_router.fill_key`) and each fill's quantity."""
    alpaca_id = str(uuid.uuid5(ALPACA_NAMESPACE, f"order-{order.order_id}"))
    cumulative, keys = Decimal(0), {}
    for fill in order.fills:
        cumulative += fill.quantity
        keys[f"alpaca:{fill_key(alpaca_id, cumulative)}"] = fill.quantity
    return keys


def _ns(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e9)
