"""The billing dashboard page under Streamlit's AppTest, on a closed month."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from connectors.store.billing import write_usage
from flows.billing import close
from operators.billing.catalogue import load_catalogue
from operators.billing.metering import Roster, meter
from schemas.signals import Decision
from tests.billing.conftest import day, fused, subscription


def test_billing_page_shows_plans_usage_revenue_and_kpis(billing_store, monkeypatch) -> None:
    url, engine = billing_store
    roster = Roster(
        load_catalogue(), [subscription("ana", "pro"), subscription("cy", "per_signal")]
    )
    write_usage(engine, meter(fused("f1", day(3), Decision.OPEN), roster))
    close(engine, "2022-01")
    monkeypatch.setenv("QUORUM_STORE", url)
    at = AppTest.from_string(
        "from dashboards.views import billing\nbilling.render()\n", default_timeout=60
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.label for t in at.tabs] == ["Plans", "Usage", "Revenue share", "KPIs"]
    plans = at.dataframe[0].value
    assert list(plans["plan"]) == ["Basic", "Pro", "Enterprise", "Pay per signal"]
    assert {m.label for m in at.metric} == {"MRR", "ARPU", "Trial conversion", "Churn"}
    assert at.metric[0].value == "128.00 USD"  # Pro 99 + Basic 29 (the store has three)
