"""NautilusTrader doing the work Quorum's feature stage does, on the same data, for comparison.

Shared work: candles on 1m, 5m, 15m, 1h and 4h with EMA(12), EMA(26), RSI(14), ATR(14) and
MACD(12, 26) on each, in a :class:`BacktestEngine`, from

* the real 1-minute bars (``1-MINUTE-LAST-EXTERNAL``, the coarser bars aggregated internally
  from them), or
* the derived trades (every timeframe aggregated internally from the trade ticks).

Settings that make the two systems do the same thing: RSI and ATR with Wilder smoothing
(``MovingAverageType.WILDER``, as TA-Lib and Quorum); bars stamped at their close (Nautilus'
convention: a Quorum candle opening at ``t`` is the Nautilus bar at ``t + timeframe``, and
the 1m input bars are given that stamp); ``bar_execution=False`` — no order matching on bars,
which Quorum's feature stage does not do either (the engine's default, on, costs about 45 %
more). The derived trades never sit on a bar boundary (see :mod:`.workloads`): Nautilus
processes a tick stamped exactly at a boundary before the timer closing the bar, so such a tick
would land in the earlier bar there and in the later one in Quorum.

:func:`check_agreement` then compares the candles (OHLC exactly, volume to 1e-9 relative) and
the indicators. Nautilus seeds its EMA with the first input and its Wilder averages with their
first value where TA-Lib (and Quorum) seed with a simple mean, so indicator values agree only
once the seed has decayed: they are compared from row :data:`SEED_DECAYED` of each timeframe,
EMA/RSI/ATR to 1e-9 relative, MACD to 1e-9 of the price. Nautilus' RSI is on a 0–1 scale.

NautilusTrader is optional (``pip install 'quorum[bench]'``); :func:`unavailable_reason` says
why the comparison cannot run.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from schemas.common import Timeframe

TIMEFRAMES = (Timeframe.M1, Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.H4)
COLUMNS = (
    "ts_ns",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "ema_12",
    "ema_26",
    "rsi_14",
    "atr_14",
    "macd",
)
"""Per timeframe, the table both sides produce (``ts_ns`` = candle open time)."""
INDICATORS = ("ema_12", "ema_26", "rsi_14", "atr_14", "macd")
SEED_DECAYED = 400
"""Rows after which the different EMA/Wilder seeds no longer matter at 1e-9 (EMA(26): 0.93^n)."""
PRICE_DECIMALS, SIZE_DECIMALS = 3, 6
_SPECS = {
    Timeframe.M1: "1-MINUTE",
    Timeframe.M5: "5-MINUTE",
    Timeframe.M15: "15-MINUTE",
    Timeframe.H1: "1-HOUR",
    Timeframe.H4: "4-HOUR",
}


def unavailable_reason() -> str | None:
    """None when NautilusTrader can be imported, else why not (and how to install it)."""
    try:
        import nautilus_trader  # noqa: F401
    except ImportError as exc:
        return f"NautilusTrader is not installed ({exc.name}): pip install 'quorum[bench]'"
    return None


def version() -> str:
    import nautilus_trader

    return str(nautilus_trader.__version__)


@dataclass
class NautilusRun:
    """Seconds spent in ``engine.run()`` and the table per timeframe."""

    seconds: float
    inputs: int
    tables: dict[Timeframe, np.ndarray] = field(default_factory=dict)


def _instrument() -> Any:
    from nautilus_trader.model.currencies import BTC, USDT
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
    from nautilus_trader.model.instruments import CryptoPerpetual
    from nautilus_trader.model.objects import Price, Quantity

    return CryptoPerpetual(
        instrument_id=InstrumentId(Symbol("BTCUSD-PERP"), Venue("SIM")),
        raw_symbol=Symbol("BTCUSD"),
        base_currency=BTC,
        quote_currency=USDT,
        settlement_currency=USDT,
        is_inverse=False,
        price_precision=PRICE_DECIMALS,
        price_increment=Price.from_str("0.001"),
        size_precision=SIZE_DECIMALS,
        size_increment=Quantity.from_str("0.000001"),
        max_quantity=None,
        min_quantity=None,
        max_notional=None,
        min_notional=None,
        max_price=None,
        min_price=None,
        margin_init=Decimal("0.05"),
        margin_maint=Decimal("0.025"),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0004"),
        ts_event=0,
        ts_init=0,
    )


def _bar_types(instrument_id: Any, source: str) -> dict[Timeframe, Any]:
    """Bar type per timeframe: from 1m bars (``external``) or from trade ticks (``trades``)."""
    from nautilus_trader.model.data import BarType

    if source == "external":
        types = {Timeframe.M1: f"{instrument_id}-1-MINUTE-LAST-EXTERNAL"}
        for tf in TIMEFRAMES[1:]:
            types[tf] = f"{instrument_id}-{_SPECS[tf]}-LAST-INTERNAL@1-MINUTE-EXTERNAL"
    else:
        types = {tf: f"{instrument_id}-{_SPECS[tf]}-LAST-INTERNAL" for tf in TIMEFRAMES}
    return {tf: BarType.from_str(text) for tf, text in types.items()}


def _recorder(bar_types: dict[Timeframe, Any]) -> Any:
    """A strategy with the indicators registered per bar type, recording one row per bar."""
    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.indicators import (
        AverageTrueRange,
        ExponentialMovingAverage,
        MovingAverageConvergenceDivergence,
        RelativeStrengthIndex,
    )
    from nautilus_trader.indicators.averages import MovingAverageType
    from nautilus_trader.trading.strategy import Strategy

    class Recorder(Strategy):
        def __init__(self) -> None:
            super().__init__(StrategyConfig(strategy_id="Recorder-001"))
            self.by_spec = {str(bt.spec): tf for tf, bt in bar_types.items()}
            self.indicators: dict[str, tuple[Any, ...]] = {}
            self.rows: dict[Timeframe, list[tuple[float, ...]]] = {tf: [] for tf in bar_types}

        def on_start(self) -> None:
            for bar_type in bar_types.values():
                wilder = MovingAverageType.WILDER
                indicators = (
                    ExponentialMovingAverage(12),
                    ExponentialMovingAverage(26),
                    RelativeStrengthIndex(14, wilder),
                    AverageTrueRange(14, wilder),
                    MovingAverageConvergenceDivergence(12, 26),
                )
                for indicator in indicators:
                    self.register_indicator_for_bars(bar_type, indicator)
                self.indicators[str(bar_type.spec)] = indicators
                self.subscribe_bars(bar_type)

        def on_bar(self, bar: Any) -> None:
            spec = str(bar.bar_type.spec)
            ema12, ema26, rsi, atr, macd = self.indicators[spec]
            tf = self.by_spec[spec]
            self.rows[tf].append(
                (
                    bar.ts_event - tf.ns,
                    bar.open.as_double(),
                    bar.high.as_double(),
                    bar.low.as_double(),
                    bar.close.as_double(),
                    bar.volume.as_double(),
                    ema12.value,
                    ema26.value,
                    rsi.value * 100.0,
                    atr.value,
                    macd.value,
                )
            )

    return Recorder()


def _engine(instrument: Any) -> Any:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.currencies import USDT
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.objects import Money

    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(
        instrument.id.venue,
        OmsType.NETTING,
        AccountType.MARGIN,
        [Money(1_000_000, USDT)],
        bar_execution=False,
    )
    engine.add_instrument(instrument)
    return engine


def _run(data: list[Any], instrument: Any, bar_types: dict[Timeframe, Any]) -> NautilusRun:
    engine = _engine(instrument)
    engine.add_data(data)
    recorder = _recorder(bar_types)
    engine.add_strategy(recorder)
    with warnings.catch_warnings():
        # Nautilus 1.221 calls pandas APIs that pandas 3 deprecates (it asks for pandas < 3).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        start = time.perf_counter()
        engine.run()
        seconds = time.perf_counter() - start
    engine.dispose()
    tables = {
        tf: np.array(rows, dtype=np.float64).reshape(-1, len(COLUMNS))
        for tf, rows in recorder.rows.items()
    }
    return NautilusRun(seconds, len(data), tables)


def run_minute_bars(ts_ns: np.ndarray, ohlcv: dict[str, np.ndarray]) -> NautilusRun:
    """1m bars (open times ``ts_ns``) → every timeframe + indicators; time ``engine.run()``."""
    from nautilus_trader.model.data import Bar
    from nautilus_trader.model.objects import Price, Quantity

    instrument = _instrument()
    bar_types = _bar_types(instrument.id, "external")
    minute = bar_types[Timeframe.M1]
    close_ns = (ts_ns + Timeframe.M1.ns).tolist()
    columns = [ohlcv[name].tolist() for name in ("open", "high", "low", "close", "volume")]
    bars = [
        Bar(
            minute,
            Price(o, PRICE_DECIMALS),
            Price(h, PRICE_DECIMALS),
            Price(lo, PRICE_DECIMALS),
            Price(c, PRICE_DECIMALS),
            Quantity(v, SIZE_DECIMALS),
            t,
            t,
        )
        for o, h, lo, c, v, t in zip(*columns, close_ns, strict=True)
    ]
    return _run(bars, instrument, bar_types)


def run_trades(ts_ns: np.ndarray, price: np.ndarray, amount: np.ndarray) -> NautilusRun:
    """Trade ticks → every timeframe + indicators; time ``engine.run()``."""
    from nautilus_trader.model.data import TradeTick
    from nautilus_trader.model.enums import AggressorSide
    from nautilus_trader.model.identifiers import TradeId
    from nautilus_trader.model.objects import Price, Quantity

    instrument = _instrument()
    side = AggressorSide.NO_AGGRESSOR
    ticks = [
        TradeTick(
            instrument.id,
            Price(p, PRICE_DECIMALS),
            Quantity(a, SIZE_DECIMALS),
            side,
            TradeId(str(i)),
            t,
            t,
        )
        for i, (p, a, t) in enumerate(
            zip(price.tolist(), amount.tolist(), ts_ns.tolist(), strict=True)
        )
    ]
    return _run(ticks, instrument, _bar_types(instrument.id, "trades"))


@dataclass(frozen=True)
class Agreement:
    """How the two systems' candles and indicators compare on one timeframe."""

    timeframe: str
    common_candles: int
    candles_equal: bool
    indicator_rows: int
    max_deviation: dict[str, float]
    indicators_equal: bool


def check_agreement(
    quorum: dict[Timeframe, np.ndarray], nautilus: dict[Timeframe, np.ndarray]
) -> list[Agreement]:
    """Candles and indicators of both, per timeframe, on the candles both produced."""
    out = []
    for tf in TIMEFRAMES:
        ours, theirs = quorum.get(tf), nautilus.get(tf)
        if ours is None or theirs is None:
            continue
        common, i, j = np.intersect1d(ours[:, 0], theirs[:, 0], return_indices=True)
        a, b = ours[i], theirs[j]
        prices_equal = bool(np.array_equal(a[:, 1:5], b[:, 1:5]))
        volume_close = bool(np.allclose(a[:, 5], b[:, 5], rtol=1e-9, atol=0.0))
        late = np.flatnonzero(i >= SEED_DECAYED)
        deviations = {}
        for k, name in enumerate(INDICATORS, start=6):
            x, y = a[late, k], b[late, k]
            scale = a[late, 4] if name == "macd" else np.abs(y)
            ok = np.isfinite(x) & np.isfinite(y)
            deviations[name] = float(np.max(np.abs(x[ok] - y[ok]) / scale[ok])) if ok.any() else 0.0
        out.append(
            Agreement(
                tf.value,
                len(common),
                prices_equal and volume_close,
                len(late),
                deviations,
                all(d <= 1e-9 for d in deviations.values()),
            )
        )
    return out


def tables_from_features(batches: list[Any]) -> dict[Timeframe, np.ndarray]:
    """Quorum's side of the comparison: the collected ``FeatureBatch`` es as tables."""
    parts: dict[Timeframe, list[np.ndarray]] = {}
    for batch in batches:
        candles = batch.candles
        columns = [candles.ts_ns.astype(np.float64)]
        columns += [getattr(candles, name) for name in ("open", "high", "low", "close", "volume")]
        columns += [batch.columns[name] for name in INDICATORS]
        parts.setdefault(batch.timeframe, []).append(np.column_stack(columns))
    return {tf: np.concatenate(chunks) for tf, chunks in parts.items()}
