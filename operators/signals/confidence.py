"""Map a statistic to a confidence in [0, 1].

Convention used throughout Quorum: a confidence ``c`` states that the signal's direction is right
with probability ``(1 + c) / 2`` — 0 is a coin flip, 1 is certainty. The fused score
``Σ w·(±c) / Σ w`` then reads as ``2·P(up) − 1``, and calibration checks (Brier score, reliability
curves) compare ``(1 + c) / 2`` with the observed hit rate.
"""

from __future__ import annotations

import math


def normal_cdf(x: float) -> float:
    """Standard normal cumulative distribution Φ(x).

    >>> round(normal_cdf(0.0), 6), round(normal_cdf(1.959964), 4)
    (0.5, 0.975)
    """
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def ramp_confidence(statistic: float, threshold: float, scale: float, ceiling: float) -> float:
    """``ceiling · (2Φ((|s| − threshold) / scale) − 1)``, 0 below the threshold.

    Zero exactly at the threshold, rising smoothly with the excess of the statistic over it and
    saturating at ``ceiling``: a z of 3 against a threshold of 2 (scale 1) gives 68% of the
    ceiling.

    >>> ramp_confidence(2.0, 2.0, 1.0, 0.8)
    0.0
    >>> round(ramp_confidence(-3.0, 2.0, 1.0, 0.8), 4)
    0.5462
    >>> ramp_confidence(float("nan"), 2.0, 1.0, 0.8)
    0.0
    """
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if not 0.0 <= ceiling <= 1.0:
        raise ValueError(f"ceiling must be in [0, 1], got {ceiling}")
    excess = abs(statistic) - threshold
    if not excess > 0:  # also NaN
        return 0.0
    return ceiling * (2.0 * normal_cdf(excess / scale) - 1.0)


def probability_to_confidence(p_up: float) -> tuple[int, float]:
    """A probability that the price rises → (direction sign, confidence ``|2p − 1|``).

    >>> probability_to_confidence(0.8)
    (1, 0.6000000000000001)
    >>> probability_to_confidence(0.25)
    (-1, 0.5)
    >>> probability_to_confidence(0.5)
    (0, 0.0)
    """
    if not 0.0 <= p_up <= 1.0:
        raise ValueError(f"p_up must be a probability in [0, 1], got {p_up}")
    if p_up > 0.5:
        return 1, 2.0 * p_up - 1.0
    if p_up < 0.5:
        return -1, 1.0 - 2.0 * p_up
    return 0, 0.0


def interpolate_confidence(
    value: float, at_base: float, at_max: float, base: float, maximum: float
) -> float:
    """Linear from ``base`` (value = ``at_base``) to ``maximum`` (value = ``at_max``), clipped.

    >>> interpolate_confidence(20.0, 30.0, 10.0, 0.5, 0.8)
    0.65
    >>> interpolate_confidence(5.0, 30, 10, 0.5, 0.8), interpolate_confidence(40, 30, 10, 0.5, 0.8)
    (0.8, 0.5)
    """
    if math.isnan(value) or at_base == at_max:
        return base
    fraction = min(1.0, max(0.0, (value - at_base) / (at_max - at_base)))
    return base + fraction * (maximum - base)
