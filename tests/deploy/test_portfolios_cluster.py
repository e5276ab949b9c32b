"""Two portfolios trading the 10-pair basket (split assets): 1 worker and 2 workers give the
same store and the same report, and every trading record belongs to its portfolio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from connectors.store.engine import open_store
from tests.deploy.conftest import ROOT, basket_args, quorum, report_body, store_contents

pytestmark = pytest.mark.slow

PROFILE = ROOT / "flows" / "profiles" / "alts-5m-two-portfolios.yaml"
MAJORS = {"ETH/BTC", "LTC/BTC", "DASH/BTC", "XMR/BTC", "ZEC/BTC", "ETC/BTC"}


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("portfolios-w1")
    done = quorum(*basket_args(out, "report", PROFILE))
    assert done.returncode == 0, done.stderr
    return out


def test_each_portfolio_trades_only_its_assets(one_worker: Path) -> None:
    engine = open_store(one_worker / "store.sqlite")
    try:
        with engine.connect() as conn:
            fills = conn.execute(text("SELECT DISTINCT portfolio, asset FROM fills")).all()
            equity = conn.execute(text("SELECT DISTINCT portfolio FROM equity")).scalars().all()
    finally:
        engine.dispose()
    assert {p for p, _ in fills} == {"majors", "alts"}
    assert all((asset in MAJORS) == (portfolio == "majors") for portfolio, asset in fills)
    assert sorted(equity) == ["alts", "majors"]
    report = json.loads((one_worker / "report.json").read_text())
    assert list(report["portfolios"]) == ["majors", "alts"]
    assert report["fills"] == sum(p["fills"] for p in report["portfolios"].values())
    assert report["initial_equity"] == "10"


def test_two_workers_match_one_worker(one_worker: Path, tmp_path: Path) -> None:
    done = quorum(*basket_args(tmp_path, "report", PROFILE), "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert store_contents(str(tmp_path / "store.sqlite")) == store_contents(
        str(one_worker / "store.sqlite")
    )
    assert report_body(tmp_path / "report.json") == report_body(one_worker / "report.json")
