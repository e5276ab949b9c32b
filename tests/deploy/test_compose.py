"""``deploy/compose.yaml`` parses, and every quorum command it runs exists in the CLI."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from flows.cli import build_parser
from flows.config import load_config
from flows.store_options import TIMESERIES_ENV, store_overrides
from tests.deploy.conftest import ROOT

COMPOSE = ROOT / "deploy" / "compose.yaml"
QUORUM_SERVICES = ("ingest", "flow", "api", "dashboard")
KAFKA_FLAGS = {"--kafka": 1, "--ingest-only": 0, "--source": 1, "--until-idle": 1}
"""Flags of the Kafka work (issue 10): checked by the parser once the CLI has them."""
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` with the default, as a fresh deployment sees it."""
    return _DEFAULTED.sub(lambda m: m.group(2), text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_services_of_the_production_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "postgres", "questdb", *QUORUM_SERVICES} <= services.keys()
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for name in QUORUM_SERVICES:
        assert services[name]["image"] == "quorum:latest", name
        assert services[name]["build"]["context"] == "..", name
    assert (ROOT / "Dockerfile").exists()
    for name in ("api", "dashboard"):
        command = services[name]["command"]
        assert command[command.index("--host") + 1] == "0.0.0.0", name


def _known_flags(parser: Any) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def _without_missing_kafka_flags(argv: list[str], known: set[str]) -> list[str]:
    kept: list[str] = []
    skip = 0
    for arg in argv:
        if skip:
            skip -= 1
        elif arg in KAFKA_FLAGS and arg not in known:
            skip = KAFKA_FLAGS[arg]
        else:
            kept.append(arg)
    return kept


def test_the_flow_writes_its_time_series_to_the_questdb_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    questdb = services["questdb"]
    assert questdb["image"].startswith("questdb/questdb:")
    published = {port.split(":")[-1] for port in questdb["ports"]}
    assert published == {"9000", "8812", "9009"}
    flow = services["flow"]
    assert "questdb" in flow["depends_on"]
    address = _interpolate(flow["environment"][TIMESERIES_ENV])
    assert address == "questdb://questdb:9000"
    argv = [_interpolate(str(arg)) for arg in flow["command"]]
    with pytest.MonkeyPatch.context() as env:  # the flow container's environment
        env.setenv(TIMESERIES_ENV, address)
        args = build_parser().parse_args(argv)
    config = load_config(overrides=store_overrides(args))
    assert config.store.timeseries.http_root == "http://questdb:9000"


@pytest.mark.parametrize("service", QUORUM_SERVICES)
def test_every_command_exists_in_the_cli(compose: dict[str, Any], service: str) -> None:
    argv = [_interpolate(str(arg)) for arg in compose["services"][service]["command"]]
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert argv[0] in subparsers.choices, f"{service}: quorum {argv[0]} is not a command"
    known = _known_flags(subparsers.choices[argv[0]])
    args = parser.parse_args(_without_missing_kafka_flags(argv, known))
    assert args.command == argv[0]
