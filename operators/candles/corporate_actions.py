"""Splits and cash dividends applied to historical candles: back-adjusted prices.

Convention (the one Yahoo/CRSP-style "adjusted" series use): the latest prices stay as traded,
every earlier bar is scaled. An action takes effect on its *ex-date* ``D``; a bar belongs to
the UTC date of its open time and is adjusted by every action whose ex-date is after that date.

- split ``ratio`` (new shares per old share: 4 for a 4-for-1, 0.1 for a 1-for-10 reverse):
  prices × ``1 / ratio``, volume × ``ratio``;
- cash dividend ``amount`` (per share, in the bar's currency as paid): prices ×
  ``1 − amount / C``, where ``C`` is the raw close of the last bar before ``D``; volume kept.

Factors multiply. The file is CSV (or Parquet) with columns ``date, symbol, action`` (``split``
or ``dividend``) and ``value`` (the ratio or the amount). It replaces, never adds to, a file's
``adj_close`` column: both at once would adjust twice, so the loader refuses that.

Hand-computed: a 2-for-1 split on 2024-01-04, a 0.51 dividend on 2024-01-05 (prior close 51):

>>> import numpy as np
>>> days = np.array(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], "datetime64[ns]")
>>> actions = [CorporateAction(date(2024, 1, 4), "XYZ", "split", 2.0),
...            CorporateAction(date(2024, 1, 5), "XYZ", "dividend", 0.51)]
>>> price, volume = adjustment_factors(days.astype(np.int64), np.array([100, 102, 51, 50.0]),
...                                    actions)
>>> price.round(6).tolist(), volume.tolist()
([0.495, 0.495, 0.99, 1.0], [2.0, 2.0, 1.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import numpy as np

ActionKind = Literal["split", "dividend"]
_NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class CorporateAction:
    """One split or cash dividend of ``symbol`` effective on ``ex_date``."""

    ex_date: date
    symbol: str
    kind: ActionKind
    value: float

    def __post_init__(self) -> None:
        if self.kind not in ("split", "dividend"):
            raise ValueError(f"action: {self.kind!r} is neither 'split' nor 'dividend'")
        if not (self.value > 0 and np.isfinite(self.value)):
            raise ValueError(f"value: {self.kind} of {self.symbol} on {self.ex_date} must be a "
                             f"positive number, got {self.value!r}")  # fmt: skip


def adjustment_factors(
    ts_ns: np.ndarray, close: np.ndarray, actions: Iterable[CorporateAction]
) -> tuple[np.ndarray, np.ndarray]:
    """Price and volume multipliers for bars of one symbol (``ts_ns`` sorted ascending)."""
    price = np.ones(len(ts_ns), dtype=np.float64)
    volume = np.ones(len(ts_ns), dtype=np.float64)
    day = ts_ns // _NS_PER_DAY
    for action in actions:
        ex_day = int(datetime(*action.ex_date.timetuple()[:3], tzinfo=UTC).timestamp()) // 86_400
        before = day < ex_day
        if not before.any():
            continue
        if action.kind == "split":
            price[before] /= action.value
            volume[before] *= action.value
            continue
        prior_close = float(close[np.flatnonzero(before)[-1]])
        if not action.value < prior_close:
            raise ValueError(
                f"value: dividend {action.value} of {action.symbol} on {action.ex_date} is not "
                f"below the prior close {prior_close}"
            )
        price[before] *= 1.0 - action.value / prior_close
    return price, volume


def load_actions(path: str | Path) -> tuple[CorporateAction, ...]:
    """Read a corporate-actions file; errors name the row and field."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"corporate actions file {path} does not exist")
    frame = pl.read_parquet(path) if path.suffix.lower() == ".parquet" else pl.read_csv(path)
    columns = {c.strip().lower(): c for c in frame.columns}
    missing = [c for c in ("date", "symbol", "action", "value") if c not in columns]
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {', '.join(missing)} "
                         "(expected date, symbol, action, value)")  # fmt: skip
    actions = []
    for number, row in enumerate(frame.iter_rows(named=True), start=2):
        try:
            when = row[columns["date"]]
            ex_date = when if isinstance(when, date) else date.fromisoformat(str(when).strip())
            actions.append(
                CorporateAction(
                    ex_date,
                    str(row[columns["symbol"]]).strip(),
                    str(row[columns["action"]]).strip().lower(),  # type: ignore[arg-type]
                    float(row[columns["value"]]),
                )
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path.name} row {number}: {exc}") from None
    return tuple(actions)


def actions_of(actions: Sequence[CorporateAction], symbol: str) -> list[CorporateAction]:
    """The actions of ``symbol``, oldest first."""
    return sorted((a for a in actions if a.symbol == symbol), key=lambda a: a.ex_date)
