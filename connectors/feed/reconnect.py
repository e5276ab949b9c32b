"""The reconnect loop every WebSocket market-data session runs (Binance, Alpaca, Polygon).

One connection at a time until ``stop`` is set: each ending is recorded, the feed marked
disconnected, a planned ending (rotation, server shutdown) reconnects at once, any other waits
the backoff's next delay (interrupted by ``stop``).

>>> import asyncio
>>> from connectors.feed.backoff import Backoff, BackoffPolicy
>>> endings, downs = [], []
>>> script = iter([Ending.ROTATED, Ending.CLOSED, Ending.STOPPED])
>>> async def connection(stop, previous):
...     return next(script)
>>> asyncio.run(reconnect_until_stopped(
...     connection, asyncio.Event(), endings=endings, on_disconnect=lambda: downs.append(1),
...     backoff=Backoff(BackoffPolicy(initial=0.01, maximum=0.01, jitter=0)), label="demo feed"))
>>> [str(e) for e in endings], len(downs)
(['rotated', 'closed', 'stopped'], 3)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from connectors.feed.backoff import Backoff
from connectors.feed.frames import PLANNED, Ending

log = logging.getLogger(__name__)

Connection = Callable[[asyncio.Event, Ending | None], Awaitable[Ending]]
"""One connection: given ``stop`` and the previous ending, stream until it ends; says why."""


async def reconnect_until_stopped(
    connection: Connection,
    stop: asyncio.Event,
    *,
    endings: list[Ending],
    on_disconnect: Callable[[], None],
    backoff: Backoff,
    label: str,
) -> None:
    """Run ``connection`` again and again until ``stop`` is set or it ends ``STOPPED``."""
    ending: Ending | None = None
    while not stop.is_set():
        ending = await connection(stop, ending)
        endings.append(ending)
        on_disconnect()
        if ending is Ending.STOPPED or stop.is_set():
            break
        if ending in PLANNED:
            continue
        delay = backoff.next_delay()
        log.info("%s: %s; reconnecting in %.2f s", label, ending, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


async def cancel_all(tasks: Iterable[asyncio.Task[object]]) -> None:
    """Cancel a session's helper tasks and wait until they have ended."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
