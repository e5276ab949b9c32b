"""Against a real QuestDB server, when ``QUESTDB_ADDR`` names one (``HOST:9000``, a
``questdb://`` URL or a client configuration string); skipped otherwise: no QuestDB server can
be installed on the machines this suite runs on.

Writes one run's fills and equity twice under a fresh run id (rows in the shared tables, told
apart by that id) and reads them back through ``/exec``: the tables exist with their upsert
keys, and the second write replaced the first.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from connectors.questdb.config import QuestDBConfig
from connectors.questdb.ddl import apply_ddl
from connectors.questdb.sink import QuestDBWriter
from schemas.operations import EquityPoint
from schemas.trading import Fill

ADDRESS = os.environ.get("QUESTDB_ADDR")
pytestmark = pytest.mark.skipif(
    not ADDRESS, reason="QUESTDB_ADDR is not set: no QuestDB server to test against"
)
WAL_APPLY_SECONDS = 60.0
"""WAL tables show rows once applied: poll up to this long (generous; never a sleep to sync)."""


def _config() -> QuestDBConfig:
    text = ADDRESS or ""
    return QuestDBConfig(address=text if "://" in text or "::" in text else f"questdb://{text}")


def _answer(config: QuestDBConfig, sql: str) -> dict:
    with httpx.Client(base_url=config.http_root, headers=config.auth_headers()) as client:
        response = client.get("/exec", params={"query": sql})
    assert response.status_code == 200, response.text
    return response.json()


def _query(config: QuestDBConfig, sql: str) -> list[list]:
    return _answer(config, sql)["dataset"]


def _eventually(config: QuestDBConfig, sql: str, expected: list[list]) -> list[list]:
    deadline = time.monotonic() + WAL_APPLY_SECONDS
    while True:
        rows = _query(config, sql)
        if rows == expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)  # polling a server-side apply, with a deadline


def test_rows_written_twice_are_held_once() -> None:
    config = _config()
    apply_ddl(config)
    apply_ddl(config)
    run_id = f"test-{uuid.uuid4().hex[:12]}"
    ts = datetime(2022, 1, 3, 14, 30, tzinfo=UTC)
    fill = Fill(fill_id="fill-1", order_id="order-1", asset="BTC/USDT", side="buy",
                quantity="0.5", price="46010.25", fee="23.005125", ts=ts)  # fmt: skip
    point = EquityPoint(ts=ts, equity="100000.5", cash="76995", realized_pnl="0",
                        unrealized_pnl="0.5", fees_paid="23.005125", gross_exposure="23005.5",
                        net_exposure="23005.5", open_positions=1, drawdown_pct=0.0)  # fmt: skip
    for _replay in range(2):
        writer = QuestDBWriter(config, run_id)
        assert writer.write([fill, point]) == {"fills": 1, "equity": 1}
        writer.close()
    fills = f"SELECT fill_id, price FROM fills WHERE run_id = '{run_id}'"
    assert _eventually(config, fills, [["fill-1", 46010.25]]) == [["fill-1", 46010.25]]
    equity = f"SELECT equity FROM equity WHERE run_id = '{run_id}'"
    assert _eventually(config, equity, [[100000.5]]) == [[100000.5]]
    described = _answer(config, "SELECT * FROM table_columns('fills')")
    names = [c["name"] for c in described["columns"]]
    rows = [dict(zip(names, row, strict=True)) for row in described["dataset"]]
    assert sorted(r["column"] for r in rows if r["upsertKey"]) == [
        "fill_id",
        "portfolio",
        "run_id",
        "ts",
    ]
    assert [r["column"] for r in rows if r["designated"]] == ["ts"]
