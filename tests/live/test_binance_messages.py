"""Binance frame decoding, stream naming, connection planning and subscription pacing."""

from __future__ import annotations

import contextlib
import itertools
import json

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.binance.config import BinanceConfig
from connectors.binance.messages import (
    AggTradeEvent,
    BookTickerEvent,
    ControlReply,
    FrameError,
    KlineEvent,
    ServerShutdown,
    StreamEvent,
    TradeEvent,
    decode_frame,
)
from connectors.binance.streams import Channels, FramePacer, plan_connections, subscribe_frames
from connectors.simulator import payloads
from connectors.simulator.catalogue import DATA_DIR
from schemas.common import Timeframe

pytestmark = pytest.mark.timeout(60)


def wrap(stream: str, data: dict) -> str:
    return orjson.dumps({"stream": stream, "data": data}).decode()


def test_decodes_the_recorded_trades_exactly():
    recorded = pl.read_parquet(DATA_DIR / "btcusdt_trades_2021-01-08.parquet")
    for row in recorded.head(200).iter_rows(named=True):
        ts = int(row["timestamp"].timestamp() * 1000)
        maker = row["buyer_maker"] == "True"
        event = payloads.trade_event(
            "BTCUSDT", ts, row["trade_id"], row["price"], row["quantity"], ts, maker
        )
        frame = decode_frame(wrap("btcusdt@trade", event))
        assert isinstance(frame, StreamEvent) and isinstance(frame.event, TradeEvent)
        trade = frame.event
        assert (trade.t, trade.T, trade.m) == (row["trade_id"], ts, maker)
        assert trade.p == float(f"{row['price']:.8f}")
        assert trade.q == float(f"{row['quantity']:.8f}")


def test_decodes_every_stream_kind_and_control_frames():
    agg = decode_frame(
        wrap(
            "btcusdt@aggTrade",
            payloads.agg_trade_event("BTCUSDT", 2, 11, 1.5, 2.0, 100, 104, 1, False),
        )
    )
    assert isinstance(agg, StreamEvent) and isinstance(agg.event, AggTradeEvent)
    assert (agg.event.a, agg.event.f, agg.event.l) == (11, 100, 104)
    book = decode_frame(
        wrap("btcusdt@bookTicker", payloads.book_ticker_event("BTCUSDT", 9, 1.0, 2.0, 1.1, 3.0))
    )
    assert isinstance(book, StreamEvent) and isinstance(book.event, BookTickerEvent)
    assert (book.event.b, book.event.A) == (1.0, 3.0)
    kline = {
        "e": "kline",
        "E": 5,
        "s": "BTCUSDT",
        "k": {
            "t": 0,
            "T": 59_999,
            "s": "BTCUSDT",
            "i": "1m",
            "f": 1,
            "L": 2,
            "o": "1",
            "c": "2",
            "h": "3",
            "l": "0.5",
            "v": "7",
            "n": 2,
            "x": True,
            "q": "0",
            "V": "0",
            "Q": "0",
            "B": "0",
        },
    }
    frame = decode_frame(wrap("btcusdt@kline_1m", kline))
    assert isinstance(frame, StreamEvent) and isinstance(frame.event, KlineEvent)
    assert frame.event.k.x and frame.event.k.h == 3.0
    assert decode_frame('{"result":null,"id":4}') == ControlReply(4)
    assert decode_frame('{"code":2,"msg":"Invalid request","id":5}') == ControlReply(
        5, "code 2: Invalid request"
    )
    assert decode_frame('{"e":"serverShutdown","E":17}') == ServerShutdown(17)


@pytest.mark.parametrize(
    ("text", "reason", "where"),
    [
        (
            '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"1",'
            '"T":1,"m":true',
            "malformed_frame",
            "truncated",
        ),
        (
            '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"X","p":"1","q":"1","T":1,'
            '"m":true}}',
            "malformed_frame",
            "`t`",
        ),
        (
            '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"X","t":1,"p":"inf","q":"1",'
            '"T":1,"m":true}}',
            "malformed_frame",
            "`$.p`",
        ),
        (
            '{"stream":"btcusdt@trade","data":{"e":"aggTrade","E":1,"s":"X","t":1,"p":"1","q":"1",'
            '"T":1,"m":true}}',
            "malformed_frame",
            "`$.e`",
        ),
        (
            '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"X","k":{"t":0,"T":1,'
            '"s":"X","i":"1m","o":"1","c":"nan","h":"1","l":"1","v":"1","n":1,"x":true}}}',
            "malformed_frame",
            "`$.k.c`",
        ),
        (
            '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"X","t":123456789012345678901,'
            '"p":"1","q":"1","T":1,"m":true}}',
            "malformed_frame",
            "`$.t`",
        ),
        (
            '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"X","t":-4,"p":"1","q":"1",'
            '"T":1,"m":true}}',
            "malformed_frame",
            "`$.t`",
        ),
        ('{"stream":"btcusdt@depth","data":{}}', "unexpected_stream", "unsupported"),
        ('{"stream":"btcusdt@trade"}', "malformed_frame", "no data"),
        ('{"stream":5,"data":{}}', "malformed_frame", "`$.stream`"),
        ('{"hello":"world"}', "unexpected_frame", "neither"),
        ("\x00\xff binary garbage", "malformed_frame", "not a Binance frame"),
        ("", "malformed_frame", "not a Binance frame"),
    ],
)
def test_malformed_frames_raise_with_a_reason_and_the_field(text, reason, where):
    with pytest.raises(FrameError) as info:
        decode_frame(text)
    assert info.value.reason == reason
    assert where in str(info.value)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
            lambda c: (
                st.lists(c, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        ["stream", "data", "e", "E", "p", "t", "id", "result", "code", "k"]
                    ),
                    c,
                    max_size=5,
                )
            ),
            max_leaves=12,
        ).map(json.dumps),
    )
)
def test_hostile_input_only_ever_raises_frame_error(text):
    with contextlib.suppress(FrameError):  # anything else escaping would fail the test
        decode_frame(text)


def test_channels_plans_and_frames():
    channels = Channels("trade", (Timeframe.M1, Timeframe.M5), book_ticker=True)
    symbols = [f"S{i}/USDT" for i in range(600)]
    groups = plan_connections(symbols, channels)
    assert [len(g) for g in groups] == [256, 256, 88]  # 4 streams each, ≤ 1,024 per connection
    assert sum(groups, ()) == tuple(symbols)
    streams = [s for symbol in groups[0] for s in channels.streams(symbol)]
    frames = subscribe_frames(streams, per_frame=200, first_id=10)
    assert [f["id"] for f in frames] == [10, 11, 12, 13, 14, 15]
    assert sum(len(f["params"]) for f in frames) == 1024
    with pytest.raises(ValueError, match=r"max_streams must be within 1\.\.1024"):
        plan_connections(symbols, channels, max_streams=2000)
    with pytest.raises(ValueError, match="duplicate symbols"):
        plan_connections(["A/B", "A/B"], channels)
    with pytest.raises(ValueError, match="no channel selected"):
        Channels(None, (), False)


def test_pacer_never_exceeds_the_rate():
    pacer = FramePacer(rate=4)
    now, sent = 0.0, []
    for _ in range(20):
        now += pacer.delay(now)
        sent.append(now)
    assert all(b - a >= 0.25 - 1e-12 for a, b in itertools.pairwise(sent))
    with pytest.raises(ValueError, match="rate must be within"):
        FramePacer(rate=6)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="symbols must name at least one"):
        BinanceConfig(symbols=())
    with pytest.raises(ValueError, match="'BTCUSDT' is not a unified spot symbol"):
        BinanceConfig(symbols=("BTCUSDT",))
    with pytest.raises(ValueError, match=r"'7m' is not a valid Timeframe"):
        BinanceConfig(symbols=("BTC/USDT",), timeframes=("7m",))
    with pytest.raises(ValueError, match="subscribe_rate must be within"):
        BinanceConfig(symbols=("BTC/USDT",), subscribe_rate=10)
    keyed = BinanceConfig(symbols=("BTC/USDT",), api_key="k")
    assert keyed.trades_method == "publicGetHistoricalTrades"
    assert BinanceConfig(symbols=("BTC/USDT",)).trades_method is None
    assert BinanceConfig(symbols=("BTC/USDT",), trade_stream="aggTrade").trades_method == (
        "publicGetAggTrades"
    )
