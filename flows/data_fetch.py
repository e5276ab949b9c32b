"""``quorum data fetch`` beyond ccxt candles: Alpaca/Polygon bars and trades, ccxt trades.

Called by :mod:`flows.commands.data` with its parsed arguments; every fetch writes page by page
into its target and resumes from it on a re-run. Vendor keys are read from the environment
(:mod:`connectors.market_data.credentials`) and never printed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from flows.cli import UserError

_HOUR_MS = 3_600_000
_AGG_TRADES = "publicGetAggTrades"  # Binance pages its aggregated trades by id


def _symbols(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _where(args: argparse.Namespace) -> str:
    return str(args.out if args.out is not None else args.store)


def fetch_from_provider(
    args: argparse.Namespace,
    console: Any,
    progress_bar: Callable[[bool, Any], Any],
    epoch_ms: Callable[[str, str], int],
) -> int:
    """``--provider alpaca|polygon``: bars into ``--out`` or ``--store``, or ``--trades`` /
    ``--quotes`` into an ``--out`` file."""
    from connectors.ccxt_source.history import CandleFile, CandleStoreTarget
    from connectors.market_data.credentials import CredentialsError, provider_credentials
    from connectors.market_data.history import ProviderRequest, fetch_bars, fetch_ticks
    from connectors.market_data.providers import make_provider
    from connectors.market_data.tick_files import QuoteFile, TickFile, TradeFile
    from schemas.common import Timeframe

    ticks = "trades" if args.trades else "quotes" if args.quotes else None
    if ticks is not None and args.out is None:
        raise UserError(
            f"--{ticks} writes a {ticks} file: pass --out FILE (the store keeps candles)"
        )
    try:
        credentials = provider_credentials(args.provider)
        timeframe = Timeframe.parse(args.timeframe)
        now_ms = int(time.time() * 1000)
        until = now_ms if args.until is None else min(epoch_ms("--until", args.until), now_ms)
        request = ProviderRequest(
            symbols=_symbols(args.symbols),
            since_ms=epoch_ms("--since", args.since),
            until_ms=until,
            timeframe=timeframe,
            page_size=args.page_size,
        )
        provider = make_provider(
            args.provider,
            credentials,
            base_url=args.rest_url,
            requests_per_minute=args.requests_per_minute,
            feed=args.feed,
            page_limit=args.page_size if ticks else None,
        )
    except (CredentialsError, ValueError) as exc:
        raise UserError(str(exc)) from None
    with progress_bar(args.quiet, console) as progress:
        try:
            if ticks is not None:
                tick_file: TickFile = TradeFile(args.out) if args.trades else QuoteFile(args.out)
                resume = tick_file.last_ts_ns()
                pages = provider.trades if args.trades else provider.quotes
                fetched = fetch_ticks(
                    pages, request, tick_file.write, resume_after_ns=resume,
                    window_ms=provider.trade_window_ms, progress=progress,
                )  # fmt: skip
                unit = ticks
            else:
                target = (
                    CandleFile(args.out, timeframe)
                    if args.out is not None
                    else CandleStoreTarget(args.store, timeframe)
                )
                resume = target.last_open_ms()
                try:
                    fetched = fetch_bars(
                        provider, request, target.write, resume_after=resume, progress=progress
                    )
                finally:
                    if isinstance(target, CandleStoreTarget):
                        target.close()
                unit = f"{timeframe.value} bars"
        except UserError:
            raise
        except Exception as exc:  # the SDKs' errors after their retries: name the vendor, stop
            raise UserError(f"fetch from {args.provider} failed: {_first_line(exc)}") from None
    for symbol, count in fetched.items():
        resumed = " (resumed after what was stored)" if symbol in resume else ""
        console.print(f"{symbol}: {count:,} {unit} fetched{resumed} → {_where(args)}")
    console.print(f"{provider.pacer.calls} requests to {args.provider}")
    return 0


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def fetch_ccxt_trades(
    args: argparse.Namespace,
    console: Any,
    progress_bar: Callable[[bool, Any], Any],
    epoch_ms: Callable[[str, str], int],
) -> int:
    """``--trades`` through ccxt into ``--out``: by time, then by id where the venue allows."""
    import asyncio

    from connectors.market_data.tick_files import TradeFile

    if args.out is None:
        raise UserError("--trades writes a trades file: pass --out FILE (the store keeps candles)")
    since = epoch_ms("--since", args.since)
    until = None if args.until is None else epoch_ms("--until", args.until)
    if until is not None and until <= since:
        raise UserError(f"--until ({args.until}) must be after --since ({args.since})")
    target = TradeFile(args.out)
    resume = target.last_ts_ns()
    with progress_bar(args.quiet, console) as progress:
        try:
            fetched, rejected = asyncio.run(
                _ccxt_trades(args, _symbols(args.symbols), since, until, target, progress)
            )
        except Exception as exc:  # ccxt errors after the retries: name the exchange and stop
            raise UserError(f"fetch from {args.exchange} failed: {_first_line(exc)}") from None
    for symbol, count in fetched.items():
        resumed = " (resumed after what was stored)" if symbol in resume else ""
        console.print(f"{symbol}: {count:,} trades fetched{resumed} → {args.out}")
    if rejected:
        console.print(f"{len(rejected)} malformed rows skipped, e.g. {rejected[0].detail}")
    return 0


async def _ccxt_trades(
    args: argparse.Namespace,
    symbols: tuple[str, ...],
    since_ms: int,
    until_ms: int | None,
    target: Any,
    progress: Any,
) -> tuple[dict[str, int], list[Any]]:
    from connectors.feed.rest import RestCaller, RestHistory, make_exchange

    rejected: list[Any] = []
    fetched = dict.fromkeys(symbols, 0)
    exchange = make_exchange(args.exchange, rest_url=args.rest_url)
    try:
        # one page per call (max_rows = page size), written before the next is asked for
        history = RestHistory(
            RestCaller(exchange),
            f"ccxt:{args.exchange}",
            rejected.append,
            page_size=args.page_size,
            max_rows=args.page_size,
        )
        await history.load_markets()
        now = await history.server_time_ms() or int(time.time() * 1000)
        end = now if until_ms is None else min(until_ms, now)
        by_id = args.exchange.startswith("binance")
        for symbol in symbols:
            last = target.frame.filter(target.frame["symbol"] == symbol).tail(1)
            cursor_ms = since_ms if last.is_empty() else int(last["ts"][0].timestamp() * 1000)
            last_id = None if last.is_empty() else _numeric(last["trade_id"][0])
            while cursor_ms < end:
                if by_id and last_id is not None:
                    rows = await history.trades_from_id(symbol, last_id + 1, None, _AGG_TRADES)
                else:
                    rows = await history.trades_since(symbol, cursor_ms)
                rows = [r for r in rows if since_ms <= r[1] < end]
                if not rows:
                    if by_id and last_id is not None:
                        break  # nothing after the last id: caught up
                    cursor_ms += _HOUR_MS  # a window without trades: look at the next hour
                    continue
                fetched[symbol] += target.write(symbol, [_file_row(r) for r in rows])
                # the same millisecond again (ids dedupe the overlap) unless it would not move
                cursor_ms = max(rows[-1][1], cursor_ms + 1)
                last_id = rows[-1][4] if rows[-1][4] >= 0 else None
                if progress is not None:
                    progress(symbol, cursor_ms - since_ms, end - since_ms)
    finally:
        await exchange.close()
    return fetched, rejected


def _numeric(trade_id: str | None) -> int | None:
    return int(trade_id) if trade_id is not None and trade_id.isdigit() else None


def _file_row(row: tuple[int, int, float, float, int, int]) -> tuple[int, str, float, float, Any]:
    key, ts_ms, price, amount, numeric, side = row
    side_word = {1: "buy", -1: "sell"}.get(side)
    return (ts_ms * 1_000_000, str(numeric if numeric >= 0 else key), price, amount, side_word)
