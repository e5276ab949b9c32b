"""Benchmarks of the Quorum flow: throughput, latency, memory, backtest speed, side by side with
NautilusTrader and a vectorized polars pass. Run ``python -m benchmarks`` or ``quorum bench``;
see :mod:`benchmarks.harness` and ``benchmarks/README.md``."""
