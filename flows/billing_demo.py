"""The billing demo: a month of three customers and two signal authors on the shipped data.

* **ana** starts a 14-day Pro trial on 2022-01-01 and converts (card added at the trial's
  end); her paper portfolio of 10,000.00 follows the run's paper trading, so she also pays the
  performance fee;
* **bea** subscribes to Basic on 2022-01-01 and cancels on 2022-01-20 (churn);
* **cy** pays per signal (0.50 each), from 2022-01-01.

Authors (from ``flows/billing.yaml``): **ana** wrote the RSI and Bollinger reversal playbooks,
**bo** owns the statistical and online-learning models; other sources belong to the platform.

The shipped month runs through the whole flow with the metering sink attached (usage events
are written inside the flow), then ``close`` turns the month into invoices, statements,
performance fees, ledger postings and KPIs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from connectors.store.billing import (
    billing_portfolios,
    store_catalogue,
    upsert_customer,
    upsert_subscription,
)
from connectors.store.engine import upsert
from flows.billing import CloseReport, close
from flows.config import QuorumConfig
from flows.runner import RunResult, run_replay
from operators.billing.catalogue import Catalogue
from schemas.billing import Subscription, SubscriptionStatus

MONTH = "2022-01"
START = datetime(2022, 1, 1, tzinfo=UTC)
FOLLOWER_CAPITAL_MINOR = 1_000_000


def demo_subscriptions() -> list[Subscription]:
    return [
        Subscription(
            subscription_id="sub-ana",
            customer_id="ana",
            plan_id="pro",
            status=SubscriptionStatus.ACTIVE,
            started_at=START,
            trial_ends_at=START + timedelta(days=14),
        ),
        Subscription(
            subscription_id="sub-bea",
            customer_id="bea",
            plan_id="basic",
            status=SubscriptionStatus.CANCELED,
            started_at=START,
            ended_at=datetime(2022, 1, 20, tzinfo=UTC),
        ),
        Subscription(
            subscription_id="sub-cy",
            customer_id="cy",
            plan_id="per_signal",
            status=SubscriptionStatus.ACTIVE,
            started_at=START,
        ),
    ]


def set_up_customers(engine: Engine, catalogue: Catalogue) -> None:
    store_catalogue(engine, catalogue)
    for sub in demo_subscriptions():
        name = sub.customer_id.title()
        upsert_customer(
            engine, sub.customer_id, name, f"{sub.customer_id}@example.com", created_at=START
        )
        upsert_subscription(engine, sub)


@dataclass
class DemoResult:
    run: RunResult
    close: CloseReport


def run_demo(
    engine: Engine,
    store_url: str,
    paths: list[Path],
    config: QuorumConfig,
    catalogue: Catalogue,
    progress: bool = False,
) -> DemoResult:
    set_up_customers(engine, catalogue)
    run = run_replay(paths, config=config, store_url=store_url, progress=progress, command="demo")
    assert run.run_id is not None
    upsert(
        engine,
        billing_portfolios,
        [{"customer_id": "ana", "run_id": run.run_id, "capital_minor": FOLLOWER_CAPITAL_MINOR}],
        ("customer_id",),
    )
    return DemoResult(run, close(engine, MONTH))
