"""The billing catalogue: shipped plans, validation errors naming the field, versions stored."""

from __future__ import annotations

import pytest

from connectors.store.billing import CatalogueConflictError, load_stored_catalogue, store_catalogue
from connectors.store.engine import open_store
from operators.billing.catalogue import CatalogueError, load_catalogue, parse_catalogue
from schemas.billing import Channel
from schemas.signals import Decision


def test_shipped_plans_climb_in_price_and_entitlements() -> None:
    cat = load_catalogue()
    basic, pro, enterprise = (cat.plan(p) for p in ("basic", "pro", "enterprise"))
    assert basic.price_minor < pro.price_minor < enterprise.price_minor
    assert Decision.REVIEW not in basic.entitlements.decisions
    assert Decision.REVIEW in pro.entitlements.decisions
    assert basic.entitlements.delay_seconds == 900 and pro.entitlements.delay_seconds == 0
    assert set(enterprise.entitlements.channels) == set(Channel)
    assert basic.entitlements.seats < pro.entitlements.seats < enterprise.entitlements.seats
    assert cat.author_of("stat:trend_strength") == "bo"
    assert cat.author_of("rules:ema_cross_long") == "platform"


def _data(**changes: object) -> dict:
    data = load_catalogue().model_dump(mode="json")
    data.update(changes)
    return data


def test_bad_catalogue_names_field_and_value() -> None:
    data = _data()
    data["plans"][0]["price_minor"] = -5
    with pytest.raises(CatalogueError, match=r"plans\.0\.price_minor.*got -5"):
        parse_catalogue(data, "test.yaml")
    data = _data()
    data["plans"][1]["entitlements"]["channels"] = ["api", "fax"]
    with pytest.raises(CatalogueError, match=r"plans\.1\.entitlements\.channels\.1.*'fax'"):
        parse_catalogue(data)
    with pytest.raises(CatalogueError, match="past_due_plan: 'gold' is not a plan id"):
        parse_catalogue(_data(past_due_plan="gold"))
    data = _data()
    data["plans"].append(data["plans"][0])
    with pytest.raises(CatalogueError, match=r"repeated: \['basic'\]"):
        parse_catalogue(data)


def test_missing_file_is_a_readable_error(tmp_path) -> None:
    with pytest.raises(CatalogueError, match="cannot read billing catalogue"):
        load_catalogue(tmp_path / "nope.yaml")


def test_versions_are_stored_once_and_never_rewritten(tmp_path) -> None:
    engine = open_store(tmp_path / "s.sqlite")
    cat = load_catalogue()
    assert store_catalogue(engine, cat) is True
    assert store_catalogue(engine, cat) is False  # same content: nothing new
    changed = parse_catalogue(_data(grace_days=3))
    with pytest.raises(CatalogueConflictError, match="version 1 is stored with other content"):
        store_catalogue(engine, changed)
    v2 = parse_catalogue(_data(grace_days=3, version=2))
    assert store_catalogue(engine, v2) is True
    assert load_stored_catalogue(engine).version == 2
    assert load_stored_catalogue(engine, version=1) == cat
