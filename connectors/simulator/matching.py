"""The simulator's matching engine: spot orders filled against the recorded tape and quotes.

Pure and synchronous (the REST handlers and the clock's ticks call it under one lock). Rules:

* **Liquidity** is the latest recorded quote (``BTC/USDT``) or, for a market without quotes, a
  synthetic one around the last recorded trade / bar close (``synthetic_spread_bps`` wide, each
  side ``synthetic_quantity`` deep). Behind the top level the book has ``depth_levels - 1``
  more levels, each ``level_step_bps`` worse and ``depth_growth`` times larger than the one
  before (recorded tops are thin): a large order walks the book.
  Each order sees the book as recorded (our own fills do not deplete it: the tape replays).
* **Market** orders walk the book; what the book cannot take expires (Binance's ``EXPIRED``
  with a partial fill). **Limit** orders take what is marketable up to the limit (taker), then
  ``GTC`` rests, ``IOC`` expires, and ``FOK`` fills completely or not at all. A resting limit
  fills as maker at its limit when a later recorded trade prints at or through it (up to that
  trade's quantity); a market with no recorded trades (bars only) never fills a resting order.
* **Fees** (``taker_bps``/``maker_bps``) are charged in the quote asset; **balances** are
  checked and locked like Binance's (a buy locks quote, a sell locks base).
* A ``clientOrderId`` is unique among an account's orders: a second placement with it is
  refused with Binance's ``-2010 Duplicate order sent.`` — the hook that makes client retries
  idempotent.

>>> from decimal import Decimal as D
>>> engine = MatchingEngine(MatchingConfig(), lambda symbol, now: Book(D("100"), D("2"),
...                          D("101"), D("2")), {"k": {"USDT": D("1000"), "BTC": D("0")}})
>>> order = engine.place("k", "BTCUSDT", "BTC", "USDT", side="BUY", kind="MARKET",
...                      quantity=D("3"), now_ms=0)
>>> order.status, order.executed, [str(f.price) for f in order.fills]
('FILLED', Decimal('3'), ['101', '101.02'])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

ZERO = Decimal(0)
BPS = Decimal(10_000)

OPEN_STATES = frozenset({"NEW", "PARTIALLY_FILLED"})


class OrderError(Exception):
    """A refusal answered with Binance's ``{"code", "msg"}`` body and HTTP ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass(frozen=True, slots=True)
class MatchingConfig:
    """Fees and the book's shape behind the recorded top level."""

    taker_bps: Decimal = Decimal(10)
    maker_bps: Decimal = Decimal(10)
    depth_levels: int = 10
    level_step_bps: Decimal = Decimal(1)
    depth_growth: Decimal = Decimal(2)
    synthetic_spread_bps: Decimal = Decimal(2)
    synthetic_quantity: Decimal = Decimal(5)

    def __post_init__(self) -> None:
        if self.depth_growth < 1:
            raise ValueError(f"depth_growth must be >= 1, got {self.depth_growth}")
        if self.depth_levels < 1:
            raise ValueError(f"depth_levels must be >= 1, got {self.depth_levels}")
        for name in ("taker_bps", "maker_bps", "level_step_bps", "synthetic_spread_bps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class Book:
    """Top of the book: best bid and ask with their quantities."""

    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    tick: Decimal = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class TapeTrade:
    """One recorded trade a resting order may fill against."""

    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class SimFill:
    trade_id: int
    price: Decimal
    quantity: Decimal
    commission: Decimal
    commission_asset: str
    maker: bool
    time_ms: int


@dataclass(slots=True)
class SimOrder:
    """One order at the venue, as Binance keeps it."""

    order_id: int
    client_id: str
    account: str
    symbol: str
    base: str
    quote: str
    side: str
    kind: str
    time_in_force: str | None
    quantity: Decimal
    price: Decimal | None
    time_ms: int
    update_ms: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    locked: Decimal = ZERO
    fills: list[SimFill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES


@dataclass(frozen=True, slots=True)
class Execution:
    """What happened to an order, for the user-data stream: Binance's ``x`` and the fill."""

    order: SimOrder
    execution_type: str  # NEW, TRADE, CANCELED, EXPIRED
    status: str
    executed: Decimal
    cum_quote: Decimal
    fill: SimFill | None
    time_ms: int


BookView = Callable[[str, int], Book | None]


class MatchingEngine:
    """Accounts, orders and fills of the simulated venue."""

    def __init__(
        self,
        config: MatchingConfig,
        book: BookView,
        balances: dict[str, dict[str, Decimal]],
    ) -> None:
        self.config = config
        self._book = book
        self.balances = {key: dict(assets) for key, assets in balances.items()}
        self.locked: dict[str, dict[str, Decimal]] = {key: {} for key in balances}
        self.orders: dict[int, SimOrder] = {}
        self._by_client: dict[tuple[str, str, str], SimOrder] = {}
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self.listeners: list[Callable[[Execution], None]] = []
        self.placements = 0

    # --- orders -------------------------------------------------------------------------------
    def place(
        self,
        account: str,
        symbol: str,
        base: str,
        quote: str,
        *,
        side: str,
        kind: str,
        quantity: Decimal,
        now_ms: int,
        price: Decimal | None = None,
        time_in_force: str | None = None,
        client_id: str | None = None,
    ) -> SimOrder:
        """Place an order; raises :class:`OrderError` with Binance's code when refused."""
        if side not in ("BUY", "SELL"):
            raise OrderError(-1100, f"Illegal characters found in parameter 'side'; {side!r}.")
        if kind not in ("MARKET", "LIMIT"):
            raise OrderError(-1116, "Invalid orderType.")
        if not quantity > 0:
            raise OrderError(-1013, "Invalid quantity.")
        if kind == "LIMIT":
            if price is None or not price > 0:
                raise OrderError(-1102, "Mandatory parameter 'price' was not sent, was empty/null.")
            if time_in_force not in ("GTC", "IOC", "FOK"):
                raise OrderError(-1102, "Mandatory parameter 'timeInForce' was not sent.")
        else:
            price, time_in_force = None, None
        client_id = client_id or f"sim-{next(self._order_ids)}"
        if (account, symbol, client_id) in self._by_client:
            raise OrderError(-2010, "Duplicate order sent.")
        book = self._book(symbol, now_ms)
        if book is None:
            raise OrderError(-1013, "Market is closed.")
        levels = list(self.levels(book, side, price))
        lock_asset, lock_amount = self._lock_needed(side, kind, quantity, price, levels)
        if self._free(account, base if lock_asset == "base" else quote) < lock_amount:
            raise OrderError(-2010, "Account has insufficient balance for requested action.")
        order = SimOrder(
            order_id=next(self._order_ids),
            client_id=client_id,
            account=account,
            symbol=symbol,
            base=base,
            quote=quote,
            side=side,
            kind=kind,
            time_in_force=time_in_force,
            quantity=quantity,
            price=price,
            time_ms=now_ms,
            update_ms=now_ms,
        )
        self.placements += 1
        self.orders[order.order_id] = order
        self._by_client[(account, symbol, client_id)] = order
        self._lock(order, lock_asset, lock_amount)
        self._emit(order, "NEW", None, now_ms)
        if time_in_force == "FOK" and sum(q for _, q in levels) < quantity:
            self._finish(order, "EXPIRED", now_ms)
            return order
        for level_price, level_qty in levels:
            if order.remaining <= 0:
                break
            self._fill(order, level_price, min(level_qty, order.remaining), False, now_ms)
        if order.remaining > 0 and (kind == "MARKET" or time_in_force in ("IOC", "FOK")):
            self._finish(order, "EXPIRED", now_ms)
        return order

    def cancel(
        self, account: str, symbol: str, now_ms: int, *, order_id: int | None, client_id: str | None
    ) -> SimOrder:
        order = self.find(account, symbol, order_id=order_id, client_id=client_id)
        if order is None or not order.is_open:
            raise OrderError(-2011, "Unknown order sent.")
        self._finish(order, "CANCELED", now_ms)
        return order

    def find(
        self, account: str, symbol: str, *, order_id: int | None, client_id: str | None
    ) -> SimOrder | None:
        if order_id is not None:
            order = self.orders.get(order_id)
            if order is None or order.account != account or order.symbol != symbol:
                return None
            return order
        if client_id is not None:
            return self._by_client.get((account, symbol, client_id))
        raise OrderError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )

    def open_orders(self, account: str, symbol: str | None = None) -> list[SimOrder]:
        return [
            o
            for o in self.orders.values()
            if o.account == account and o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def open_orders_in(self, symbol: str) -> list[SimOrder]:
        """Every account's open orders in ``symbol``."""
        return [o for o in self.orders.values() if o.symbol == symbol and o.is_open]

    def trades(self, account: str, symbol: str) -> Iterator[tuple[SimOrder, SimFill]]:
        for order in self.orders.values():
            if order.account == account and order.symbol == symbol:
                for fill in order.fills:
                    yield order, fill

    # --- the clock moved ----------------------------------------------------------------------
    def on_market(self, symbol: str, trades: list[TapeTrade], now_ms: int) -> None:
        """Recorded trades printed and the quote moved: resting limit orders may fill."""
        resting = self.open_orders_in(symbol)
        if not resting:
            return
        for order in sorted(resting, key=lambda o: o.order_id):
            assert order.price is not None
            buy = order.side == "BUY"
            for trade in trades:
                if order.remaining <= 0:
                    break
                if (trade.price <= order.price) if buy else (trade.price >= order.price):
                    self._fill(
                        order, order.price, min(trade.quantity, order.remaining), True, now_ms
                    )

    # --- balances -----------------------------------------------------------------------------
    def _free(self, account: str, asset: str) -> Decimal:
        if account not in self.balances:
            raise OrderError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return self.balances[account].get(asset, ZERO) - self.locked[account].get(asset, ZERO)

    def free_and_locked(self, account: str) -> dict[str, tuple[Decimal, Decimal]]:
        assets = set(self.balances[account]) | set(self.locked[account])
        return {
            a: (self._free(account, a), self.locked[account].get(a, ZERO)) for a in sorted(assets)
        }

    def _lock_needed(
        self,
        side: str,
        kind: str,
        quantity: Decimal,
        price: Decimal | None,
        levels: list[tuple[Decimal, Decimal]],
    ) -> tuple[str, Decimal]:
        if side == "SELL":
            return "base", quantity
        if kind == "LIMIT":
            assert price is not None
            notional = price * quantity
        else:
            notional, left = ZERO, quantity
            for level_price, level_qty in levels:
                take = min(level_qty, left)
                notional += take * level_price
                left -= take
        return "quote", notional * (1 + self.config.taker_bps / BPS)

    def _lock(self, order: SimOrder, which: str, amount: Decimal) -> None:
        asset = order.base if which == "base" else order.quote
        locked = self.locked[order.account]
        locked[asset] = locked.get(asset, ZERO) + amount
        order.locked = amount

    def _release(self, order: SimOrder, amount: Decimal) -> None:
        asset = order.base if order.side == "SELL" else order.quote
        amount = min(amount, order.locked)
        locked = self.locked[order.account]
        locked[asset] = locked.get(asset, ZERO) - amount
        order.locked -= amount

    # --- internals ----------------------------------------------------------------------------
    def levels(
        self, book: Book, side: str, limit: Decimal | None = None
    ) -> Iterator[tuple[Decimal, Decimal]]:
        """The book an order on ``side`` takes from, best first: ``(price, quantity)`` levels
        (up to ``limit``)."""
        buy = side == "BUY"
        top, size = (book.ask, book.ask_qty) if buy else (book.bid, book.bid_qty)
        step = self.config.level_step_bps / BPS
        for i in range(self.config.depth_levels):
            # deeper levels are rounded to the tick against the taker
            price = top
            if i:
                raw = top * (1 + step * i) if buy else top * (1 - step * i)
                rounding = ROUND_CEILING if buy else ROUND_FLOOR
                price = (raw / book.tick).to_integral_value(rounding) * book.tick
            if limit is not None and (price > limit if buy else price < limit):
                return
            yield price, size * self.config.depth_growth**i

    def _fill(
        self, order: SimOrder, price: Decimal, quantity: Decimal, maker: bool, now_ms: int
    ) -> None:
        if quantity <= 0:
            return
        notional = price * quantity
        rate = self.config.maker_bps if maker else self.config.taker_bps
        commission = (notional * rate / BPS).quantize(Decimal("0.00000001"))
        fill = SimFill(
            next(self._trade_ids), price, quantity, commission, order.quote, maker, now_ms
        )
        self._release(order, order.locked * quantity / order.remaining)  # its share of the lock
        order.fills.append(fill)
        order.executed += quantity
        order.cum_quote += notional
        order.update_ms = now_ms
        held = self.balances[order.account]
        if order.side == "BUY":
            held[order.base] = held.get(order.base, ZERO) + quantity
            held[order.quote] = held.get(order.quote, ZERO) - notional - commission
        else:
            held[order.base] = held.get(order.base, ZERO) - quantity
            held[order.quote] = held.get(order.quote, ZERO) + notional - commission
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        self._emit(order, "TRADE", fill, now_ms)

    def _finish(self, order: SimOrder, status: str, now_ms: int) -> None:
        order.status = status
        order.update_ms = now_ms
        self._release(order, order.locked)
        self._emit(order, "CANCELED" if status == "CANCELED" else status, None, now_ms)

    def _emit(self, order: SimOrder, kind: str, fill: SimFill | None, now_ms: int) -> None:
        execution = Execution(
            order, kind, order.status, order.executed, order.cum_quote, fill, now_ms
        )
        for listener in self.listeners:
            listener(execution)
