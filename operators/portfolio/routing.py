"""Which portfolios of a run see which asset (the trading core's routing table).

>>> routing = PortfolioRouting((("majors", frozenset({"BTC/USDT"})), ("all", None)))
>>> routing.targets_of_asset("BTC/USDT"), routing.targets_of_asset("XRP/USDT")
(('majors', 'all'), ('all',))
>>> routing.echoes("majors", "BTC/USDT"), routing.echoes("all", "BTC/USDT")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.common import DEFAULT_PORTFOLIO


@dataclass(frozen=True)
class PortfolioRouting:
    """Which portfolios see an asset's data and decisions (picklable, shared by every core).

    ``traded`` maps each portfolio id, in configuration order, to the assets it trades
    (``None``: every asset).
    """

    traded: tuple[tuple[str, frozenset[str] | None], ...]
    _cache: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(pid for pid, _ in self.traded)

    def trades(self, portfolio: str, asset: str) -> bool:
        assets = dict(self.traded).get(portfolio)
        return assets is None or asset in assets

    def targets_of_asset(self, asset: str) -> tuple[str, ...]:
        """The portfolios trading ``asset`` (they get its candles, features and quotes)."""
        found = self._cache.get(asset)
        if found is None:
            found = tuple(pid for pid, assets in self.traded if assets is None or asset in assets)
            self._cache[asset] = found
        return found

    def signal_targets(self, asset: str) -> tuple[str, ...]:
        """The portfolios a fused decision on ``asset`` goes to: its traders, or the first
        portfolio (to pass it on) when nobody trades it."""
        return self.targets_of_asset(asset) or self.ids[:1]

    def echoes(self, portfolio: str, asset: str) -> bool:
        """Whether ``portfolio`` re-emits the fused signals of ``asset`` (one portfolio does)."""
        return self.signal_targets(asset)[0] == portfolio


SINGLE = PortfolioRouting(((DEFAULT_PORTFOLIO, None),))
"""The routing of a run with one portfolio trading every asset."""
