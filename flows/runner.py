"""Run the flow in-process over recorded files: the embedded default and every CLI replay."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bytewax.inputs import Source
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from connectors.files import MarketDataFileError, load_market_data
from connectors.notify.notifier import (
    notify_sink,
    sla_breach_listener,
    start_notifier,
    stop_notifier,
)
from connectors.prometheus.sink import start_flow_metrics
from connectors.replay import ReplaySource
from connectors.store.audit import AuditChainSink
from connectors.store.engine import open_store
from connectors.store.market import finish_run, new_run_id, start_run
from connectors.store.metering import MeteringSink
from connectors.store.sink import StoreSink
from flows.cluster import cluster_run_id, execute, prepare_recovery
from flows.config import QuorumConfig
from flows.faults import crash_after_env
from flows.pipeline import FlowOutputs, Stage, build_flow
from flows.runtime_gc import tuned_gc
from flows.store_options import ledger_writer, timeseries_sink
from flows.summary import RunStats
from operators.candles.corporate_actions import CorporateAction, load_actions
from operators.placement import placement_advice

logger = logging.getLogger(__name__)


class InputError(ValueError):
    """An input file that cannot be replayed (message names the file and the problem)."""


@dataclass
class RunResult:
    run_id: str | None
    stats: RunStats
    store_url: str | None
    collected: list[Any] = field(default_factory=list)
    whole_run_in_memory: bool = True
    """False when ``collected`` and ``stats`` may hold only part of the run: a resumed run
    (recovery directory) or one process of a cluster; the store then holds the whole run."""


def _progress_bar(enabled: bool, total: int) -> tuple[Progress | None, Callable[[int, int], None]]:
    if not enabled:
        return None, lambda done, total: None
    progress = Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeRemainingColumn(),
        transient=True,
    )
    task = progress.add_task("replay", total=total)

    def update(done: int, _total: int) -> None:
        progress.update(task, completed=done)

    return progress, update


def with_known_assets(config: QuorumConfig, symbols: Sequence[str]) -> QuorumConfig:
    """``config`` whose trading core waits for every replayed symbol's signals.

    With ``trading.assets`` empty the core trades "every symbol seen so far", which is exact on
    one worker (one event-time-ordered stream) but not when the symbols arrive from other
    workers or processes at their own pace; a replay knows its symbols up front.
    """
    if config.trading.assets:
        return config
    trading = config.trading.model_copy(update={"assets": tuple(symbols)})
    return config.model_copy(update={"trading": trading})


def warn_about_placement(config: QuorumConfig) -> None:
    """Log what a cluster of processes loses to the placement of the replay's partitions and
    the portfolios (:func:`operators.placement.placement_advice`); threads of one process do
    not pickle what they exchange, so only a multi-process cluster is advised."""
    if not config.cluster.is_multi_process:
        return
    ids = config.portfolio_set().routing.ids
    for advice in placement_advice(config.cluster.total_workers, config.source.partitions, ids):
        logger.warning("placement: %s", advice)


def _fresh_run_id(config: QuorumConfig, command: str, inputs: list[str]) -> str:
    if config.cluster.is_multi_process:  # every process must write under the same id
        return cluster_run_id(command, inputs, config.cluster)
    return new_run_id()


def run_replay(
    paths: Sequence[str | Path],
    *,
    config: QuorumConfig,
    store_url: str | None = None,
    stage: Stage = "full",
    progress: bool = True,
    collect: bool = False,
    symbol: str | None = None,
    command: str = "run",
    run_id: str | None = None,
    timeframe: str | None = None,
) -> RunResult:
    """Replay ``paths`` through the flow (up to ``stage``) and return the run's statistics.

    With ``store_url`` every record is written (idempotently) to that store; with ``collect``
    the records are also returned in memory (``quorum features`` uses it). The flow runs on
    ``config.cluster``'s workers and resumes from ``config.recovery``'s directory (whose run id
    wins over ``run_id``). ``symbol`` and ``timeframe`` name what a file cannot tell
    (``--symbol``, ``--timeframe``); a file name may also start with a configured instrument's
    plain ticker.
    """
    known = tuple(config.instruments.symbols)
    actions: tuple[CorporateAction, ...] = ()
    if config.candles.corporate_actions is not None:
        try:
            actions = load_actions(config.candles.corporate_actions)
        except ValueError as exc:
            raise InputError(f"candles.corporate_actions: {exc}") from None
    try:
        loaded = [
            load_market_data(
                p,
                symbol,
                timeframe,
                known,
                config.candles.quote_price,
                config.candles.adjust_prices,
                actions,
            )
            for p in paths
        ]
    except MarketDataFileError as exc:
        raise InputError(str(exc)) from None
    stats = RunStats()
    stats.records_in = sum(len(f) + len(f.dead_letters) for f in loaded)
    bar, on_progress = _progress_bar(progress, stats.records_in)
    source = ReplaySource(
        loaded,
        partitions=config.source.partitions,
        batch_size=config.source.batch_size,
        speed=config.source.speed,
        on_progress=on_progress,
    )
    if config.cluster.total_workers > 1:
        config = with_known_assets(config, source.symbols)
        warn_about_placement(config)
    return run_flow(
        source,
        config=config,
        store_url=store_url,
        stage=stage,
        collect=collect,
        command=command,
        inputs=[str(p) for p in paths],
        stats=stats,
        progress=bar,
        run_id=run_id,
    )


def run_flow(
    source: Source[Any],
    *,
    config: QuorumConfig,
    inputs: Sequence[str] = (),
    store_url: str | None = None,
    stage: Stage = "full",
    collect: bool = False,
    command: str = "run",
    params: dict[str, Any] | None = None,
    stats: RunStats | None = None,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run the flow over any ``source`` to its end: store, audit chain, Kafka, notifications
    and metrics as configured, on ``config.cluster``'s workers, resuming from
    ``config.recovery``'s directory. ``inputs`` names what the source reads (files, topics)."""
    stats = stats if stats is not None else RunStats()
    collected: list[Any] = []
    recovery, run_id = prepare_recovery(
        config.recovery,
        config.cluster,
        command=command,
        inputs=list(inputs),
        run_id=run_id or _fresh_run_id(config, command, list(inputs)),
    )
    sink = None
    audit = None
    metering = None
    engine = None
    if store_url is not None:
        engine = open_store(store_url)
        start_run(
            engine,
            command,
            {"paths": list(inputs), "stage": stage, **(params or {})},
            run_id=run_id,
        )
        sink = crash_after_env(StoreSink(store_url, ledger_writer(config, run_id)))
        audit = AuditChainSink(
            store_url, run_id=run_id, kafka=config.kafka if config.kafka.enabled else None
        )
        metering = MeteringSink(store_url)
    notifier = start_notifier(config.notifications, store_url)
    metrics = start_flow_metrics(
        config.metrics, live=False, on_breach=sla_breach_listener(notifier)
    )
    outputs = FlowOutputs(
        store=sink,
        audit=audit,
        metering=metering,
        collect=collected.extend if collect else None,
        stats=stats,
        kafka=_kafka_sink(config, metrics),
        notify=notify_sink(notifier, config.notifications),
        metrics=None if metrics is None else metrics.sink,
        timeseries=timeseries_sink(config, run_id),
    )
    flow = build_flow(source, config=config, outputs=outputs, stage=stage)
    try:
        with tuned_gc(config.gc):
            if progress is not None:
                with progress:
                    execute(flow, config.cluster, config.recovery, recovery)
            else:
                execute(flow, config.cluster, config.recovery, recovery)
    finally:
        if metrics is not None:  # first: its last SLA check may still notify
            stats.sla.update(metrics.close())
        stop_notifier(notifier, stats)
    stats.finish()
    if engine is not None:
        if config.cluster.is_multi_process:
            _gather_counts(engine, run_id, config, stats)
        if config.cluster.is_lead:
            finish_run(engine, run_id, stats.as_dict())
        engine.dispose()
    whole = recovery is None and not config.cluster.is_multi_process
    return RunResult(run_id if store_url else None, stats, store_url, collected, whole)


def _gather_counts(engine: Any, run_id: str, config: QuorumConfig, stats: RunStats) -> None:
    """Process 0's ``stats`` become the whole cluster's counts: every process writes its share
    to the store, process 0 waits for all of them and adds them up."""
    from connectors.store.run_shares import (
        MissingSharesError,
        read_shares,
        wait_for_shares,
        write_share,
    )

    cluster = config.cluster
    write_share(engine, run_id, cluster.process_id or 0, dict(stats.counters))
    if not cluster.is_lead:
        return
    try:
        shares = wait_for_shares(engine, run_id, len(cluster.processes))
    except MissingSharesError as exc:
        logger.warning("%s; the flow counts are those of the others", exc)
        shares = read_shares(engine, run_id)
    stats.counters = Counter()
    for counters in shares.values():
        stats.counters.update(counters)


def _kafka_sink(config: QuorumConfig, metrics: Any = None) -> Any:
    if not config.kafka.enabled:
        return None
    from connectors.kafka.sink import KafkaSink  # the embedded default never loads the client

    observer = None if metrics is None else metrics.metrics.kafka_report
    return KafkaSink(config.kafka, observer=observer)
