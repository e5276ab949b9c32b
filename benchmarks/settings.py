"""What the harness measures (:class:`Settings`) and its command-line options.

Kept free of heavy imports: ``quorum --help`` loads every command's options.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> configure(parser)
>>> settings_from(parser.parse_args(["--quick", "--symbols", "10,20"])).scale_symbols
(10, 20)
>>> settings_from(parser.parse_args(["--only", "latency", "--rates", "1e5"])).latency_rates
(100000.0,)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

Stage = Literal["features", "signals", "full"]

FIGURES = ("throughput", "dense", "scale", "latency", "backtest", "nautilus", "workers", "kafka")
"""What the harness can measure; ``--only`` picks some."""


@dataclass(frozen=True)
class Settings:
    """How much to measure. The defaults are the full benchmark (several minutes)."""

    repeat: int = 3
    month_bars: int | None = None
    """Bars of the BTC month used (None: all 45,031)."""
    per_bar: int = 4
    dense_per_bar: int = 200
    """Derived trades per bar of the realistic-density workload (figure 1b)."""
    scale_symbols: tuple[int, ...] = (10, 100, 1_000, 2_000, 10_000)
    scale_trades: int = 1_000_000
    scale_min_bars: int = 120
    scale_stages: tuple[Stage, ...] = ("features", "full")
    latency_rates: tuple[float, ...] = (1_000.0, 10_000.0, 20_000.0, 100_000.0)
    latency_seconds: float = 5.0
    latency_warmup_minutes: int = 240
    nautilus: bool = True
    workers_symbols: int = 10
    """Symbols of the 1-vs-2-worker workload (derived trades, two portfolios)."""
    workers_bars: int = 5_000
    kafka_bars: int | None = None
    """Bars of the BTC month loaded into the input topic (None: all 45,031)."""
    kafka_rate: float = 20_000.0
    """Trades/s offered to the input topic for the Kafka latency figure."""
    figures: tuple[str, ...] = FIGURES


QUICK = Settings(
    repeat=1,
    month_bars=5_000,
    scale_symbols=(10,),
    scale_trades=100_000,
    latency_seconds=1.0,
    workers_bars=1_000,
    kafka_bars=5_000,
)
"""``--quick``: a small N, a few thousand bars, one run each (about a minute)."""

SMOKE = Settings(
    repeat=1,
    month_bars=400,
    dense_per_bar=20,
    scale_symbols=(3,),
    scale_trades=3_000,
    scale_min_bars=60,
    latency_rates=(2_000.0,),
    latency_seconds=0.3,
    latency_warmup_minutes=0,
    workers_symbols=2,
    workers_bars=120,
    kafka_bars=600,
    kafka_rate=400.0,
)
"""The test suite's smoke mode: every code path, tiny data, no meaningful timing."""


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks`` and ``quorum bench``."""
    parser.add_argument("--quick", action="store_true", help="small N, few bars, one run each")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--repeat", type=int, help="runs per figure (the median is reported)")
    parser.add_argument(
        "--symbols", help="comma-separated symbol counts for the scale figures (e.g. 10,100)"
    )
    parser.add_argument("--no-nautilus", action="store_true", help="skip the Nautilus column")
    parser.add_argument(
        "--only", help=f"comma-separated figures to measure (of {', '.join(FIGURES)})"
    )
    parser.add_argument(
        "--rates", help="comma-separated offered loads of the latency figure, trades/s"
    )


def _positive_list(text: str, option: str, kind: type[int] | type[float]) -> tuple:
    """``"10,100"`` → ``(10, 100)``; a readable error naming ``option`` otherwise."""
    noun = "integers" if kind is int else "numbers"
    try:
        values = tuple(kind(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{option} must be {noun} separated by commas, got {text!r}") from None
    if any(value <= 0 for value in values):
        raise ValueError(f"{option} must be positive, got {text!r}")
    return values


def settings_from(args: argparse.Namespace) -> Settings:
    settings = QUICK if args.quick else Settings()
    if args.repeat is not None:
        if args.repeat < 1:
            raise ValueError(f"--repeat must be at least 1, got {args.repeat}")
        settings = replace(settings, repeat=args.repeat)
    if args.symbols:
        settings = replace(settings, scale_symbols=_positive_list(args.symbols, "--symbols", int))
    if args.no_nautilus:
        settings = replace(settings, nautilus=False)
    if args.only:
        figures = tuple(part.strip() for part in args.only.split(","))
        unknown = sorted(set(figures) - set(FIGURES))
        if unknown:
            raise ValueError(f"--only: unknown figure(s) {unknown}; known: {', '.join(FIGURES)}")
        settings = replace(settings, figures=figures)
    if args.rates:
        settings = replace(settings, latency_rates=_positive_list(args.rates, "--rates", float))
    return settings
