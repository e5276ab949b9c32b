"""Alpaca's and Polygon's data WebSockets as live sources, against loopback vendor servers.

:class:`VendorStreams` replays a constructed stock tape over the documented frames (Alpaca JSON
and msgpack, Polygon JSON) and :class:`MarketDataProviders` serves the same tape over REST, so
what the source releases can be compared with the tape itself: every trade once, minute bars
equal to the tape's trades aggregated directly, holes backfilled over REST exactly once,
malformed frames dead-lettered with their raw text, closed hours no finding.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgpack
import numpy as np
import polars as pl
import pytest

from connectors.feed.backoff import BackoffPolicy
from connectors.feed.frames import Ending
from connectors.market_data.credentials import ProviderCredentials
from connectors.market_data.stream import VendorStreamConfig, VendorStreamSource
from connectors.simulator.market_data_providers import MarketDataProviders, StockTape
from connectors.simulator.market_data_streams import VendorStreams
from schemas.common import ns_to_datetime
from schemas.market import FeedStatus

from .conftest import Collected, drain_until, wait_for

pytestmark = pytest.mark.timeout(90)

SYMBOLS = ("AAPL", "MSFT")
TAPE = StockTape(SYMBOLS, "2024-01-02", "2024-01-03")
MINUTE_NS = 60_000_000_000
VARIANTS = [("alpaca", "json"), ("alpaca", "msgpack"), ("polygon", "json")]
FX = ("EUR/USD",)
GRACE_NS = 50_000_000  # the reorder window: a quote minute is closed that long after its end
FX_TAPE = StockTape((), "2024-01-05", "2024-01-08", fx=FX)  # Friday to Monday, 24/5 quotes
CRYPTO = ("BTC/USD",)
CRYPTO_TAPE = StockTape(CRYPTO, "2024-01-06", "2024-01-06")  # a Saturday: crypto trades on


@pytest.fixture
def tape() -> StockTape:
    return TAPE


@pytest.fixture
def vendor(tape: StockTape) -> Iterator[tuple[MarketDataProviders, VendorStreams]]:
    with MarketDataProviders(tape, page_cap=40) as rest, VendorStreams(tape) as streams:
        yield rest, streams


@pytest.fixture
def open_feed(
    vendor: tuple[MarketDataProviders, VendorStreams],
) -> Iterator[Callable[..., Any]]:
    rest, streams = vendor
    parts: list[Any] = []

    def build(
        name: str,
        encoding: str = "json",
        wall: Any = None,
        symbols: tuple[str, ...] = SYMBOLS,
        resume: dict | None = None,
        **overrides: Any,
    ) -> Any:
        keys = ProviderCredentials(
            provider=name,
            key=rest.key_id if name == "alpaca" else rest.polygon_key,
            secret=rest.secret if name == "alpaca" else None,
        )
        settings: dict[str, Any] = {
            "channels": ("trades", "bars"),
            "encoding": encoding,
            "ws_url": streams.url,
            "rest_url": rest.url,
            "requests_per_minute": 600_000,
            "calendars": {s: "24/5" if "/" in s else "XNYS" for s in symbols},
            "tick": 0.01,
            "reorder_window": 0.05,
            "stale_after": 30.0,
            "heartbeat_every": 30.0,
            "backoff": BackoffPolicy(initial=0.05, factor=2.0, maximum=0.2, jitter=0.5),
        }
        settings.update(overrides)
        config = VendorStreamConfig(name, symbols, keys, **settings)
        tape_clock = lambda: ns_to_datetime(streams.now_ns)  # noqa: E731
        source = VendorStreamSource(config, seed=7, wall=wall or tape_clock)
        part = source.build_part("input", source.list_parts()[0], resume)
        parts.append(part)
        return part

    yield build
    for part in parts:
        part.close()


def subscribed(part: Any, n: int = 1) -> Callable[[], bool]:
    return lambda: part.session.subscriptions >= n


def tape_trades(symbol: str, until_ns: int) -> pl.DataFrame:
    return TAPE.trades_in(symbol, 0, until_ns + 1)


def tape_bars(symbol: str, until_ns: int) -> pl.DataFrame:
    """Minute bars closed by ``until_ns``: the tape's trades aggregated directly (polars)."""
    return TAPE.bars(symbol, "1m", 0, until_ns - MINUTE_NS + 1)


def trades_of(got: Collected, symbol: str) -> dict[str, np.ndarray]:
    batches = got.trades.get(symbol, [])
    if not batches:
        return {"id": np.array([], dtype=np.int64)}
    return {
        "id": np.concatenate([b.trade_id for b in batches]),
        "ts_ms": np.concatenate([b.ts_ns for b in batches]) // 1_000_000,
        "price": np.concatenate([b.price for b in batches]),
        "amount": np.concatenate([b.amount for b in batches]),
    }


def caught_up(part: Any, got: Collected, streams: VendorStreams) -> Callable[[], bool]:
    """Everything the tape published so far was released (trades and/or closed bars)."""
    channels = part.session.config.channels

    def check() -> bool:
        for symbol in SYMBOLS:
            trades = tape_trades(symbol, streams.now_ns)["id"].to_list()
            if "trades" in channels and trades_of(got, symbol)["id"].tolist() != trades:
                return False
            opens = (tape_bars(symbol, streams.now_ns)["ts_ns"] // 1_000_000).to_list()
            if "bars" in channels and got.candle_opens_ms(symbol) != opens:
                return False
        return True

    return check


def assert_equal_to_tape(got: Collected, streams: VendorStreams, trade_counts: bool) -> None:
    for symbol in SYMBOLS:
        expected = tape_trades(symbol, streams.now_ns)
        mine = trades_of(got, symbol)
        assert mine["id"].tolist() == expected["id"].to_list()  # each once, in order
        np.testing.assert_array_equal(mine["ts_ms"], expected["ts_ns"] // 1_000_000)
        np.testing.assert_array_equal(mine["price"], expected["price"])
        np.testing.assert_array_equal(mine["amount"], expected["size"])
        bars = tape_bars(symbol, streams.now_ns)
        batches = got.candles[(symbol, "1m")]
        for column, tape_column in (("open", "o"), ("high", "h"), ("low", "low"),
                                    ("close", "c"), ("volume", "v")):  # fmt: skip
            np.testing.assert_array_equal(
                np.concatenate([getattr(b, column) for b in batches]), bars[tape_column]
            )
        if trade_counts:  # Polygon's minute aggregates carry no trade count
            np.testing.assert_array_equal(np.concatenate([b.trades for b in batches]), bars["n"])


@pytest.mark.parametrize(("name", "encoding"), VARIANTS)
def test_frames_become_the_tapes_trades_and_candles(vendor, open_feed, name, encoding):
    _, streams = vendor
    part = open_feed(name, encoding)
    got = Collected()
    drain_until(part, got, subscribed(part), "subscription")
    for _ in range(6):
        streams.advance(5 * 60_000)  # half an hour of the session in 5-minute steps
    drain_until(part, got, caught_up(part, got, streams), "every trade and closed bar")
    assert_equal_to_tape(got, streams, trade_counts=name == "alpaca")
    assert len(got.candles[("AAPL", "1m")]) >= 1 and not got.dead
    assert part.session.stats.rows_backfilled == 0  # nothing was missing


@pytest.mark.parametrize("name", ["alpaca", "polygon"])
def test_a_disconnect_is_backfilled_over_rest_exactly_once(vendor, open_feed, name):
    _, streams = vendor
    part = open_feed(name)
    got = Collected()
    drain_until(part, got, subscribed(part), "subscription")
    streams.advance(5 * 60_000)
    drain_until(part, got, caught_up(part, got, streams), "the first five minutes")
    dropped_at = streams.now_ns

    streams.refuse_connections()  # the network is down while the market trades on
    streams.drop_connections()
    streams.advance(7 * 60_000)
    wait_for(lambda: streams.stats.refused >= 1, "a refused reconnect")
    outage_end = streams.now_ns
    streams.refuse_connections(False)
    drain_until(part, got, subscribed(part, 2), "the reconnect")
    streams.advance(4 * 60_000)
    drain_until(part, got, caught_up(part, got, streams), "the outage filled from REST")

    assert_equal_to_tape(got, streams, trade_counts=name == "alpaca")
    stats = part.session.stats
    lost_trades = sum(len(TAPE.trades_in(s, dropped_at + 1, outage_end + 1)) for s in SYMBOLS)
    lost_bars = sum(
        len(TAPE.bars(s, "1m", dropped_at - MINUTE_NS + 1, outage_end - MINUTE_NS + 1))
        for s in SYMBOLS
    )
    assert lost_trades > 20 and lost_bars == 2 * 7
    assert stats.rows_backfilled == lost_trades + lost_bars
    assert stats.gaps_filled == 2 * len(SYMBOLS)  # one trade and one bar hole per symbol
    assert Ending.FAILED in part.session.endings  # the refused attempt
    assert (stats.reconnects, stats.gaps_skipped) == (1, 0)


def test_a_restart_from_the_snapshot_fetches_exactly_what_it_missed(vendor, open_feed):
    _, streams = vendor
    first = open_feed("alpaca")
    got = Collected()
    drain_until(first, got, subscribed(first), "subscription")
    streams.advance(6 * 60_000)
    drain_until(first, got, caught_up(first, got, streams), "the first minutes")
    snapshot = first.snapshot()
    first.close()  # the flow stops; the market does not
    stopped_at = streams.now_ns
    streams.advance(5 * 60_000)
    missed_until = streams.now_ns
    second = open_feed("alpaca", resume=snapshot)
    drain_until(second, got, subscribed(second), "the restarted feed")
    streams.advance(3 * 60_000)
    drain_until(second, got, caught_up(second, got, streams), "everything after the restart")
    assert_equal_to_tape(got, streams, trade_counts=True)  # nothing twice, nothing lost
    missed = sum(len(TAPE.trades_in(s, stopped_at + 1, missed_until + 1)) for s in SYMBOLS)
    missed += sum(
        len(TAPE.bars(s, "1m", stopped_at - MINUTE_NS + 1, missed_until - MINUTE_NS + 1))
        for s in SYMBOLS
    )
    assert second.session.stats.rows_backfilled == missed > 0


def test_a_range_skipped_on_a_live_connection_is_fetched_by_its_bar_gap(vendor, open_feed):
    _, streams = vendor
    part = open_feed("polygon", channels=("bars",))
    got = Collected()
    drain_until(part, got, subscribed(part), "subscription")
    start = int(datetime(2024, 1, 2, 14, 30, tzinfo=UTC).timestamp() * 1e9)
    streams.skip(start + 10 * MINUTE_NS, start + 12 * MINUTE_NS)  # 14:40..14:42 never sent
    for _ in range(4):
        streams.advance(5 * 60_000)
    drain_until(part, got, caught_up(part, got, streams), "bars through the skipped minutes")
    assert part.session.stats.rows_backfilled == 3 * len(SYMBOLS)
    assert part.session.stats.gaps_filled == len(SYMBOLS)
    assert part.session.connections_opened == 1


HOSTILE = {
    "alpaca-json": [
        "not json at all",
        '[{"T":"t","S":"AAPL","i":1,"p":"x","s":1,"t":"2024-01-02T14:35:00Z"}]',
    ],
    "alpaca-msgpack": [
        b"\xc1\xc1",  # a byte msgpack never uses
        msgpack.packb([{"T": "t", "S": "AAPL", "i": 1, "p": "x", "s": 1, "t": 5}]),
    ],
    "polygon-json": [
        "not json at all",
        '[{"ev":"T","sym":"AAPL","p":1.0,"s":1,"t":"soon"}]',
    ],
}


@pytest.mark.parametrize(("name", "encoding"), VARIANTS)
def test_malformed_frames_are_dead_lettered_and_no_trade_is_lost(vendor, open_feed, name, encoding):
    _, streams = vendor
    part = open_feed(name, encoding)
    got = Collected()
    drain_until(part, got, subscribed(part), "subscription")
    streams.advance(3 * 60_000)
    drain_until(part, got, caught_up(part, got, streams), "the first minutes")
    hostile = HOSTILE[f"{name}-{encoding}"]
    for frame in hostile:
        streams.send_raw(frame)
    streams.skip(streams.now_ns + 1, streams.now_ns + 30_000_000_000)  # what those frames "held"
    streams.advance(4 * 60_000)
    drain_until(part, got, lambda: len(got.dead) >= 2, "two dead letters")
    drain_until(part, got, caught_up(part, got, streams), "the trades of the bad frames, from REST")
    assert [d.raw for d in got.dead] == [
        f if isinstance(f, str) else "msgpack:" + f.hex() for f in hostile
    ]  # the raw frame, as text (binary msgpack in hex)
    assert {d.reason for d in got.dead} == {"malformed_frame"}
    assert "at `$.p`" in got.dead[1].detail or "at `$.t`" in got.dead[1].detail
    assert part.session.stats.rows_backfilled > 0
    assert_equal_to_tape(got, streams, trade_counts=name == "alpaca")


@pytest.mark.parametrize(
    ("name", "tape", "symbols"),
    [("alpaca", TAPE, SYMBOLS), ("polygon", TAPE, SYMBOLS), ("polygon", FX_TAPE, FX)],
    ids=["alpaca", "polygon", "polygon-forex"],
)
def test_quotes_become_candles_of_the_mid_equal_to_polars(vendor, open_feed, name, tape, symbols):
    _, streams = vendor
    # the feed's wall clock moves once the step's frames have arrived: a minute is released by
    # the clock only after its quotes were received (as with a real clock and a short latency)
    clock = [streams.now_ns]
    part = open_feed(name, wall=lambda: ns_to_datetime(clock[0]), channels=("quotes",),
                     quote_candles=symbols, symbols=symbols)  # fmt: skip
    got = Collected()
    drain_until(part, got, subscribed(part), "subscription")
    for _ in range(4):
        received, sent = part.session.stats.messages, streams.stats.frames_sent
        streams.advance(5 * 60_000)
        frames = streams.stats.frames_sent - sent
        wait_for(lambda r=received, f=frames: part.session.stats.messages >= r + f, "the frames")
        clock[0] = streams.now_ns
    expected = {
        symbol: tape.quotes_in(symbol, 0, streams.now_ns + 1)
        .with_columns(ts=pl.from_epoch("ts_ns", time_unit="ns"),
                      mid=(pl.col("bid") + pl.col("ask")) / 2, spread=pl.col("ask") - pl.col("bid"))
        .group_by_dynamic("ts", every="1m")
        .agg(o=pl.col("mid").first(), h=pl.col("mid").max(), low=pl.col("mid").min(),
             c=pl.col("mid").last(), n=pl.len(), spread=pl.col("spread").mean())
        .filter(pl.col("ts").dt.epoch("ns") + MINUTE_NS <= streams.now_ns - GRACE_NS)
        for symbol in symbols
    }  # fmt: skip
    drain_until(part, got, lambda: all(len(got.candle_opens_ms(s)) == len(expected[s])
                                       for s in symbols), "the closed quote minutes")  # fmt: skip
    for symbol, frame in expected.items():
        batches = got.candles[(symbol, "1m")]
        for column, polars_column in (("open", "o"), ("high", "h"), ("low", "low"),
                                      ("close", "c"), ("trades", "n")):  # fmt: skip
            np.testing.assert_allclose(
                np.concatenate([getattr(b, column) for b in batches]),
                frame[polars_column],
                rtol=1e-12,
            )
        spreads = np.concatenate([b.spread for b in batches])
        np.testing.assert_allclose(spreads, frame["spread"], rtol=1e-9)
    assert got.quotes and not got.trades  # the latest top of book, conflated
    assert part.session.quote_bars.late == 0 and not got.dead


@pytest.mark.parametrize("tape", [FX_TAPE])
def test_forex_minute_aggregates_fill_a_skipped_range_and_sleep_through_the_weekend(
    vendor, open_feed
):
    _, streams = vendor
    part = open_feed("polygon", symbols=FX, channels=("bars",), stale_after=0.2)
    got = Collected()
    drain_until(part, got, subscribed(part), "subscription")
    noon = int(datetime(2024, 1, 5, 12, tzinfo=UTC).timestamp() * 1e9)
    streams.skip(noon, noon + 4 * MINUTE_NS)  # Friday 12:00..12:04 never sent: REST has them
    friday_close = int(datetime(2024, 1, 5, 22, tzinfo=UTC).timestamp() * 1e9)  # 17:00 NY
    streams.advance((friday_close - streams.now_ns) // 1_000_000 + 60 * 60_000)
    bars = lambda: FX_TAPE.bars("C:EURUSD", "1m", 0, streams.now_ns - MINUTE_NS + 1)  # noqa: E731
    drain_until(part, got, lambda: got.candle_opens_ms("EUR/USD") == (bars()["ts_ns"] // 1_000_000
                ).to_list(), "Friday's minute aggregates")  # fmt: skip
    weekend = lambda: [h for h in got.health if h.ts > ns_to_datetime(friday_close)]  # noqa: E731
    drain_until(part, got, lambda: any(h.status == FeedStatus.CLOSED for h in weekend()),
                "closed for the weekend")  # fmt: skip
    sunday_open = int(datetime(2024, 1, 7, 22, tzinfo=UTC).timestamp() * 1e9)
    streams.advance((sunday_open - streams.now_ns) // 1_000_000 + 10 * 60_000)
    drain_until(part, got, lambda: got.candle_opens_ms("EUR/USD") == (bars()["ts_ns"] // 1_000_000
                ).to_list(), "Sunday evening's")  # fmt: skip
    batches = got.candles[("EUR/USD", "1m")]
    for column, tape_column in (("open", "o"), ("high", "h"), ("low", "low"), ("close", "c")):
        np.testing.assert_array_equal(
            np.concatenate([getattr(b, column) for b in batches]), bars()[tape_column]
        )
    stats = part.session.stats
    assert (stats.rows_backfilled, stats.gaps_filled) == (5, 1)  # the skipped five minutes
    assert (stats.open_gaps, stats.gaps_skipped) == (0, 0)  # the weekend is no gap
    closed = [h for h in weekend() if h.ts < ns_to_datetime(sunday_open)]
    assert {h.status for h in closed} == {FeedStatus.CLOSED}


@pytest.mark.parametrize("tape", [CRYPTO_TAPE])
def test_alpaca_crypto_pairs_stream_and_backfill_through_the_crypto_api(vendor, open_feed):
    _, streams = vendor
    part = open_feed("alpaca", symbols=CRYPTO, calendars={})
    got = Collected()
    drain_until(part, got, subscribed(part), "subscription")
    streams.advance(4 * 60_000)
    trades = lambda: CRYPTO_TAPE.trades_in("BTC/USD", 0, streams.now_ns + 1)  # noqa: E731
    bars = lambda: CRYPTO_TAPE.bars("BTC/USD", "1m", 0, streams.now_ns - MINUTE_NS + 1)  # noqa: E731

    def done() -> bool:
        opens = (bars()["ts_ns"] // 1_000_000).to_list()
        ids = trades()["id"].to_list()
        return (
            trades_of(got, "BTC/USD")["id"].tolist() == ids
            and got.candle_opens_ms("BTC/USD") == opens
        )

    drain_until(part, got, done, "the first minutes")
    streams.refuse_connections()
    streams.drop_connections()
    streams.advance(5 * 60_000)  # Saturday trades go on while the feed is away
    wait_for(lambda: streams.stats.refused >= 1, "a refused reconnect")
    streams.refuse_connections(False)
    drain_until(part, got, subscribed(part, 2), "the reconnect")
    streams.advance(3 * 60_000)
    drain_until(part, got, done, "the outage filled from Alpaca's crypto REST API")
    mine = trades_of(got, "BTC/USD")
    np.testing.assert_array_equal(mine["price"], trades()["price"])
    closes = np.concatenate([b.close for b in got.candles[("BTC/USD", "1m")]])
    np.testing.assert_array_equal(closes, bars()["c"])
    assert part.session.stats.gaps_filled == 2  # the trades and the bars


def test_forex_pairs_stream_quotes_or_bars_and_alpaca_stock_tickers_only():
    keys = ProviderCredentials(provider="polygon", key="k")
    with pytest.raises(ValueError, match="forex has no trades on Polygon"):
        VendorStreamConfig("polygon", ("EUR/USD",), keys, ("trades",))
    crypto = VendorStreamConfig("alpaca", ("AAPL", "BTC/USD"), keys)
    assert [crypto.stream_url(crypto.cluster(s)) for s in crypto.symbols] == [
        "wss://stream.data.alpaca.markets/v2/iex",
        "wss://stream.data.alpaca.markets/v1beta3/crypto/us",
    ]
    config = VendorStreamConfig("polygon", ("AAPL", "EUR/USD"), keys, ("trades", "quotes"))
    assert VendorStreamSource(config).groups == [("AAPL",), ("EUR/USD",)]  # two streams
    assert (config.stream_url("forex"), config.rest_symbol("EUR/USD")) == (
        "wss://socket.polygon.io/forex",
        "C:EURUSD",
    )


def test_closed_hours_are_neither_stale_nor_a_gap(vendor, open_feed):
    _, streams = vendor
    session_end = int(datetime(2024, 1, 2, 21, tzinfo=UTC).timestamp() * 1e9)
    part = open_feed("alpaca", channels=("bars",), stale_after=0.2, heartbeat_every=0.2)
    got = Collected()
    drain_until(part, got, subscribed(part), "subscription")
    streams.advance((session_end - streams.now_ns) // 1_000_000 + 60_000)  # to 21:01
    drain_until(part, got, caught_up(part, got, streams), "the whole first session")
    streams.advance(60 * 60_000)  # an hour into the night
    night = lambda: [h for h in got.health if h.ts > ns_to_datetime(session_end)]  # noqa: E731
    drain_until(part, got, lambda: {h.symbol for h in night() if h.status == FeedStatus.CLOSED}
                == set(SYMBOLS), "closed at night")  # fmt: skip
    next_open = int(datetime(2024, 1, 3, 14, 30, tzinfo=UTC).timestamp() * 1e9)
    streams.advance((next_open - streams.now_ns) // 1_000_000 + 5 * 60_000)
    drain_until(part, got, caught_up(part, got, streams), "the next morning's bars")
    closed_hours = [h for h in night() if h.ts < ns_to_datetime(next_open)]
    assert {h.status for h in closed_hours} == {FeedStatus.CLOSED}  # never stale while closed
    stats = part.session.stats
    assert (stats.open_gaps, stats.gaps_skipped) == (0, 0)  # the night is no hole


def test_without_a_calendar_the_night_is_stale_and_a_gap(vendor, open_feed):
    _, streams = vendor
    session_end = int(datetime(2024, 1, 2, 21, tzinfo=UTC).timestamp() * 1e9)
    part = open_feed("polygon", channels=("bars",), calendars={}, stale_after=0.2,
                     reconnect_after_silence=3600.0)  # fmt: skip
    got = Collected()
    drain_until(part, got, subscribed(part), "subscription")
    streams.advance((session_end - streams.now_ns) // 1_000_000 + 60 * 60_000)
    drain_until(part, got, lambda: any(h.status == FeedStatus.STALE for h in got.health
                                       if h.ts > ns_to_datetime(session_end)), "stale")  # fmt: skip
    next_open = int(datetime(2024, 1, 3, 14, 30, tzinfo=UTC).timestamp() * 1e9)
    streams.advance((next_open - streams.now_ns) // 1_000_000 + 5 * 60_000)
    drain_until(part, got, lambda: part.session.stats.gaps_skipped >= len(SYMBOLS), "skips")


def test_the_official_sdks_understand_the_loopback_streams(vendor):
    """Conformance of the loopback server: alpaca-py's StockDataStream and massive's
    WebSocketClient connect, authenticate, subscribe and parse its trades."""
    from alpaca.data.live import StockDataStream
    from massive import WebSocketClient

    rest, streams = vendor
    alpaca_trades: list[Any] = []
    polygon_trades: list[Any] = []
    alpaca = StockDataStream(rest.key_id, rest.secret, url_override=f"{streams.url}/v2/iex")

    async def on_trade(trade: Any) -> None:
        alpaca_trades.append(trade)

    alpaca.subscribe_trades(on_trade, "AAPL")
    polygon = WebSocketClient(api_key=rest.polygon_key, feed=streams.url.removeprefix("ws://"),
                              secure=False, subscriptions=["T.MSFT"])  # fmt: skip

    threads = [
        threading.Thread(target=alpaca.run, daemon=True),
        threading.Thread(target=polygon.run, args=(polygon_trades.extend,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: streams.subscribed_clients == 2, "both SDK clients subscribed")
    streams.advance(3 * 60_000)
    until = streams.now_ns
    wait_for(lambda: len(alpaca_trades) == len(tape_trades("AAPL", until)), "alpaca-py trades")
    wait_for(lambda: len(polygon_trades) == len(tape_trades("MSFT", until)), "massive trades")
    assert [t.price for t in alpaca_trades] == tape_trades("AAPL", until)["price"].to_list()
    assert [t.price for t in polygon_trades] == tape_trades("MSFT", until)["price"].to_list()
    alpaca.stop()
    streams.drop_connections()


def test_quorum_live_streams_a_vendor_and_never_prints_its_keys(vendor, monkeypatch, capfd):
    from flows.cli import main

    rest, streams = vendor
    monkeypatch.setenv("APCA_API_KEY_ID", rest.key_id)
    monkeypatch.setenv("APCA_API_SECRET_KEY", rest.secret)
    stop = threading.Event()

    def market() -> None:  # a minute of the tape every 0.1 s once the feed has subscribed
        while not stop.wait(0.1):
            if streams.subscribed_clients:
                streams.advance(60_000)

    ticker = threading.Thread(target=market, daemon=True)
    ticker.start()
    try:
        code = main(["live", "--exchange", "alpaca", "--symbols", "AAPL,MSFT", "--ws-url",
                     streams.url, "--rest-url", rest.url, "--duration", "8",
                     "--timeframes", "1m,5m"])  # fmt: skip
    finally:
        stop.set()
        ticker.join(10)
    printed = capfd.readouterr()
    assert code == 0, printed.err
    assert "[feed] alpaca-stream AAPL:" in printed.out
    assert "feed alpaca-stream-0: messages" in printed.out
    assert "candles 1m" in printed.out
    for secret in (rest.key_id, rest.secret):
        assert secret not in printed.out + printed.err


def test_a_refused_key_stops_quorum_live_with_the_vendors_reason_not_the_key(
    vendor, monkeypatch, capfd
):
    from flows.cli import main

    rest, streams = vendor
    monkeypatch.setenv("POLYGON_API_KEY", "wrong-key-456")
    code = main(["live", "--exchange", "polygon", "--symbols", "AAPL", "--ws-url", streams.url,
                 "--rest-url", rest.url, "--duration", "60"])  # fmt: skip
    printed = capfd.readouterr()
    assert code == 2
    assert "polygon refused the key: authentication failed" in printed.err
    assert "wrong-key-456" not in printed.out + printed.err
    assert streams.stats.auth_failures == 1  # a refused key is final: no retry loop
    monkeypatch.delenv("POLYGON_API_KEY")
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    assert main(["live", "--exchange", "polygon", "--symbols", "AAPL"]) == 2
    assert "polygon needs POLYGON_API_KEY" in capfd.readouterr().err
