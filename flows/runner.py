"""Run the flow in-process over recorded files: the embedded default and every CLI replay."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bytewax.testing import run_main
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from connectors.files import MarketDataFileError, load_market_data
from connectors.replay import ReplaySource
from connectors.store.audit import AuditChainSink
from connectors.store.engine import open_store
from connectors.store.market import finish_run, start_run
from connectors.store.metering import MeteringSink
from connectors.store.sink import StoreSink, StoreWriter
from flows.config import QuorumConfig
from flows.pipeline import FlowOutputs, Stage, build_flow
from flows.summary import RunStats


class InputError(ValueError):
    """An input file that cannot be replayed (message names the file and the problem)."""


@dataclass
class RunResult:
    run_id: str | None
    stats: RunStats
    store_url: str | None
    collected: list[Any] = field(default_factory=list)


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
) -> RunResult:
    """Replay ``paths`` through the flow (up to ``stage``) and return the run's statistics.

    With ``store_url`` every record is written (idempotently) to that store; with ``collect``
    the records are also returned in memory (``quorum features`` uses it).
    """
    try:
        loaded = [load_market_data(p, symbol) for p in paths]
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
    collected: list[Any] = []
    run_id = None
    sink = None
    audit = None
    metering = None
    engine = None
    if store_url is not None:
        engine = open_store(store_url)
        run_id = start_run(engine, command, {"paths": [str(p) for p in paths], "stage": stage})
        sink = StoreSink(store_url, StoreWriter(run_id))
        audit = AuditChainSink(store_url)
        metering = MeteringSink(store_url)
    outputs = FlowOutputs(
        store=sink,
        audit=audit,
        metering=metering,
        collect=collected.extend if collect else None,
        stats=stats,
    )
    flow = build_flow(source, config=config, outputs=outputs, stage=stage)
    if bar is not None:
        with bar:
            run_main(flow)
    else:
        run_main(flow)
    stats.finish()
    if engine is not None and run_id is not None:
        finish_run(engine, run_id, stats.as_dict())
        engine.dispose()
    return RunResult(run_id, stats, store_url, collected)
