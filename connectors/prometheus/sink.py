"""The Bytewax sink feeding :class:`~connectors.prometheus.metrics.FlowMetrics`, and the
endpoint that serves them.

>>> import bytewax.operators as op
>>> from bytewax.dataflow import Dataflow
>>> from bytewax.testing import TestingSource, run_main
>>> from prometheus_client import CollectorRegistry
>>> from connectors.prometheus.metrics import FlowMetrics
>>> from schemas.records import DeadLetter
>>> metrics = FlowMetrics(CollectorRegistry())
>>> dead = DeadLetter(source="f", reason="nan_price", detail="price=nan", raw="{}")
>>> flow = Dataflow("metrics_doc")
>>> op.output("metrics", op.input("in", flow, TestingSource([dead, dead])), MetricsSink(metrics))
>>> run_main(flow)
>>> metrics.registry.get_sample_value("quorum_dead_letters_total", {"reason": "nan_price"})
2.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from prometheus_client import start_http_server

from connectors.prometheus.metrics import FlowMetrics
from schemas.operations import SlaBreach


class _MetricsPartition(StatelessSinkPartition[Any]):
    def __init__(self, metrics: FlowMetrics) -> None:
        self._metrics = metrics

    def write_batch(self, items: list[Any]) -> None:
        self._metrics.observe(items)


class MetricsSink(DynamicSink[Any]):
    """Updates the metrics from every output batch (all workers share one registry)."""

    def __init__(self, metrics: FlowMetrics) -> None:
        self.metrics = metrics

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _MetricsPartition:
        return _MetricsPartition(self.metrics)


class MetricsServer:
    """``/metrics`` of one flow process on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, metrics: FlowMetrics, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, host, registry=metrics.registry)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FlowMetricsHandle:
    """A run's metrics: the sink for the flow, the endpoint, and the SLA figures at the end."""

    def __init__(self, metrics: FlowMetrics, server: MetricsServer, config: Any) -> None:
        self.metrics = metrics
        self.server = server
        self.sink = MetricsSink(metrics)
        self._config = config

    def close(self) -> dict[str, Any]:
        """Stop serving (a last SLA check first); returns the run's service levels (see
        ``FlowMetrics.sla``)."""
        self.metrics.check_sla()
        self.server.close()
        return self.metrics.sla(self._config.sla_uptime_target, self._config.sla_latency_p99_s)


def start_flow_metrics(
    config: Any, *, live: bool, on_breach: Callable[[SlaBreach], None] | None = None
) -> FlowMetricsHandle | None:
    """Serve the flow's metrics when ``config.port`` is set (``MetricsConfig``), else ``None``;
    ``on_breach`` hears of every SLA that goes below its target while the flow runs."""
    if not config.enabled:
        return None
    metrics = FlowMetrics(live=live, uptime_window_s=config.sla_window_s)
    if on_breach is not None:
        metrics.watch_sla(config.sla_uptime_target, config.sla_latency_p99_s, on_breach)
    return FlowMetricsHandle(metrics, MetricsServer(metrics, config.host, config.port), config)
