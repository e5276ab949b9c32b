"""ReplaySource inside real Bytewax flows: routing, and resume through Bytewax recovery."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import AbortExecution
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, run_main

from connectors.files import LoadedFile, load_candles, load_trades, shipped_path
from connectors.replay import (
    ReplayPartition,
    ReplayPosition,
    ReplaySource,
    partition_index,
    split_market_data,
)
from schemas.batches import CandleBatch, TradeBatch
from schemas.records import DeadLetter


class CrashingReplay(ReplaySource):
    """A replay whose partitions abort the execution (as a crash would) after N batches."""

    def __init__(self, inputs: list[LoadedFile], crash_after: int, **options: object) -> None:
        super().__init__(inputs, **options)  # type: ignore[arg-type]
        self.crash_after = crash_after

    def build_part(
        self, step_id: str, for_part: str, resume_state: ReplayPosition | None
    ) -> ReplayPartition:
        part = super().build_part(step_id, for_part, resume_state)
        calls = 0
        next_batch = part.next_batch

        def crash_later() -> list[object]:
            nonlocal calls
            calls += 1
            if calls > self.crash_after:
                raise AbortExecution()
            return next_batch()

        part.next_batch = crash_later  # type: ignore[method-assign]
        return part


def trade_ids_flow(source: ReplaySource, out: list[tuple[str, list[int]]]) -> Dataflow:
    flow = Dataflow("replay_recovery")
    items = op.input("replay", flow, source)
    op.output(
        "out", op.map("ids", items, lambda b: (b.symbol, b.trade_id.tolist())), TestingSink(out)
    )
    return flow


def test_split_market_data_routes_batches_by_kind_and_symbol(tmp_path: Path) -> None:
    bad = tmp_path / "ethbtc_trades.csv"
    bad.write_text("ts,price,amount\n1516000000000,0.1,1\nnot-a-time,0.1,1\n")
    inputs: list[LoadedFile] = [
        load_candles(shipped_path("alts-btc_5m_2018-01")),
        load_trades(bad),
    ]
    flow = Dataflow("replay_split")
    streams = split_market_data("split", op.input("replay", flow, ReplaySource(inputs)))
    trades: list[tuple[str, TradeBatch]] = []
    candles: list[tuple[str, CandleBatch]] = []
    dead: list[DeadLetter] = []
    op.output("trades", streams.trades, TestingSink(trades))
    op.output("candles", streams.candles, TestingSink(candles))
    op.output("dead", streams.dead, TestingSink(dead))
    run_main(flow)
    assert [(k, len(b)) for k, b in trades] == [("ETH/BTC", 1)]
    assert all(k == b.symbol for k, b in candles)
    assert sum(len(b) for _, b in candles) == 57_546
    assert len({k for k, _ in candles}) == 10
    assert [d.reason for d in dead] == ["unparseable_value"]


def test_recovery_resumes_after_the_last_snapshot_without_loss(tmp_path: Path) -> None:
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(tmp_path)
    inputs: list[LoadedFile] = [
        load_trades(shipped_path("xrp-eth_trades_2019-10")),
        load_trades(shipped_path("btcusdt_trades_2021-01-08")),
    ]
    options = {"partitions": 4, "batch_size": 150}
    # one symbol per partition, so each partition's crash interrupts its symbol
    assert partition_index("XRP/ETH", 4) != partition_index("BTC/USDT", 4)
    expected: list[tuple[str, list[int]]] = []
    run_main(trade_ids_flow(ReplaySource(inputs, **options), expected))  # type: ignore[arg-type]

    before: list[tuple[str, list[int]]] = []
    crashing = CrashingReplay(inputs, crash_after=6, **options)
    run_main(
        trade_ids_flow(crashing, before), epoch_interval=timedelta(0), recovery_config=recovery
    )
    after: list[tuple[str, list[int]]] = []
    resumed = ReplaySource(inputs, **options)  # type: ignore[arg-type]
    run_main(trade_ids_flow(resumed, after), epoch_interval=timedelta(0), recovery_config=recovery)

    for symbol in ("XRP/ETH", "BTC/USDT"):
        full = [i for s, ids in expected if s == symbol for i in ids]
        head = [i for s, ids in before if s == symbol for i in ids]
        tail = [i for s, ids in after if s == symbol for i in ids]
        assert 0 < len(head) < len(full)  # the crash really interrupted the replay
        # a snapshot closes every epoch (interval 0), so the resumed run starts exactly after
        # the last rows emitted before the crash: nothing lost, nothing repeated
        assert head + tail == full
