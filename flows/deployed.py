"""The replay flow as a module-level ``flow`` for ``python -m bytewax.run``, set up from env vars.

Data engineers deploy Bytewax flows with Bytewax's own runner, which owns the workers, the
cluster and recovery::

    QUORUM_DATA=connectors/data/alts-btc_5m_2018-01.parquet \\
    QUORUM_CONFIG=flows/profiles/alts-5m.yaml QUORUM_STORE=quorum.sqlite \\
    python -m bytewax.run flows.deployed:flow -w 2                 # two workers
    python -m bytewax.run flows.deployed:flow -i 0 -a "h1:2101;h2:2101"   # process 0 of two
    python -m bytewax.run flows.deployed:flow -r recovery/ -s 10 -b 0     # with recovery
                                               # (create the partitions first:
                                               #  python -m bytewax.recovery recovery/ 2)

Environment (read when the module is imported, in every process):

===========================  ================================================================
``QUORUM_DATA``              comma-separated trades/candles files (default: the shipped BTC month)
``QUORUM_CONFIG``            YAML configuration overriding the defaults (optional)
``QUORUM_STORE``             ledger store path or SQLAlchemy URL (default: ``store.ledger`` of
                             the configuration, else ``quorum.sqlite``)
``QUORUM_TIMESERIES_STORE``  QuestDB for the time series (``questdb://HOST:9000``; optional,
                             overrides ``store.timeseries``)
``QUORUM_SYMBOL``            symbol for files without a symbol column (optional)
``QUORUM_RUN_ID``            run id; default: derived from the command and inputs, so every
                             process of a cluster and every restart writes under the same one
``QUORUM_GC_TUNE``           ``0`` leaves Python's garbage collector untouched (default: the
                             configuration's ``gc.tune``; see :mod:`flows.runtime_gc`)
===========================  ================================================================

The store's run record is opened when the flow is built; Bytewax's runner has no end-of-run
hook, so the store sink closes it: each worker's store partition stamps the run's
``finished_at`` when the input ends (Bytewax closes sink partitions at the end of the
dataflow, not after a crash), the last worker to finish leaving the final time. Every sink is
idempotent, so a restart from Bytewax recovery rewrites, never duplicates.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bytewax.dataflow import Dataflow
from bytewax.outputs import StatelessSinkPartition

from connectors.files import load_market_data, shipped_path
from connectors.replay import ReplaySource
from connectors.store.audit import AuditChainSink
from connectors.store.engine import open_store, url_for
from connectors.store.market import finish_run, start_run
from connectors.store.sink import StoreSink
from flows.config import QuorumConfig, load_config
from flows.pipeline import FlowOutputs, build_flow
from flows.runner import with_known_assets
from flows.runtime_gc import tune_gc
from flows.store_options import TIMESERIES_ENV, ledger_store, ledger_writer, timeseries_sink

DEFAULT_DATA = "btc-perp_1m_2022-01"


class _FinishingPartition(StatelessSinkPartition[Any]):
    """A store partition that stamps the run finished when Bytewax closes it (end of input)."""

    def __init__(self, inner: StatelessSinkPartition[Any], url: str, run_id: str) -> None:
        self._inner, self._url, self._run_id = inner, url, run_id

    def write_batch(self, items: list[Any]) -> None:
        self._inner.write_batch(items)

    def close(self) -> None:
        self._inner.close()
        engine = open_store(self._url)
        try:
            finish_run(engine, self._run_id, {"closed_by": "bytewax.run"})
        finally:
            engine.dispose()


class FinishingStoreSink(StoreSink):
    """The store sink of the deployed flow: also closes the run's record at the end."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _FinishingPartition:
        inner = super().build(step_id, worker_index, worker_count)
        return _FinishingPartition(inner, self.url, self.writer.run_id)


def _paths(environ: Mapping[str, str]) -> list[Path]:
    text = environ.get("QUORUM_DATA", "")
    names = [part.strip() for part in text.split(",") if part.strip()]
    return [Path(n) for n in names] if names else [shipped_path(DEFAULT_DATA)]


def deployed_run_id(inputs: list[str], store: str) -> str:
    """The run id every process derives alike from what it replays into which store.

    >>> deployed_run_id(["a.parquet"], "q.sqlite") == deployed_run_id(["a.parquet"], "q.sqlite")
    True
    """
    digest = hashlib.sha256(json.dumps(["deployed", inputs, store]).encode()).hexdigest()
    return f"deployed-{digest[:16]}"


def flow_from_env(environ: Mapping[str, str] | None = None) -> Dataflow:
    """The full replay flow into the store, configured by ``environ`` (see the module doc)."""
    env = os.environ if environ is None else environ
    return _flow(env, _config_from_env(env))


def _config_from_env(env: Mapping[str, str]) -> QuorumConfig:
    timeseries = env.get(TIMESERIES_ENV)
    overrides = {"store": {"timeseries": timeseries}} if timeseries else None
    return load_config(env.get("QUORUM_CONFIG") or None, overrides)


def _flow(env: Mapping[str, str], config: QuorumConfig) -> Dataflow:
    paths = _paths(env)
    store = url_for(ledger_store(env.get("QUORUM_STORE"), config, "quorum.sqlite"))
    inputs = [str(p) for p in paths]
    run_id = env.get("QUORUM_RUN_ID") or deployed_run_id(inputs, store)
    engine = open_store(store)
    start_run(engine, "deployed", {"paths": inputs, "stage": "full"}, run_id=run_id)
    engine.dispose()
    symbol = env.get("QUORUM_SYMBOL") or None
    source = ReplaySource(
        [load_market_data(p, symbol) for p in paths],
        partitions=config.source.partitions,
        batch_size=config.source.batch_size,
        speed=config.source.speed,
    )
    config = with_known_assets(config, source.symbols)  # Bytewax's runner may start many workers
    outputs = FlowOutputs(
        store=FinishingStoreSink(store, ledger_writer(config, run_id)),
        audit=AuditChainSink(store, run_id=run_id),
        timeseries=timeseries_sink(config, run_id),
    )
    return build_flow(source, config=config, outputs=outputs, flow_id="quorum_deployed")


def flow() -> Dataflow:
    """``python -m bytewax.run flows.deployed:flow``: Bytewax calls this factory once per
    process, so the flow is configured from that process's environment (importing the module
    has no side effect). Start-up is done once the flow is built: the process then runs it and
    exits, so the garbage collector is tuned for the run (``gc`` section, ``QUORUM_GC_TUNE``)."""
    config = _config_from_env(os.environ)
    built = _flow(os.environ, config)
    tune_gc(config.gc)
    return built
