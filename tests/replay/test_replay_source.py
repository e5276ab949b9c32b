"""ReplaySource partitions driven directly: ordering, batching, resume, pacing, progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.files import LoadedCandles, LoadedTrades, load_candles, load_trades, shipped_path
from connectors.replay import (
    ReplayPartition,
    ReplayPosition,
    ReplaySource,
    partition_index,
)
from schemas.batches import CandleBatch, TradeBatch
from schemas.common import Timeframe
from schemas.records import DeadLetter

SECOND = 1_000_000_000
T0 = 1_610_064_000 * SECOND


def make_trades(rows: list[tuple[str, int]], dead: list[DeadLetter] | None = None) -> LoadedTrades:
    """A loaded trades file from (symbol, ts_ns) rows; price encodes the input row number."""
    frame = pl.DataFrame(
        {
            "symbol": [s for s, _ in rows],
            "ts_ns": [t for _, t in rows],
            "price": [float(i + 1) for i in range(len(rows))],
            "amount": [1.0] * len(rows),
            "trade_id": list(range(len(rows))),
            "side": [1] * len(rows),
        },
        schema={
            "symbol": pl.String,
            "ts_ns": pl.Int64,
            "price": pl.Float64,
            "amount": pl.Float64,
            "trade_id": pl.Int64,
            "side": pl.Int8,
        },
    ).sort(["symbol", "ts_ns"], maintain_order=True)
    return LoadedTrades(Path("synthetic.parquet"), frame, dead or [], len(rows))


def drain(part: ReplayPartition, limit: int = 100_000) -> list[list[object]]:
    """Every next_batch result until the partition ends."""
    calls = []
    for _ in range(limit):
        try:
            calls.append(part.next_batch())
        except StopIteration:
            return calls
    raise AssertionError("partition did not end")


def rows_of(items: list[object]) -> list[tuple[str, int, float]]:
    """(symbol, ts, price) of every data row, in emission order."""
    out = []
    for item in items:
        if isinstance(item, TradeBatch):
            out += [
                (item.symbol, int(t), float(p)) for t, p in zip(item.ts_ns, item.price, strict=True)
            ]
        elif isinstance(item, CandleBatch):
            out += [
                (item.symbol, int(t), float(c)) for t, c in zip(item.ts_ns, item.close, strict=True)
            ]
    return out


def only_part(source: ReplaySource, resume: ReplayPosition | None = None) -> ReplayPartition:
    (name,) = source.list_parts()
    return source.build_part("replay", name, resume)


# ------------------------------------------------------------------------- ordering and batches


def test_alts_basket_replays_in_global_event_time_order_one_symbol_per_batch() -> None:
    loaded = load_candles(shipped_path("alts-btc_5m_2018-01"))
    part = only_part(ReplaySource([loaded], batch_size=777))
    calls = drain(part)
    previous_end = -1
    for items in calls:
        assert sum(len(b) for b in items) <= 777
        times = np.concatenate([b.ts_ns for b in items])
        assert times.min() >= previous_end  # chunks follow each other in event time
        previous_end = int(times.max())
        assert len({b.symbol for b in items}) == len(items)  # one batch per symbol per chunk
        for batch in items:
            assert isinstance(batch, CandleBatch) and batch.timeframe is Timeframe.M5
            assert np.all(np.diff(batch.ts_ns) > 0)
    replayed = sorted(rows_of([b for items in calls for b in items]))
    expected = sorted(loaded.frame.select("symbol", "ts_ns", "close").iter_rows())
    assert replayed == expected


def test_trades_and_candles_of_several_files_merge_in_event_time() -> None:
    xrp = load_trades(shipped_path("xrp-eth_trades_2019-10"))
    btc = load_trades(shipped_path("btcusdt_trades_2021-01-08"))
    xrp_minutes = load_candles(shipped_path("xrp-eth_1m_2019-10"))
    source = ReplaySource([btc, xrp_minutes, xrp], batch_size=1000)
    assert source.rows_total == 2001 + 2469 + 12_477
    calls = drain(only_part(source))
    previous_end = -1
    for items in calls:
        times = np.concatenate([b.ts_ns for b in items])
        assert times.min() >= previous_end
        previous_end = int(times.max())
    items = [b for call in calls for b in call]
    kinds = {(type(b).__name__, b.symbol) for b in items}
    assert kinds == {
        ("TradeBatch", "XRP/ETH"),
        ("CandleBatch", "XRP/ETH"),
        ("TradeBatch", "BTC/USDT"),
    }
    assert sum(len(b) for b in items) == source.rows_total
    assert all(b.symbol == "BTC/USDT" for b in calls[-1])  # 2021 comes after 2019
    for loaded, kind in ((xrp, TradeBatch), (xrp_minutes, CandleBatch), (btc, TradeBatch)):
        symbol = loaded.symbols[0]
        mine = [b for b in items if isinstance(b, kind) and b.symbol == symbol]
        assert np.array_equal(np.concatenate([b.ts_ns for b in mine]), loaded.frame["ts_ns"])


def test_equal_times_put_trades_before_candles_then_file_order() -> None:
    minute = 60 * SECOND
    candles = LoadedCandles(
        Path("c.parquet"),
        pl.DataFrame(
            {
                "symbol": ["A/Q"],
                "timeframe": ["1m"],
                "ts_ns": [T0],
                "open": [1.0],
                "high": [1.0],
                "low": [1.0],
                "close": [1.0],
                "volume": [1.0],
                "trades": [1],
            }
        ),
        {"A/Q": Timeframe.M1},
    )
    trades = make_trades([("A/Q", T0), ("A/Q", T0 + minute)])
    source = ReplaySource([candles, trades], batch_size=1)
    kinds = [type(b).__name__ for call in drain(only_part(source)) for b in call]
    assert kinds == ["TradeBatch", "CandleBatch", "TradeBatch"]


def test_partitions_split_symbols_by_their_state_hash_and_keep_time_order() -> None:
    loaded = load_candles(shipped_path("alts-btc_5m_2018-01"))
    source = ReplaySource([loaded], partitions=3, batch_size=2000)
    assert source.list_parts() == ["replay-0-of-3", "replay-1-of-3", "replay-2-of-3"]
    seen: dict[str, str] = {}
    total = 0
    for name in source.list_parts():
        items = [b for call in drain(source.build_part("replay", name, None)) for b in call]
        for batch in items:
            assert seen.setdefault(batch.symbol, name) == name == source.partition_of(batch.symbol)
        total += sum(len(b) for b in items)
    assert total == len(loaded) and set(seen) == set(loaded.symbols)
    assert {partition_index(s, 3) for s in loaded.symbols} == {0, 1, 2}


# ------------------------------------------------------------------------- dead letters


def _letter(symbol: str | None) -> DeadLetter:
    return DeadLetter(source="file:x", symbol=symbol, reason="missing_value", detail="d", raw="{}")


def test_dead_letters_come_first_once_in_their_symbols_partition() -> None:
    letters = [_letter("A/Q"), _letter("B/Q"), _letter(None)]
    loaded = make_trades([("A/Q", T0), ("B/Q", T0)], letters)
    source = ReplaySource([loaded], partitions=4, batch_size=10)
    for name in source.list_parts():
        part = source.build_part("replay", name, None)
        calls = drain(part)
        got = [x for call in calls for x in call if isinstance(x, DeadLetter)]
        index = int(name.split("-")[1])
        expected = [d for d in letters if partition_index(d.symbol or "", 4) == index]
        assert got == expected
        if got:
            assert calls[0][: len(got)] == got  # at the very start
        resumed = source.build_part("replay", name, part.snapshot())
        assert drain(resumed) == []


def test_a_file_whose_rows_are_all_bad_still_delivers_its_dead_letters() -> None:
    loaded = make_trades([], [_letter("A/Q")])
    calls = drain(only_part(ReplaySource([loaded])))
    assert calls == [[_letter("A/Q")]]


# ------------------------------------------------------------------------- resume


def test_resume_from_a_snapshot_gives_exactly_the_remaining_rows() -> None:
    loaded = load_trades(shipped_path("xrp-eth_trades_2019-10"))
    source = ReplaySource([loaded], batch_size=1000)
    full = rows_of([b for call in drain(only_part(source)) for b in call])
    first = only_part(source)
    head = [b for _ in range(4) for b in first.next_batch()]
    state = first.snapshot()
    assert state == ReplayPosition(4000, True, 12_477)
    rest = [b for call in drain(only_part(source, state)) for b in call]
    assert rows_of(head) + rows_of(rest) == full


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["A/Q", "B/Q", "C/Q"]), st.integers(0, 50)), max_size=60
    ),
    batch_size=st.integers(1, 9),
    partitions=st.integers(1, 3),
    stop_after=st.integers(0, 12),
)
def test_stop_anywhere_and_resume_loses_and_repeats_nothing(
    rows: list[tuple[str, int]], batch_size: int, partitions: int, stop_after: int
) -> None:
    loaded = make_trades([(s, T0 + t * SECOND) for s, t in rows])
    source = ReplaySource([loaded], partitions=partitions, batch_size=batch_size)
    replayed: list[tuple[str, int]] = []
    for name in source.list_parts():
        full = rows_of([b for call in drain(source.build_part("r", name, None)) for b in call])
        replayed += [(s, t) for s, t, _ in full]
        for symbol in {s for s, _, _ in full}:
            times = [t for s, t, _ in full if s == symbol]
            assert times == sorted(times)
        part = source.build_part("r", name, None)
        head: list[object] = []
        for _ in range(stop_after):
            try:
                head += part.next_batch()
            except StopIteration:
                break
        tail = drain(source.build_part("r", name, part.snapshot()))
        assert rows_of(head) + rows_of([b for call in tail for b in call]) == full
    assert sorted(replayed) == sorted((s, T0 + t * SECOND) for s, t in rows)
    assert source.rows_total == len(rows)


def test_resume_state_from_other_data_is_refused() -> None:
    source = ReplaySource([make_trades([("A/Q", T0)])])
    with pytest.raises(ValueError, match="files or partition count changed"):
        only_part(source, ReplayPosition(5, True, 10))
    with pytest.raises(ValueError, match="unknown replay partition 'replay-0-of-2'"):
        source.build_part("replay", "replay-0-of-2", None)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("partitions", 0, "partitions must be at least 1"),
        ("batch_size", 0, "batch_size must be at least 1"),
        ("speed", 0.0, "speed must be a positive number"),
        ("speed", float("inf"), "speed must be a positive number"),
    ],
)
def test_bad_options_fail_naming_the_option(option: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReplaySource([make_trades([("A/Q", T0)])], **{option: value})  # type: ignore[arg-type]


# ------------------------------------------------------------------------- pacing


class FakeClock:
    """Wall time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_paced_replay_releases_each_row_when_due_and_never_early() -> None:
    clock = FakeClock()
    start = clock.now
    # event times 0 s, 30 s, 60 s, 120 s, 121 s; speed 60: one event minute per wall second
    loaded = make_trades([("A/Q", T0 + s * SECOND) for s in (0, 30, 60, 120, 121)])
    part = only_part(ReplaySource([loaded], speed=60.0, clock=clock, batch_size=10))
    assert part.next_awake() is None  # nothing emitted yet: start at once
    assert [len(b) for b in part.next_batch()] == [1]
    assert part.next_awake() == start + timedelta(seconds=0.5)
    clock.advance(0.4)
    assert part.next_batch() == []  # 24 s of event time: the 30 s trade is not due yet
    clock.advance(0.1)
    assert rows_of(part.next_batch()) == [("A/Q", T0 + 30 * SECOND, 2.0)]
    assert part.next_awake() == start + timedelta(seconds=1)
    clock.advance(1.5)  # 120 s of event time due: two rows at once
    assert [t for _, t, _ in rows_of(part.next_batch())] == [T0 + 60 * SECOND, T0 + 120 * SECOND]
    assert part.next_awake() == start + timedelta(seconds=121 / 60)
    clock.advance(10)
    assert len(rows_of(part.next_batch())) == 1
    assert part.next_awake() is None
    with pytest.raises(StopIteration):
        part.next_batch()


def test_paced_replay_still_cuts_at_batch_size_and_resumes_on_a_fresh_anchor() -> None:
    clock = FakeClock()
    loaded = make_trades([("A/Q", T0 + s * SECOND) for s in range(10)])
    source = ReplaySource([loaded], speed=1.0, clock=clock, batch_size=3)
    part = only_part(source)
    clock.advance(100)  # everything is due, but a batch holds at most 3 rows
    assert [len(rows_of(part.next_batch())) for _ in range(2)] == [3, 3]
    resumed = only_part(source, part.snapshot())  # anchored now: row 6 due at once, 7 in 1 s
    assert rows_of(resumed.next_batch()) == [("A/Q", T0 + 6 * SECOND, 7.0)]
    assert resumed.next_awake() == clock.now + timedelta(seconds=1)


# ------------------------------------------------------------------------- progress


def test_progress_reports_rows_done_over_all_partitions() -> None:
    reports: list[tuple[int, int]] = []
    loaded = make_trades([("A/Q", T0 + i) for i in range(5)] + [("B/Q", T0 + i) for i in range(3)])
    source = ReplaySource(
        [loaded], partitions=2, batch_size=2, on_progress=lambda d, t: reports.append((d, t))
    )
    parts = [source.build_part("r", name, None) for name in source.list_parts()]
    for part in parts:
        drain(part)
    assert all(total == 8 for _, total in reports)
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[-1] == 8
    resumed = source.build_part("r", source.list_parts()[0], parts[0].snapshot())
    assert resumed.snapshot().offset == parts[0].snapshot().offset


def test_from_files_detects_each_files_kind() -> None:
    source = ReplaySource.from_files(
        [shipped_path("btcusdt_trades_2021-01-08"), shipped_path("btc-perp_1m_2022-01")],
        batch_size=10_000,
    )
    assert source.symbols == ("BTC-PERP", "BTC/USDT")
    assert [f.kind for f in source.inputs] == ["trades", "candles"]
    items = [b for call in drain(only_part(source)) for b in call]
    assert sum(len(b) for b in items) == source.rows_total == 2001 + 45_031
