"""Where a flow process serves its metrics, and the SLA window and thresholds.

>>> MetricsConfig().enabled, MetricsConfig(port=9464).enabled
(False, True)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MetricsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve /metrics on this port (0 = any free port); null = no endpoint",
    )
    host: str = Field(
        default="127.0.0.1", description="Bind address; 0.0.0.0 inside a container or pod"
    )
    sla_window_s: int = Field(
        default=86_400, ge=60, description="Window of the feed-uptime SLA, seconds"
    )
    sla_uptime_target: float = Field(
        default=0.99, gt=0, le=1, description="Feed uptime below this is an SLA breach"
    )
    sla_latency_p99_s: float = Field(
        default=1.0, gt=0, description="p99 ingestion → fused signal above this is a breach"
    )

    @property
    def enabled(self) -> bool:
        return self.port is not None
