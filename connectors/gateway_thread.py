"""What every venue gateway shares: its own event loop in a thread, commands in, reports out.

A gateway (the ccxt exchange router, the Alpaca stock router) runs its venue's client on a
background asyncio loop, never the flow's. The trading core hands it commands through
:meth:`GatewayThread.send` (a queue: returns at once) and the flow takes its reports back with
:meth:`GatewayThread.drain` (:class:`connectors.ccxt_router.VenueReportSource`). Commands of one
order run one at a time (a cancel waits for its placement to settle); an exception in one never
loses the order: it becomes a ``reject`` (placement) or ``status`` (cancel) report with the
reason. A subclass implements :meth:`_connect` (connect, reconcile, start its streams),
:meth:`reconcile`, :meth:`_place`, :meth:`_cancel` and :meth:`_close`.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, Self

from schemas.market import BookTop
from schemas.venue import CommandKind, ReportKind, VenueCommand, VenueReport


@dataclass(slots=True)
class GatewayStats:
    """What the gateway did (read from any thread)."""

    commands: int = 0
    placed: int = 0
    place_attempts: int = 0
    lookups: int = 0
    found_by_lookup: int = 0
    rate_limited: int = 0
    rejected: int = 0
    cancels: int = 0
    reports: int = 0
    stream_disconnects: int = 0
    reconciliations: int = 0
    errors: list[str] = field(default_factory=list)
    balances: dict[str, str] = field(default_factory=dict)


class Journal(Protocol):
    def record(self, command: VenueCommand) -> None: ...

    def knows(self, order_id: str) -> bool: ...


class GatewayThread(ABC):
    """One venue's connection on its own loop: commands in (any thread), reports out."""

    def __init__(
        self,
        name: str,
        *,
        describe: Callable[[BaseException], str] = str,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.stats = GatewayStats()
        self._describe = describe
        self._wall = wall
        self._out: collections.deque[VenueReport | BookTop] = collections.deque()
        self._order_locks: dict[str, asyncio.Lock] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[VenueCommand] | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.journal: Journal | None = None
        """Write-ahead record of sent orders (:class:`connectors.store.venue.SendJournal`)."""
        self.after_accept: Callable[[], None] | None = None
        """Called when the venue's answer accepting an order arrives, before it is reported
        (the crash tests' kill point)."""
        self._sent: set[str] = set()  # order ids this process sent

    # --- any thread ---------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> Self:
        self._thread = threading.Thread(target=self._run, name=f"venue-{self.name}")
        self._thread.daemon = True
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"venue {self.name} did not connect within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"venue {self.name}: {self._describe(self._error)}") from self._error
        return self

    def send(self, command: VenueCommand) -> None:
        """Queue ``command``; returns at once (the trading core never waits for a venue)."""
        if self._loop is None or self._queue is None:
            raise RuntimeError(f"venue {self.name} is not running")
        self._loop.call_soon_threadsafe(self._queue.put_nowait, command)

    def drain(self) -> list[VenueReport | BookTop]:
        """Reports (and quotes) since the last drain, in the order they came."""
        out = []
        while self._out:
            out.append(self._out.popleft())
        return out

    def reconcile_now(self, reason: str = "requested", timeout: float = 60.0) -> None:
        """Reconcile at once (any thread); returns when the reports are queued."""
        if self._loop is None or not self._loop.is_running():
            raise RuntimeError(f"venue {self.name} is not running")
        asyncio.run_coroutine_threadsafe(self.reconcile(reason), self._loop).result(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        self._queue = asyncio.Queue()
        self._stop = asyncio.Event()
        tasks: list[asyncio.Task[Any]] = []
        try:
            tasks.extend(await self._connect())
            self._ready.set()
            tasks.append(asyncio.create_task(self._commands()))
            await self._stop.wait()
        finally:
            tasks.extend(self._running)  # commands still in flight end with the gateway
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close()

    async def _commands(self) -> None:
        assert self._queue is not None
        while True:
            command = await self._queue.get()
            self.stats.commands += 1
            task = asyncio.create_task(self._run_command(command))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_command(self, command: VenueCommand) -> None:
        lock = self._order_locks.setdefault(command.order_id, asyncio.Lock())
        async with lock:  # a cancel waits for its order's placement to settle
            try:
                if command.kind is CommandKind.PLACE:
                    self._sent.add(command.order_id)
                    if self.journal is not None:  # written before the venue hears of it
                        await asyncio.to_thread(self.journal.record, command)
                    await self._place(command)
                else:
                    await self._cancel(command)
            except Exception as exc:  # never lose the order: say what happened
                self.stats.errors.append(self._describe(exc))
                self._report(
                    ReportKind.REJECT if command.kind is CommandKind.PLACE else ReportKind.STATUS,
                    command.order_id,
                    reason=f"gateway error: {self._describe(exc)}",
                )

    def _accepted(self) -> None:
        if self.after_accept is not None:
            self.after_accept()

    def _journaled(self, order_id: str) -> bool:
        """Sent by this deployment before this process started (the journal says so)?"""
        if order_id in self._sent or self.journal is None:
            return False
        return self.journal.knows(order_id)

    def _report(self, kind: ReportKind, order_id: str, **fields: Any) -> None:
        self.stats.reports += 1
        fields.setdefault("ts", self._wall())
        self._out.append(VenueReport(venue=self.name, kind=kind, order_id=order_id, **fields))

    async def _every(self, seconds: float, reconcile: Callable[[str], Any]) -> None:
        """Reconcile every ``seconds``; a failed round is recorded, never fatal."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await reconcile("periodic")
            except Exception as exc:
                self.stats.errors.append(f"reconcile: {self._describe(exc)}")

    # --- the venue ----------------------------------------------------------------------------
    @abstractmethod
    async def _connect(self) -> list[asyncio.Task[Any]]:
        """Connect, reconcile once, start the streams; returns the tasks to cancel at stop."""

    @abstractmethod
    async def reconcile(self, reason: str) -> None:
        """Report the venue's open orders, recent fills and balances."""

    @abstractmethod
    async def _place(self, command: VenueCommand) -> None: ...

    @abstractmethod
    async def _cancel(self, command: VenueCommand) -> None: ...

    async def _close(self) -> None:  # noqa: B027 - optional hook
        """Release the venue's client (after the tasks stopped)."""
