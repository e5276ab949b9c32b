"""Python's cyclic garbage collector, tuned for a long flow run once start-up is done.

A run builds its heap at start-up (imports, configuration, the loaded data, the built flow)
and then allocates mostly short-lived, acyclic records. CPython's collector nevertheless walks
every tracked object of an older generation whenever it collects that generation, so the
start-up heap is re-scanned again and again for nothing: on the BTC month the collector cost
more CPU than fusion itself. :func:`tuned_gc` collects once, moves everything alive into the
permanent generation (``gc.freeze()``: never scanned again, still freed by reference counting)
and raises the first generation's threshold, so young collections run less often.

The knob is the configuration's ``gc`` section, overridden by the ``QUORUM_GC_TUNE``
environment variable (``0``/``off``/``false`` or ``1``/``on``/``true``), for processes whose
configuration one does not edit (Bytewax's runner, the benchmarks)::

    QUORUM_GC_TUNE=off quorum run          # CPython's defaults, gc untouched

>>> settings_from_env(GcSettings(), {"QUORUM_GC_TUNE": "off"}).tune
False
>>> settings_from_env(GcSettings(tune=False), {}).tune
False
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pydantic import BaseModel, ConfigDict, Field

GC_ENV = "QUORUM_GC_TUNE"
"""Environment variable overriding ``gc.tune`` (see the module doc)."""

_ON = frozenset({"1", "on", "true", "yes"})
_OFF = frozenset({"0", "off", "false", "no"})


class GcSettings(BaseModel):
    """How a run tunes Python's cyclic garbage collector once start-up is done."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tune: bool = Field(
        default=True,
        description="After start-up (imports, configuration, data loaded, flow built), freeze "
        "the heap (gc.freeze) and raise the first generation's threshold; false leaves the "
        f"collector as CPython sets it (environment override: {GC_ENV}=0/1)",
    )
    gen0_threshold: int = Field(
        default=50_000,
        ge=1,
        description="Allocations (net of deallocations) between young-generation collections "
        "while tuned (CPython's default is 700); the older generations keep theirs",
    )


def settings_from_env(settings: GcSettings, environ: Mapping[str, str] | None = None) -> GcSettings:
    """``settings`` with ``tune`` overridden by ``QUORUM_GC_TUNE`` when that is set.

    >>> settings_from_env(GcSettings(tune=False), {"QUORUM_GC_TUNE": "on"}).tune
    True
    >>> settings_from_env(GcSettings(), {"QUORUM_GC_TUNE": "maybe"})
    Traceback (most recent call last):
    ...
    ValueError: QUORUM_GC_TUNE must be one of 0, 1, false, no, off, on, true, yes; got 'maybe'
    """
    env = os.environ if environ is None else environ
    text = env.get(GC_ENV, "").strip().lower()
    if not text:
        return settings
    if text not in _ON | _OFF:
        allowed = ", ".join(sorted(_ON | _OFF))
        raise ValueError(f"{GC_ENV} must be one of {allowed}; got {env[GC_ENV]!r}")
    return settings.model_copy(update={"tune": text in _ON})


def tune_gc(settings: GcSettings) -> bool:
    """Collect once, freeze what is alive and raise the young threshold, if ``settings`` (with
    the environment override) say so. Returns whether the collector was tuned.

    For a process that runs one flow and exits (Bytewax's runner); :func:`tuned_gc` undoes it
    afterwards for code that goes on."""
    if not settings_from_env(settings).tune:
        return False
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(settings.gen0_threshold, older, oldest)
    return True


@contextmanager
def tuned_gc(settings: GcSettings) -> Iterator[bool]:
    """Run the block with the collector tuned (see :func:`tune_gc`); afterwards the frozen
    objects return to the oldest generation and the thresholds are restored. Yields whether
    the collector was tuned."""
    thresholds = gc.get_threshold()
    tuned = tune_gc(settings)
    try:
        yield tuned
    finally:
        if tuned:
            gc.unfreeze()
            gc.set_threshold(*thresholds)
