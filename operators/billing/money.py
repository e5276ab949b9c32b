"""Integer money arithmetic: split an amount by weights without losing or inventing a cent.

>>> allocate(100, {"a": 1, "b": 1, "c": 1})
{'a': 34, 'b': 33, 'c': 33}
>>> allocate(1000, {"ana": 0.7, "bo": 0.3})
{'ana': 700, 'bo': 300}
>>> allocate(5, {})
{}
>>> percent_of(2900, 70)
2030
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction


def allocate(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` minor units by ``weights`` (largest remainder): parts sum to ``total``.

    Weights ≤ 0 get nothing; with no positive weight the result is empty (the caller decides
    where an unattributed amount goes). Ties on the remainder go to the key sorted first, so the
    split is deterministic.
    """
    positive = {k: Fraction(w) for k, w in weights.items() if w > 0}
    if not positive or total == 0:
        return {}
    whole = sum(positive.values())
    exact = {k: total * w / whole for k, w in positive.items()}
    parts = {k: int(v // 1) for k, v in exact.items()}
    left = total - sum(parts.values())
    by_remainder = sorted(exact, key=lambda k: (-(exact[k] - parts[k]), k))
    for key in by_remainder[:left]:
        parts[key] += 1
    return {k: parts[k] for k in weights if k in parts}


def percent_of(amount: int, percent: int) -> int:
    """``percent`` % of ``amount`` minor units, rounded down (in the payer's favour)."""
    return amount * percent // 100
