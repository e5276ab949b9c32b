"""quorum bench: the benchmark harness (throughput, latency, memory, backtest, comparisons)."""

from __future__ import annotations

import argparse

HELP = "measure throughput, latency, memory and backtest speed, side by side with NautilusTrader"


def configure(parser: argparse.ArgumentParser) -> None:
    from benchmarks.settings import configure as harness_options  # cheap: no flow imports

    harness_options(parser)


def main(args: argparse.Namespace) -> int:
    from benchmarks.harness import execute
    from flows.cli import UserError

    try:
        return execute(args)
    except ValueError as exc:
        raise UserError(str(exc)) from None
