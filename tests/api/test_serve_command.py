"""``quorum serve``: key management from the CLI, and the server answering on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.keys import authenticate
from connectors.store.engine import open_store
from flows.cli import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_create_list_and_revoke_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store.sqlite")
    assert main(["serve", "--store", store, "--create-key", "ana", "--scopes", "review"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[-1]
    assert out[0].startswith("created key ") and "review" in out[0]
    engine = open_store(store)
    try:
        assert authenticate(engine, key).owner == "ana"
    finally:
        engine.dispose()
    key_id = key.split("_")[1]
    assert main(["serve", "--store", store, "--list-keys"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "active" in listing and key.split("_", 2)[2] not in listing
    assert main(["serve", "--store", store, "--revoke-key", key_id]) == 0
    assert main(["serve", "--store", store, "--revoke-key", key_id]) == 2
    assert "no active key" in capsys.readouterr().err


def test_bad_scope_is_refused_by_the_parser(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--store", str(tmp_path / "s.sqlite"), "--create-key", "a", "--scopes", "x"])
    assert exc.value.code == 2


def test_bad_owner_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store.sqlite")
    assert main(["serve", "--store", store, "--create-key", "a\tb"]) == 2
    assert "owner" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_serve_answers_on_loopback(replayed: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    store.write_bytes(replayed.read_bytes())
    created = subprocess.run(
        [sys.executable, "-m", "flows.cli", "serve", "--store", str(store), "--create-key", "app"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    key = created.stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--store", str(store), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                response = httpx.get(f"{url}/v1/signals/latest", headers={"X-API-Key": key})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()[0]["asset"] == "BTC-PERP"
        assert httpx.get(f"{url}/v1/signals/latest").status_code == 401
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "Quorum signal API"
    finally:
        server.terminate()
        server.wait(30)
