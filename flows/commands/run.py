"""quorum run: the main job: replay real data through the whole flow and report the run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flows.commands import deployment
from flows.file_options import add_file_options, chosen_timeframe
from flows.kafka_options import (
    add_kafka_option,
    add_kafka_source_options,
    kafka_failure,
    kafka_overrides,
    parse_kafka_url,
)
from flows.store_options import (
    add_store_options,
    ledger_store,
    store_overrides,
    timeseries_failure,
)

HELP = "replay market data through the whole flow (backtest) and print the run report"

DEFAULT_DATA = ("btc-perp_1m_2022-01",)
DEFAULT_STORE = "quorum.sqlite"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        nargs="+",
        metavar="FILE",
        help="trades/candles files (Parquet or CSV); default: the shipped BTC perpetual month",
    )
    parser.add_argument("--config", type=Path, help="YAML configuration overriding the defaults")
    parser.add_argument(
        "--store",
        help=f"ledger store path or SQLAlchemy URL (config: store.ledger; default {DEFAULT_STORE})",
    )
    parser.add_argument("--report", type=Path, default=Path("report.json"), help="JSON report")
    parser.add_argument("--plot", type=Path, default=Path("equity.png"), help="equity plot")
    add_file_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    deployment.add_arguments(parser)
    add_kafka_option(parser)
    add_kafka_source_options(parser)
    add_store_options(parser)


def main(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from connectors.files import shipped_path
    from flows.cli import UserError
    from flows.cluster import ClusterError, RecoveryError
    from flows.config import ConfigError, load_config
    from flows.explain import explain_reviews, render_daily_summary, summary_json
    from flows.portfolio_report import build_portfolio_reports, render_portfolios
    from flows.report import build_report, plot_equity, render_report
    from flows.runner import InputError, run_replay
    from operators.portfolio.book import EquityPoint
    from operators.portfolio.combined import combine_equity
    from schemas.batches import CandleBatch, FeatureBatch
    from schemas.trading import Fill

    console = Console()
    if args.until_idle is not None and not args.source:
        raise UserError(
            "--until-idle ends a Kafka-fed run once its input is idle: use it with "
            "--source kafka://BOOTSTRAP/TOPIC (a file replay ends by itself)"
        )
    overrides = {**deployment.overrides(args), **kafka_overrides(args), **store_overrides(args)}
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    args.store = ledger_store(args.store, config, DEFAULT_STORE)
    if args.source:
        paths = []
        console.print(f"[bold]quorum run[/] on {args.source} → store {args.store}")
    else:
        paths = (
            [Path(p) for p in args.data] if args.data else [shipped_path(n) for n in DEFAULT_DATA]
        )
        for path in paths:
            if not path.exists():
                raise UserError(f"data file {path} does not exist")
        console.print(
            f"[bold]quorum run[/] on {', '.join(p.name for p in paths)} → store {args.store}"
        )
    try:
        if args.source:
            result = _run_from_kafka(args, config)
        else:
            result = run_replay(
                paths,
                config=config,
                store_url=args.store,
                stage="full",
                progress=not args.quiet,
                symbol=args.symbol,
                timeframe=chosen_timeframe(args),
                command="run",
                collect=True,
            )
    except (InputError, ConfigError, RecoveryError, ClusterError) as exc:
        raise UserError(str(exc)) from None
    except Exception as exc:
        message = kafka_failure(exc) or timeseries_failure(exc)
        if message is None:
            raise
        raise UserError(f"the flow stopped: {message}") from None
    result.stats.render(console, title="Flow summary")

    if not config.cluster.is_lead:
        console.print("the report is written by process 0 of the cluster")
        return 0

    if result.whole_run_in_memory:
        events = [e for e in result.collected if not isinstance(e, CandleBatch | FeatureBatch)]
        bands = result.stats.group("decisions")
        dead, late = result.stats.total("dead"), result.stats.total("late")
    else:
        events, bands, dead, late = _stored(args.store, result.run_id)
    portfolios = config.portfolio_set()
    per_portfolio = {}
    if len(portfolios.portfolios) > 1:
        report, per_portfolio = build_portfolio_reports(
            events, portfolios, decisions_by_band=bands, dead_lettered=dead, late=late
        )
    else:
        portfolio = config.trading.portfolio
        report = build_report(
            events,
            initial_cash=portfolio.initial_cash,
            equity_interval_seconds=portfolio.equity_interval_seconds,
            currency=portfolio.currency,
            decisions_by_band=bands,
            dead_lettered=dead,
            late=late,
        )
    render_report(report, console)
    if per_portfolio:
        render_portfolios(per_portfolio, console)
    stored_run = None if result.whole_run_in_memory else result.run_id
    summary = explain_reviews(events, config, args.store, run_id=stored_run)
    render_daily_summary(summary, console)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "run_id": result.run_id,
        "flow": result.stats.as_dict(),
        **report.model_dump(mode="json"),
        "daily_summary": summary_json(summary),
    }
    if per_portfolio:  # several portfolios: each one's report beside the whole run's
        payload["portfolios"] = {
            pid: each.model_dump(mode="json") for pid, each in per_portfolio.items()
        }
    args.report.write_text(json.dumps(payload, indent=2))
    points = [e for e in events if isinstance(e, EquityPoint)]
    if per_portfolio:
        points = combine_equity(
            points, {p.id: p.config.portfolio.initial_cash for p in portfolios.portfolios}
        )
    fills = [e for e in events if isinstance(e, Fill)]
    if points:
        plot_equity(points, args.plot, fills=fills, title=f"Equity — {_input_name(args, paths)}")
        console.print(f"report: {args.report}   equity plot: {args.plot}   store: {args.store}")
    else:
        console.print(f"report: {args.report} (no equity points: nothing traded)")
    return 0


def _stored(store: str, run_id: str) -> tuple[list, dict[str, int], int, int]:
    """Report inputs of a run the store holds whole (resumed, or run by a cluster)."""
    from connectors.store.engine import open_store
    from flows.stored_report import load_stored_run

    engine = open_store(store)
    try:
        stored = load_stored_run(engine, run_id)
    finally:
        engine.dispose()
    return stored.events, stored.decisions_by_band, stored.dead_lettered, stored.late


def _input_name(args: argparse.Namespace, paths: list[Path]) -> str:
    return args.source or ", ".join(p.name for p in paths)


def _run_from_kafka(args: argparse.Namespace, config: Any) -> Any:
    """The flow fed by Kafka topics (``--source kafka://…``), to idleness or forever."""
    from connectors.kafka.source import KafkaMarketSource
    from flows.cli import UserError
    from flows.runner import run_flow

    if args.data:
        raise UserError("--data and --source are alternatives: give one")
    if args.until_idle is not None and not args.until_idle > 0:
        raise UserError(f"--until-idle must be > 0 seconds, got {args.until_idle}")
    try:
        servers, topics = parse_kafka_url(args.source)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    source_config = config.kafka.model_copy(update={"bootstrap_servers": servers})
    source = KafkaMarketSource(
        source_config,
        topics,
        until_idle=args.until_idle,
        symbol=args.symbol,
        batch_size=config.source.batch_size,
    )
    return run_flow(
        source,
        config=config,
        inputs=[args.source],
        store_url=args.store,
        collect=True,
        command="run",
        params={"until_idle": args.until_idle},
    )
