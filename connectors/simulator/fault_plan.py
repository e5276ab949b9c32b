"""A schedule of simulator faults from text, so a person can demonstrate them on the CLI.

``quorum simulator --faults "drop@10,corrupt:3@15,rest:500x2@20,silence:5@30"`` flips the
simulator's switches (:class:`~connectors.simulator.faults.Faults` and the connection
controls) at those seconds after start. Each entry is ``NAME[:ARG]@SECONDS``:

==================  ===========================================================================
entry               effect
==================  ===========================================================================
``drop``            drop every WebSocket connection abruptly (clients must reconnect)
``stall``           keep the current connections open but send nothing on them
``silence:S``       send no data on any connection for S seconds
``refuse:S``        close every new connection at once for S seconds
``corrupt:N``       truncate the next N data frames (invalid JSON)
``duplicate:N``     send each of the next N data frames twice
``reorder:N``       hold the next N data frames, then send them in reverse order
``rest:STATUSxN``   answer the next N REST requests with HTTP STATUS (429, 500, …)
``skew:BPS``        move every book the venue shows and fills against by BPS basis points
                    (``skew:0`` ends it)
==================  ===========================================================================

>>> [(f.at, f.name, f.amount, f.status) for f in parse_fault_plan("drop@1,rest:500x2@2.5")]
[(1.0, 'drop', 1, None), (2.5, 'rest', 2, 500)]
>>> parse_fault_plan("melt@1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: --faults: unknown fault 'melt' in 'melt@1' (known: corrupt, drop, duplicate, ...)
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.simulator.server import ExchangeSimulator

_ARGUMENT = {  # fault → what its argument is
    "drop": None,
    "stall": None,
    "silence": "seconds",
    "refuse": "seconds",
    "corrupt": "count",
    "duplicate": "count",
    "reorder": "count",
    "rest": "statusxcount",
    "skew": "bps",
}
_ENTRY = re.compile(r"^(?P<name>[a-z]+)(?::(?P<arg>[0-9.x]+))?@(?P<at>[0-9]+(?:\.[0-9]+)?)$")


@dataclass(frozen=True, slots=True)
class PlannedFault:
    """One fault: ``name`` at ``at`` seconds, with a count, a duration (``skew``: its basis
    points) or an HTTP status."""

    at: float
    name: str
    amount: int = 1
    seconds: float = 0.0
    status: int | None = None


def _parse(entry: str) -> PlannedFault:
    match = _ENTRY.match(entry)
    if match is None:
        raise ValueError(f"--faults: {entry!r} is not NAME[:ARG]@SECONDS (e.g. corrupt:3@10)")
    name, arg, at = match["name"], match["arg"], float(match["at"])
    if name not in _ARGUMENT:
        known = ", ".join(sorted(_ARGUMENT))
        raise ValueError(f"--faults: unknown fault {name!r} in {entry!r} (known: {known})")
    wants = _ARGUMENT[name]
    if (wants is None) != (arg is None):
        needs = "no argument" if wants is None else f"an argument ({wants})"
        raise ValueError(f"--faults: {name} takes {needs}, got {entry!r}")
    try:
        if wants in ("seconds", "bps"):
            return PlannedFault(at, name, seconds=float(arg or 0))
        if wants == "count":
            return PlannedFault(at, name, amount=int(arg or 0))
        if wants == "statusxcount":
            status, _, count = (arg or "").partition("x")
            return PlannedFault(at, name, amount=int(count or 1), status=int(status))
    except ValueError:
        raise ValueError(f"--faults: bad argument in {entry!r} (expected {wants})") from None
    return PlannedFault(at, name)


def parse_fault_plan(text: str) -> list[PlannedFault]:
    """The faults of ``text`` (comma-separated entries), in time order."""
    entries = [e.strip() for e in text.split(",") if e.strip()]
    if not entries:
        raise ValueError("--faults: give at least one entry, e.g. drop@10")
    return sorted((_parse(e) for e in entries), key=lambda f: f.at)


def apply_fault(sim: ExchangeSimulator, fault: PlannedFault) -> threading.Timer | None:
    """Flip ``fault`` on ``sim`` now; a timed one returns the timer that switches it off."""
    faults = sim.faults
    if fault.name == "drop":
        sim.drop_connections()
    elif fault.name == "stall":
        sim.stall_connections()
    elif fault.name in ("silence", "refuse"):
        switch = faults.go_silent if fault.name == "silence" else faults.refuse_connections
        switch(True)
        timer = threading.Timer(fault.seconds, switch, (False,))
        timer.daemon = True
        timer.start()
        return timer
    elif fault.name == "corrupt":
        faults.corrupt_next(fault.amount)
    elif fault.name == "duplicate":
        faults.duplicate_next(fault.amount)
    elif fault.name == "reorder":
        faults.reorder_next(fault.amount)
    elif fault.name == "skew":
        sim.skew_prices(fault.seconds)
    else:
        faults.fail_rest(fault.amount, status=fault.status or 429)
    return None


def run_fault_plan(
    sim: ExchangeSimulator,
    plan: list[PlannedFault],
    stop: threading.Event,
    report: Callable[[PlannedFault], None] = lambda fault: None,
) -> None:
    """Apply ``plan`` on ``sim`` at its times (seconds after this call) until ``stop`` is set."""
    started = time.monotonic()
    timers = []
    try:
        for fault in plan:
            if stop.wait(max(0.0, started + fault.at - time.monotonic())):
                return
            timer = apply_fault(sim, fault)
            if timer is not None:
                timers.append(timer)
            report(fault)
    finally:
        if stop.is_set():
            for timer in timers:
                timer.cancel()
