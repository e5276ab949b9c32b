"""Where a live router hands its commands: a per-process registry of venue dispatchers.

The router is flow state (pickled in snapshots), so it holds a venue's *name*, never a
connection. The process that runs the flow registers each venue's dispatcher — a callable that
queues a command and returns at once (e.g. :meth:`connectors.ccxt_router.VenueGateway.send`) —
before the flow starts.

>>> sent = []
>>> register_dispatcher("doc-venue", sent.append)
>>> dispatcher("doc-venue") is not None, dispatcher("elsewhere")
(True, None)
>>> unregister_dispatcher("doc-venue")
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.venue import VenueCommand

Dispatcher = Callable[[VenueCommand], None]

_DISPATCHERS: dict[str, Dispatcher] = {}


def register_dispatcher(venue: str, send: Dispatcher) -> None:
    _DISPATCHERS[venue] = send


def unregister_dispatcher(venue: str) -> None:
    _DISPATCHERS.pop(venue, None)


def dispatcher(venue: str) -> Dispatcher | None:
    return _DISPATCHERS.get(venue)
