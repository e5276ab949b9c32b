"""Which store holds what: the ledger (SQLite or PostgreSQL) and, optionally, QuestDB for the
time series (the ``store:`` section of the configuration).

The default is the embedded one: everything in the ledger store, a SQLite file. With
``timeseries`` set, candles, features, signals, fused signals, fills and equity also go to
QuestDB. The ledger keeps its own copy of signals, fused signals, fills and equity (the review
queue, the run report, the audit explanations, the API and the dashboard read them there);
``timeseries_in_ledger: false`` keeps candles and features out of it (the high-volume part), at
the cost of the dashboard's price charts and ``quorum data`` reading an empty table.

>>> StoreConfig().timeseries is None
True
>>> cfg = StoreConfig(ledger="postgresql+psycopg://db/quorum", timeseries="questdb://qdb:9000")
>>> cfg.timeseries.http_root, cfg.ledger_skips()
('http://qdb:9000', ())
>>> StoreConfig(ledger="mysql://db/quorum")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for StoreConfig
ledger
  Value error, ledger store 'mysql://db/quorum' must be a SQLite file path or a sqlite:// or postgresql:// URL ...
...
"""  # noqa: E501

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.questdb.config import QuestDBConfig

_LEDGER_SCHEMES = ("sqlite", "postgresql")


class StoreConfig(BaseModel):
    """The ledger store and the optional time-series store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ledger: str | None = Field(
        default=None,
        description=(
            "Ledger store (orders, fills, positions, reviews, keys, audit, runs …): a SQLite file "
            "path or a SQLAlchemy URL (sqlite:///…, postgresql+psycopg://…); null = the command's "
            "--store (quorum.sqlite for quorum run). --store wins over it"
        ),
    )
    timeseries: QuestDBConfig | None = Field(
        default=None,
        description=(
            "Time-series store: questdb://HOST:9000, a QuestDB client configuration string "
            "(http::addr=HOST:9000;…), or a mapping {address, auto_flush_rows, …}; null = the "
            "ledger store holds the time series too (the embedded default)"
        ),
    )
    timeseries_in_ledger: bool = Field(
        default=True,
        description=(
            "With a time-series store: also write candles and features to the ledger store "
            "(the dashboard's charts, quorum data and the API's latest prices read them there); "
            "signals, fused signals, fills and equity are always kept in the ledger"
        ),
    )

    @field_validator("ledger")
    @classmethod
    def _ledger_url(cls, value: str | None) -> str | None:
        if value is None or "://" not in value:
            return value
        scheme = value.split("://", 1)[0].split("+", 1)[0]
        if scheme not in _LEDGER_SCHEMES:
            raise ValueError(
                f"ledger store {value!r} must be a SQLite file path or a sqlite:// or "
                "postgresql:// URL (QuestDB takes the time series: store.timeseries)"
            )
        return value

    @field_validator("timeseries", mode="before")
    @classmethod
    def _address_alone(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in ("", "ledger", "none"):
                return None
            return {"address": text}
        return value

    def ledger_skips(self) -> tuple[type, ...]:
        """Record types the ledger store leaves to the time-series store."""
        if self.timeseries is None or self.timeseries_in_ledger:
            return ()
        from schemas.batches import CandleBatch, FeatureBatch

        return (CandleBatch, FeatureBatch)
