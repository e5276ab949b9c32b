"""Which flow records become notifications, and what they say.

Pure: records in, :class:`~schemas.notifications.Notification` out. The only state is each
feed's last status, so that a feed is reported when it *goes* stale (from live) and when it
*comes back*, not on every heartbeat nor while it starts up.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from schemas.trading import Fill
>>> fill = Fill(fill_id="f1", order_id="o1", asset="BTC/USDT", side="buy",
...             quantity=Decimal("0.5"), price=Decimal("42000.5"), fee=Decimal("21"),
...             ts=datetime(2022, 1, 1, tzinfo=UTC))
>>> n = NotificationDeriver().derive(fill)
>>> n.event.value, n.key, n.title
('fill', 'fill:f1', 'Fill: buy 0.5 BTC/USDT @ 42000.5')
>>> NotificationDeriver().derive("anything else") is None
True
"""

from __future__ import annotations

from typing import Any

from schemas.common import datetime_to_ns
from schemas.market import FeedHealth, FeedStatus
from schemas.notifications import Notification, NotificationEvent, Severity
from schemas.operations import SlaBreach, SlaKind, TradingStateChange
from schemas.signals import Decision, FusedSignal
from schemas.trading import Fill, TradingState

_STATE_SEVERITY = {
    TradingState.HALTED: Severity.CRITICAL,
    TradingState.REDUCING: Severity.WARNING,
    TradingState.ACTIVE: Severity.INFO,
}
_UNHEALTHY = (FeedStatus.STALE, FeedStatus.DISCONNECTED)


class NotificationDeriver:
    """Turns flow records into notifications (``None`` for records nobody is told about)."""

    def __init__(self, link_base: str | None = None) -> None:
        self._link_base = link_base.rstrip("/") if link_base else None
        self._feeds: dict[tuple[str, str], FeedStatus] = {}
        self._reported_down: set[tuple[str, str]] = set()

    def derive(self, record: Any) -> Notification | None:
        if isinstance(record, FusedSignal):
            return self._review(record) if record.decision is Decision.REVIEW else None
        if isinstance(record, TradingStateChange):
            return _trading_state(record)
        if isinstance(record, FeedHealth):
            return self._feed(record)
        if isinstance(record, Fill):
            return _fill(record)
        if isinstance(record, SlaBreach):
            return _sla_breach(record)
        return None

    def _review(self, fused: FusedSignal) -> Notification:
        top = sorted(fused.contributions, key=lambda c: abs(c.share), reverse=True)
        lines = [
            f"{c.origin}@{c.timeframe.value}: {c.direction.value} "
            f"confidence {c.confidence:.2f}, weight {c.weight:.2f}"
            for c in top[:3]
        ]
        if fused.veto:
            lines.append(f"veto: {fused.veto}")
        lines.extend(fused.reasons[:3])
        link = f"{self._link_base}/reviews?fused_id={fused.fused_id}" if self._link_base else None
        return Notification(
            event=NotificationEvent.REVIEW_PENDING,
            key=f"review:{fused.fused_id}",
            title=(
                f"Review: {fused.direction.value} {fused.asset}, score {fused.score:+.2f} "
                f"(approve or reject)"
            ),
            body="\n".join(lines),
            severity=Severity.WARNING,
            ts=fused.timestamp,
            asset=fused.asset,
            link=link,
        )

    def _feed(self, health: FeedHealth) -> Notification | None:
        if health.event != "status":
            return None
        where = (health.source, health.symbol)
        before = self._feeds.get(where)
        self._feeds[where] = health.status
        if health.status in _UNHEALTHY and before is FeedStatus.LIVE:
            self._reported_down.add(where)
            silence = "no message yet" if health.silence_s is None else f"{health.silence_s:.1f} s"
            return Notification(
                event=NotificationEvent.FEED_STALE,
                key=f"feed:{health.source}:{health.symbol}:{datetime_to_ns(health.ts)}",
                title=f"Feed {health.status.value}: {health.source} {health.symbol}",
                body=f"silence {silence}; new entries on this feed are refused until it recovers",
                severity=Severity.WARNING,
                ts=health.ts,
                asset=health.symbol,
            )
        if health.status is FeedStatus.LIVE and where in self._reported_down:
            self._reported_down.discard(where)
            return Notification(
                event=NotificationEvent.FEED_RECOVERED,
                key=f"feed:{health.source}:{health.symbol}:{datetime_to_ns(health.ts)}",
                title=f"Feed live again: {health.source} {health.symbol}",
                body=f"reconnects so far: {health.counters.reconnects}",
                ts=health.ts,
                asset=health.symbol,
            )
        return None


def _trading_state(change: TradingStateChange) -> Notification:
    return Notification(
        event=NotificationEvent.TRADING_STATE,
        key=f"state:{datetime_to_ns(change.timestamp)}:{change.current.value}",
        title=f"Trading {change.current.value} (was {change.previous.value})",
        body=f"cause: {change.cause}; {change.detail}",
        severity=_STATE_SEVERITY.get(change.current, Severity.WARNING),
        ts=change.timestamp,
    )


def _fill(fill: Fill) -> Notification:
    return Notification(
        event=NotificationEvent.FILL,
        key=f"fill:{fill.fill_id}",
        title=f"Fill: {fill.side.value} {fill.quantity} {fill.asset} @ {fill.price}",
        body=f"order {fill.order_id}, fee {fill.fee}, slippage {fill.slippage_bps:.1f} bps",
        ts=fill.ts,
        asset=fill.asset,
    )


def _sla_breach(breach: SlaBreach) -> Notification:
    """An SLA that just went below its target.

    >>> from datetime import UTC, datetime
    >>> n = _sla_breach(SlaBreach(sla="feed_uptime", subject="binance/BTC/USDT", value=0.95,
    ...                           threshold=0.99, ts=datetime(2024, 3, 1, tzinfo=UTC)))
    >>> n.event.value, n.title
    ('sla_breach', 'SLA breach: feed binance/BTC/USDT uptime 95.00% < 99.00%')
    """
    if breach.sla is SlaKind.FEED_UPTIME:
        title = (
            f"SLA breach: feed {breach.subject} uptime {breach.value:.2%} < {breach.threshold:.2%}"
        )
        body = "share of the SLA window the feed was live (metrics.sla_window_s)"
    else:
        title = f"SLA breach: fused-signal latency p99 {breach.value:.3f} s > {breach.threshold} s"
        body = "ingestion → fused signal, over the last 10,000 decisions"
    return Notification(
        event=NotificationEvent.SLA_BREACH,
        key=f"sla:{breach.sla.value}:{breach.subject}:{datetime_to_ns(breach.ts)}",
        title=title,
        body=body,
        severity=Severity.WARNING,
        ts=breach.ts,
        asset=breach.subject.split("/", 1)[1] if breach.sla is SlaKind.FEED_UPTIME else None,
    )
