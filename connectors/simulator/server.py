"""The loopback exchange simulator: Binance WebSocket streams and REST on 127.0.0.1, and Alpaca's
trading API (:mod:`.alpaca`) on the same REST port.

It runs its own asyncio event loop in a background thread; every public method is safe to call
from any thread. Use it as a context manager (or ``start()``/``stop()``)::

    with ExchangeSimulator(SimulatorConfig(start_ms=...)) as sim:   # step-driven clock
        sim.advance(5_000)            # publish the next five seconds of recorded data
        sim.faults.go_silent()        # ... and break things at will
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from aiohttp import web
from websockets.asyncio.server import Server, serve

from connectors.simulator.alpaca import DEFAULT_LISTINGS, AlpacaTradingApi
from connectors.simulator.catalogue import Market, default_markets
from connectors.simulator.clock import ManualClock, ScaledClock
from connectors.simulator.faults import Faults
from connectors.simulator.matching import MatchingConfig
from connectors.simulator.rest import RestApi
from connectors.simulator.tape import MS_PER_MINUTE
from connectors.simulator.trading import TradingApi
from connectors.simulator.user_stream import UserStreams
from connectors.simulator.ws import HubSettings, StreamHub

if TYPE_CHECKING:
    from connectors.simulator.market_data_providers import StockTape

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the simulator listens and keeps time.

    ``speed=None`` gives a step-driven :class:`ManualClock` (tests call :meth:`advance`);
    a number replays recorded time at that multiple of wall time. ``start_ms`` is the exchange
    time at start (default: now, floored to the minute); every market's data starts there.
    """

    host: str = "127.0.0.1"
    ws_port: int = 0
    rest_port: int = 0
    start_ms: int | None = None
    speed: float | None = None
    tick_interval: float = 0.05
    ping_interval: float | None = 20.0
    pong_timeout: float = 60.0
    max_connection_age: float | None = 24 * 3600.0
    max_streams: int = 1024
    max_incoming_per_second: int = 5
    startup_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.speed is not None and not self.speed > 0:
            raise ValueError(
                f"speed must be > 0 (or None for a step-driven clock), got {self.speed}"
            )
        if not self.tick_interval > 0:
            raise ValueError(f"tick_interval must be > 0 seconds, got {self.tick_interval}")


class ExchangeSimulator:
    """A Binance-compatible exchange on loopback, replaying recorded data, with fault switches."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        markets: dict[str, Market] | None = None,
        alpaca_listings: dict[str, str] | None = None,
        matching: MatchingConfig | None = None,
        alpaca_tape: StockTape | None = None,
    ) -> None:
        """``alpaca_tape``: the Alpaca broker lists that tape's stocks, each filled against its
        own trades and quotes (:meth:`StockTape.market`, the data the loopback market-data
        servers replay) instead of ``alpaca_listings``' recorded crypto markets."""
        self.config = config or SimulatorConfig()
        start = self.config.start_ms
        if start is None:
            now = int(time.time() * 1000)
            start = now - now % MS_PER_MINUTE
        self.start_ms = start
        self.markets = markets if markets is not None else default_markets(start)
        self.clock: ManualClock | ScaledClock = (
            ManualClock(start)
            if self.config.speed is None
            else ScaledClock(start, self.config.speed)
        )
        self.faults = Faults()
        self.rest = RestApi(self.markets, self.clock, self.faults)
        self.trading = TradingApi(self.markets, self.clock, config=matching)
        self.user_streams = UserStreams(self.trading)
        alpaca_markets = self.markets
        if alpaca_tape is not None:
            stocks = [s for s in alpaca_tape.trades if "/" not in s]
            alpaca_markets = {f"{s}USD": alpaca_tape.market(s) for s in stocks}
            alpaca_listings = {s: f"{s}USD" for s in stocks}
        elif alpaca_listings is None:  # the default tickers whose market is served
            alpaca_listings = {t: m for t, m in DEFAULT_LISTINGS.items() if m in self.markets}
        self.alpaca = AlpacaTradingApi(alpaca_markets, self.clock, listings=alpaca_listings)
        self.hub: StreamHub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.ws_port = 0
        self.rest_port = 0

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        self._thread = threading.Thread(target=self._run, name="exchange-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.config.startup_timeout):
            raise TimeoutError(f"simulator did not start within {self.config.startup_timeout} s")
        if self._error is not None:
            raise RuntimeError(f"simulator failed to start: {self._error}") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._loop is None or self._stop is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"simulator did not stop within {timeout} s")
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ws_url(self) -> str:
        """Base URL of the stream server, e.g. ``ws://127.0.0.1:PORT``."""
        return f"ws://{self.config.host}:{self.ws_port}"

    @property
    def rest_url(self) -> str:
        """Base URL of the REST server, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.config.host}:{self.rest_port}"

    # --- controls (any thread) ----------------------------------------------------------------
    def now_ms(self) -> int:
        return self.clock.now_ms()

    def advance(self, ms: int, timeout: float = 10.0) -> int:
        """Step the clock by ``ms`` and publish what became due (step-driven clock only).

        Returns the number of frames queued for clients.
        """
        if not isinstance(self.clock, ManualClock):
            raise RuntimeError("advance() needs the step-driven clock (SimulatorConfig.speed=None)")
        self.clock.advance(ms)
        return self.tick(timeout)

    def tick(self, timeout: float = 10.0) -> int:
        """Publish everything due at the current time; returns the frames queued."""
        return self._call(self._tick(), timeout)

    def drop_user_streams(self, timeout: float = 10.0) -> int:
        """Abort every user-data stream connection (execution reports stop until a reconnect)."""
        return self._call(self._async(self.user_streams.drop_all), timeout)

    def skew_prices(self, bps: float) -> None:
        """Move every book the venue shows (and fills against) by ``bps`` basis points; 0 ends
        the fault. The market-data streams keep the recorded prices."""
        self.trading.liquidity.skew_bps = Decimal(repr(float(bps)))

    def drop_alpaca_streams(self, timeout: float = 10.0) -> int:
        """Abort every Alpaca trade-updates connection (the SDK reconnects)."""
        return self._call(self._async(self.alpaca.drop_streams), timeout)

    def drop_connections(self, timeout: float = 10.0) -> int:
        """Abort every WebSocket connection without a close frame (a network failure)."""
        return self._call(self._async(self._hub().drop_all), timeout)

    def close_connections(
        self, code: int = 1001, reason: str = "24h", timeout: float = 10.0
    ) -> int:
        """Close every connection with a close frame, like Binance's 24-hour cut."""
        return self._call(self._hub().close_all(code, reason), timeout)

    def stall_connections(self, timeout: float = 10.0) -> int:
        """Stall the open connections: they stay up but never send again (new ones are fine)."""
        return self._call(self._async(self._hub().stall_all), timeout)

    def send_server_shutdown(self, timeout: float = 10.0) -> None:
        """Send Binance's ``serverShutdown`` event to every connection."""
        self._call(self._async(self._hub().server_shutdown), timeout)

    def send_raw(self, text: str, timeout: float = 10.0) -> None:
        """Send ``text`` verbatim to every connection (hostile frames, unknown events)."""
        self._call(self._async(lambda: self._hub().broadcast(text)), timeout)

    def connections(self) -> int:
        return self._hub().stats.connections_open

    # --- internals ----------------------------------------------------------------------------
    def _hub(self) -> StreamHub:
        if self.hub is None:
            raise RuntimeError("simulator not started")
        return self.hub

    @staticmethod
    async def _async(fn: Any) -> Any:
        return fn()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._loop is None or not self._loop.is_running():
            coro.close()
            raise RuntimeError("simulator not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start() or kept for stop()
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        cfg = self.config
        self.hub = StreamHub(
            self.markets,
            self.clock,
            self.faults,
            HubSettings(
                ping_interval=cfg.ping_interval,
                pong_timeout=cfg.pong_timeout,
                max_connection_age=cfg.max_connection_age,
                max_streams=cfg.max_streams,
                max_incoming_per_second=cfg.max_incoming_per_second,
            ),
        )
        app = self.rest.app()
        self.trading.install(app)
        self.alpaca.install(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.rest_port)
        await site.start()
        server: Server = await serve(
            self._route_ws, cfg.host, cfg.ws_port, ping_interval=None, compression=None
        )
        try:
            self.rest_port = runner.addresses[0][1]
            self.ws_port = next(iter(server.sockets)).getsockname()[1]
            ticker = asyncio.create_task(self._tick_forever()) if cfg.speed is not None else None
            self._ready.set()
            await self._stop.wait()
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
        finally:
            server.close()
            await server.wait_closed()
            await runner.cleanup()

    async def _route_ws(self, ws: Any) -> None:
        path = ws.request.path if ws.request is not None else "/"
        if self.user_streams.handles(path):
            await self.user_streams.handle(ws)
        else:
            await self._hub().handle(ws)

    async def _tick(self) -> int:
        frames = await self._hub().tick()
        self.trading.on_tick()
        self.alpaca.on_tick()
        return frames

    async def _tick_forever(self) -> None:
        while True:
            await self._tick()
            await asyncio.sleep(self.config.tick_interval)
