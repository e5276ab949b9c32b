"""quorum run: the main job: replay real data through the whole flow and report the run."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "replay market data through the whole flow (backtest) and print the run report"

DEFAULT_DATA = ("btc-perp_1m_2022-01",)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        nargs="+",
        metavar="FILE",
        help="trades/candles files (Parquet or CSV); default: the shipped BTC perpetual month",
    )
    parser.add_argument("--config", type=Path, help="YAML configuration overriding the defaults")
    parser.add_argument("--store", default="quorum.sqlite", help="store path or SQLAlchemy URL")
    parser.add_argument("--report", type=Path, default=Path("report.json"), help="JSON report")
    parser.add_argument("--plot", type=Path, default=Path("equity.png"), help="equity plot")
    parser.add_argument("--symbol", help="symbol for files without a symbol column")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from connectors.files import shipped_path
    from flows.cli import UserError
    from flows.config import ConfigError, load_config
    from flows.explain import explain_reviews, render_daily_summary, summary_json
    from flows.report import build_report, plot_equity, render_report
    from flows.runner import InputError, run_replay
    from operators.portfolio.book import EquityPoint
    from schemas.batches import CandleBatch, FeatureBatch
    from schemas.trading import Fill

    console = Console()
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    paths = [Path(p) for p in args.data] if args.data else [shipped_path(n) for n in DEFAULT_DATA]
    for path in paths:
        if not path.exists():
            raise UserError(f"data file {path} does not exist")
    console.print(f"[bold]quorum run[/] on {', '.join(p.name for p in paths)} → store {args.store}")
    try:
        result = run_replay(
            paths,
            config=config,
            store_url=args.store,
            stage="full",
            progress=not args.quiet,
            symbol=args.symbol,
            command="run",
            collect=True,
        )
    except InputError as exc:
        raise UserError(str(exc)) from None
    result.stats.render(console, title="Flow summary")

    events = [e for e in result.collected if not isinstance(e, CandleBatch | FeatureBatch)]
    portfolio = config.trading.portfolio
    report = build_report(
        events,
        initial_cash=portfolio.initial_cash,
        equity_interval_seconds=portfolio.equity_interval_seconds,
        currency=portfolio.currency,
        decisions_by_band=result.stats.group("decisions"),
        dead_lettered=result.stats.total("dead"),
        late=result.stats.total("late"),
    )
    render_report(report, console)
    summary = explain_reviews(events, config, args.store)
    render_daily_summary(summary, console)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "run_id": result.run_id,
        "flow": result.stats.as_dict(),
        **report.model_dump(mode="json"),
        "daily_summary": summary_json(summary),
    }
    args.report.write_text(json.dumps(payload, indent=2))
    points = [e for e in events if isinstance(e, EquityPoint)]
    fills = [e for e in events if isinstance(e, Fill)]
    if points:
        plot_equity(
            points, args.plot, fills=fills, title=f"Equity — {', '.join(p.name for p in paths)}"
        )
        console.print(f"report: {args.report}   equity plot: {args.plot}   store: {args.store}")
    else:
        console.print(f"report: {args.report} (no equity points: nothing traded)")
    return 0
