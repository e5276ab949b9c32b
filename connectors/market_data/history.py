"""Bulk bars and trades from a market-data vendor, window by window, resumable.

:func:`fetch_bars` walks ``[since, until)`` in windows of ``page_size`` bars per symbol and
hands each window's *closed* bars (``open + timeframe <= end``) to ``write`` before asking for
the next; ``resume_after`` (the last open time stored per symbol) makes a re-run continue where
the file or store stops. :func:`fetch_ticks` does the same with trades or quotes, resuming at
the last stored row's time (the overlap is removed by the file's key). The vendor's own
pagination (``next_page_token``, ``next_url``) happens inside each window, in the SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.feed.cursor import CandleRow
from connectors.market_data.providers import MarketDataProvider
from schemas.common import Timeframe

Progress = Callable[[str, int, int], None]
"""``(symbol, windows done, windows expected)`` after every window."""

_NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class ProviderRequest:
    """``[since_ms, until_ms)`` of ``symbols`` (plain tickers, e.g. ``AAPL``)."""

    symbols: tuple[str, ...]
    since_ms: int
    until_ms: int
    timeframe: Timeframe | None = None
    page_size: int = 10_000

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols: name at least one, e.g. AAPL")
        if self.until_ms <= self.since_ms:
            raise ValueError(f"until ({self.until_ms}) must be after since ({self.since_ms})")
        if not 1 <= self.page_size <= 50_000:
            raise ValueError(f"page_size must be within 1..50000, got {self.page_size}")


def fetch_bars(
    provider: MarketDataProvider,
    request: ProviderRequest,
    write: Callable[[str, list[CandleRow]], None],
    *,
    resume_after: Mapping[str, int] | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Fetch and ``write`` the closed bars of every window; returns bars fetched per symbol."""
    if request.timeframe is None:
        raise ValueError("timeframe: bars need one, e.g. 1m or 1d")
    tf_ms = request.timeframe.seconds * 1000
    window_ms = request.page_size * tf_ms
    fetched = dict.fromkeys(request.symbols, 0)
    for symbol in request.symbols:
        done = (resume_after or {}).get(symbol)
        start = request.since_ms if done is None else max(request.since_ms, done + 1)
        windows = max(1, -(-(request.until_ms - start) // window_ms))
        for index in range(windows):
            stop = min(start + window_ms, request.until_ms)
            rows = provider.bars(symbol, request.timeframe, start, stop - 1)
            closed = [r for r in rows if r[0] + tf_ms <= request.until_ms]
            write(symbol, closed)
            fetched[symbol] += len(closed)
            if progress is not None:
                progress(symbol, index + 1, windows)
            start = stop
            if start >= request.until_ms:
                break
    return fetched


def fetch_ticks(
    pages: Callable[[str, int, int], Iterator[list[Any]]],
    request: ProviderRequest,
    write: Callable[[str, list[Any]], int],
    *,
    resume_after_ns: Mapping[str, int] | None = None,
    window_ms: int | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Fetch and ``write`` trades or quotes (``pages``: a provider's :meth:`trades` or
    :meth:`quotes`) page by page; ``window_ms`` splits the range into separate requests (for
    SDKs that return a whole range at once); returns the new rows per symbol (``write`` says
    how many of a page it did not hold yet)."""
    fetched = dict.fromkeys(request.symbols, 0)
    end_ns = request.until_ms * _NS_PER_MS - 1
    for symbol in request.symbols:
        done = (resume_after_ns or {}).get(symbol)
        start = request.since_ms * _NS_PER_MS if done is None else done
        step = (end_ns + 1 - start) if window_ms is None else window_ms * _NS_PER_MS
        windows = max(1, -(-(end_ns + 1 - start) // max(step, 1)))
        for index in range(windows):
            last = min(start + step, end_ns + 1)
            # both ends inclusive: the trade exactly at a boundary is asked twice, kept once
            for page in pages(symbol, start, last):
                fetched[symbol] += write(symbol, [r for r in page if r[0] <= end_ns])
            if progress is not None:
                progress(symbol, index + 1, windows)
            start = last
            if start > end_ns:
                break
    return fetched
