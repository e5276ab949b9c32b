"""quorum features: candles on every timeframe + indicator columns, written to Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path

from flows.file_options import add_file_options, chosen_timeframe

HELP = "build candles on every timeframe and their indicator columns from a trades/candles file"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="trades or candles file (Parquet or CSV)")
    parser.add_argument("--out", type=Path, required=True, help="output Parquet file")
    add_file_options(parser)
    parser.add_argument("--config", type=Path, help="YAML configuration overriding the defaults")
    parser.add_argument("--store", help="also write candles and features to this store")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console

    from flows.cli import UserError
    from flows.config import ConfigError, load_config
    from flows.features_export import features_frame, with_quote_spread
    from flows.runner import InputError, run_replay
    from schemas.batches import FeatureBatch

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if not args.input.exists():
        raise UserError(f"input file {args.input} does not exist")
    try:
        result = run_replay(
            [args.input],
            config=config,
            store_url=args.store,
            stage="features",
            progress=not args.quiet,
            collect=True,
            symbol=args.symbol,
            timeframe=chosen_timeframe(args),
            command="features",
        )
    except InputError as exc:
        raise UserError(str(exc)) from None
    batches = [item for item in result.collected if isinstance(item, FeatureBatch)]
    frame = with_quote_spread(
        features_frame(batches, config.feature_names()), args.input, args.symbol, config
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(args.out)
    if not args.quiet:
        console = Console()
        result.stats.render(console, title=f"quorum features {args.input.name}")
        console.print(f"wrote {frame.height:,} rows to {args.out}")
    return 0
