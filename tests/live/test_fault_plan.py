"""`quorum simulator --faults`: the plan is parsed with clear errors and flips the switches."""

from __future__ import annotations

import threading

import httpx
import pytest

from connectors.simulator import ExchangeSimulator
from connectors.simulator.fault_plan import (
    PlannedFault,
    apply_fault,
    parse_fault_plan,
    run_fault_plan,
)
from flows.cli import main


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("corrupt@1", "corrupt takes an argument (count)"),
        ("drop:2@1", "drop takes no argument"),
        ("rest:abcx2@1", "is not NAME[:ARG]@SECONDS"),
        ("explode@3", "unknown fault 'explode'"),
        ("", "give at least one entry"),
    ],
)
def test_a_bad_plan_is_a_user_error(plan: str, message: str, capsys) -> None:
    assert main(["simulator", "--duration", "0.1", "--faults", plan]) == 2
    assert message in capsys.readouterr().err


def test_the_plan_flips_the_simulator_switches(sim: ExchangeSimulator) -> None:
    plan = parse_fault_plan("rest:500x1@0,corrupt:2@0,duplicate:1@0,reorder:2@0")
    run_fault_plan(sim, plan, threading.Event())
    info = f"{sim.rest_url}/api/v3/exchangeInfo"
    assert [httpx.get(info).status_code for _ in range(2)] == [500, 200]
    assert sim.faults.shape(['{"a":1}', '{"b":2}', '{"c":3}', '{"d":4}'], hold=[]) == [
        '{"b":2}',
        '{"a":1}',
        '{"c',
        '{"c',
        '{"d',
    ]


def test_a_timed_fault_switches_itself_off(sim: ExchangeSimulator) -> None:
    timer = apply_fault(sim, PlannedFault(at=0, name="silence", seconds=0.05))
    assert sim.faults.silent and timer is not None
    timer.join(10)
    assert not sim.faults.silent


def test_the_command_reports_each_fault(capsys) -> None:
    assert main(["simulator", "--duration", "1", "--faults", "corrupt:1@0,stall@0.1"]) == 0
    out = capsys.readouterr().out
    assert "fault              corrupt at 0 s" in out and "fault              stall at 0.1 s" in out
