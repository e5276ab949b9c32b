"""CORS is off unless origins are listed; the bind address defaults to loopback outside the
image, where QUORUM_BIND_HOST (set to 0.0.0.0 by the Dockerfile) takes over."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from connectors.store.engine import open_store

PREFLIGHT = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"}


def client(**settings: object) -> TestClient:
    return TestClient(create_app(ApiSettings(**settings), engine=open_store("sqlite://")))


def test_no_cors_headers_by_default() -> None:
    response = client().options("/v1/signals", headers={"Origin": "https://a.example", **PREFLIGHT})
    assert "access-control-allow-origin" not in response.headers


def test_listed_origins_only() -> None:
    api = client(cors_origins=("https://desk.example",))
    allowed = api.options("/v1/signals", headers={"Origin": "https://desk.example", **PREFLIGHT})
    assert allowed.headers["access-control-allow-origin"] == "https://desk.example"
    other = api.options("/v1/signals", headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("command", ["serve", "dashboard"])
def test_bind_address_defaults_to_loopback_and_follows_the_environment(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module(f"flows.commands.{command}")

    def parsed() -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        module.configure(parser)
        return parser.parse_args([])

    monkeypatch.delenv("QUORUM_BIND_HOST", raising=False)
    assert parsed().host == "127.0.0.1"
    monkeypatch.setenv("QUORUM_BIND_HOST", "0.0.0.0")
    assert parsed().host == "0.0.0.0"


def test_the_image_binds_every_interface() -> None:
    dockerfile = Path(__file__).resolve().parents[2] / "Dockerfile"
    assert "QUORUM_BIND_HOST=0.0.0.0" in dockerfile.read_text()
