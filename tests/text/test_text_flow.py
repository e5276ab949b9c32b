"""The text source through the real flow: shipped posts replayed with shipped candles."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from connectors.files.shipped import DATA_DIR
from flows.config import load_config
from flows.runner import run_replay
from schemas.records import DeadLetter
from schemas.signals import FusedSignal, Signal

NEWS = DATA_DIR / "cryptopanic-posts_2018-01-18.jsonl"
PROFILE = {
    "candles": {"timeframes": ["5m", "15m", "1h", "4h"]},
    "trading": {
        "execution_timeframe": "5m",
        "portfolio": {"currency": "BTC", "initial_cash": "10"},
    },
}


@pytest.fixture(scope="module")
def basket_days(tmp_path_factory) -> Path:
    """Three of the basket's pairs over days the posts cover (shipped rows, unchanged)."""
    frame = pl.read_parquet(DATA_DIR / "alts-btc_5m_2018-01.parquet").filter(
        pl.col("symbol").is_in(["LTC/BTC", "TRX/BTC", "XMR/BTC"])
        & pl.col("ts").is_between(
            datetime(2018, 1, 16, tzinfo=UTC), datetime(2018, 1, 19, tzinfo=UTC)
        )
    )
    path = tmp_path_factory.mktemp("basket") / "basket.parquet"
    frame.write_parquet(path)
    return path


def _run(path: Path, overrides: dict) -> list:
    config = load_config(overrides={**PROFILE, **overrides})
    result = run_replay([path], config=config, stage="signals", progress=False, collect=True)
    return result.collected


@pytest.mark.slow
def test_posts_become_text_signals_fused_like_any_source(basket_days: Path, tmp_path: Path):
    bad = tmp_path / "extra.jsonl"
    bad.write_text('{"id": 1, "title": "no time"}\n')
    records = _run(basket_days, {"text": {"news": [str(NEWS), str(bad)]}})
    text = [r for r in records if isinstance(r, Signal) and r.origin == "text:sentiment"]
    by_asset = {a: sum(s.asset == a for s in text) for a in sorted({s.asset for s in text})}
    assert by_asset == {"LTC/BTC": 1, "TRX/BTC": 3, "XMR/BTC": 2}
    assert all(s.confidence <= 0.6 for s in text)
    assert all("close" in s.meta for s in text)  # entry price known: outcomes are measured
    fused = [r for r in records if isinstance(r, FusedSignal)]
    counted = {c.signal_id for f in fused for c in f.contributions}
    assert {s.signal_id for s in text} <= counted
    dead = [r for r in records if isinstance(r, DeadLetter)]
    assert [d.reason for d in dead] == ["bad_news_record"] and "extra.jsonl line 1" in dead[
        0
    ].detail


@pytest.mark.slow
def test_without_news_the_flow_is_unchanged(basket_days: Path):
    def decisions(records: list) -> list:
        return [
            json.dumps(f.model_dump(mode="json"), sort_keys=True)
            for f in records
            if isinstance(f, FusedSignal)
        ]

    plain = _run(basket_days, {})
    assert not [r for r in plain if isinstance(r, Signal) and r.origin.startswith("text:")]
    assert decisions(plain) == decisions(_run(basket_days, {"text": {"news": []}}))
