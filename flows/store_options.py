"""The store flags shared by ``quorum run`` and ``quorum live``, and the sinks they configure.

``--timeseries-store ADDRESS`` (or the ``QUORUM_TIMESERIES_STORE`` environment variable, which
the compose file sets) overrides ``store.timeseries`` of the configuration; ``--store`` names
the ledger store and wins over ``store.ledger``.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_store_options(parser, env={})
>>> store_overrides(parser.parse_args(["--timeseries-store", "questdb://qdb:9000"]))
{'store': {'timeseries': 'questdb://qdb:9000'}}
>>> store_overrides(parser.parse_args([]))
{}
>>> deployed = argparse.ArgumentParser()
>>> add_store_options(deployed, env={TIMESERIES_ENV: "questdb://q:9000"})
>>> deployed.parse_args([]).timeseries_store
'questdb://q:9000'
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

TIMESERIES_ENV = "QUORUM_TIMESERIES_STORE"


def add_store_options(
    parser: argparse.ArgumentParser, env: Mapping[str, str] | None = None
) -> None:
    environ = os.environ if env is None else env
    parser.add_argument(
        "--timeseries-store",
        metavar="ADDRESS",
        default=environ.get(TIMESERIES_ENV) or None,
        help="also write candles, features, signals, fused signals, fills and equity to QuestDB: "
        "questdb://HOST:9000 or http::addr=HOST:9000;… (config: store.timeseries; env: "
        f"{TIMESERIES_ENV})",
    )


def store_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Configuration overrides for the store flags given (validated with the configuration)."""
    if args.timeseries_store is None:
        return {}
    return {"store": {"timeseries": args.timeseries_store}}


def ledger_store(args_store: str | None, config: Any, default: str | None) -> str | None:
    """The ledger store: ``--store``, else ``store.ledger`` of the configuration, else
    ``default``."""
    return args_store or config.store.ledger or default


def skip_record(conn: Any, items: list[Any], run_id: str) -> int:
    """A store writer that writes nothing (record types left to the time-series store)."""
    return 0


def ledger_writer(config: Any, run_id: str) -> Any:
    """The ledger store's writer: everything, less what ``store`` leaves to QuestDB."""
    from connectors.store.sink import StoreWriter

    return StoreWriter(run_id, dict.fromkeys(config.store.ledger_skips(), skip_record))


def timeseries_sink(config: Any, run_id: str) -> Any:
    """The QuestDB sink of ``store.timeseries``; None in the embedded default."""
    if config.store.timeseries is None:
        return None
    from connectors.questdb.sink import QuestDBSink  # the embedded default never loads it

    return QuestDBSink(config.store.timeseries, run_id)


def timeseries_failure(exc: BaseException) -> str | None:
    """The message of a QuestDB failure that stopped a flow (``None`` if it was something else).

    Bytewax wraps an exception raised in a sink; the QuestDB error is its root cause.
    """
    from connectors.questdb.ddl import QuestDBSetupError
    from connectors.questdb.sink import QuestDBWriteError

    while exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, QuestDBWriteError | QuestDBSetupError):
        return str(exc)
    return None
