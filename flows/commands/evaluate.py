"""quorum evaluate: hit rate, forward return and calibration of every source and the fused score.

Reads signals, fused signals and candles from the store; when the store holds no signals yet it
first replays ``--data`` (default: the shipped BTC perpetual month) through the flow into it,
with ``--config``. A store that already holds signals is evaluated as it is: ``--data`` and
``--config`` then change nothing, and the command says so (comparing configurations needs a
store per configuration).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from flows.file_options import add_file_options, chosen_timeframe

HELP = "evaluate signals and fused scores against forward returns (table, plot, JSON)"

DEFAULT_STORE = "quorum.sqlite"
DEFAULT_DATA = "btc-perp_1m_2022-01"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=DEFAULT_STORE, help="store path or SQLAlchemy URL")
    parser.add_argument(
        "--data",
        nargs="+",
        type=Path,
        metavar="FILE",
        help=f"files to replay when the store has no signals (default: shipped {DEFAULT_DATA})",
    )
    add_file_options(parser)
    parser.add_argument("--config", type=Path, help="YAML configuration overriding the defaults")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="write reliability/hit-rate plot")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    parser.add_argument(
        "--fused-horizon",
        type=int,
        default=240,
        metavar="MINUTES",
        help="forward horizon of a fused signal (default 240)",
    )
    parser.add_argument("--bins", type=int, default=5, help="reliability-curve bins (default 5)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _replay_into_store(args: argparse.Namespace) -> None:
    from flows.cli import UserError

    try:
        from flows.runner import InputError, run_replay
    except ImportError as exc:
        raise UserError(
            f"the store has no signals and the flow runner cannot be imported ({exc}); "
            "run the flow first (quorum run) or point --store at a store that has signals"
        ) from None
    from flows.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if args.data:
        paths = list(args.data)
    else:
        from connectors.files import shipped_path

        paths = [shipped_path(DEFAULT_DATA)]
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise UserError(f"data file(s) not found: {', '.join(missing)}")
    try:
        run_replay(
            paths,
            config=config,
            store_url=args.store,
            stage="full",
            progress=not args.quiet,
            symbol=args.symbol,
            timeframe=chosen_timeframe(args),
            command="evaluate",
        )
    except InputError as exc:
        raise UserError(str(exc)) from None


def _unused_inputs_notice(args: argparse.Namespace) -> str:
    given = [
        option for option, value in (("--data", args.data), ("--config", args.config)) if value
    ]
    verb = "change" if len(given) > 1 else "changes"
    return (
        f"note: {args.store} already holds signals, so they are evaluated as they are and "
        f"{' and '.join(given)} {verb} nothing; give a new --store to replay with them"
    )


def main(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from rich.console import Console

    from connectors.store.engine import open_store
    from connectors.store.market import read_candles
    from connectors.store.signals import read_fused, read_signals
    from flows.cli import UserError
    from flows.evaluate import evaluate, plot_report, render_table
    from flows.text_evaluation import configured_posts, text_caveat

    if args.fused_horizon < 1 or args.bins < 1:
        raise UserError("--fused-horizon and --bins must be positive")
    engine = open_store(args.store)
    try:
        signals = read_signals(engine)
        if signals.is_empty():
            _replay_into_store(args)
            signals = read_signals(engine)
        elif args.config or args.data:
            Console(stderr=True).print(_unused_inputs_notice(args))
        if signals.is_empty():
            raise UserError(
                f"no signals in {args.store} even after replaying the data: is the signal "
                "stage wired into the flow?"
            )
        fused = read_fused(engine)
        candles = read_candles(engine)
    finally:
        engine.dispose()
    if candles.is_empty():
        raise UserError(f"no candles in {args.store}: outcomes cannot be measured")
    report = evaluate(
        signals,
        fused,
        candles,
        fused_horizon=timedelta(minutes=args.fused_horizon),
        bins=args.bins,
    )
    console = Console()
    console.print(render_table(report))
    if text_caveat(signals) is not None:  # the store holds text signals: say what they are worth
        console.print(text_caveat(signals, posts=configured_posts(args.config)))
    if args.plot:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        console.print(f"plot written to {plot_report(report, args.plot)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report.write_json(args.json)
        console.print(f"figures written to {args.json}")
    return 0
