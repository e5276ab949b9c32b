"""A Bytewax source partition backed by an asyncio feed running in its own thread.

Bytewax polls ``next_batch`` and it must never block: the feed (WebSocket reader, REST poller)
runs in a background thread with its own event loop and writes into an
:class:`~connectors.feed.outbox.Outbox`; ``next_batch`` only drains it. ``snapshot`` is the
emitted cursor. If the feed crashes, the next ``next_batch`` raises its error (fail loud); if it
ends, the partition ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import StatefulSourcePartition

from connectors.feed.outbox import Outbox
from schemas.batches import CandleBatch, TradeBatch

Feed = Callable[[asyncio.Event], Awaitable[None]]
"""The feed's main coroutine: runs until the event is set (or it has nothing more to do)."""


class FeedPartition(StatefulSourcePartition[object, dict]):
    """Runs ``feed`` in a thread; emits what it puts in ``outbox``.

    ``run_for`` (seconds) and ``max_trades`` end the partition, for bounded runs and tests.
    """

    def __init__(
        self,
        name: str,
        outbox: Outbox,
        feed: Feed,
        *,
        idle_wait: float = 0.02,
        run_for: float | None = None,
        max_trades: int | None = None,
        stop_timeout: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.outbox = outbox
        self._feed = feed
        self._idle_wait = timedelta(seconds=idle_wait)
        self._run_for = run_for
        self._max_trades = max_trades
        self._stop_timeout = stop_timeout
        self._monotonic = monotonic
        self._started = monotonic()
        self.trades_emitted = 0
        self.candles_emitted = 0
        self._idle = False
        self._done = False
        self._error: BaseException | None = None
        self._finished = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop_ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"feed-{name}", daemon=True)
        self._thread.start()
        self._loop_ready.wait(stop_timeout)

    # --- Bytewax API --------------------------------------------------------------------------
    def next_batch(self) -> list[object]:
        if self._done:
            raise StopIteration
        items = self.outbox.drain()
        if self._error is not None:
            raise RuntimeError(f"feed {self.name} failed: {self._error!r}") from self._error
        self.trades_emitted += sum(len(i) for i in items if isinstance(i, TradeBatch))
        self.candles_emitted += sum(len(i) for i in items if isinstance(i, CandleBatch))
        self._done = self._should_end(items)
        self._idle = not items
        return items

    def _should_end(self, items: list[object]) -> bool:
        """The feed finished and is drained, or the run's time or trade budget is spent."""
        if self._finished.is_set() and not items:
            return True
        if self._run_for is not None and self._monotonic() - self._started >= self._run_for:
            return True
        return self._max_trades is not None and self.trades_emitted >= self._max_trades

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + self._idle_wait if self._idle else None

    def snapshot(self) -> dict:
        return self.outbox.snapshot()

    def close(self) -> None:
        self.stop()

    # --- lifecycle ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the feed to stop and wait for its thread (cancelling it if it lingers)."""
        loop, stop, task = self._loop, self._stop, self._task
        if loop is not None and stop is not None and not self._finished.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
            if not self._finished.wait(self._stop_timeout / 2) and task is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(task.cancel)
        self._thread.join(self._stop_timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"feed {self.name} did not stop within {self._stop_timeout} s")

    @property
    def running(self) -> bool:
        return not self._finished.is_set()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surfaced by next_batch
            self._error = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self._finished.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.current_task()
        self._loop_ready.set()
        await self._feed(self._stop)


class SessionPartition(FeedPartition):
    """A feed partition running ``session.run`` that exposes its session (counters, gates)."""

    def __init__(self, name: str, session: Any, **kwargs: Any) -> None:
        self.session = session
        super().__init__(name, session.outbox, session.run, **kwargs)
