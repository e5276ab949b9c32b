"""Exponential backoff with jitter for reconnects and retries (injectable randomness)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Delays grow ``initial × factor^n`` up to ``maximum`` seconds.

    ``jitter`` is the random fraction taken off each delay: 1.0 is "full jitter" (uniform in
    ``[0, d]``), 0.0 none. Jitter keeps many clients from reconnecting in lockstep.
    """

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not self.initial > 0:
            raise ValueError(f"initial must be > 0 seconds, got {self.initial}")
        if not self.factor >= 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        if not self.maximum >= self.initial:
            raise ValueError(f"maximum {self.maximum} must be >= initial {self.initial}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")


class Backoff:
    """Successive delays of a :class:`BackoffPolicy`; :meth:`reset` after a success.

    >>> backoff = Backoff(BackoffPolicy(initial=1, factor=2, maximum=5, jitter=0))
    >>> [backoff.next_delay() for _ in range(5)]
    [1.0, 2.0, 4.0, 5.0, 5.0]
    >>> backoff.reset(); backoff.next_delay()
    1.0
    """

    def __init__(self, policy: BackoffPolicy | None = None, rng: random.Random | None = None):
        self.policy = policy or BackoffPolicy()
        self._rng = rng or random.Random()
        self.attempts = 0

    def ceiling(self) -> float:
        """The delay before jitter for the next attempt."""
        p = self.policy
        return min(p.maximum, p.initial * p.factor ** min(self.attempts, 64))

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        self.attempts += 1
        return ceiling * (1 - self.policy.jitter * self._rng.random())

    def reset(self) -> None:
        self.attempts = 0
