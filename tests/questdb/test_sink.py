"""The QuestDB sink: the real ``questdb`` client and httpx against a QuestDB-compatible server on
127.0.0.1 (``tests/questdb/fake_server.py``). The exact ILP lines, the exact DDL, the
refusals, and a replay after a crash (the sink sends rows again; the upsert keys the DDL
declares keep one copy, as modelled by the server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main

from connectors.questdb.config import QuestDBConfig
from connectors.questdb.ddl import QuestDBSetupError, apply_ddl
from connectors.questdb.sink import QuestDBSink, QuestDBWriteError, QuestDBWriter
from connectors.questdb.tables import TABLES
from flows.store_options import timeseries_failure
from schemas.batches import CandleBatch, FeatureBatch
from schemas.common import Direction, Timeframe
from schemas.operations import EquityPoint
from schemas.signals import Contribution, Decision, FusedSignal, Signal
from schemas.trading import Fill
from tests.questdb.fake_server import FakeQuestDB, Line, Nanos

T0 = datetime(2022, 1, 3, 14, 30, tzinfo=UTC)
T0_NS = 1_641_220_200_000_000_000
MINUTE_NS = 60_000_000_000


def _candles() -> CandleBatch:
    return CandleBatch.from_columns(
        "BTC/USDT", "1m", [T0_NS, T0_NS + MINUTE_NS], [46000.5, 46010.0], [46020.0, 46030.0],
        [45990.0, 46000.0], [46010.0, 46025.5], [12.5, 3.25], [120, 45],
    )  # fmt: skip


def _features() -> FeatureBatch:
    return FeatureBatch(_candles(), {"rsi_14": np.array([np.nan, 55.5]), "my_score": np.ones(2)})


def _signal() -> Signal:
    return Signal(
        signal_id="sig-1",
        asset="BTC/USDT",
        direction=Direction.LONG,
        confidence=0.75,
        timeframe=Timeframe.M1,
        origin="rules:rsi",
        meta={"rsi": 28.5},
        timestamp=T0,
        expires_at=T0 + timedelta(minutes=5),
    )


def _fused() -> FusedSignal:
    contribution = Contribution(
        origin="rules:rsi", timeframe=Timeframe.M1, direction=Direction.LONG, confidence=0.75,
        weight=1.0, signed=0.75, share=0.75, signal_id="sig-1",
    )  # fmt: skip
    return FusedSignal(
        fused_id="fused-1",
        asset="BTC/USDT",
        timestamp=T0,
        score=0.75,
        direction=Direction.LONG,
        decision=Decision.OPEN,
        contributions=[contribution],
        timeframe_scores={"1m": 0.75},
        consensus=1.0,
        reasons=["score 0.75 >= 0.6"],
    )


def _fill() -> Fill:
    return Fill(
        fill_id="fill-1", order_id="order-1", asset="BTC/USDT", side="buy",
        quantity=Decimal("0.5"), price=Decimal("46010.25"), fee=Decimal("23.005125"),
        mid_price=Decimal("46010"), slippage_bps=0.054, ts=T0,
    )  # fmt: skip


def _equity() -> EquityPoint:
    return EquityPoint(
        ts=T0, equity=Decimal("100000.5"), cash=Decimal("76995"), realized_pnl=Decimal("0"),
        unrealized_pnl=Decimal("0.5"), fees_paid=Decimal("23.005125"),
        gross_exposure=Decimal("23005.5"), net_exposure=Decimal("23005.5"),
        exposure={"BTC/USDT": Decimal("23005.5")}, open_positions=1, drawdown_pct=0.0,
    )  # fmt: skip


def _config(server: FakeQuestDB) -> QuestDBConfig:
    return QuestDBConfig(address=f"questdb://{server.addr}")


EXPECTED_LINES = [
    Line("candles", {"symbol": "BTC/USDT", "timeframe": "1m", "source": "replay"},
         {"open": 46000.5, "high": 46020.0, "low": 45990.0, "close": 46010.0, "volume": 12.5,
          "trades": 120}, T0_NS),
    Line("candles", {"symbol": "BTC/USDT", "timeframe": "1m", "source": "replay"},
         {"open": 46010.0, "high": 46030.0, "low": 46000.0, "close": 46025.5, "volume": 3.25,
          "trades": 45}, T0_NS + MINUTE_NS),
    Line("features", {"symbol": "BTC/USDT", "timeframe": "1m"},
         {"close": 46010.0, "my_score": 1.0}, T0_NS),  # rsi_14 still NaN: NULL, not sent
    Line("features", {"symbol": "BTC/USDT", "timeframe": "1m"},
         {"close": 46025.5, "my_score": 1.0, "rsi_14": 55.5}, T0_NS + MINUTE_NS),
    Line("signals",
         {"asset": "BTC/USDT", "origin": "rules:rsi", "timeframe": "1m", "direction": "long"},
         {"signal_id": "sig-1", "confidence": 0.75,
          "expires_at": Nanos(T0_NS + 5 * MINUTE_NS), "meta": '{"rsi":28.5}'}, T0_NS),
    Line("fused_signals", {"asset": "BTC/USDT", "direction": "long", "decision": "open"},
         {"fused_id": "fused-1", "score": 0.75, "consensus": 1.0, "conflict": False,
          "timeframe_scores": '{"1m":0.75}',
          "contributions": '[{"origin":"rules:rsi","timeframe":"1m","direction":"long",'
                           '"confidence":0.75,"weight":1.0,"signed":0.75,"share":0.75,'
                           '"signal_id":"sig-1"}]',
          "reasons": '["score 0.75 >= 0.6"]'}, T0_NS),
    Line("fills",
         {"run_id": "run-1", "portfolio": "default", "asset": "BTC/USDT", "side": "buy",
          "liquidity": "taker"},
         {"fill_id": "fill-1", "order_id": "order-1", "quantity": 0.5, "price": 46010.25,
          "fee": 23.005125, "mid_price": 46010.0, "slippage_bps": 0.054}, T0_NS),
    Line("equity", {"run_id": "run-1", "portfolio": "default"},
         {"equity": 100000.5, "cash": 76995.0, "realized_pnl": 0.0, "unrealized_pnl": 0.5,
          "fees_paid": 23.005125, "gross_exposure": 23005.5, "net_exposure": 23005.5,
          "exposure": '{"BTC/USDT":"23005.5"}', "open_positions": 1, "drawdown_pct": 0.0},
         T0_NS),
]  # fmt: skip


def _all_records() -> list:
    return [_candles(), ("BTC/USDT", _features()), _signal(), _fused(), _fill(), _equity()]


def test_the_exact_ilp_rows_of_every_table() -> None:
    with FakeQuestDB() as server:
        writer = QuestDBWriter(_config(server), "run-1")
        counts = writer.write([*_all_records(), "not a time series"])
        writer.close()
    assert counts == {
        "candles": 2, "features": 2, "signals": 1, "fused_signals": 1, "fills": 1, "equity": 1,
    }  # fmt: skip
    assert server.lines == EXPECTED_LINES
    assert server.write_paths == ["/write"] * 6  # one flush per table: a refusal names it


def test_protocol_1_text_lines_byte_for_byte() -> None:
    """A server without protocol 2 gets text ILP: the exact bytes, ns designated timestamp."""
    with FakeQuestDB(protocol_versions=(1,)) as server:
        writer = QuestDBWriter(_config(server), "run-1")
        writer.write([_candles(), _fill()])
        writer.close()
    assert server.raw_bodies == [
        b"candles,symbol=BTC/USDT,timeframe=1m,source=replay open=46000.5,high=46020.0,"
        b"low=45990.0,close=46010.0,volume=12.5,trades=120i 1641220200000000000\n"
        b"candles,symbol=BTC/USDT,timeframe=1m,source=replay open=46010.0,high=46030.0,"
        b"low=46000.0,close=46025.5,volume=3.25,trades=45i 1641220260000000000\n",
        b"fills,run_id=run-1,portfolio=default,asset=BTC/USDT,side=buy,liquidity=taker "
        b'fill_id="fill-1",'
        b'order_id="order-1",quantity=0.5,price=46010.25,fee=23.005125,mid_price=46010.0,'
        b"slippage_bps=0.054 1641220200000000000\n",
    ]
    assert server.lines == [EXPECTED_LINES[0], EXPECTED_LINES[1], EXPECTED_LINES[6]]


EXPECTED_DDL = [
    "CREATE TABLE IF NOT EXISTS candles (ts TIMESTAMP, symbol SYMBOL, timeframe SYMBOL, "
    "source SYMBOL, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE, "
    "trades LONG) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, symbol, timeframe);",
    "CREATE TABLE IF NOT EXISTS features (ts TIMESTAMP, symbol SYMBOL, timeframe SYMBOL, "
    "close DOUBLE, sma_20 DOUBLE, ema_12 DOUBLE, ema_26 DOUBLE, ema_20 DOUBLE, ema_50 DOUBLE, "
    "rsi_14 DOUBLE, atr_14 DOUBLE, macd DOUBLE, macd_signal DOUBLE, macd_hist DOUBLE, "
    "bb_upper DOUBLE, bb_middle DOUBLE, bb_lower DOUBLE, volatility_20 DOUBLE, zscore_20 DOUBLE, "
    "vwap DOUBLE) TIMESTAMP(ts) PARTITION BY DAY WAL "
    "DEDUP UPSERT KEYS(ts, symbol, timeframe);",
    "CREATE TABLE IF NOT EXISTS signals (ts TIMESTAMP, asset SYMBOL, origin SYMBOL, "
    "timeframe SYMBOL, direction SYMBOL, signal_id VARCHAR, confidence DOUBLE, "
    "expires_at TIMESTAMP, meta VARCHAR) TIMESTAMP(ts) PARTITION BY DAY WAL "
    "DEDUP UPSERT KEYS(ts, signal_id);",
    "CREATE TABLE IF NOT EXISTS fused_signals (ts TIMESTAMP, asset SYMBOL, direction SYMBOL, "
    "decision SYMBOL, fused_id VARCHAR, score DOUBLE, consensus DOUBLE, conflict BOOLEAN, "
    "veto VARCHAR, timeframe_scores VARCHAR, contributions VARCHAR, reasons VARCHAR) "
    "TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, fused_id);",
    "CREATE TABLE IF NOT EXISTS fills (ts TIMESTAMP, run_id SYMBOL, portfolio SYMBOL, "
    "asset SYMBOL, side SYMBOL, liquidity SYMBOL, fill_id VARCHAR, order_id VARCHAR, "
    "quantity DOUBLE, price DOUBLE, "
    "fee DOUBLE, mid_price DOUBLE, slippage_bps DOUBLE) TIMESTAMP(ts) PARTITION BY DAY WAL "
    "DEDUP UPSERT KEYS(ts, run_id, portfolio, fill_id);",
    "CREATE TABLE IF NOT EXISTS equity (ts TIMESTAMP, run_id SYMBOL, portfolio SYMBOL, "
    "equity DOUBLE, cash DOUBLE, "
    "realized_pnl DOUBLE, unrealized_pnl DOUBLE, fees_paid DOUBLE, gross_exposure DOUBLE, "
    "net_exposure DOUBLE, exposure VARCHAR, open_positions LONG, drawdown_pct DOUBLE) "
    "TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, run_id, portfolio);",
]


def test_the_ddl_sent_through_exec_declares_the_natural_keys() -> None:
    with FakeQuestDB() as server:
        assert apply_ddl(_config(server)) == EXPECTED_DDL
        apply_ddl(_config(server))  # every start sends it again: IF NOT EXISTS
    assert server.ddl == EXPECTED_DDL * 2
    assert list(TABLES) == ["candles", "features", "signals", "fused_signals", "fills", "equity"]


def test_a_refused_ddl_and_an_unreachable_server_name_the_table() -> None:
    with FakeQuestDB() as server:
        server.refuse_ddl["signals"] = "permission denied"
        with pytest.raises(QuestDBSetupError, match=r"refused the DDL of table 'signals' "
                           r"\(HTTP 400\): permission denied at position 0"):  # fmt: skip
            apply_ddl(_config(server))
    with pytest.raises(QuestDBSetupError, match=r"cannot reach QuestDB at .* table 'candles'"):
        apply_ddl(QuestDBConfig(address=f"questdb://{server.addr}", request_timeout_s=5))


def _flow(items: list, sink: QuestDBSink) -> Dataflow:
    flow = Dataflow("questdb_test")
    op.output("questdb", op.input("in", flow, TestingSource(items)), sink)
    return flow


def test_a_refusal_stops_the_flow_naming_the_table() -> None:
    with FakeQuestDB() as server:
        server.reject["fills"] = "cast error from protocol type: FLOAT to column type: LONG"
        sink = QuestDBSink(_config(server), "run-1")
        with pytest.raises(Exception) as caught:
            run_main(_flow(_all_records(), sink))
    assert timeseries_failure(caught.value) is not None
    root = caught.value
    while root.__cause__ is not None:
        root = root.__cause__
    assert isinstance(root, QuestDBWriteError)
    message = str(root)
    assert "did not take 1 row(s) of table 'fills'" in message
    assert "cast error from protocol type: FLOAT to column type: LONG" in message
    written = [line.table for line in server.lines]  # the tables before; equity never sent
    assert written == ["candles", "candles", "features", "features", "signals", "fused_signals"]


def test_a_replay_after_a_crash_resends_rows_the_upsert_keys_keep_once(tmp_path: Path) -> None:
    recovery_dir = tmp_path / "recovery"
    recovery_dir.mkdir()
    init_db_dir(recovery_dir, 1)
    later = CandleBatch.from_columns(
        "ETH/USDT", "1m", [T0_NS], [3800.0], [3810.0], [3790.0], [3805.0], [40.0], [9]
    )
    items = [_candles(), _fill(), _signal(), TestingSource.ABORT(), later, _equity()]
    config = RecoveryConfig(str(recovery_dir))
    with FakeQuestDB() as server:
        apply_ddl(_config(server))
        # An hour-long epoch: no snapshot completes before the abort, so the resume replays all.
        for _attempt in range(2):
            sink = QuestDBSink(_config(server), "run-1")
            run_main(_flow(items, sink), epoch_interval=timedelta(hours=1), recovery_config=config)
        sent = [(line.table, line.ts_ns) for line in server.lines]
        assert sent.count(("candles", T0_NS)) == 3  # BTC twice (sent again), ETH once
        assert sent.count(("fills", T0_NS)) == 2
        assert len(server.rows("candles")) == 3
        assert server.rows("fills") == [EXPECTED_LINES[6]]
        assert server.rows("signals") == [EXPECTED_LINES[4]]
        assert server.rows("equity") == [EXPECTED_LINES[7]]
