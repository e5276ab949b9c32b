"""The control-room page under Streamlit's AppTest: read-only without the ``control`` scope;
with it, a change and a revert become audited versions carrying the signed-in identity. The
trading-control page closes a position by hand for the ``trading:control`` scope."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from api.keys import create_key
from connectors.store.audit import iter_chain
from connectors.store.control import read_versions
from connectors.store.engine import open_store

TIMEOUT = 60


@pytest.fixture
def fresh_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store.sqlite"
    open_store(path).dispose()
    monkeypatch.setenv("QUORUM_STORE", str(path))
    monkeypatch.delenv("QUORUM_CONFIG", raising=False)
    return path


def page(name: str) -> AppTest:
    at = AppTest.from_string(
        f"from dashboards.views import {name}\n{name}.render()\n", default_timeout=TIMEOUT
    )
    return at.run()


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def sign_in(at: AppTest, key: str) -> None:
    at.text_input(key="api_key_input").input(key)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()


def test_without_the_control_scope_the_page_only_shows(fresh_store: Path) -> None:
    desk = create_key(open_store(fresh_store), "bo", ["trading:control"])
    at = page("control_room")
    no_errors(at)
    assert {m.label: m.value for m in at.metric}["version in force"] == "0"
    assert "Read-only" in at.info[-1].value
    sign_in(at, desk.key)
    no_errors(at)
    assert "Read-only" in at.info[-1].value
    assert not [b for b in at.button if b.label == "Apply change"]


def test_a_change_and_a_revert_are_versions_with_the_signed_in_identity(fresh_store: Path) -> None:
    engine = open_store(fresh_store)
    tuner = create_key(engine, "ana", ["control"])
    at = page("control_room")
    sign_in(at, tuner.key)
    at.number_input(key="open_above").set_value(0.8)
    at.multiselect(key="control_off").select("stat:zscore_reversion")
    at.number_input(key="risk_max_open_positions").set_value(2)
    at.text_input(key="control_change_reason").input("fewer, surer entries")
    next(b for b in at.button if b.label == "Apply change").click()
    at.run()
    no_errors(at)
    assert at.success[0].value.startswith("version 1 recorded")
    [version] = read_versions(engine)
    assert (version.actor, version.via, version.reason) == (
        "ana",
        f"dashboard:{tuner.key_id}",
        "fewer, surer entries",
    )
    assert version.overrides.fusion == {"open_above": 0.8}
    assert version.overrides.risk == {"max_open_positions": 2}
    assert version.overrides.disabled == ("stat:zscore_reversion",)
    assert {m.label: m.value for m in at.metric}["open above"] == "0.8"

    at.selectbox(key="control_revert_to").select(0)
    at.text_input(key="control_revert_reason").input("back to the file")
    next(b for b in at.button if b.label == "Revert").click()
    at.run()
    no_errors(at)
    assert at.success[0].value.startswith("version 2 restores version 0")
    assert read_versions(engine)[-1].overrides.is_empty()
    kinds = [(r.kind, r.payload["actor"]) for r in iter_chain(engine)]
    assert kinds == [("control_change", "ana"), ("control_change", "ana")]
    history = at.dataframe[-1].value
    assert history["version"].tolist() == [2, 1] and set(history["by"]) == {"ana"}


def test_a_bad_change_is_refused_on_the_page_and_records_nothing(fresh_store: Path) -> None:
    engine = open_store(fresh_store)
    tuner = create_key(engine, "ana", ["control"])
    at = page("control_room")
    sign_in(at, tuner.key)
    at.number_input(key="review_from").set_value(0.9)  # above open_above 0.7
    at.text_input(key="control_change_reason").input("typo")
    next(b for b in at.button if b.label == "Apply change").click()
    at.run()
    assert "fusion.review_from" in at.error[0].value
    assert read_versions(engine) == []


def test_the_trading_page_closes_a_position_by_hand(fresh_store: Path) -> None:
    engine = open_store(fresh_store)
    desk = create_key(engine, "bo", ["trading:control"])
    at = page("controls")
    sign_in(at, desk.key)
    at.text_input(key="close_asset").input("BTC/USDT")
    at.text_input(key="close_reason").input("news")
    next(b for b in at.button if b.label == "Close position").click()
    at.run()
    no_errors(at)
    assert at.success[0].value.startswith("close of BTC/USDT recorded")
    [record] = list(iter_chain(engine))
    assert record.kind == "position_close"
    assert (record.payload["actor"], record.payload["via"]) == ("bo", f"dashboard:{desk.key_id}")
    assert record.payload["action"]["kind"] == "close_position"
