"""The regression pin: what the default run decides, exactly.

`quorum run` on the shipped BTC month (the README's first command) must keep its signals per
source, fused decisions by band, orders, fills, P/L and fees, and `quorum evaluate`'s table.
Speed work must not move any of them. A deliberate change updates the values below in the
same commit and says why in the commit message.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from connectors.store.engine import open_store
from flows.cli import main as cli_main

pytestmark = pytest.mark.slow

SIGNALS_PER_SOURCE = {
    ("ml:online", "15m"): 1853,
    ("ml:online", "1h"): 330,
    ("rules:bollinger_breakout_long", "1h"): 18,
    ("rules:bollinger_breakout_short", "1h"): 23,
    ("rules:bollinger_reversion_long", "15m"): 32,
    ("rules:bollinger_reversion_short", "15m"): 26,
    ("rules:btc_long", "15m"): 21,
    ("rules:ema_cross_long", "1h"): 1,
    ("rules:ema_cross_short", "1h"): 6,
    ("rules:macd_momentum_long", "1h"): 12,
    ("rules:macd_momentum_short", "1h"): 14,
    ("rules:rsi_reversal_long", "15m"): 40,
    ("rules:rsi_reversal_short", "15m"): 31,
    ("stat:trend_strength", "15m"): 502,
    ("stat:trend_strength", "1h"): 112,
    ("stat:trend_strength", "4h"): 38,
    ("stat:volatility_breakout", "15m"): 70,
    ("stat:volatility_breakout", "1h"): 22,
    ("stat:volatility_breakout", "4h"): 4,
    ("stat:zscore_reversion", "15m"): 354,
    ("stat:zscore_reversion", "1h"): 85,
    ("stat:zscore_reversion", "4h"): 25,
}
DECISIONS_BY_BAND = {"ignore": 2317, "review": 9}
# Every signal's (source, timeframe, close time, direction, confidence to 1e-9), and every fused
# decision's (close time, band, direction, score to 1e-9), hashed: any moved value shows here.
SIGNALS_DIGEST = "eee96417716d6409cc16f999ab6283d7effe591d17dcab713147402b3a852adc"
FUSED_DIGEST = "449f2308e6780ce2f95e7b51ec2ae355861f555d72d83bce0e3ec9942aeeae0b"
ORDERS = [
    (1641294900000000000, "sell", "1.070", "1.070", "46681.5", "filled", "market"),
    (1641304500000000000, "buy", "1.070", "1.070", "47073.0", "filled", "market"),
    (
        1641398400000000000,
        "sell",
        "1.047",
        "1.047",
        "46623.48328557784145176695320",
        "filled",
        "market",
    ),
    (1641404280000000000, "buy", "0.523", "0.523", "46175.0", "filled", "market"),
    (1641405960000000000, "buy", "0.524", "0.524", "45704.5", "filled", "market"),
    (1641604500000000000, "sell", "1.086", "1.086", "42208.0", "filled", "market"),
    (1641609420000000000, "buy", "0.543", "0.543", "41771.0", "filled", "market"),
    (1641636120000000000, "buy", "0.543", "0.543", "42229.5", "filled", "market"),
    (1642854600000000000, "sell", "0.556", "0.556", "35429.5", "filled", "market"),
    (1642867560000000000, "buy", "0.278", "0.278", "34549.0", "filled", "market"),
    (1642868100000000000, "buy", "0.278", "0.278", "35403.0", "filled", "market"),
    (
        1643083200000000000,
        "sell",
        "0.951",
        "0.951",
        "36427.40694006309148264984227",
        "filled",
        "market",
    ),
    (1643088420000000000, "buy", "0.475", "0.475", "35885.5", "filled", "market"),
    (1643098800000000000, "buy", "0.476", "0.476", "36450.0", "filled", "market"),
]
FILLS = [
    (1641294900000000000, "sell", "1.070", "46681.5", "49.94920500", "46718.0"),
    (1641304500000000000, "buy", "1.070", "47073.0", "50.36811000", "47060.0"),
    (1641398400000000000, "sell", "0.209", "46611.0", "9.74169900", "46631.0"),
    (1641398460000000000, "sell", "0.209", "46625.5", "9.74472950", "46638.0"),
    (1641398520000000000, "sell", "0.210", "46608.5", "9.78778500", "46622.0"),
    (1641398580000000000, "sell", "0.209", "46651.5", "9.75016350", "46665.0"),
    (1641398640000000000, "sell", "0.210", "46621.0", "9.79041000", "46632.0"),
    (1641404280000000000, "buy", "0.523", "46175.0", "24.14952500", "46164.0"),
    (1641405960000000000, "buy", "0.524", "45704.5", "23.94915800", "45696.0"),
    (1641604500000000000, "sell", "1.086", "42208.0", "45.83788800", "42232.0"),
    (1641609420000000000, "buy", "0.543", "41771.0", "22.68165300", "41744.0"),
    (1641636120000000000, "buy", "0.543", "42229.5", "22.93061850", "42216.0"),
    (1642854600000000000, "sell", "0.556", "35429.5", "19.69880200", "35436.0"),
    (1642867560000000000, "buy", "0.278", "34549.0", "9.60462200", "34544.0"),
    (1642868100000000000, "buy", "0.278", "35403.0", "9.84203400", "35396.0"),
    (1643083200000000000, "sell", "0.190", "36423.0", "6.92037000", "36438.0"),
    (1643083260000000000, "sell", "0.190", "36421.0", "6.91999000", "36431.0"),
    (1643083320000000000, "sell", "0.190", "36415.0", "6.91885000", "36428.0"),
    (1643083380000000000, "sell", "0.190", "36444.0", "6.92436000", "36453.0"),
    (1643083440000000000, "sell", "0.191", "36434.0", "6.95889400", "36445.0"),
    (1643088420000000000, "buy", "0.475", "35885.5", "17.04561250", "35875.0"),
    (1643098800000000000, "buy", "0.476", "36450.0", "17.35020000", "36443.0"),
]
MONEY = {
    "final_equity": "100624.74832100",
    "realized_pnl": "1021.61300000",
    "net_pnl": "624.74832100",
    "fees_paid": "396.86467900",
    "slippage_cost": "152.28700000",
    "turnover": "396864.6790",
    "trades": 5,
    "wins": 4,
    "losses": 1,
    "risk_decisions": {"approved": 14},
    "orders_by_status": {"filled": 14},
    "fills": 22,
}
EVALUATE = {
    "unresolved": (12,),
    "ml:online@15m": (1853, 1853, 0.508904479, -0.080655305, 0.276946097, 0.647210201),
    "ml:online@1h": (330, 325, 0.532307692, 7.47589254, 0.273326001, 0.655606358),
    "rules:bollinger_breakout_long@1h": (18, 18, 0.388888889, -65.328646335, 0.319513889, 0.675),
    "rules:bollinger_breakout_short@1h": (23, 23, 0.52173913, 13.083889469, 0.273016304, 0.675),
    "rules:bollinger_reversion_long@15m": (32, 32, 0.53125, 8.607789051, 0.288564808, 0.69904985),
    "rules:bollinger_reversion_short@15m": (
        26,
        26,
        0.730769231,
        59.071608774,
        0.200541831,
        0.686255434,
    ),
    "rules:btc_long@15m": (21, 21, 0.476190476, 1.412792549, 0.389166667, 0.85),
    "rules:ema_cross_long@1h": (1, 1, 0.0, -39.23198836, 0.49, 0.7),
    "rules:ema_cross_short@1h": (6, 6, 0.333333333, -18.112857086, 0.356666667, 0.7),
    "rules:macd_momentum_long@1h": (12, 12, 0.5, -28.743054819, 0.280625, 0.675),
    "rules:macd_momentum_short@1h": (14, 14, 0.428571429, -15.970072581, 0.305625, 0.675),
    "rules:rsi_reversal_long@15m": (40, 40, 0.6, 3.961738593, 0.249464419, 0.676519095),
    "rules:rsi_reversal_short@15m": (31, 31, 0.806451613, 27.430624385, 0.174883766, 0.662182686),
    "stat:trend_strength@15m": (502, 502, 0.398406375, -9.864674194, 0.331763099, 0.700664478),
    "stat:trend_strength@1h": (112, 110, 0.545454545, 8.335644492, 0.269361332, 0.698540833),
    "stat:trend_strength@4h": (38, 38, 0.473684211, -8.641374657, 0.305461208, 0.705083042),
    "stat:volatility_breakout@15m": (70, 70, 0.442857143, -9.133609119, 0.315272535, 0.693963369),
    "stat:volatility_breakout@1h": (22, 22, 0.409090909, -19.278864493, 0.312465581, 0.6994583),
    "stat:volatility_breakout@4h": (4, 4, 0.75, -9.472031422, 0.176258506, 0.707463642),
    "stat:zscore_reversion@15m": (354, 354, 0.564971751, 2.90189921, 0.26150097, 0.692981003),
    "stat:zscore_reversion@1h": (85, 85, 0.623529412, 51.011337572, 0.239567122, 0.697352968),
    "stat:zscore_reversion@4h": (25, 25, 0.32, -112.258544435, 0.354620703, 0.68820616),
    "fused": (2304, 2299, 0.496737712, -1.713539404, 0.261102647, 0.460964573),
    "fused:review": (9, 9, 0.777777778, 130.794243391, 0.17131832, 0.234581024),
}


def _digest(rows: list[tuple]) -> str:
    return hashlib.sha256("\n".join(map(repr, rows)).encode()).hexdigest()


def _query(store: Path, sql: str) -> list[tuple]:
    engine = open_store(store)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql)).all()]
    finally:
        engine.dispose()


def observed_signals(store: Path) -> tuple[dict[tuple[str, str], int], str]:
    rows = _query(
        store,
        "SELECT origin, timeframe, ts, direction, confidence FROM signals"
        " ORDER BY origin, timeframe, ts",
    )
    counts: dict[tuple[str, str], int] = {}
    for origin, timeframe, *_ in rows:
        counts[(origin, timeframe)] = counts.get((origin, timeframe), 0) + 1
    return counts, _digest([(*row[:4], f"{row[4]:.9f}") for row in rows])


def observed_fused(store: Path) -> tuple[dict[str, int], str]:
    rows = _query(store, "SELECT ts, decision, direction, score FROM fused_signals ORDER BY ts")
    bands: dict[str, int] = {}
    for _, decision, *_ in rows:
        bands[decision] = bands.get(decision, 0) + 1
    return bands, _digest([(*row[:3], f"{row[3]:.9f}") for row in rows])


def observed_orders(store: Path) -> list[tuple]:
    return _query(
        store,
        "SELECT created_at, side, quantity, filled_quantity, average_price, status, order_type"
        " FROM orders ORDER BY created_at, order_id",
    )


def observed_fills(store: Path) -> list[tuple]:
    return _query(
        store, "SELECT ts, side, quantity, price, fee, mid_price FROM fills ORDER BY ts, fill_id"
    )


def observed_money(report_path: Path) -> dict[str, object]:
    report = json.loads(report_path.read_text())
    keys = (
        "final_equity",
        "realized_pnl",
        "net_pnl",
        "fees_paid",
        "slippage_cost",
        "turnover",
        "trades",
        "wins",
        "losses",
        "risk_decisions",
        "orders_by_status",
        "fills",
    )
    return {key: report[key] for key in keys}


def observed_evaluate(store: Path, out: Path) -> dict[str, tuple]:
    assert cli_main(["evaluate", "--store", str(store), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    table = {"unresolved": (data["unresolved"],)}
    for group in data["groups"]:
        table[group["group"]] = (
            group["signals"],
            group["resolved"],
            *(
                None if group[key] is None else round(group[key], 9)
                for key in ("hit_rate", "avg_return_bps", "brier", "mean_p")
            ),
        )
    return table


def test_signals_per_source(main_job: dict[str, Path]) -> None:
    counts, digest = observed_signals(main_job["store"])
    assert counts == SIGNALS_PER_SOURCE
    assert digest == SIGNALS_DIGEST


def test_fused_decisions_by_band(main_job: dict[str, Path]) -> None:
    bands, digest = observed_fused(main_job["store"])
    assert bands == DECISIONS_BY_BAND
    assert digest == FUSED_DIGEST


def test_orders_and_fills(main_job: dict[str, Path]) -> None:
    assert observed_orders(main_job["store"]) == ORDERS
    assert observed_fills(main_job["store"]) == FILLS


def test_profit_loss_and_fees(main_job: dict[str, Path]) -> None:
    assert observed_money(main_job["report"]) == MONEY


def test_evaluate_table(main_job: dict[str, Path], tmp_path: Path) -> None:
    assert observed_evaluate(main_job["store"], tmp_path / "evaluate.json") == EVALUATE
