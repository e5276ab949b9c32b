"""API keys of the market-data vendors, from the environment or secret files; never printed.

Alpaca reads ``APCA_API_KEY_ID`` and ``APCA_API_SECRET_KEY`` (the names its own SDK and docs
use); Polygon reads ``POLYGON_API_KEY`` (or ``MASSIVE_API_KEY``). Each also accepts
``<NAME>_FILE`` naming a file that holds the value (Docker/Kubernetes secrets).

>>> keys = provider_credentials("alpaca", {"APCA_API_KEY_ID": "k", "APCA_API_SECRET_KEY": "s"})
>>> keys
ProviderCredentials(provider='alpaca', key=SecretStr('**********'), secret=SecretStr('**********'))
>>> provider_credentials("polygon", {})
Traceback (most recent call last):
...
connectors.market_data.credentials.CredentialsError: polygon needs POLYGON_API_KEY (or ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

PROVIDERS = ("alpaca", "polygon")

_KEY_NAMES = {
    "alpaca": (("APCA_API_KEY_ID",), ("APCA_API_SECRET_KEY",)),
    "polygon": (("POLYGON_API_KEY", "MASSIVE_API_KEY"), ()),
}


class CredentialsError(ValueError):
    """A vendor key is missing or unreadable (the message names variables, never values)."""


class ProviderCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: str
    key: SecretStr
    secret: SecretStr | None = None


def _read(provider: str, names: tuple[str, ...], env: Mapping[str, str]) -> SecretStr:
    for name in names:
        if env.get(name):
            return SecretStr(env[name].strip())
    for name in names:
        path = env.get(f"{name}_FILE")
        if not path:
            continue
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise CredentialsError(f"{name}_FILE: cannot read the file ({exc.strerror})") from None
        if not text:
            raise CredentialsError(f"{name}_FILE names an empty file")
        return SecretStr(text)
    alternatives = ", or ".join([*names[1:], f"{names[0]}_FILE"])
    raise CredentialsError(f"{provider} needs {names[0]} (or {alternatives}) in the environment")


def provider_credentials(
    provider: str, env: Mapping[str, str] | None = None
) -> ProviderCredentials:
    """The keys of ``provider`` (``alpaca`` or ``polygon``)."""
    if provider not in _KEY_NAMES:
        raise CredentialsError(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}")
    env = os.environ if env is None else env
    key_names, secret_names = _KEY_NAMES[provider]
    return ProviderCredentials(
        provider=provider,
        key=_read(provider, key_names, env),
        secret=_read(provider, secret_names, env) if secret_names else None,
    )
