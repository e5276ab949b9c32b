"""Run statistics gathered while a flow runs, and the short summary printed at its end."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class RunStats:
    """Counters of one run. Filled by the flow's counting sink; cheap to update per batch.

    >>> stats = RunStats()
    >>> stats.count("candles:1m", 3); stats.count("candles:1m", 2)
    >>> stats.counters["candles:1m"]
    5
    """

    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    records_in: int = 0
    counters: Counter[str] = field(default_factory=Counter)
    sla: dict[str, Any] = field(default_factory=dict)
    """Service levels measured by the metrics sink (feed uptime …), when metrics are on."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:  # the workers of one process count into the same counters
            self.counters[key] += n

    def finish(self) -> None:
        self.finished = time.perf_counter()

    @property
    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.perf_counter()
        return max(end - self.started, 1e-9)

    @property
    def rate(self) -> float:
        return self.records_in / self.elapsed

    def group(self, prefix: str) -> dict[str, int]:
        """Counters under ``prefix:``, keyed by the rest of their name."""
        return {
            k.split(":", 1)[1]: v
            for k, v in sorted(self.counters.items())
            if k.startswith(prefix + ":")
        }

    def total(self, prefix: str) -> int:
        return sum(self.group(prefix).values())

    def as_dict(self) -> dict[str, Any]:
        notifications = self.group("notifications")
        return {
            "records_in": self.records_in,
            "elapsed_s": round(self.elapsed, 3),
            "records_per_s": round(self.rate, 1),
            "candles": self.group("candles"),
            "features": self.total("features"),
            "dead_lettered": self.total("dead"),
            "dead_letter_reasons": self.group("dead"),
            "flagged": self.group("flagged"),
            "late": self.total("late"),
            "signals": self.group("signals"),
            "decisions": self.group("decisions"),
            "orders": self.total("orders"),
            "fills": self.total("fills"),
            **({"notifications": notifications} if notifications else {}),
            **({"sla": self.sla} if self.sla else {}),
        }

    def render(self, console: Console | None = None, title: str = "Run summary") -> None:
        console = console or Console()
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("what", style="bold")
        table.add_column("value", justify="right")
        table.add_row("records in", f"{self.records_in:,}")
        order = {tf: i for i, tf in enumerate(("1m", "5m", "15m", "1h", "4h"))}
        candles = sorted(self.group("candles").items(), key=lambda kv: order.get(kv[0], 99))
        for tf, n in candles:
            table.add_row(f"candles {tf}", f"{n:,}")
        table.add_row("feature rows", f"{self.total('features'):,}")
        dead = self.group("dead")
        detail = ", ".join(f"{k} {v:,}" for k, v in dead.items())
        table.add_row(
            "dead-lettered", f"{sum(dead.values()):,}" + (f" ({detail})" if detail else "")
        )
        flagged = self.group("flagged")
        if flagged:
            detail = ", ".join(f"{k} {v:,}" for k, v in flagged.items())
            table.add_row("flagged, kept", f"{sum(flagged.values()):,} ({detail})")
        table.add_row("late trades", f"{self.total('late'):,}")
        for origin, n in self.group("signals").items():
            table.add_row(f"signals {origin}", f"{n:,}")
        for decision, n in self.group("decisions").items():
            table.add_row(f"decisions {decision}", f"{n:,}")
        if self.total("orders") or self.total("fills"):
            table.add_row("orders / fills", f"{self.total('orders'):,} / {self.total('fills'):,}")
        notifications = self.group("notifications")
        if notifications:
            table.add_row(
                "notifications", ", ".join(f"{k} {v:,}" for k, v in notifications.items())
            )
        for feed, ratio in self.sla.get("feed_uptime", {}).items():
            table.add_row(f"uptime {feed}", f"{ratio:.2%}")
        if "fused_latency_p99_s" in self.sla:
            p50, p99 = self.sla["fused_latency_p50_s"], self.sla["fused_latency_p99_s"]
            table.add_row("ingest → fused p50 / p99", f"{p50 * 1e3:,.1f} / {p99 * 1e3:,.1f} ms")
        for breach in self.sla.get("breaches", []):
            table.add_row("SLA breach", breach)
        table.add_row("elapsed", f"{self.elapsed:.2f} s")
        table.add_row("rate", f"{self.rate:,.0f} records/s")
        console.print(table)
