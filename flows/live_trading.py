"""``quorum live --mode live``: the venue gateways beside the flow, and what the run report shows.

:func:`start_venues` connects the configured venues (with ``--simulator``: one simulator per
venue, see :func:`start_simulators`), registers their dispatchers for the live router and
returns the source of their reports and quotes; :class:`LiveVenues` collects the flow's venue
records and renders the venue fills next to the paper estimate, the routing decisions and the
venues' price divergences at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.alpaca_router import AlpacaConfig, AlpacaGateway
from connectors.ccxt_router import (
    VenueConfig,
    VenueCredentials,
    VenueGateway,
    VenueReportSource,
    load_credentials,
)
from connectors.gateway_thread import Journal
from connectors.simulator import ExchangeSimulator, SimulatorConfig
from connectors.simulator.matching import MatchingConfig
from operators.divergence import DataQualityEvent
from operators.execution.dispatch import register_dispatcher, unregister_dispatcher
from operators.execution.live_config import VenueSpec
from schemas.trading import Fill, Order, RiskDecision
from schemas.venue import ExecutionComparison, ReconcileIssue, RouteDecision, VenueCommand

SIMULATOR_KEY = "simulator"
SIMULATOR_SECRET = "simulator-secret"  # the simulator's loopback demo account, not a secret


@dataclass
class LiveVenues:
    """The running gateways and what the flow said about them."""

    gateways: list[Any]  # VenueGateway (ccxt) or AlpacaGateway
    source: VenueReportSource
    dry_run: bool
    commands: list[VenueCommand] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    comparisons: list[ExecutionComparison] = field(default_factory=list)
    issues: list[ReconcileIssue] = field(default_factory=list)
    refusals: list[RiskDecision] = field(default_factory=list)
    rejected: list[Order] = field(default_factory=list)
    routes: list[RouteDecision] = field(default_factory=list)
    divergences: list[DataQualityEvent] = field(default_factory=list)

    def collect(self, items: list[Any]) -> None:
        for item in items:
            if isinstance(item, VenueCommand):
                self.commands.append(item)
            elif isinstance(item, Fill):
                self.fills.append(item)
            elif isinstance(item, ExecutionComparison):
                self.comparisons.append(item)
            elif isinstance(item, ReconcileIssue):
                self.issues.append(item)
            elif isinstance(item, RiskDecision) and not item.approved:
                self.refusals.append(item)
            elif isinstance(item, Order) and item.status.value == "rejected":
                self.rejected.append(item)
            elif isinstance(item, RouteDecision):
                self.routes.append(item)
            elif isinstance(item, DataQualityEvent):
                self.divergences.append(item)

    def stop(self) -> None:
        for gateway in self.gateways:
            unregister_dispatcher(gateway.config.name)
            gateway.stop()

    def render(self, console: Any) -> None:
        from rich.table import Table

        sent = "recorded (dry run)" if self.dry_run else "sent"
        console.print(
            f"venue commands {sent}: {len(self.commands)}; fills booked: {len(self.fills)}; "
            f"reconciliation issues: {len(self.issues)}"
        )
        for gateway in self.gateways:
            s = gateway.stats
            console.print(
                f"venue {gateway.config.name}: placed {s.placed}, attempts {s.place_attempts}, "
                f"found by lookup {s.found_by_lookup}, rate limited {s.rate_limited}, "
                f"rejected {s.rejected}, stream reconnects {s.stream_disconnects}, "
                f"reconciliations {s.reconciliations}"
            )
            for error in s.errors[-5:]:
                console.print(f"[venue {gateway.config.name}] {error}")
        if self.comparisons:
            table = Table(title="venue fills vs the paper estimate")
            for name in ("order", "side", "venue qty", "venue avg", "paper qty", "paper avg"):
                table.add_column(name)
            table.add_column("venue − paper (bps, + = cost)", justify="right")
            for c in self.comparisons:
                table.add_row(
                    c.order_id,
                    c.side.value,
                    str(c.venue_quantity),
                    _price(c.venue_average_price),
                    str(c.paper_quantity),
                    _price(c.paper_average_price),
                    "-" if c.difference_bps is None else f"{c.difference_bps:+.2f}",
                )
            console.print(table)
        refused = Counter(r.reason.value for r in self.refusals)
        for reason, count in sorted(refused.items()):
            last = next(r for r in reversed(self.refusals) if r.reason.value == reason)
            console.print(f"[risk] {count} entries refused: {reason} (last: {last.detail})")
        rejected = Counter(o.reason.split(":")[0] for o in self.rejected)
        for reason, count in sorted(rejected.items()):
            last = next(o for o in reversed(self.rejected) if o.reason.startswith(reason))
            console.print(f"[rejected] {count} orders: {last.reason}")
        if self.routes:
            split = sum(1 for r in self.routes if len(r.allocations) > 1)
            console.print(
                f"routing decisions: {len(self.routes)} ({split} split over venues); "
                f"last: {self.routes[-1].reason}"
            )
        for event in self.divergences:
            console.print(f"[venues] {event.kind.value}: {event.detail}")
        for issue in self.issues:
            console.print(f"[reconcile] {issue.kind.value}: {issue.detail} → {issue.action}")


def _price(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@dataclass(frozen=True, slots=True)
class VenueEndpoint:
    """Where one venue's gateway connects (None: the exchange's own URLs)."""

    name: str
    rest_url: str | None = None
    ws_url: str | None = None


SIMULATOR_QUOTES_EVERY = 0.1
"""Seconds between top-of-book polls of a simulated venue (smart routing needs fresh quotes)."""


def start_venues(
    endpoints: list[VenueEndpoint],
    exchange: str,
    symbols: tuple[str, ...],
    *,
    dry_run: bool,
    run_for: float | None,
    quotes_every: float | None = None,
    journal: Journal | None = None,
    after_accept: Callable[[], None] | None = None,
    lookback_seconds: float = 3600.0,
) -> LiveVenues:
    """Connect every venue of ``endpoints`` (ccxt's; Alpaca's trading API when ``exchange`` is
    ``alpaca``) and register its dispatcher. Credentials come from the environment; a ccxt
    venue on a simulator uses its demo account. With ``quotes_every`` each reports its top of
    book that often; ``journal`` records every placement before it is sent (a restarted router
    adopts its own orders), ``after_accept`` is the crash tests' hook. Raises
    ``CredentialsError``/``RuntimeError`` with the reason."""
    gateways: list[Any] = []
    try:
        for endpoint in [] if dry_run else endpoints:
            name = endpoint.name
            if exchange == ALPACA:
                gateway = _alpaca_gateway(endpoint, symbols, lookback_seconds)
            else:
                gateway = _ccxt_gateway(endpoint, exchange, symbols, quotes_every, lookback_seconds)
            gateway.journal, gateway.after_accept = journal, after_accept
            gateway.start()
            register_dispatcher(name, gateway.send)
            gateways.append(gateway)
    except BaseException:
        LiveVenues(gateways, VenueReportSource(gateways), dry_run).stop()
        raise
    return LiveVenues(gateways, VenueReportSource(gateways, run_for=run_for), dry_run)


ALPACA = "alpaca"
"""``--exchange alpaca``: orders go to Alpaca's trading API (stocks), not through ccxt."""


def _ccxt_gateway(
    endpoint: VenueEndpoint,
    exchange: str,
    symbols: tuple[str, ...],
    quotes_every: float | None,
    lookback_seconds: float,
) -> VenueGateway:
    """A ccxt venue; a simulator's endpoint trades on its loopback demo account."""
    config = VenueConfig(
        name=endpoint.name,
        exchange=exchange,
        rest_url=endpoint.rest_url,
        ws_url=endpoint.ws_url,
        quotes_every_seconds=quotes_every,
        lookback_seconds=lookback_seconds,
    )
    if endpoint.rest_url is not None:
        credentials = VenueCredentials(
            venue=endpoint.name, api_key=SIMULATOR_KEY, secret=SIMULATOR_SECRET
        )
    else:
        credentials = load_credentials(endpoint.name)
    return VenueGateway(config, credentials, symbols)


def _alpaca_gateway(
    endpoint: VenueEndpoint, symbols: tuple[str, ...], lookback_seconds: float
) -> AlpacaGateway:
    """Alpaca's trading API (``endpoint.rest_url``: another base URL, e.g. a loopback broker;
    default Alpaca's paper endpoint); keys always from ``QUORUM_<VENUE>_API_KEY``/``_SECRET``."""
    config = AlpacaConfig(
        name=endpoint.name, url_override=endpoint.rest_url, lookback_seconds=lookback_seconds
    )
    return AlpacaGateway(config, load_credentials(endpoint.name), symbols)


def start_simulators(venues: tuple[VenueSpec, ...], speed: float) -> dict[str, ExchangeSimulator]:
    """One loopback simulator per venue, on one time base: each fills with its venue's fee and
    shows its spread and depth (``simulated_spread_bps``, ``simulated_depth``), so routing has
    something to choose between. The first also serves the market data."""
    start = int(time.time() * 1000)
    start -= start % 60_000
    sims: dict[str, ExchangeSimulator] = {}
    try:
        for spec in venues:
            matching = MatchingConfig(
                taker_bps=spec.fee_bps,
                maker_bps=spec.fee_bps,
                synthetic_spread_bps=spec.simulated_spread_bps,
                synthetic_quantity=spec.simulated_depth,
            )
            config = SimulatorConfig(speed=speed, start_ms=start)
            sims[spec.name] = ExchangeSimulator(config, matching=matching).start()
    except BaseException:
        for sim in sims.values():
            sim.stop()
        raise
    return sims
