"""The billing catalogue: plans with their entitlements and prices, authors, fee rules.

One versioned configuration (``flows/billing.yaml``); :func:`load_catalogue` validates it and
stops with a message naming the file, the field and the value. ``version`` is chosen by people;
``digest`` is the hash of the content, so a store can refuse a different catalogue under a
version it already holds (see ``connectors.store.billing.store_catalogue``).

>>> cat = load_catalogue()
>>> [p.plan_id for p in cat.plans]
['basic', 'pro', 'enterprise', 'per_signal']
>>> basic = cat.plan("basic")
>>> basic.entitlements.delay_seconds, [c.value for c in basic.entitlements.channels]
(900, ['api'])
>>> basic.price_minor, cat.plan("per_signal").price_per_signal_minor
(2900, 50)
>>> cat.author_of("rules:rsi_reversal_short")
'ana'
>>> cat.plan("gold")
Traceback (most recent call last):
...
KeyError: "unknown plan 'gold'; the catalogue has basic, pro, enterprise, per_signal"
"""

from __future__ import annotations

import hashlib
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.billing import Channel
from schemas.common import Timeframe
from schemas.signals import Decision

DEFAULT_CATALOGUE_PATH = Path(__file__).resolve().parents[2] / "flows" / "billing.yaml"


class CatalogueError(ValueError):
    """A catalogue that cannot be used; the message names the file, field and value."""


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Entitlements(_Config):
    """What a plan lets a customer receive, where and how fast."""

    assets: tuple[str, ...] = Field(
        default=("*",), description="Asset patterns (fnmatch, e.g. 'BTC*'); '*' = every asset"
    )
    timeframes: tuple[Timeframe, ...] = Field(
        default=tuple(Timeframe),
        description="Contributions on these timeframes are shown; a signal with none is withheld",
    )
    sources: tuple[str, ...] = Field(
        default=("*",), description="Source origin patterns shown, e.g. 'rules:*'"
    )
    decisions: tuple[Decision, ...] = Field(
        default=(Decision.OPEN,), description="Decision bands delivered (REVIEW is a premium)"
    )
    delay_seconds: int = Field(
        default=0, ge=0, le=86_400, description="Signals reach the customer this late"
    )
    channels: tuple[Channel, ...] = Field(
        default=(Channel.API,), description="Delivery channels: api, sse, kafka, webhook"
    )
    rate_limit_per_minute: int = Field(default=60, ge=1, description="API requests per minute")
    seats: int = Field(default=1, ge=1, description="API keys the customer may hold")


class Plan(_Config):
    """A product a customer subscribes to."""

    plan_id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Stable identifier")
    name: str
    interval: Literal["month"] = Field(default="month", description="Billing period")
    price_minor: int = Field(ge=0, description="Price per period in minor units (0 = none)")
    price_per_signal_minor: int = Field(
        default=0, ge=0, description="Price of each delivered signal in minor units"
    )
    trial_days: int = Field(default=0, ge=0, le=90, description="Paper-trading trial length")
    entitlements: Entitlements


class RevenueShare(_Config):
    """How signal revenue is split between source authors and the platform."""

    author_percent: int = Field(
        default=70, ge=0, le=100, description="Authors' part of attributed revenue, in percent"
    )


class PerformanceFee(_Config):
    """Fee on a subscriber portfolio's gains above its high-water mark."""

    percent: int = Field(default=20, ge=0, le=50, description="Percent of new net gains")


class Author(_Config):
    """Who owns a family of sources (playbook author, model owner)."""

    author: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    sources: tuple[str, ...] = Field(description="Origin patterns, e.g. 'rules:rsi_*'")


class Catalogue(_Config):
    """The whole billing configuration, one version of it."""

    version: int = Field(ge=1, description="Raised by people on every change")
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$")
    grace_days: int = Field(
        default=7, ge=0, le=60, description="Days past due before entitlements are reduced"
    )
    past_due_plan: str | None = Field(
        default="basic", description="Plan whose entitlements apply after the grace period"
    )
    plans: tuple[Plan, ...]
    authors: tuple[Author, ...] = ()
    platform_author: str = Field(
        default="platform", description="Receives attribution of sources no author claims"
    )
    revenue_share: RevenueShare = RevenueShare()
    performance_fee: PerformanceFee = PerformanceFee()

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        ids = [p.plan_id for p in self.plans]
        if not ids:
            raise ValueError("plans: the catalogue needs at least one plan")
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"plans: plan ids must be unique; repeated: {duplicates}")
        if self.past_due_plan is not None and self.past_due_plan not in ids:
            raise ValueError(f"past_due_plan: {self.past_due_plan!r} is not a plan id")
        return self

    def plan(self, plan_id: str) -> Plan:
        for plan in self.plans:
            if plan.plan_id == plan_id:
                return plan
        known = ", ".join(p.plan_id for p in self.plans)
        raise KeyError(f"unknown plan {plan_id!r}; the catalogue has {known}")

    def author_of(self, origin: str) -> str:
        """The first author whose pattern matches ``origin``, else the platform."""
        for author in self.authors:
            if any(fnmatchcase(origin, pattern) for pattern in author.sources):
                return author.author
        return self.platform_author

    @property
    def digest(self) -> str:
        """sha256 of the canonical content: same catalogue → same digest."""
        return hashlib.sha256(self.canonical_json()).hexdigest()

    def canonical_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)


def _format_error(exc: ValidationError, origin: str) -> str:
    lines = [f"invalid billing catalogue in {origin}:"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"  {field}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def parse_catalogue(data: Any, origin: str = "<data>") -> Catalogue:
    """Validate a mapping as a catalogue, with a :class:`CatalogueError` naming the field."""
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        raise CatalogueError(_format_error(exc, origin)) from None


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and validate a catalogue file (default: the shipped ``flows/billing.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_CATALOGUE_PATH
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CatalogueError(f"cannot read billing catalogue {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"billing catalogue {path} is not valid YAML: {exc}") from None
    return parse_catalogue(data, str(path))
