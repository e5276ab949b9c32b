"""No secret in any repr: every record, config or settings field that holds one is hidden.

Two checks: a scan over every dataclass and pydantic model in the product packages (a field
named like a secret must be ``repr=False`` or a ``SecretStr``), and the concrete objects that
carry secrets today, built with a recognisable secret and printed.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from api.keys import CreatedKey, Scope
from connectors.audit.config import AuditSettings
from connectors.binance.config import BinanceConfig
from connectors.ccxt_source.config import PollingConfig
from connectors.questdb.config import QuestDBConfig
from connectors.store.config import StoreConfig
from operators.audit.keys import AuditKey

PACKAGES = ("api", "connectors", "dashboards", "flows", "operators", "schemas")
SECRET_NAME = re.compile(r"(^|_)(api_key|secret|password|passphrase|token)$|^key$")
NOT_SECRETS = {
    "connectors.audit.config.AuditTrust.key": "an AuditKey, whose repr shows only its id",
    "operators.fusion.core._Admission.key": "a grouping key of fused decisions",
    "connectors.kafka.envelope.Message.key": "a Kafka message key: the record's symbol",
    "connectors.kafka.envelope._Spec.key": "how a record's Kafka key (its symbol) is found",
    "schemas.notifications.Notification.key": "the identity of a notified fact (dedupe key)",
    "schemas.notifications.Delivery.key": "the identity of a notified fact (dedupe key)",
    "connectors.market_data.stream_messages.StreamTrade.key": "a vendor trade's id (dedupe key)",
}
SECRET = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-value"


def _classes() -> list[type]:
    found: list[type] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith(".app") and info.name.startswith("dashboards"):
                continue  # the Streamlit entry script runs the app on import
            module = importlib.import_module(info.name)
            found += [
                value
                for value in vars(module).values()
                if isinstance(value, type) and value.__module__ == module.__name__
            ]
    return found


def _named(cls: type, field: str) -> str:
    return f"{cls.__module__}.{cls.__qualname__}.{field}"


def _exposed_secret_fields(cls: type) -> list[str]:
    exposed = []
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if SECRET_NAME.search(f.name) and f.repr and _named(cls, f.name) not in NOT_SECRETS:
                exposed.append(f.name)
    elif issubclass(cls, BaseModel):
        for name, info in cls.model_fields.items():
            hidden = info.annotation is SecretStr or "SecretStr" in str(info.annotation)
            known = _named(cls, name) in NOT_SECRETS
            if SECRET_NAME.search(name) and info.repr and not hidden and not known:
                exposed.append(name)
    return exposed


def test_no_model_or_dataclass_prints_a_secret_field() -> None:
    exposed = {
        f"{cls.__module__}.{cls.__qualname__}": fields
        for cls in _classes()
        if (fields := _exposed_secret_fields(cls))
    }
    assert exposed == {}


@pytest.mark.parametrize(
    "holder",
    [
        BinanceConfig(symbols=("BTC/USDT",), api_key=SECRET),
        PollingConfig(exchange="kraken", symbols=("BTC/USD",), api_key=SECRET),
        CreatedKey("abc", "ana", frozenset({Scope.REVIEW}), SECRET),
        AuditSettings(key=SECRET, checkpoint_db=f"postgresql://u:{SECRET}@h/db"),
        AuditKey.from_secret(SECRET.encode()),
        QuestDBConfig(address=f"https::addr=q:9000;username=ana;password={SECRET};"),
        StoreConfig(timeseries=f"http::addr=q:9000;token={SECRET};"),
    ],
    ids=lambda h: type(h).__name__,
)
def test_objects_holding_a_secret_never_print_it(holder: Any) -> None:
    assert SECRET not in repr(holder) and SECRET not in str(holder)
