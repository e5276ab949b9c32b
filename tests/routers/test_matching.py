"""The simulator's matching engine and request signing, against hand-computed cases."""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817 - hand-computed cases read better

import pytest

from connectors.simulator.matching import (
    Book,
    Execution,
    MatchingConfig,
    MatchingEngine,
    OrderError,
    TapeTrade,
)
from connectors.simulator.signing import ApiKeys, sign

BOOK = Book(D("100"), D("2"), D("101"), D("2"))


def engine(book: Book | None = BOOK, usdt: str = "1000", btc: str = "10") -> MatchingEngine:
    return MatchingEngine(
        MatchingConfig(depth_levels=2, level_step_bps=D(100), depth_growth=D(1)),
        lambda symbol, now: book,
        {"k": {"USDT": D(usdt), "BTC": D(btc)}},
    )


def place(e: MatchingEngine, **kw: object) -> object:
    args = {"side": "BUY", "kind": "MARKET", "quantity": D("1"), "now_ms": 5}
    args.update(kw)
    return e.place("k", "BTCUSDT", "BTC", "USDT", **args)  # type: ignore[arg-type]


def test_market_buy_walks_the_book_and_pays_the_taker_fee() -> None:
    e = engine()
    order = place(e, quantity=D("3"))
    # level 1: 2 @ 101; level 2 (+100 bps): 1 @ 102.01
    assert [(f.price, f.quantity) for f in order.fills] == [(D("101"), D("2")), (D("102.01"), 1)]
    assert order.status == "FILLED"
    fees = sum(f.commission for f in order.fills)
    assert fees == D("0.202") + D("0.10201")  # 10 bps of 202 and of 102.01
    assert e.balances["k"]["BTC"] == D("13")
    assert e.balances["k"]["USDT"] == D("1000") - D("304.01") - fees
    assert e.locked["k"]["USDT"] == 0


def test_market_order_beyond_the_book_expires_with_a_partial_fill() -> None:
    e = engine()
    order = place(e, side="SELL", quantity=D("5"))
    assert order.executed == D("4") and order.status == "EXPIRED"
    assert e.locked["k"]["BTC"] == 0 and e.balances["k"]["BTC"] == D("6")


def test_limit_takes_what_is_marketable_then_rests_and_fills_on_the_tape_as_maker() -> None:
    e = engine()
    order = place(e, kind="LIMIT", price=D("101.5"), time_in_force="GTC", quantity=D("3"))
    assert order.status == "PARTIALLY_FILLED" and order.executed == D("2")
    assert e.locked["k"]["USDT"] == D("101.5") * 1 * D("1.001")  # the rest's share of the lock
    e.on_market("BTCUSDT", [TapeTrade(D("101.6"), D("5")), TapeTrade(D("101.5"), D("0.4"))], 9)
    assert order.executed == D("2.4") and order.fills[-1].maker
    assert order.fills[-1].price == D("101.5")
    e.on_market("BTCUSDT", [TapeTrade(D("101.0"), D("9"))], 10)
    assert order.status == "FILLED" and e.locked["k"]["USDT"] == 0


def test_ioc_and_fok() -> None:
    e = engine()
    ioc = place(e, kind="LIMIT", price=D("101"), time_in_force="IOC", quantity=D("3"))
    assert (ioc.executed, ioc.status) == (D("2"), "EXPIRED")
    fok = place(e, kind="LIMIT", price=D("101"), time_in_force="FOK", quantity=D("3"))
    assert (fok.executed, fok.status) == (D("0"), "EXPIRED")
    assert e.open_orders("k") == []


def test_refusals_carry_binance_codes() -> None:
    e = engine(usdt="10")
    with pytest.raises(OrderError) as exc:
        place(e)
    assert exc.value.code == -2010 and "insufficient balance" in exc.value.msg
    e = engine()
    place(e, client_id="same")
    with pytest.raises(OrderError, match="Duplicate order sent"):
        place(e, client_id="same")
    with pytest.raises(OrderError) as exc:
        e.cancel("k", "BTCUSDT", 6, order_id=999, client_id=None)
    assert exc.value.code == -2011


def test_cancel_releases_the_lock_and_reports() -> None:
    e = engine()
    seen: list[Execution] = []
    e.listeners.append(seen.append)
    order = place(e, kind="LIMIT", price=D("50"), time_in_force="GTC", client_id="c1")
    assert e.locked["k"]["USDT"] > 0
    e.cancel("k", "BTCUSDT", 7, order_id=None, client_id="c1")
    assert order.status == "CANCELED" and e.locked["k"]["USDT"] == 0
    assert [x.execution_type for x in seen] == ["NEW", "CANCELED"]


def test_signature_key_and_timestamp_checks() -> None:
    keys = ApiKeys({"key": "secret"})
    payload = "symbol=BTCUSDT&timestamp=10000&recvWindow=5000"
    good = payload + "&signature=" + sign("secret", payload)
    assert keys.verify("key", good, "", now_ms=12_000) == "key"
    assert keys.verify("key", "", good, now_ms=12_000) == "key"  # a POST body
    cases = [
        ("other", good, 12_000, -2015),
        ("key", payload + "&signature=" + sign("wrong", payload), 12_000, -1022),
        ("key", good, 16_000, -1021),  # older than recvWindow
        ("key", good, 8_000, -1021),  # more than 1 s ahead of the server
    ]
    for key, query, now, code in cases:
        with pytest.raises(OrderError) as exc:
            keys.verify(key, query, "", now_ms=now)
        assert exc.value.code == code, (key, now)
    assert "secret" not in repr(keys)
