"""Decision bands of a fused score, with their edges stated exactly.

With the defaults ``open_above = 0.7`` and ``review_from = 0.5``:

* ``|s| > 0.7`` → OPEN (0.7 itself is not enough);
* ``0.5 ≤ |s| ≤ 0.7`` → REVIEW (a human decides, with the reasons);
* ``|s| < 0.5`` → IGNORE.

>>> [decide(s).value for s in (0.71, 0.7, 0.5, 0.4999, -0.9, -0.5)]
['open', 'review', 'review', 'ignore', 'open', 'review']
"""

from __future__ import annotations

import math

from schemas.signals import Decision


def decide(score: float, open_above: float = 0.7, review_from: float = 0.5) -> Decision:
    """The band of a score (sign ignored); NaN is IGNORE."""
    if not review_from < open_above:
        raise ValueError(f"review_from ({review_from}) must be below open_above ({open_above})")
    strength = abs(score)
    if math.isnan(strength) or strength < review_from:
        return Decision.IGNORE
    if strength > open_above:
        return Decision.OPEN
    return Decision.REVIEW
