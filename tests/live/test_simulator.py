"""The loopback exchange simulator: real Binance wire formats, served from the recorded data."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import ccxt
import numpy as np
import orjson
import polars as pl
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from connectors.feed.rest import BINANCE_SPOT_OPTIONS, point_at
from connectors.simulator import ExchangeSimulator
from connectors.simulator.catalogue import DATA_DIR
from connectors.simulator.clock import ManualClock, ScaledClock
from connectors.simulator.faults import Faults, RestFailure
from connectors.simulator.streams import StreamName
from connectors.simulator.tape import Tape

from .conftest import START_MS

pytestmark = pytest.mark.timeout(60)

XRP_START_MS = 1_570_752_000_000  # 2019-10-11 00:00 UTC


@pytest.fixture
def exchange(sim: ExchangeSimulator) -> Iterator[ccxt.binance]:
    """The real (synchronous) ccxt Binance client, pointed at the simulator."""
    client = ccxt.binance({"options": dict(BINANCE_SPOT_OPTIONS), "timeout": 5_000})
    point_at(client, sim.rest_url)
    yield client
    client.session.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 15))


# --- REST through ccxt ---------------------------------------------------------------------------
def test_ccxt_loads_the_markets_and_the_server_time(sim, exchange):
    markets = exchange.load_markets()
    assert sorted(markets) == ["BTC/USDC", "BTC/USDT", "XRP/ETH"]
    assert markets["BTC/USDT"]["precision"]["price"] == 0.01
    assert markets["BTC/USDT"]["spot"] and markets["BTC/USDT"]["active"]
    assert exchange.fetch_time() == START_MS
    assert [p for p, _, _ in sim.rest.stats.requests] == ["/api/v3/exchangeInfo", "/api/v3/time"]


def test_rest_never_reveals_the_future(sim, exchange):
    exchange.load_markets()
    assert exchange.fetch_trades("BTC/USDT") == []
    sim.advance(1_000)
    trades = exchange.fetch_trades("BTC/USDT", limit=1000)
    assert trades and max(t["timestamp"] for t in trades) <= sim.now_ms()
    recorded = pl.read_parquet(DATA_DIR / "btcusdt_trades_2021-01-08.parquet")
    in_first_second = recorded.filter(pl.col("timestamp").dt.epoch("ms") <= START_MS + 1_000)
    assert sum(t["amount"] for t in trades) == pytest.approx(in_first_second["quantity"].sum())


def test_historical_trades_page_by_id(sim, exchange):
    exchange.load_markets()
    exchange.apiKey = "any"  # ccxt insists on a key for this endpoint
    sim.advance(20_000)
    first = 553_287_559
    params = {"fetchTradesMethod": "publicGetHistoricalTrades", "fromId": first + 10}
    page = exchange.fetch_trades("BTC/USDT", limit=5, params=params)
    assert [int(t["id"]) for t in page] == list(range(first + 10, first + 15))
    recorded = pl.read_parquet(DATA_DIR / "btcusdt_trades_2021-01-08.parquet").slice(10, 5)
    assert [t["price"] for t in page] == recorded["price"].to_list()
    assert [t["side"] for t in page] == [
        "sell" if m == "True" else "buy" for m in recorded["buyer_maker"]
    ]


def test_aggregate_trades_add_up_to_the_trades(sim, exchange):
    exchange.load_markets()
    sim.advance(47_000)  # the recorded trades end at 00:00:46.355
    aggregates = exchange.fetch_trades("BTC/USDT", limit=1000, params={"fromId": 1})
    more = exchange.fetch_trades("BTC/USDT", limit=1000, params={"fromId": 1001})
    assert len(aggregates) == 1000 and len(more) < 1000
    aggregates = sorted(aggregates + more, key=lambda a: int(a["id"]))
    ids = [int(a["id"]) for a in aggregates]
    assert ids == list(range(1, len(ids) + 1))
    bounds = [(a["info"]["f"], a["info"]["l"]) for a in aggregates]
    assert bounds[0][0] == 553_287_559 and bounds[-1][1] == 553_287_559 + 2000
    assert all(nxt[0] == prev[1] + 1 for prev, nxt in itertools.pairwise(bounds))
    recorded = pl.read_parquet(DATA_DIR / "btcusdt_trades_2021-01-08.parquet")
    assert sum(a["amount"] for a in aggregates) == pytest.approx(recorded["quantity"].sum(), 1e-12)


def test_klines_equal_the_recorded_xrp_eth_minutes(make_sim, markets):
    from connectors.simulator import SimulatorConfig, default_markets

    xrp = default_markets(XRP_START_MS)
    sim = ExchangeSimulator(SimulatorConfig(start_ms=XRP_START_MS, ping_interval=None), xrp)
    with sim:
        last_trade = int(xrp["XRPETH"].trades.trades.ts_ms[-1])
        sim.advance(last_trade - last_trade % 60_000 + 60_000 - XRP_START_MS)  # its last minute
        client = ccxt.binance({"options": dict(BINANCE_SPOT_OPTIONS)})
        point_at(client, sim.rest_url)
        rows = []
        since = XRP_START_MS
        while True:
            page = client.fetch_ohlcv("XRP/ETH", "1m", since=since, limit=1000)
            rows += page
            if len(page) < 1000:
                break
            since = page[-1][0] + 60_000
        client.session.close()
    reference = pl.read_parquet(DATA_DIR / "xrp-eth_1m_2019-10.parquet")
    traded = [r for r in rows if r[5] > 0]
    assert len(traded) == reference.height == 2469
    assert [r[0] for r in traded] == reference["ts"].dt.epoch("ms").to_list()
    for i, column in enumerate(("open", "high", "low", "close"), start=1):
        assert [r[i] for r in traded] == reference[column].to_list(), column
    assert [r[5] for r in traded] == pytest.approx(reference["volume"].to_list(), rel=1e-12)
    # minutes without trades repeat the last close with zero volume, as Binance publishes them
    quiet = [r for r in rows if r[5] == 0]
    assert quiet and all(r[1] == r[2] == r[3] == r[4] for r in quiet)
    assert [r[0] for r in rows] == list(range(rows[0][0], rows[-1][0] + 1, 60_000))


def test_rest_faults_answer_429_with_retry_after_then_recover(sim, exchange):
    sim.faults.fail_rest(2, status=429, retry_after=3)
    sim.faults.fail_rest(1, status=503, retry_after=None)
    for expected in (ccxt.DDoSProtection, ccxt.DDoSProtection):
        with pytest.raises(expected):
            exchange.fetch_time()
        assert exchange.last_response_headers["Retry-After"] == "3"
    with pytest.raises(ccxt.OperationFailed):
        exchange.fetch_time()
    assert exchange.fetch_time() == START_MS
    assert [s for _, _, s in sim.rest.stats.requests] == [429, 429, 503, 200]


def test_rest_rejects_bad_parameters_like_binance(sim):
    import urllib.error
    import urllib.request

    def get(path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(sim.rest_url + path, timeout=5) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, orjson.loads(exc.read())

    assert get("/api/v3/klines?symbol=NOPE&interval=1m") == (
        400,
        {"code": -1121, "msg": "Invalid symbol."},
    )
    assert get("/api/v3/klines?symbol=BTCUSDT&interval=7m")[1]["code"] == -1120
    assert get("/api/v3/trades?symbol=BTCUSDT&limit=5000")[1]["code"] == -1100
    assert get("/api/v3/trades?symbol=BTCUSDT&limit=abc")[1]["code"] == -1100
    assert get("/api/v3/trades")[1]["code"] == -1102
    assert get("/api/v3/aggTrades?symbol=BTCUSDT&fromId=1&startTime=5")[1]["code"] == -1128


# --- WebSocket ------------------------------------------------------------------------------------
def test_combined_streams_carry_binance_payloads(sim):
    async def scenario() -> list[dict]:
        url = f"{sim.ws_url}/stream?streams=btcusdt@trade/btcusdt@kline_1m"
        async with connect(url) as ws:
            await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":7}')
            assert orjson.loads(await ws.recv()) == {"result": None, "id": 7}
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":8}')
            listed = orjson.loads(await ws.recv())
            assert listed["result"] == ["btcusdt@bookTicker", "btcusdt@kline_1m", "btcusdt@trade"]
            queued = await asyncio.to_thread(sim.advance, 61_000)
            return [orjson.loads(await ws.recv()) for _ in range(queued)]

    frames = run(scenario())
    kinds = {f["stream"] for f in frames}
    assert kinds == {"btcusdt@trade", "btcusdt@kline_1m", "btcusdt@bookTicker"}
    trade = next(f["data"] for f in frames if f["stream"] == "btcusdt@trade")
    assert set(trade) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
    assert (trade["e"], trade["s"], trade["t"], trade["p"]) == (
        "trade",
        "BTCUSDT",
        553_287_559,
        "39432.48000000",
    )
    quote = next(f["data"] for f in frames if f["stream"] == "btcusdt@bookTicker")
    assert set(quote) == {"u", "s", "b", "B", "a", "A"}
    closed = [
        f["data"]["k"] for f in frames if f["stream"] == "btcusdt@kline_1m" and f["data"]["k"]["x"]
    ]
    assert len(closed) == 1 and closed[0]["t"] == START_MS and closed[0]["T"] == START_MS + 59_999
    assert closed[0]["n"] == 2001  # the whole recorded minute
    trades = [f["data"] for f in frames if f["stream"] == "btcusdt@trade"]
    assert closed[0]["c"] == trades[2000]["p"] and closed[0]["L"] == trades[2000]["t"]


def test_raw_stream_and_bad_requests(sim):
    async def scenario() -> tuple[dict, list[dict]]:
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade") as ws:
            queued = await asyncio.to_thread(sim.advance, 500)
            first = orjson.loads(await ws.recv())
            for _ in range(queued - 1):
                await ws.recv()
            replies = []
            for text in (
                '{"method":"SUBSCRIBE","params":["btcusdt@depth9"],"id":1}',
                "not json",
                '{"method":"FLY","id":2}',
            ):
                await ws.send(text)
                replies.append(orjson.loads(await ws.recv()))
            return first, replies

    first, replies = run(scenario())
    assert first["e"] == "trade" and "stream" not in first  # raw streams are not wrapped
    assert [r["code"] for r in replies] == [2, 3, 2]


def test_the_server_closes_a_client_that_floods_it(sim):
    async def scenario() -> int | None:
        async with connect(f"{sim.ws_url}/stream") as ws:
            try:
                for i in range(8):
                    await ws.send(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
                while True:
                    await ws.recv()
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

    assert run(scenario()) == 1008
    assert sim.hub.stats.rate_limit_closes == 1


def test_pings_carry_a_payload_and_expect_it_back(make_sim):
    sim = make_sim(ping_interval=0.05, pong_timeout=1.0)

    async def scenario() -> None:
        async with connect(f"{sim.ws_url}/stream"):
            while sim.hub.stats.pongs_matched < 3:
                await asyncio.sleep(0.01)

    run(scenario())
    assert sim.hub.stats.pings_sent >= 3


def test_connection_age_limit_closes_like_binance_at_24h(make_sim):
    sim = make_sim(ping_interval=None, max_connection_age=0.1)

    async def scenario() -> tuple[int, str]:
        async with connect(f"{sim.ws_url}/stream") as ws:
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                assert exc.rcvd is not None
                return exc.rcvd.code, exc.rcvd.reason
        raise AssertionError("not closed")

    assert run(scenario()) == (1001, "connection age limit (24h)")


# --- building blocks --------------------------------------------------------------------------
def test_fault_shaping_reorders_within_a_connection():
    faults = Faults()
    faults.reorder_next(3)
    hold: list[str] = []
    assert faults.shape(["a", "b"], hold) == []
    assert faults.shape(["c", "d"], hold) == ["c", "b", "a", "d"]
    faults.go_silent()
    assert faults.shape(["e"], hold) == []


def test_rest_failures_are_consumed_in_order_and_per_path():
    faults = Faults()
    faults.fail_rest(1, 503, None, path="/api/v3/klines")
    faults.fail_rest(1, 429, 2)
    assert faults.take_rest_failure("/api/v3/time") == RestFailure(429, 2, None)
    assert faults.take_rest_failure("/api/v3/time") is None
    assert faults.take_rest_failure("/api/v3/klines") == RestFailure(503, None, "/api/v3/klines")
    with pytest.raises(ValueError, match="status must be an HTTP error"):
        RestFailure(200)


def test_clocks():
    clock = ManualClock(0)
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="before the current time"):
        clock.set(-5)
    ticks = iter([0.0, 1.0])
    assert ScaledClock(1_000, speed=60, monotonic=lambda: next(ticks)).now_ms() == 61_000
    with pytest.raises(ValueError, match="speed must be > 0"):
        ScaledClock(0, speed=0)


def test_looping_tape_keeps_ids_and_times_increasing(markets):
    tape = markets["BTCUSDT"].trades
    n = len(tape)
    period = tape.trades.period_ms
    ts, rows = tape.trades.rows(n - 2, n + 2)
    assert np.all(np.diff(ts) > 0) and rows.tolist() == [n - 2, n - 1, 0, 1]
    assert ts[2] == tape.trades.ts_ms[0] + period
    assert tape.ids(n - 1, n + 1).tolist() == [553_287_559 + n - 1, 553_287_559 + n]
    with pytest.raises(ValueError, match="must exceed the tape's span"):
        Tape(np.array([0, 100]), {}, period_ms=100)
    with pytest.raises(ValueError, match="sorted"):
        Tape(np.array([5, 1]), {})


@pytest.mark.parametrize("name", ["BTCUSDT@trade", "btcusdt@kline_7m", "btcusdt", "@trade", 5])
def test_stream_names_are_checked(name):
    with pytest.raises(ValueError, match="invalid stream name"):
        StreamName.parse(name)  # type: ignore[arg-type]
