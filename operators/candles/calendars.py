"""When a market is open: 24/7 crypto, 24/5 FX, and exchange sessions from ``exchange-calendars``.

A calendar answers two questions about int64 UTC nanosecond timestamps, vectorized:

* :meth:`MarketCalendar.is_open` — is the market open at this instant;
* :meth:`MarketCalendar.open_clock` — how much *open* time has elapsed since a fixed origin (a
  non-decreasing clock that stands still while the market is closed). The open time between two
  instants is the difference of their clocks: a weekend between two FX bars adds nothing, an
  hour missing inside a session adds an hour. The validators judge time jumps on this clock,
  and ``quorum data check`` counts only the bars missing while the market was open.

Calendars by name (:func:`calendar_for`):

* ``24/7`` — crypto: always open; its clock is the time itself;
* ``24/5`` — FX: open from Sunday 17:00 to Friday 17:00 New York time (the New York close), every
  week, daylight saving included; closed on 25 December and 1 January (the FX day that ends at
  17:00 New York on that date); other venue holidays are not modelled (they show as gaps);
* any ``exchange-calendars`` code — ``XNYS`` (NYSE), ``XNAS``, ``CMES`` (CME), ``XEUR``
  (Eurex), ``XHKG``, ``XTKS`` …: that exchange's regular sessions, holidays, early closes and
  lunch breaks (closed time, like the night), from 1990 (or the calendar's first date) to a year
  ahead.

A calendar pickles as its name (state snapshots stay small) and is built once per process.

>>> import numpy as np
>>> fx = calendar_for("24/5")
>>> friday_close = np.datetime64("2024-01-05T22:00", "ns").astype(np.int64)  # 17:00 New York
>>> sunday_open = np.datetime64("2024-01-07T22:00", "ns").astype(np.int64)
>>> fx.is_open(np.array([friday_close - 1, friday_close, sunday_open])).tolist()
[True, False, True]
>>> int(np.diff(fx.open_clock(np.array([friday_close - 60_000_000_000, sunday_open])))[0])
60000000000
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cache

import numpy as np
import pandas as pd

ALWAYS_OPEN = "24/7"
FOREX_WEEK = "24/5"
CALENDAR_START = "1990-01-01"
"""First session of exchange calendars (``exchange-calendars`` defaults to 20 years back)."""

NO_BUCKET = np.iinfo(np.int64).min
"""Bucket of an instant that belongs to no trading day (the market was closed)."""

_NS_PER_DAY = 86_400_000_000_000
_NS_PER_WEEK = 7 * _NS_PER_DAY
_MONDAY = 4 * _NS_PER_DAY  # 1970-01-05, the first Monday after the epoch


class MarketCalendar(ABC):
    """Open hours of one market (see the module docstring)."""

    name: str

    @property
    def always_open(self) -> bool:
        return False

    @abstractmethod
    def is_open(self, ts_ns: np.ndarray) -> np.ndarray:
        """Boolean mask: the market is open at each instant."""

    @abstractmethod
    def open_clock(self, ts_ns: np.ndarray) -> np.ndarray:
        """Open nanoseconds elapsed from a fixed origin to each instant (non-decreasing)."""

    @abstractmethod
    def day_start(self, ts_ns: np.ndarray) -> np.ndarray:
        """Open time of the trading day holding each instant (``NO_BUCKET`` when closed)."""

    @abstractmethod
    def week_start(self, ts_ns: np.ndarray) -> np.ndarray:
        """Open time of the trading week (from Monday) holding each instant, or ``NO_BUCKET``."""

    @abstractmethod
    def day_end(self, start_ns: np.ndarray) -> np.ndarray:
        """Close of the trading days opening at ``start_ns``."""

    @abstractmethod
    def week_end(self, start_ns: np.ndarray) -> np.ndarray:
        """Close of the trading weeks opening at ``start_ns``."""

    def open_between(self, start_ns: np.ndarray, end_ns: np.ndarray) -> np.ndarray:
        """Open time in ``[start, end)`` for each pair, ns (0 when ``end <= start``)."""
        start, end = np.asarray(start_ns, np.int64), np.asarray(end_ns, np.int64)
        return np.maximum(self.open_clock(end) - self.open_clock(start), 0)

    def days_between(self, start_ns: np.ndarray, end_ns: np.ndarray) -> np.ndarray:
        """Trading days that open in ``[start, end)`` (a 24/7 or FX day is 24 open hours)."""
        return self.open_between(start_ns, end_ns) // _NS_PER_DAY

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return calendar_for, (self.name,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class AlwaysOpen(MarketCalendar):
    """Crypto: open every instant; the open clock is the time itself.

    >>> AlwaysOpen().open_between(np.array([0]), np.array([90])).tolist()
    [90]
    """

    name = ALWAYS_OPEN

    @property
    def always_open(self) -> bool:
        return True

    def is_open(self, ts_ns: np.ndarray) -> np.ndarray:
        return np.ones(np.shape(ts_ns), dtype=bool)

    def open_clock(self, ts_ns: np.ndarray) -> np.ndarray:
        return np.asarray(ts_ns, dtype=np.int64)

    def day_start(self, ts_ns: np.ndarray) -> np.ndarray:
        return np.floor_divide(np.asarray(ts_ns, np.int64), _NS_PER_DAY) * _NS_PER_DAY

    def week_start(self, ts_ns: np.ndarray) -> np.ndarray:
        since_monday = np.asarray(ts_ns, np.int64) - _MONDAY
        return np.floor_divide(since_monday, _NS_PER_WEEK) * _NS_PER_WEEK + _MONDAY

    def day_end(self, start_ns: np.ndarray) -> np.ndarray:
        return np.asarray(start_ns, np.int64) + _NS_PER_DAY

    def week_end(self, start_ns: np.ndarray) -> np.ndarray:
        return np.asarray(start_ns, np.int64) + _NS_PER_WEEK


class ForexWeek(MarketCalendar):
    """FX: Sunday 17:00 → Friday 17:00, New York time.

    New York wall time shifted by +7 h puts the week's open at Monday 00:00 and its close at
    Saturday 00:00, so the market is open on the shifted weekdays 0-4. The 02:00 daylight-saving
    changes fall on Sunday mornings, while the market is closed, so the clock stays monotone.
    """

    name = FOREX_WEEK
    zone = "America/New_York"
    _shift_ns = 7 * 3_600_000_000_000
    _open_per_week = 5 * _NS_PER_DAY
    holidays = ((12, 25), (1, 1))
    """(month, day) of the FX days closed worldwide: the day ending 17:00 New York that date."""

    def __init__(self) -> None:
        days = pd.date_range("1970-01-01", "2100-12-31", freq="D")
        chosen = np.zeros(len(days), dtype=bool)
        for month, day in self.holidays:
            chosen |= (days.month == month) & (days.day == day)
        chosen &= days.weekday < 5  # shifted weekdays: a holiday on a weekend closes nothing more
        self._holiday_days = (days[chosen].as_unit("ns").asi8 // _NS_PER_DAY).astype(np.int64)

    def _holiday_time(self, ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(closed-holiday ns elapsed before each instant, instant inside a holiday)."""
        shifted = self._shifted(ts_ns)
        day, into = np.floor_divide(shifted, _NS_PER_DAY), np.mod(shifted, _NS_PER_DAY)
        before = np.searchsorted(self._holiday_days, day, side="left")
        inside = np.isin(day, self._holiday_days)
        return before * _NS_PER_DAY + np.where(inside, into, 0), inside

    def _shifted(self, ts_ns: np.ndarray) -> np.ndarray:
        """New York wall time + 7 h, as naive ns: the FX week runs Monday 00:00 → Saturday."""
        utc = pd.to_datetime(np.asarray(ts_ns, dtype=np.int64).ravel(), unit="ns", utc=True)
        return utc.tz_convert(self.zone).tz_localize(None).as_unit("ns").asi8 + self._shift_ns

    def _to_utc(self, shifted: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`_shifted` for the 17:00 New York boundaries (never ambiguous)."""
        local = pd.to_datetime(shifted - self._shift_ns, unit="ns").tz_localize(self.zone)
        return local.tz_convert("UTC").as_unit("ns").asi8

    def _week_offset(self, ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        local = self._shifted(ts_ns) - _MONDAY
        return np.floor_divide(local, _NS_PER_WEEK), np.mod(local, _NS_PER_WEEK)

    def _bucket(self, ts_ns: np.ndarray, length: int, origin: int) -> np.ndarray:
        ts = np.asarray(ts_ns, np.int64)
        shifted = self._shifted(ts)
        floor = np.floor_divide(shifted - origin, length) * length + origin
        start = self._to_utc(floor).reshape(ts.shape)
        return np.where(self.is_open(ts), start, NO_BUCKET)

    def day_start(self, ts_ns: np.ndarray) -> np.ndarray:
        return self._bucket(ts_ns, _NS_PER_DAY, 0)

    def week_start(self, ts_ns: np.ndarray) -> np.ndarray:
        return self._bucket(ts_ns, _NS_PER_WEEK, _MONDAY)

    def day_end(self, start_ns: np.ndarray) -> np.ndarray:
        return np.asarray(start_ns, np.int64) + _NS_PER_DAY  # no DST change inside an FX day

    def week_end(self, start_ns: np.ndarray) -> np.ndarray:
        return np.asarray(start_ns, np.int64) + self._open_per_week

    def is_open(self, ts_ns: np.ndarray) -> np.ndarray:
        _, offset = self._week_offset(ts_ns)
        _, holiday = self._holiday_time(ts_ns)
        return ((offset < self._open_per_week) & ~holiday).reshape(np.shape(ts_ns))

    def open_clock(self, ts_ns: np.ndarray) -> np.ndarray:
        """Open ns since the origin: weekends and the closed holidays add nothing.

        >>> fx = calendar_for("24/5")
        >>> eve = np.datetime64("2024-12-24T21:59", "ns").astype(np.int64)  # 16:59 New York
        >>> after = np.datetime64("2024-12-25T22:01", "ns").astype(np.int64)  # 17:01 on the 25th
        >>> int(fx.open_between(np.array([eve]), np.array([after]))[0]) // 60_000_000_000
        2
        """
        week, offset = self._week_offset(ts_ns)
        clock = week * self._open_per_week + np.minimum(offset, self._open_per_week)
        closed, _ = self._holiday_time(ts_ns)
        return (clock - closed).reshape(np.shape(ts_ns))


class ExchangeSessions(MarketCalendar):
    """An exchange's regular sessions from ``exchange-calendars`` (open ≤ t < close), lunch
    breaks closed (break start ≤ t < break end).

    >>> nyse = calendar_for("XNYS")
    >>> t = np.array(["2024-07-03T16:59", "2024-07-03T17:00", "2024-07-04T15:00"],
    ...              dtype="datetime64[ns]").astype(np.int64)     # early close, then a holiday
    >>> nyse.is_open(t).tolist()
    [True, False, False]
    >>> hkex = calendar_for("XHKG")                    # lunch 12:00-13:00 Hong Kong = 04-05 UTC
    >>> t = np.array(["2024-01-03T03:59", "2024-01-03T04:30", "2024-01-03T05:01"],
    ...              dtype="datetime64[ns]").astype(np.int64)
    >>> hkex.is_open(t).tolist(), int(np.diff(hkex.open_clock(t[[0, 2]]))[0]) // 60_000_000_000
    ([True, False, True], 2)
    """

    def __init__(self, code: str) -> None:
        import exchange_calendars

        try:
            calendar = exchange_calendars.get_calendar(code, start=CALENDAR_START)
        except ValueError:  # a calendar that starts later (XTKS: 1997): from its first date
            bound = type(exchange_calendars.get_calendar(code)).bound_min()
            calendar = exchange_calendars.get_calendar(code, start=bound)
        self.name = code
        self.opens = pd.DatetimeIndex(calendar.opens).as_unit("ns").asi8
        self.closes = pd.DatetimeIndex(calendar.closes).as_unit("ns").asi8
        # open intervals: a session, or its morning and afternoon around a lunch break
        starts = pd.DatetimeIndex(calendar.break_starts).as_unit("ns")
        ends = pd.DatetimeIndex(calendar.break_ends).as_unit("ns")
        lunch = ~(starts.isna() | ends.isna())
        morning_end = np.where(lunch, starts.asi8, self.closes)
        afternoon = np.where(lunch, ends.asi8, self.closes)
        self._iopens = np.column_stack((self.opens, afternoon)).ravel()
        self._icloses = np.column_stack((morning_end, self.closes)).ravel()
        lengths = self._icloses - self._iopens  # 0 for the afternoon of a session without lunch
        self._open_before = np.concatenate(([0], np.cumsum(lengths)))
        self.labels = pd.DatetimeIndex(calendar.sessions).as_unit("ns").asi8  # session dates
        week = np.floor_divide(self.labels - _MONDAY, _NS_PER_WEEK)
        first = np.flatnonzero(np.diff(week, prepend=week[0] - 1))
        last = np.append(first[1:] - 1, len(week) - 1)
        runs = np.diff(np.append(first, len(week)))
        self._week_open = np.repeat(self.opens[first], runs)
        self._week_close = np.repeat(self.closes[last], runs)

    def _session(self, ts: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.opens, ts, side="right") - 1

    def _interval(self, ts: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._iopens, ts, side="right") - 1

    def is_open(self, ts_ns: np.ndarray) -> np.ndarray:
        ts = np.asarray(ts_ns, dtype=np.int64)
        i = self._interval(ts)
        return (i >= 0) & (ts < self._icloses[np.maximum(i, 0)])

    def session_of(self, ts_ns: np.ndarray) -> np.ndarray:
        """Index of the session holding each instant, or -1. A daily bar stamped at its
        session's date (midnight UTC, as daily files are) or at its close belongs to that
        session."""
        ts = np.asarray(ts_ns, dtype=np.int64)
        i = self._session(ts)
        inside = (i >= 0) & (ts <= self.closes[np.maximum(i, 0)])
        label = np.searchsorted(self.labels, ts)
        labelled = (label < len(self.labels)) & (
            self.labels[np.minimum(label, len(self.labels) - 1)] == ts
        )
        return np.where(inside, i, np.where(labelled, label, -1))

    def days_between(self, start_ns: np.ndarray, end_ns: np.ndarray) -> np.ndarray:
        start, end = np.asarray(start_ns, np.int64), np.asarray(end_ns, np.int64)
        before_end = np.searchsorted(self.opens, end, side="left")
        return np.maximum(before_end - np.searchsorted(self.opens, start, side="left"), 0)

    def day_start(self, ts_ns: np.ndarray) -> np.ndarray:
        i = self.session_of(ts_ns)
        return np.where(i >= 0, self.opens[np.maximum(i, 0)], NO_BUCKET)

    def week_start(self, ts_ns: np.ndarray) -> np.ndarray:
        i = self.session_of(ts_ns)
        return np.where(i >= 0, self._week_open[np.maximum(i, 0)], NO_BUCKET)

    def day_end(self, start_ns: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.opens, np.asarray(start_ns, np.int64))
        return self.closes[np.minimum(i, len(self.closes) - 1)]

    def week_end(self, start_ns: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.opens, np.asarray(start_ns, np.int64))
        return self._week_close[np.minimum(i, len(self.closes) - 1)]

    def open_clock(self, ts_ns: np.ndarray) -> np.ndarray:
        ts = np.asarray(ts_ns, dtype=np.int64)
        i = self._interval(ts)
        safe = np.maximum(i, 0)
        into = np.clip(ts - self._iopens[safe], 0, self._icloses[safe] - self._iopens[safe])
        return np.where(i >= 0, self._open_before[safe] + into, 0)


@cache
def calendar_for(name: str) -> MarketCalendar:
    """The calendar called ``name``: ``24/7``, ``24/5`` or an ``exchange-calendars`` code.

    >>> calendar_for("24/7").always_open, calendar_for("XNYS").name
    (True, 'XNYS')
    >>> calendar_for("NYSE!")
    Traceback (most recent call last):
    ...
    ValueError: unknown calendar 'NYSE!': use 24/7, 24/5 or an exchange-calendars code (XNYS, ...)
    """
    if name == ALWAYS_OPEN:
        return AlwaysOpen()
    if name == FOREX_WEEK:
        return ForexWeek()
    import exchange_calendars

    if name not in exchange_calendars.get_calendar_names():
        raise ValueError(
            f"unknown calendar {name!r}: use 24/7, 24/5 or an exchange-calendars code "
            "(XNYS, XNAS, CMES, XEUR, ...)"
        )
    return ExchangeSessions(name)
