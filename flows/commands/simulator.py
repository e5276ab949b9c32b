"""``quorum simulator``: serve the loopback exchange simulator for demos.

It speaks Binance's WebSocket stream and REST formats on 127.0.0.1 and replays the recorded data
shipped in ``connectors/data`` (BTC/USDT and XRP/ETH trades, BTC/USDC one-minute bars), looping.
Point any Binance client at the printed URLs, or run ``quorum live --simulator``.
"""

from __future__ import annotations

import argparse

HELP = "serve a loopback Binance-compatible exchange replaying recorded data (for demos)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="WebSocket port (0: any free one)")
    parser.add_argument(
        "--rest-port", type=int, default=None, help="REST port (default: --port + 1, or any)"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="replay speed, × real time (default 1)"
    )
    parser.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    parser.add_argument(
        "--faults",
        default=None,
        metavar="PLAN",
        help="faults to inject, NAME[:ARG]@SECONDS comma-separated, e.g. "
        "'drop@10,corrupt:3@15,duplicate:5@20,reorder:4@25,rest:500x2@30,silence:5@35,"
        "stall@45,refuse:3@50' (see connectors/simulator/fault_plan.py)",
    )


def main(args: argparse.Namespace) -> int:
    import threading

    from connectors.simulator import ExchangeSimulator, SimulatorConfig
    from connectors.simulator.fault_plan import parse_fault_plan, run_fault_plan
    from flows.cli import UserError

    try:
        plan = parse_fault_plan(args.faults) if args.faults is not None else []
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not args.speed > 0:
        raise UserError(f"--speed must be > 0, got {args.speed}")
    if args.duration is not None and not args.duration > 0:
        raise UserError(f"--duration must be > 0 seconds, got {args.duration}")
    rest_port = (
        args.rest_port if args.rest_port is not None else (args.port + 1 if args.port else 0)
    )
    config = SimulatorConfig(
        host=args.host, ws_port=args.port, rest_port=rest_port, speed=args.speed
    )
    try:
        sim = ExchangeSimulator(config).start()
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise UserError(f"cannot start the simulator: {exc}") from None
    stop = threading.Event()
    try:
        print(f"WebSocket streams  {sim.ws_url}/stream?streams=btcusdt@trade/btcusdt@kline_1m")
        print(f"REST (ccxt)        {sim.rest_url}/api/v3/exchangeInfo")
        print(f"symbols            {', '.join(m.symbol for m in sim.markets.values())}")
        print(f"speed              {args.speed:g}× real time; Ctrl-C stops")
        if plan:
            injector = threading.Thread(
                target=run_fault_plan,
                args=(
                    sim,
                    plan,
                    stop,
                    lambda f: print(f"fault              {f.name} at {f.at:g} s"),
                ),
                daemon=True,
            )
            injector.start()
        stop.wait(args.duration)  # None: until interrupted
    finally:
        stop.set()
        sim.stop()
    return 0
