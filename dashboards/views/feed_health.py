"""Feed health: lag of every candle series, dead letters, late trades, runs in progress."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from api.reads.ops import store_health
from connectors.store.feed_health import recent_events
from connectors.store.market import read_dead_letters, read_quality_flags
from dashboards.store import require_engine
from dashboards.ui import live, utc
from schemas.common import ns_to_datetime

TITLE = "Feed health"
ICON = ":material/monitor_heart:"
URL = "health"
STALE_BARS = 3.0
_STATUS = {
    "ok": ":green-badge[OK]",
    "degraded": ":orange-badge[DEGRADED]",
    "empty": ":gray-badge[EMPTY]",
}


def _health() -> None:
    engine = require_engine()
    with engine.connect() as conn:
        health = store_health(conn, now=datetime.now(UTC), stale_bars=STALE_BARS)
    st.markdown(f"### {_STATUS[health.status]}")
    cols = st.columns(4)
    cols[0].metric("feeds", len(health.feeds))
    cols[1].metric("stale", sum(f.stale for f in health.feeds))
    cols[2].metric("dead letters", health.dead_letters)
    cols[3].metric("late trades", health.late_trades)
    st.dataframe(
        [
            {
                "symbol": f.symbol,
                "timeframe": f.timeframe,
                "last candle open": f.last_open,
                "closed": f.last_close_time,
                "close": f.close,
                "lag": _lag(f.lag_seconds),
                "stale": f.stale,
            }
            for f in health.feeds
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(f"A feed is stale after {STALE_BARS:g} bar lengths without a closed candle.")
    if health.connections:
        st.subheader("Live connections", anchor=False)
        st.dataframe(
            [
                {
                    "source": c.source,
                    "symbol": c.symbol,
                    "status": c.status,
                    "reported": c.reported_at,
                    "silence (s)": c.silence_s,
                    "reconnects": c.counters.get("reconnects", 0),
                    "gaps filled": c.counters.get("gaps_filled", 0),
                    "rows backfilled": c.counters.get("rows_backfilled", 0),
                    "last event": c.event,
                }
                for c in health.connections
            ],
            hide_index=True,
            width="stretch",
        )
        with engine.connect() as conn:
            events = recent_events(conn)
        if events:
            st.caption("Transitions and gaps, newest first")
            st.dataframe(
                [
                    {
                        "time (UTC)": ns_to_datetime(e["ts"]),
                        "source": e["source"],
                        "symbol": e["symbol"],
                        "status": e["status"],
                        "event": e["event"],
                    }
                    for e in events
                ],
                hide_index=True,
                width="stretch",
            )
    if health.dead_letters_by_reason:
        st.subheader("Dead letters by reason", anchor=False)
        st.bar_chart({d.reason: d.count for d in health.dead_letters_by_reason}, horizontal=True)
        letters = read_dead_letters(engine).tail(50)
        st.dataframe(
            letters.select("recorded_at", "source", "symbol", "reason", "detail", "raw"),
            hide_index=True,
            width="stretch",
        )
    flags = read_quality_flags(engine)
    if len(flags):
        st.subheader(f"Kept despite a doubt: {len(flags):,} quality flags", anchor=False)
        st.dataframe(
            flags.tail(50).select("recorded_at", "source", "symbol", "reason", "detail", "raw"),
            hide_index=True,
            width="stretch",
        )
    last = health.last_run
    if last is not None:
        state = "running" if last.finished_at is None else f"finished {utc(last.finished_at)}"
        st.caption(
            f"Last run {last.run_id} ({last.command}), started {utc(last.started_at)}, {state}"
        )


def _lag(seconds: float) -> str:
    """A lag as the two largest units.

    >>> _lag(5280.0), _lag(42.0), _lag(200000.0)
    ('1 h 28 min', '42 s', '2 d 7 h')
    """
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    left = int(max(0.0, seconds))
    parts = []
    for name, size in units:
        if left >= size or (name == "s" and not parts):
            parts.append(f"{left // size} {name}")
            left %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def render() -> None:
    st.title("Feed health", anchor=False)
    live(require_engine(), _health)
