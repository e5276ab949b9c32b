"""``quorum data``: list what the store holds and check the quality of its candles.

``quorum data check`` runs the great-expectations candle suite (:mod:`operators.quality`) on
every (symbol, timeframe) series of the store — or of a Parquet candle file with ``--file`` —
prints one row per series and exits 1 when any check fails (0 when all pass). ``quorum data
list`` shows the candle series with their row counts and time span. A missing or empty store is
an error (exit 2). Heavy imports happen inside the actions.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.cli import UserError

if TYPE_CHECKING:
    import polars as pl
    from sqlalchemy import Engine

    from operators.quality import QualityReport

HELP = (
    "Market data: fetch history (ccxt, Alpaca, Polygon), list the candle series, check their "
    "quality"
)


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    check = actions.add_parser(
        "check",
        help="check candles: OHLC invariants, duplicates, gaps, alignment (exit 1 on failure)",
        description="Run the candle expectations on every (symbol, timeframe) series; "
        "exit 0 when all pass, 1 when any fails, 2 on a usage error.",
    )
    source = check.add_mutually_exclusive_group()
    _add_store_option(source)
    source.add_argument(
        "--file",
        type=Path,
        metavar="PARQUET",
        help="check a Parquet candle file instead of the store (columns ts, open, high, low, "
        "close, volume; symbol and timeframe columns or --symbol/--timeframe)",
    )
    check.add_argument(
        "--symbol", help="only this symbol (names the series of a --file without a symbol column)"
    )
    check.add_argument(
        "--timeframe",
        help="only this timeframe, e.g. 1m (required for a --file without a timeframe column)",
    )
    check.add_argument(
        "--config",
        type=Path,
        metavar="YAML",
        help="run configuration whose instruments give each symbol's market calendar "
        "(bars missing while the market is closed are no gap)",
    )
    check.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    check.set_defaults(_data_action=_check)

    fetch = actions.add_parser(
        "fetch",
        help="download closed candles or trades (ccxt, Alpaca, Polygon) into a file or the "
        "store (resumable)",
        description="Page through a venue's closed candles (or its trades with --trades, its "
        "quotes with --quotes) — "
        "a ccxt exchange, or Alpaca / Polygon with --provider — rate limits and retries "
        "handled, writing every page before the next; a re-run resumes from what the file "
        "or store already holds. Vendor keys come from the environment (APCA_API_KEY_ID and "
        "APCA_API_SECRET_KEY; POLYGON_API_KEY) or NAME_FILE secret files.",
    )
    fetch.add_argument(
        "--provider",
        choices=("ccxt", "alpaca", "polygon"),
        default="ccxt",
        help="where the data comes from (default ccxt, with --exchange)",
    )
    fetch.add_argument("--exchange", default="binance", help="ccxt exchange id (default binance)")
    fetch.add_argument(
        "--symbols", required=True, help="comma-separated, e.g. BTC/USDT,ETH/USDT or AAPL,MSFT"
    )
    ticks = fetch.add_mutually_exclusive_group()
    ticks.add_argument(
        "--trades",
        action="store_true",
        help="fetch trades instead of candles (into an --out file: ts, trade_id, price, amount)",
    )
    ticks.add_argument(
        "--quotes",
        action="store_true",
        help="Alpaca/Polygon: fetch best bid/ask quotes (into an --out file: ts, bid, ask, "
        "sizes; quorum run and features build candles of them)",
    )
    fetch.add_argument(
        "--requests-per-minute",
        type=float,
        help="pace the vendor's requests (default: Alpaca 180, Polygon 5 — the free plans)",
    )
    fetch.add_argument("--feed", help="Alpaca data feed, e.g. iex or sip (default: the plan's)")
    fetch.add_argument("--timeframe", default="1m", help="candle timeframe (default 1m)")
    fetch.add_argument("--since", required=True, help="first open time, ISO date or datetime (UTC)")
    fetch.add_argument("--until", help="end (exclusive), ISO date or datetime; default: now")
    target = fetch.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, metavar="FILE", help="Parquet or CSV file to write")
    _add_store_option(target)
    fetch.add_argument(
        "--rest-url", help="send every REST call to this base URL (the loopback simulator)"
    )
    fetch.add_argument(
        "--page-size",
        type=int,
        default=1000,
        help="candles per request (ccxt) or per window (Alpaca, Polygon); trades per page",
    )
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(_data_action=_fetch)

    listing = actions.add_parser("list", help="list the candle series the store holds")
    _add_store_option(listing)
    listing.set_defaults(_data_action=_list)


def main(args: argparse.Namespace) -> int:
    return int(args._data_action(args))


def _add_store_option(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--store",
        metavar="PATH_OR_URL",
        help="SQLite file or SQLAlchemy URL of the store (default: quorum.sqlite)",
    )


# --- actions ---------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    timeframe = _parse_timeframe(args.timeframe)
    if args.file is not None:
        frame, origin = _file_candles(args.file, args.symbol, timeframe), str(args.file)
    else:
        frame, origin = _store_candles(args.store, args.symbol, timeframe)

    from flows.config import ConfigError, load_config
    from operators.quality import check_candles

    try:
        instruments = load_config(args.config).instruments
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    try:
        report = check_candles(frame, instruments=instruments)
    except ValueError as exc:
        raise UserError(f"{origin}: {exc}") from None
    _print_report(report, origin)
    if args.json is not None:
        _write_json(args.json, report.to_dict())
    return 0 if report.success else 1


def _fetch(args: argparse.Namespace) -> int:
    if args.provider != "ccxt":
        from flows.data_fetch import fetch_from_provider

        return fetch_from_provider(args, _console(), _FetchProgress, _epoch_ms)
    if args.quotes:
        raise UserError("--quotes needs --provider alpaca or polygon (ccxt fetches no quotes)")
    if args.trades:
        from flows.data_fetch import fetch_ccxt_trades

        return fetch_ccxt_trades(args, _console(), _FetchProgress, _epoch_ms)
    import asyncio

    from connectors.ccxt_source.history import (
        CandleFile,
        CandleStoreTarget,
        HistoryRequest,
        fetch_candles,
    )
    from schemas.common import Timeframe

    timeframe = Timeframe.parse(_parse_timeframe(args.timeframe) or "1m")
    try:
        request = HistoryRequest(
            exchange=args.exchange,
            symbols=tuple(s.strip() for s in args.symbols.split(",") if s.strip()),
            timeframe=timeframe,
            since_ms=_epoch_ms("--since", args.since),
            until_ms=None if args.until is None else _epoch_ms("--until", args.until),
            rest_url=args.rest_url,
            page_size=args.page_size,
        )
        target = (
            CandleFile(args.out, timeframe)
            if args.out is not None
            else CandleStoreTarget(args.store, timeframe)
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    resume = target.last_open_ms()
    console = _console()
    with _FetchProgress(args.quiet, console) as progress:
        try:
            fetched, rejected = asyncio.run(
                fetch_candles(request, target.write, resume_after=resume, progress=progress)
            )
        except Exception as exc:  # ccxt errors after the retries: name the exchange and stop
            raise UserError(f"fetch from {args.exchange} failed: {exc}") from None
        finally:
            if isinstance(target, CandleStoreTarget):
                target.close()
    where = args.out if args.out is not None else args.store
    for symbol, count in fetched.items():
        since = "" if symbol not in resume else " (resumed after what was stored)"
        console.print(f"{symbol} {timeframe.value}: {count:,} candles fetched{since} → {where}")
    if rejected:
        console.print(f"{len(rejected)} malformed rows skipped, e.g. {rejected[0].detail}")
    return 0


def _epoch_ms(option: str, text: str) -> int:
    from datetime import UTC

    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option}: {text!r} is not an ISO date or datetime") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


class _FetchProgress:
    """A rich progress bar per symbol (nothing when quiet); yields the progress callback."""

    def __init__(self, quiet: bool, console: Any) -> None:
        self.quiet, self.console = quiet, console
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Any:
        if self.quiet:
            return None
        from rich.progress import Progress

        self.bar = Progress(console=self.console, transient=True)
        self.bar.start()
        return self.update

    def update(self, symbol: str, done: int, total: int) -> None:
        if symbol not in self.tasks:
            self.tasks[symbol] = self.bar.add_task(symbol, total=max(total, 1))
        self.bar.update(self.tasks[symbol], completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from connectors.store.market import candle_inventory, row_counts

    engine, shown = _open_existing_store(args.store)
    try:
        inventory = candle_inventory(engine)
        counts = row_counts(engine)
    finally:
        engine.dispose()
    table = Table(title=f"candles in {shown}")
    for name in ("symbol", "timeframe", "rows", "first", "last"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for row in inventory.iter_rows(named=True):
        table.add_row(
            row["symbol"],
            row["timeframe"],
            f"{row['rows']:,}",
            _when(row["first_ts"]),
            _when(row["last_ts"]),
        )
    console = _console()
    console.print(table)
    console.print(" · ".join(f"{name}: {count:,} rows" for name, count in counts.items()))
    return 0


# --- inputs ----------------------------------------------------------------------------------


def _parse_timeframe(text: str | None) -> str | None:
    if text is None:
        return None
    from schemas.common import Timeframe

    try:
        return Timeframe.parse(text).value
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _open_existing_store(store: str | None) -> tuple[Engine, str]:
    """Open a store that must already exist and hold a candles table; never creates one."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from connectors.store.engine import DEFAULT_URL, open_store, url_for

    url = url_for(store or DEFAULT_URL)
    shown = make_url(url).render_as_string(hide_password=True)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        shown = str(path)
        if not path.is_file():
            raise UserError(
                f"store {path} does not exist; pass --store PATH_OR_URL or fill it with "
                "`quorum run`"
            )
    try:
        engine = open_store(url, create=False)
        has_candles = inspect(engine).has_table("candles")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip()
        raise UserError(f"cannot open store {shown}: {reason}") from None
    if not has_candles:
        engine.dispose()
        raise UserError(f"store {shown} holds no candles table: nothing has been stored yet")
    return engine, shown


def _store_candles(
    store: str | None, symbol: str | None, timeframe: str | None
) -> tuple[pl.DataFrame, str]:
    from connectors.store.market import candle_inventory, read_candles

    engine, shown = _open_existing_store(store)
    try:
        frame = read_candles(engine, symbol=symbol, timeframe=timeframe)
        if frame.is_empty():
            held = candle_inventory(engine)
    finally:
        engine.dispose()
    if frame.is_empty():
        if held.is_empty():
            raise UserError(f"store {shown} holds no candles")
        series = ", ".join(f"{s} {t}" for s, t in held.select("symbol", "timeframe").rows())
        raise UserError(
            f"store {shown} has no candles for symbol={symbol} timeframe={timeframe}; "
            f"it holds: {series}"
        )
    return frame, shown


def _file_candles(path: Path, symbol: str | None, timeframe: str | None) -> pl.DataFrame:
    import polars as pl

    if not path.is_file():
        raise UserError(f"candle file {path} does not exist")
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several unrelated types for unreadable files
        raise UserError(f"cannot read {path} as Parquet: {exc}") from None
    if "symbol" not in frame.columns:
        frame = frame.with_columns(symbol=pl.lit(symbol or path.stem))
    elif symbol is not None:
        frame = frame.filter(pl.col("symbol") == symbol)
    if "timeframe" not in frame.columns:
        if timeframe is None:
            raise UserError(f"{path} has no timeframe column: pass --timeframe, e.g. 1m")
        frame = frame.with_columns(timeframe=pl.lit(timeframe))
    elif timeframe is not None:
        frame = frame.filter(pl.col("timeframe") == timeframe)
    if frame.is_empty():
        raise UserError(f"{path} has no candles for symbol={symbol} timeframe={timeframe}")
    return frame


# --- output ----------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _console() -> Any:
    """A rich console; wide when the output is not a terminal, so logs keep whole rows."""
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 140)


def _print_report(report: QualityReport, origin: str) -> None:
    from rich.table import Table

    table = Table(title=f"candle checks: {origin}")
    columns = ("symbol", "tf", "rows", "first", "last", "checks", "gaps", "dupes", "misaligned",
               "invariants", "nulls", "status")  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name in {"symbol", "tf", "status"} else "right")
    for series in report.series:
        p = series.profile
        table.add_row(
            series.symbol,
            series.timeframe,
            f"{p.rows:,}",
            _when(p.first_ts),
            _when(p.last_ts),
            f"{series.checks_passed}/{len(series.checks)}",
            str(p.gaps),
            str(p.duplicates),
            str(p.misaligned),
            str(p.invariant_violations),
            str(p.null_values),
            "[green]ok[/]" if series.success else "[red]FAIL[/]",
        )
    console = _console()
    console.print(table)
    for series in report.failures:
        p = series.profile
        line = (
            f"[red]{series.symbol} {series.timeframe}[/]: failed {', '.join(series.failed_checks)}"
        )
        if p.gaps:
            line += (
                f"; {p.missing_bars} missing bars in {p.gaps} gaps, the largest "
                f"{p.largest_gap_bars} bars from {_when(p.largest_gap_start)}"
            )
        console.print(line)
    total = len(report.series)
    if report.failures:
        console.print(f"[red]{len(report.failures)} of {total} series failed[/]")
    else:
        console.print(f"[green]all {total} series passed[/]")


def _write_json(path: Path, document: dict[str, Any]) -> None:
    import json

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc}") from None
