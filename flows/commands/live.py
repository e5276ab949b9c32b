"""``quorum live``: the full flow on live market data.

``--exchange binance`` streams Binance over WebSocket (trades, REST backfill through ccxt);
``alpaca`` and ``polygon`` stream those vendors' stock data WebSockets (REST backfill through
their SDKs); any other ccxt exchange id is polled over REST. ``--simulator`` starts the loopback
exchange simulator and runs against it — what a person without internet can try. The flow is the
one the replay uses (:func:`flows.pipeline.build_flow`). With ``--mode live`` orders go to the
venue's router: ccxt's (the simulator with ``--simulator``), or Alpaca's trading API for
``--exchange alpaca`` (``--broker-url`` for another base URL). Feed-health changes are printed
as they happen. An exchange API key, when needed, is read from ``QUORUM_EXCHANGE_API_KEY``
(never a flag).
"""

from __future__ import annotations

import argparse
import os
import threading
from dataclasses import dataclass
from typing import Any

from flows.commands import deployment
from flows.kafka_options import add_kafka_option, kafka_failure, kafka_overrides
from flows.store_options import (
    add_store_options,
    ledger_store,
    ledger_writer,
    store_overrides,
    timeseries_sink,
)

HELP = "run the flow on live data: Binance WebSocket, any ccxt exchange, or the simulator"
API_KEY_ENV = "QUORUM_EXCHANGE_API_KEY"


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--exchange",
        default="binance",
        help="binance (WebSocket), alpaca or polygon (stock data WebSockets), or a ccxt id",
    )
    parser.add_argument(
        "--symbols", type=_csv, required=True, help="comma-separated, e.g. BTC/USDT,ETH/USDT"
    )
    parser.add_argument(
        "--timeframes", type=_csv, default=None, help="candle timeframes, e.g. 1m,5m,15m,1h,4h"
    )
    parser.add_argument(
        "--data",
        choices=("trades", "candles", "quotes"),
        default="trades",
        help="stream trades (the flow builds candles; default), the exchange's 1m candles, or "
        "quotes (1m candles of the bookTicker mid, FX-style; Binance only). A symbol whose "
        "instrument says price_source: quotes is built from quotes whatever this says",
    )
    parser.add_argument(
        "--ws-url",
        default=None,
        help="--exchange alpaca|polygon: the vendor's stream host (default the vendor's; a "
        "local stand-in in tests); keys from APCA_API_KEY_ID/APCA_API_SECRET_KEY or "
        "POLYGON_API_KEY (or *_FILE)",
    )
    parser.add_argument(
        "--rest-url", default=None, help="--exchange alpaca|polygon: the REST host for backfill"
    )
    parser.add_argument(
        "--broker-url",
        default=None,
        help="--exchange alpaca --mode live: Alpaca's trading API base URL (default Alpaca's "
        "paper endpoint; a loopback broker, e.g. quorum simulator's REST URL, in tests); keys "
        "from QUORUM_ALPACA_API_KEY/_API_SECRET (or _FILE)",
    )
    parser.add_argument("--simulator", action="store_true", help="run against the simulator")
    parser.add_argument(
        "--simulator-at",
        metavar="REST_URL,WS_URL",
        help="run against a simulator already running (quorum simulator prints its URLs), "
        "e.g. http://127.0.0.1:8100,ws://127.0.0.1:8101: it outlives this process",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulator replay speed (× real time)"
    )
    parser.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    parser.add_argument("--store", help="store path or URL (default: no store)")
    parser.add_argument("--config", help="YAML configuration overriding the defaults")
    parser.add_argument(
        "--poll-interval", type=float, default=2.0, help="seconds between REST polls (ccxt)"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus /metrics of the flow on this port (config: metrics.port)",
    )
    parser.add_argument("--quiet", action="store_true", help="no health lines or summary")
    deployment.add_arguments(parser)
    add_kafka_option(parser)
    add_store_options(parser)
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="with --kafka: only publish the exchange data (quorum.v1.trades, .candles, "
        ".quotes); process it elsewhere with quorum run --source kafka://…",
    )
    parser.add_argument(
        "--mode",
        choices=("paper", "live"),
        default=None,
        help="paper (default) or live: orders go to the venue (the simulator with --simulator); "
        "keys from QUORUM_<VENUE>_API_KEY / _API_SECRET (or _FILE)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="live mode: record what would be sent, fill on paper"
    )
    parser.add_argument(
        "--venue-fault",
        action="append",
        default=[],
        metavar="VENUE=PLAN",
        help="with --simulator: flip that venue's simulator faults on a schedule, e.g. "
        "sim-b=skew:150@0 (see quorum simulator --faults); repeatable",
    )


def _check_args(args: argparse.Namespace) -> None:
    from flows.cli import UserError
    from schemas.common import Timeframe

    if not args.symbols:
        raise UserError("--symbols must name at least one symbol, e.g. BTC/USDT")
    for text in args.timeframes or ():
        try:
            Timeframe.parse(text)
        except ValueError as exc:
            raise UserError(f"--timeframes: {exc}") from None
    for name in ("duration", "speed", "poll_interval"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise UserError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if (args.simulator or args.simulator_at) and args.exchange != "binance":
        raise UserError("--simulator speaks Binance: use it with --exchange binance")
    if args.simulator and args.simulator_at:
        raise UserError("give --simulator (start one) or --simulator-at (use one), not both")
    if args.simulator_at and len(args.simulator_at.split(",")) != 2:
        raise UserError(f"--simulator-at wants REST_URL,WS_URL, got {args.simulator_at!r}")
    if args.broker_url and args.exchange != "alpaca":
        raise UserError("--broker-url is Alpaca's trading API: use it with --exchange alpaca")
    if args.ingest_only and not args.kafka:
        raise UserError("--ingest-only publishes to Kafka: give --kafka BOOTSTRAP")
    if args.ingest_only and args.store:
        raise UserError("--ingest-only writes no store: leave out --store")


def _source(
    args: argparse.Namespace,
    rest_url: str | None,
    ws_url: str | None,
    calendars: dict[str, str] | None = None,
    quote_symbols: tuple[str, ...] = (),
    quote_price: str = "mid",
) -> Any:
    from connectors.binance import BinanceConfig, BinanceSource
    from connectors.ccxt_source import CcxtPollingSource, PollingConfig
    from schemas.common import Timeframe

    if args.exchange in VENDOR_STREAMS:
        return _vendor_source(args, calendars or {}, quote_symbols, quote_price)
    simulated = args.simulator or args.simulator_at
    api_key = os.environ.get(API_KEY_ENV) or ("simulator" if simulated else None)
    candles = (Timeframe.M1,) if args.data == "candles" else ()
    if args.exchange == "binance":
        config = BinanceConfig(
            symbols=tuple(args.symbols),
            timeframes=candles,
            trade_stream="trade" if args.data == "trades" else None,
            rest_url=rest_url,
            api_key=api_key,
            calendars=calendars or {},
            quote_candles=tuple(args.symbols) if args.data == "quotes" else quote_symbols,
            quote_price=quote_price,
            **({"ws_url": ws_url} if ws_url else {}),
        )
        return BinanceSource(config, run_for=args.duration)
    if args.data == "quotes" or quote_symbols:
        raise ValueError(
            "candles from quotes need the Binance bookTicker stream (--exchange binance or "
            f"--simulator); {args.exchange} is polled for trades and candles only"
        )
    polling = PollingConfig(
        exchange=args.exchange,
        symbols=tuple(args.symbols),
        timeframes=candles,
        trades=args.data == "trades",
        api_key=api_key,
        poll_interval=args.poll_interval,
        calendars=calendars or {},
    )
    return CcxtPollingSource(polling, run_for=args.duration)


VENDOR_STREAMS = ("alpaca", "polygon")


def _vendor_source(
    args: argparse.Namespace,
    calendars: dict[str, str],
    quote_symbols: tuple[str, ...],
    quote_price: str,
) -> Any:
    """Alpaca's or Polygon's market-data WebSocket, backfilled over their REST APIs."""
    from connectors.market_data.credentials import provider_credentials
    from connectors.market_data.stream import VendorStreamConfig, VendorStreamSource

    quoted = tuple(args.symbols) if args.data == "quotes" else quote_symbols
    if args.data == "trades" and args.exchange == "polygon":  # FX has no trades: its quotes
        quoted += tuple(s for s in args.symbols if "/" in s and s not in quoted)
    channel = {"trades": "trades", "candles": "bars", "quotes": "quotes"}[args.data]
    channels = (channel, "quotes") if quoted and channel != "quotes" else (channel,)
    config = VendorStreamConfig(
        vendor=args.exchange,
        symbols=tuple(args.symbols),
        credentials=provider_credentials(args.exchange),
        channels=channels,
        ws_url=args.ws_url,
        rest_url=args.rest_url,
        calendars=calendars,
        quote_candles=quoted,
        quote_price=quote_price,
    )
    return VendorStreamSource(config, run_for=args.duration)


def _health_printer(quiet: bool) -> Any:
    def show(item: Any) -> None:
        if quiet or getattr(item, "event", "heartbeat") == "heartbeat":
            return
        print(f"[feed] {item.source} {item.symbol}: {item.status.value} ({item.event})")

    return show


LIVE_SIGNAL_WAIT_SECONDS = 120.0


def main(args: argparse.Namespace) -> int:
    from flows.cli import UserError

    _check_args(args)
    from bytewax.errors import BytewaxRuntimeError

    from connectors.feed.side_channel import SideChannelSource
    from connectors.notify.notifier import (
        notify_sink,
        sla_breach_listener,
        start_notifier,
        stop_notifier,
    )
    from connectors.prometheus.sink import start_flow_metrics
    from connectors.store.audit import AuditChainSink
    from connectors.store.engine import url_for
    from connectors.store.inbox import ManualActionInbox
    from flows.cluster import execute
    from flows.config import ConfigError, load_config
    from flows.pipeline import FlowOutputs, build_flow
    from flows.runtime_gc import tuned_gc
    from flows.summary import RunStats

    # Live: REVIEW decisions wait for a person, and market data may not wait forever for the
    # signal stream (the trading core's reorder buffer stays bounded).
    overrides: dict[str, Any] = {
        "trading": {
            "review_policy": "queue",
            "signal_wait_seconds": LIVE_SIGNAL_WAIT_SECONDS,
            "assets": list(args.symbols),
        }
    }
    if args.exchange in VENDOR_STREAMS:  # a ticker is a NYSE stock, a pair crypto (Alpaca)
        pair_class = "fx" if args.exchange == "polygon" else "crypto"  # or FX (Polygon)
        pairs = {s: {"asset_class": pair_class} for s in args.symbols if "/" in s}
        overrides["instruments"] = {"default_asset_class": "stock", "symbols": pairs}
    if args.mode is not None:
        overrides["trading"]["mode"] = args.mode
    if args.dry_run:
        overrides["trading"]["live"] = {"dry_run": True}
    if args.timeframes:
        overrides["candles"] = {"timeframes": args.timeframes}
    if args.metrics_port is not None:
        overrides["metrics"] = {"port": args.metrics_port}
    overrides.update(deployment.overrides(args))
    try:
        config = load_config(
            args.config, {**overrides, **kafka_overrides(args), **store_overrides(args)}
        )
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if not args.ingest_only:
        args.store = ledger_store(args.store, config, None)
    recovery, run_id = _recovery(config, args)
    sims = _start_simulators(args, config) if args.simulator or args.simulator_at else {}
    sim = next(iter(sims.values()), None)  # the first also serves the market data
    if sim is not None and hasattr(sim, "markets"):
        served = {m.symbol for m in sim.markets.values()}
        unknown = [s for s in args.symbols if s not in served]
        if unknown:
            _stop_all(sims)
            raise UserError(f"the simulator does not serve {unknown}; it serves {sorted(served)}")
    venues = None
    try:
        stop_faults = _run_venue_faults(args.venue_fault, sims)
    except BaseException:
        _stop_all(sims)
        raise
    try:
        try:
            # each symbol's market calendar: candles missing while it was open are feed gaps
            calendars = {s: config.instruments.instrument_for(s).calendar for s in args.symbols}
            quoted = tuple(
                s
                for s in args.symbols
                if config.instruments.instrument_for(s).price_source == "quotes"
            )
            inner = _source(
                args,
                sim.rest_url if sim else None,
                sim.ws_url if sim else None,
                calendars,
                quoted,
                config.candles.quote_price,
            )
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if config.trading.mode == "live":
            venues = _start_venues(args, config, sims, run_id)
        source = SideChannelSource(inner, _health_printer(args.quiet), forward_side=True)
        stats = RunStats()
        store = _open_store(args.store, args, run_id, config) if args.store else None
        try:
            notifier = start_notifier(
                config.notifications, url_for(args.store) if args.store else None
            )
        except ConfigError as exc:
            raise UserError(str(exc)) from None
        metrics = start_flow_metrics(
            config.metrics, live=True, on_breach=sla_breach_listener(notifier)
        )
        if metrics is not None and not args.quiet:
            print(f"metrics: {metrics.server.url}")
        outputs = FlowOutputs(
            store=store[0] if store else None,
            audit=AuditChainSink(
                url_for(args.store),
                run_id=store[2],
                kafka=config.kafka if config.kafka.enabled else None,
            )
            if store
            else None,
            stats=stats,
            notify=notify_sink(notifier, config.notifications),
            metrics=None if metrics is None else metrics.sink,
            kafka=_kafka_sink(config, metrics),
            collect=venues.collect if venues else None,
            timeseries=None if args.ingest_only else timeseries_sink(config, run_id),
        )
        inbox = ManualActionInbox(url_for(args.store), run_for=args.duration) if store else None
        if args.ingest_only:
            flow = _ingest_flow(source, outputs)
        else:
            flow = build_flow(
                source,
                config=config,
                outputs=outputs,
                flow_id="quorum_live",
                manual_actions=inbox,
                venue_reports=venues.source if venues else None,
            )
        try:
            with tuned_gc(config.gc):
                execute(flow, config.cluster, config.recovery, recovery)
        except BytewaxRuntimeError as exc:  # a feed failed: say why, not where in Rust
            message = kafka_failure(exc) or _root_cause(exc)
            raise UserError(f"the live flow stopped: {message}") from None
        finally:
            # Counted before the store's summary is written, so the stored run has it too.
            stats.records_in = _records_in(source)
            if metrics is not None:  # first: its last SLA check may still notify
                stats.sla.update(metrics.close())
            stop_notifier(notifier, stats)
            stats.finish()
            if store is not None:
                _close_store(store, stats)
        if not args.quiet:
            _summary(stats, source, args)
            if venues is not None:
                from rich.console import Console

                venues.render(Console())
    finally:
        stop_faults.set()
        if venues is not None:
            venues.stop()
        _stop_all(sims)
    return 0


def _records_in(source: Any) -> int:
    """Trades and candles the feed partitions emitted."""
    return sum(
        getattr(p, "trades_emitted", 0) + getattr(p, "candles_emitted", 0)
        for p in source.partitions
    )


def _kafka_sink(config: Any, metrics: Any = None) -> Any:
    if not config.kafka.enabled:
        return None
    from connectors.kafka.sink import KafkaSink

    observer = None if metrics is None else metrics.metrics.kafka_report
    return KafkaSink(config.kafka, observer=observer)


def _ingest_flow(source: Any, outputs: Any) -> Any:
    from flows.ingest import build_ingest_flow

    return build_ingest_flow(source, outputs.kafka, outputs.stats, flow_id="quorum_ingest")


def _start_simulators(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """The loopback venues: one simulator, or one per routing venue in live mode."""
    from connectors.simulator import ExchangeSimulator, SimulatorConfig
    from flows.live_trading import start_simulators

    live = config.trading.live
    name = live.venues[0].name if live.venues else live.venue
    if args.simulator_at:
        rest_url, ws_url = args.simulator_at.split(",")
        return {name: RunningSimulator(rest_url.strip(), ws_url.strip())}
    if config.trading.mode == "live" and len(live.venues) > 1:
        return start_simulators(live.venues, args.speed)
    return {name: ExchangeSimulator(SimulatorConfig(speed=args.speed)).start()}


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A simulator this process did not start (``--simulator-at``): its URLs only."""

    rest_url: str
    ws_url: str

    def stop(self) -> None:
        """Not ours to stop: it outlives this process."""


def _stop_all(sims: dict[str, Any]) -> None:
    for sim in sims.values():
        sim.stop()


def _run_venue_faults(entries: list[str], sims: dict[str, Any]) -> threading.Event:
    """Start each ``VENUE=PLAN`` fault schedule on its simulator; set the event to stop them."""
    from connectors.simulator.fault_plan import parse_fault_plan, run_fault_plan
    from flows.cli import UserError

    stop = threading.Event()
    plans = []
    for entry in entries:
        name, _, text = entry.partition("=")
        if not hasattr(sims.get(name), "faults"):
            known = ", ".join(sims) or "none: give --simulator"
            raise UserError(f"--venue-fault {entry!r}: no simulated venue {name!r} ({known})")
        try:
            plans.append((sims[name], parse_fault_plan(text)))
        except ValueError as exc:
            raise UserError(str(exc).replace("--faults", f"--venue-fault {name}")) from None
    for sim, plan in plans:
        threading.Thread(target=run_fault_plan, args=(sim, plan, stop), daemon=True).start()
    return stop


def _start_venues(args: argparse.Namespace, config: Any, sims: dict[str, Any], run_id: str) -> Any:
    """Connect the live venues (the simulators' demo accounts with ``--simulator``)."""
    from connectors.ccxt_router import CredentialsError
    from connectors.store.engine import open_store, url_for
    from connectors.store.venue import SendJournal
    from flows.cli import UserError
    from flows.faults import crash_after_accepted_env
    from flows.live_trading import SIMULATOR_QUOTES_EVERY, VenueEndpoint, start_venues

    live = config.trading.live
    names = [v.name for v in live.venues] or [live.venue]
    if args.exchange == "polygon":
        raise UserError("polygon is market data only: --mode live needs --exchange alpaca")
    stocks = [s for s in args.symbols if "/" not in s]  # Alpaca's crypto pairs trade 24/7
    if args.exchange == "alpaca" and stocks and live.session_calendar == "24/7":
        raise UserError(
            "live stock orders keep to market hours: set trading.live.session_calendar: XNYS "
            "(flows/profiles/live-alpaca.yaml does)"
        )
    journal = SendJournal(open_store(url_for(args.store)), run_id) if args.store else None
    endpoints = [
        VenueEndpoint(n, sims[n].rest_url, sims[n].ws_url)
        if n in sims
        else VenueEndpoint(n, args.broker_url)
        for n in names
    ]
    try:
        return start_venues(
            endpoints,
            args.exchange,
            tuple(args.symbols),
            dry_run=live.dry_run,
            run_for=args.duration,
            quotes_every=SIMULATOR_QUOTES_EVERY if len(names) > 1 and sims else None,
            journal=journal,
            after_accept=crash_after_accepted_env(),
            lookback_seconds=live.reconcile_lookback_seconds,
        )
    except (CredentialsError, RuntimeError, TimeoutError) as exc:
        raise UserError(f"live trading: {exc}") from None


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc)


def _recovery(config: Any, args: argparse.Namespace) -> tuple[Any, str]:
    """Bytewax recovery (if configured) and the run id: a resumed live run keeps its first."""
    from connectors.store.market import new_run_id
    from flows.cli import UserError
    from flows.cluster import RecoveryError, cluster_run_id, prepare_recovery

    inputs = [args.exchange, *args.symbols, args.data]
    fresh = (
        cluster_run_id("live", inputs, config.cluster)
        if config.cluster.is_multi_process
        else new_run_id()
    )
    try:
        return prepare_recovery(
            config.recovery, config.cluster, command="live", inputs=inputs, run_id=fresh
        )
    except RecoveryError as exc:
        raise UserError(str(exc)) from None


def _open_store(
    path: str, args: argparse.Namespace, run_id: str, config: Any
) -> tuple[Any, Any, str]:
    from connectors.store.engine import open_store, url_for
    from connectors.store.market import start_run
    from connectors.store.sink import StoreSink

    url = url_for(path)
    engine = open_store(url)
    params = {"exchange": args.exchange, "symbols": args.symbols, "simulator": args.simulator}
    start_run(engine, "live", params, run_id=run_id)
    return StoreSink(url, ledger_writer(config, run_id)), engine, run_id


def _close_store(store: tuple[Any, Any, str], stats: Any) -> None:
    from connectors.store.market import finish_run

    _, engine, run_id = store
    finish_run(engine, run_id, stats.as_dict())
    engine.dispose()


def _summary(stats: Any, source: Any, args: argparse.Namespace) -> None:
    from rich.console import Console

    console = Console()
    stats.render(console, title=f"quorum live {args.exchange} {','.join(args.symbols)}")
    for part in source.partitions:
        owner = getattr(part, "session", None) or getattr(part, "poller", None)
        if owner is not None:
            counters = owner.stats.frozen().model_dump()
            console.print(
                f"feed {part.name}: " + ", ".join(f"{k} {v}" for k, v in counters.items())
            )
