"""Fixtures for the router tests: the loopback simulator (step-driven clock) and a gateway on it.

Waits are on conditions with generous deadlines; nothing depends on timing luck.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from connectors.ccxt_router import VenueConfig, VenueCredentials, VenueGateway
from connectors.simulator import ExchangeSimulator, SimulatorConfig
from flows.cli import main
from operators.execution.config import ExecutionConfig
from operators.execution.dispatch import register_dispatcher, unregister_dispatcher
from operators.execution.live import LiveRouter
from operators.execution.live_config import LiveConfig
from operators.portfolio.instruments import Instruments
from schemas.batches import CandleBatch
from schemas.common import Side, ns_to_datetime
from schemas.signals import FusedSignal, FusionProgress
from schemas.trading import OrderType
from schemas.venue import CommandKind, VenueCommand, VenueReport

T0_NS = 1_641_000_000_000_000_000 // 60_000_000_000 * 60_000_000_000
MIN_NS = 60_000_000_000
START_MS = 1_610_064_000_000  # 2021-01-08 00:00 UTC: BTC/USDT's recorded trades start here
DEADLINE = 20.0
VENUE = "sim-binance"
PROFILES = Path(__file__).resolve().parents[2] / "flows" / "profiles"


def wait_for(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def run_live_simulator(profile: str, store: Path, *extra: str) -> int:
    """``quorum live --mode live`` on the simulator: 45 s of BTC/USDC candles at 240x with
    ``flows/profiles/<profile>``, booked into ``store``; the command's exit code."""
    return main(
        [
            "live",
            "--simulator",
            "--symbols",
            "BTC/USDC",
            "--data",
            "candles",
            "--speed",
            "240",
            "--duration",
            "45",
            "--mode",
            "live",
            "--config",
            str(PROFILES / profile),
            "--store",
            str(store),
            *extra,
        ]
    )


@pytest.fixture
def sim() -> Iterator[ExchangeSimulator]:
    simulator = ExchangeSimulator(SimulatorConfig(start_ms=START_MS, ping_interval=None)).start()
    simulator.advance(30_000)  # quotes and trades exist
    yield simulator
    simulator.stop()


def credentials(secret: str = "simulator-secret") -> VenueCredentials:
    return VenueCredentials(venue=VENUE, api_key="simulator", secret=secret)


@pytest.fixture
def make_gateway(sim: ExchangeSimulator) -> Iterator[Callable[..., VenueGateway]]:
    started: list[VenueGateway] = []

    def make(**overrides: Any) -> VenueGateway:
        settings: dict[str, Any] = {
            "name": VENUE,
            "rest_url": sim.rest_url,
            "ws_url": sim.ws_url,
            "timeout_ms": 1500,
            "retry_wait_seconds": 0.05,
            "reconcile_every_seconds": 3600,
        }
        settings.update(overrides)
        secret = settings.pop("secret", "simulator-secret")
        gateway = VenueGateway(VenueConfig(**settings), credentials(secret), ("BTC/USDT",))
        started.append(gateway)
        return gateway.start()

    yield make
    for gateway in started:
        gateway.stop()
    unregister_dispatcher(VENUE)


def live_router(gateway: VenueGateway | None = None, **live: Any) -> LiveRouter:
    if gateway is not None:
        register_dispatcher(VENUE, gateway.send)
    return LiveRouter(LiveConfig(venue=VENUE, **live), ExecutionConfig(), Instruments())


def place(
    order_id: str,
    quantity: str,
    side: Side = Side.BUY,
    limit: str | None = None,
) -> VenueCommand:
    return VenueCommand(
        command_id=f"{order_id}:place",
        kind=CommandKind.PLACE,
        venue=VENUE,
        order_id=order_id,
        asset="BTC/USDT",
        side=side,
        quantity=Decimal(quantity),
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        limit_price=Decimal(limit) if limit else None,
        time_in_force="GTC" if limit else None,
        notional=Decimal(0),
        ts=datetime.now(UTC),
    )


class Reports:
    """Everything a gateway reported, collected by draining it."""

    def __init__(self, gateway: VenueGateway) -> None:
        self.gateway = gateway
        self.items: list[VenueReport] = []

    def poll(self) -> list[VenueReport]:
        self.items.extend(self.gateway.drain())
        return self.items

    def wait(self, predicate: Callable[[list[VenueReport]], Any], what: str) -> list[VenueReport]:
        wait_for(lambda: predicate(self.poll()), what)
        return self.items


def open_decision_inputs() -> tuple[CandleBatch, FusedSignal, FusionProgress, np.ndarray]:
    """Five flat BTC/USDT minutes, an OPEN long decision at the third, fusion's progress past
    the fourth: what the trading core needs to send one entry."""
    minutes = T0_NS + MIN_NS * np.arange(5)
    candles = CandleBatch.from_columns(
        "BTC/USDT", "1m", minutes, [100.0] * 5, [101.0] * 5, [99.0] * 5, [100.0] * 5, [1e6] * 5
    )
    signal = FusedSignal(
        fused_id="fs-1",
        asset="BTC/USDT",
        score=0.8,
        direction="long",
        decision="open",
        timestamp=ns_to_datetime(int(minutes[2])),
    )
    progress = FusionProgress(asset="BTC/USDT", ts=ns_to_datetime(int(minutes[3])))
    return candles, signal, progress, minutes
