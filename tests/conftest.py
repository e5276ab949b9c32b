"""Settings for the whole suite: hypothesis tests check properties, never timing.

Hypothesis fails an example that runs past its deadline (200 ms by default), and on these
shared 2-core machines a first call that compiles a numba kernel, or a busy neighbour, can
take that long: a failure by timing luck. The deadline is off for every test.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("quorum", deadline=None)
settings.load_profile("quorum")
