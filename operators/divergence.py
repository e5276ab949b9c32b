"""Dual-source validation: flag an asset whose price differs between two feeds.

When two sources cover the same asset (Binance's WebSocket and a ccxt exchange, say), their
latest prices — taken no further apart in event time than ``max_skew`` — should agree within a
few basis points. :class:`DivergenceMonitor` (pure, one per asset) compares every new observation
with the other sources' latest ones and emits a :class:`DataQualityEvent` when the spread crosses
``threshold_bps`` (``blocks_entries=True``) and again when it falls back below ``clear_bps``
(hysteresis, so a spread hovering at the threshold does not flap). :class:`EntryBlocker` is the
state a risk guard keeps from those events. :func:`price_divergence` is the Bytewax operator.

Observations come from market batches: the last trade of a :class:`~schemas.batches.TradeBatch`
(at its trade time) and the last close of a :class:`~schemas.batches.CandleBatch` (at the
candle's close time).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from pydantic import Field

from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Frozen, UtcDatetime, ns_to_datetime

MarketBatch = TradeBatch | CandleBatch


class QualityKind(StrEnum):
    PRICE_DIVERGENCE = "price_divergence"
    DIVERGENCE_CLEARED = "divergence_cleared"


class DataQualityEvent(Frozen):
    """A data-quality finding about one asset that may block new entries.

    >>> from datetime import datetime, UTC
    >>> DataQualityEvent(kind="price_divergence", symbol="BTC/USDT",
    ...     ts=datetime(2024, 1, 1, tzinfo=UTC), sources=("binance", "ccxt:kraken"),
    ...     prices=(100.0, 101.0), divergence_bps=99.5, threshold_bps=50,
    ...     blocks_entries=True).blocks_entries
    True
    """

    kind: QualityKind
    symbol: str = Field(min_length=1, description="Asset key (after aliases)")
    ts: UtcDatetime = Field(description="Event time of the observation that decided")
    sources: tuple[str, str] = Field(description="The two feeds compared")
    prices: tuple[float, float] = Field(description="Their prices, in the order of sources")
    divergence_bps: float = Field(ge=0, description="|a - b| / mid × 10,000")
    threshold_bps: float = Field(gt=0)
    blocks_entries: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DivergenceConfig:
    """``threshold_bps`` raises, ``clear_bps`` (default 80 % of it) clears; ``max_skew_s``
    bounds how far apart in event time two prices may be to be compared; ``aliases`` maps a
    source's symbol to the shared asset key (e.g. ``{"BTC/USD": "BTC/USDT"}``)."""

    threshold_bps: float = 50.0
    clear_bps: float | None = None
    max_skew_s: float = 5.0
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.threshold_bps > 0:
            raise ValueError(f"threshold_bps must be > 0, got {self.threshold_bps}")
        if self.clear_bps is not None and not 0 <= self.clear_bps <= self.threshold_bps:
            raise ValueError(
                f"clear_bps must be within [0, threshold_bps={self.threshold_bps}], "
                f"got {self.clear_bps}"
            )
        if not self.max_skew_s >= 0:
            raise ValueError(f"max_skew_s must be >= 0, got {self.max_skew_s}")

    @property
    def clear_threshold(self) -> float:
        return self.threshold_bps * 0.8 if self.clear_bps is None else self.clear_bps

    def asset(self, symbol: str) -> str:
        return self.aliases.get(symbol, symbol)


def divergence_bps(a: float, b: float) -> float:
    """Spread of two prices in basis points of their mid.

    >>> round(divergence_bps(100.0, 101.0), 4)
    99.5025
    """
    return abs(a - b) / ((a + b) / 2) * 10_000


class DivergenceMonitor:
    """Compares the latest price of each source for one asset.

    >>> mon = DivergenceMonitor("BTC/USDT", DivergenceConfig(threshold_bps=50, max_skew_s=5))
    >>> mon.observe("a", 1_000_000_000, 100.0) is None
    True
    >>> mon.observe("b", 2_000_000_000, 100.2) is None        # 20 bps: fine
    True
    >>> mon.observe("b", 3_000_000_000, 101.0).kind.value       # 100 bps: raised
    'price_divergence'
    >>> mon.blocks_entries
    True
    >>> mon.observe("a", 4_000_000_000, 100.9).kind.value       # 10 bps: cleared
    'divergence_cleared'
    """

    def __init__(self, symbol: str, config: DivergenceConfig | None = None) -> None:
        self.symbol = symbol
        self.config = config or DivergenceConfig()
        self.latest: dict[str, tuple[int, float]] = {}
        self.blocks_entries = False

    def observe(self, source: str, ts_ns: int, price: float) -> DataQualityEvent | None:
        """Record ``source``'s price at ``ts_ns``; an event when the verdict changes."""
        if not (math.isfinite(price) and price > 0):
            return None  # validation dead-letters such prices; nothing to compare
        previous = self.latest.get(source)
        if previous is not None and ts_ns < previous[0]:
            return None  # older than what we have from this source
        self.latest[source] = (int(ts_ns), float(price))
        skew_ns = int(self.config.max_skew_s * 1e9)
        worst: tuple[float, str, float] | None = None
        for other, (other_ts, other_price) in self.latest.items():
            if other == source or abs(other_ts - ts_ns) > skew_ns:
                continue
            bps = divergence_bps(price, other_price)
            if worst is None or bps > worst[0]:
                worst = (bps, other, other_price)
        if worst is None:
            return None
        bps, other, other_price = worst
        if not self.blocks_entries and bps > self.config.threshold_bps:
            self.blocks_entries = True
            kind = QualityKind.PRICE_DIVERGENCE
        elif self.blocks_entries and bps <= self.config.clear_threshold:
            self.blocks_entries = False
            kind = QualityKind.DIVERGENCE_CLEARED
        else:
            return None
        return DataQualityEvent(
            kind=kind,
            symbol=self.symbol,
            ts=ns_to_datetime(ts_ns),
            sources=(source, other),
            prices=(float(price), other_price),
            divergence_bps=bps,
            threshold_bps=self.config.threshold_bps,
            blocks_entries=self.blocks_entries,
            detail=f"{source} {price} vs {other} {other_price}: {bps:.1f} bps",
        )

    def observe_batch(self, batch: MarketBatch) -> list[DataQualityEvent]:
        """Observe the last price of a market batch (see the module docstring)."""
        if len(batch) == 0:
            return []
        if isinstance(batch, TradeBatch):
            ts, price = int(batch.ts_ns[-1]), float(batch.price[-1])
        else:
            ts, price = int(batch.ts_ns[-1]) + batch.timeframe.ns, float(batch.close[-1])
        event = self.observe(batch.source, ts, price)
        return [] if event is None else [event]


class EntryBlocker:
    """What a risk guard keeps: which assets currently have a blocking data-quality event.

    >>> from datetime import datetime, UTC
    >>> blocker = EntryBlocker()
    >>> blocker.update(DataQualityEvent(kind="price_divergence", symbol="X/Y",
    ...     ts=datetime(2024, 1, 1, tzinfo=UTC), sources=("a", "b"), prices=(1.0, 2.0),
    ...     divergence_bps=6666.7, threshold_bps=50, blocks_entries=True))
    >>> blocker.blocks("X/Y"), blocker.blocks("Z/W")
    (True, False)
    """

    def __init__(self) -> None:
        self._latest: dict[str, DataQualityEvent] = {}

    def update(self, event: DataQualityEvent) -> None:
        current = self._latest.get(event.symbol)
        if current is None or event.ts >= current.ts:
            self._latest[event.symbol] = event

    def blocks(self, symbol: str) -> bool:
        event = self._latest.get(symbol)
        return event is not None and event.blocks_entries

    def reason(self, symbol: str) -> str | None:
        event = self._latest.get(symbol)
        return event.detail if event is not None and event.blocks_entries else None


def check_batches(
    monitor: DivergenceMonitor | None,
    batch: MarketBatch,
    config: DivergenceConfig,
) -> tuple[DivergenceMonitor, list[DataQualityEvent]]:
    """The stateful step's mapper (also usable without Bytewax)."""
    if monitor is None:
        monitor = DivergenceMonitor(config.asset(batch.symbol), config)
    return monitor, monitor.observe_batch(batch)


@operator
def price_divergence(
    step_id: str, up: Stream[MarketBatch], config: DivergenceConfig | None = None
) -> Stream[DataQualityEvent]:
    """Bytewax operator: market batches from two or more sources → data-quality events.

    Feed it :class:`TradeBatch`/:class:`CandleBatch` items only (split dead letters and health
    records off first).
    """
    cfg = config or DivergenceConfig()
    keyed = op.key_on("key", up, lambda batch: cfg.asset(batch.symbol))
    events = op.stateful_flat_map(
        "compare", keyed, lambda state, batch: check_batches(state, batch, cfg)
    )
    return op.map("unkey", events, lambda pair: pair[1])


def events_of(batches: Iterable[MarketBatch], config: DivergenceConfig) -> list[DataQualityEvent]:
    """Run the check over batches in order, without Bytewax (reference for tests and tools)."""
    monitors: dict[str, DivergenceMonitor] = {}
    out: list[DataQualityEvent] = []
    for batch in batches:
        asset = config.asset(batch.symbol)
        monitors[asset], events = check_batches(monitors.get(asset), batch, config)
        out.extend(events)
    return out
