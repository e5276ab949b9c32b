"""A loopback exchange simulator speaking Binance's WebSocket stream and REST formats.

See :mod:`connectors.simulator.server` for the entry point, :mod:`.catalogue` for the markets it
serves and :mod:`.faults` for the switches that break it on purpose.
"""

from connectors.simulator.catalogue import Market, default_markets
from connectors.simulator.clock import ManualClock, ScaledClock
from connectors.simulator.faults import Faults, RestFailure
from connectors.simulator.server import ExchangeSimulator, SimulatorConfig

__all__ = [
    "ExchangeSimulator",
    "Faults",
    "ManualClock",
    "Market",
    "RestFailure",
    "ScaledClock",
    "SimulatorConfig",
    "default_markets",
]
