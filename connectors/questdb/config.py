"""Where the QuestDB sink connects and how its sender flushes (pydantic; every field described).

``address`` takes either a short URL, ``questdb://HOST:PORT`` (``questdbs://`` for TLS), or the
official client's configuration string for ILP over HTTP, ``http::addr=HOST:PORT;…`` (``https::``
for TLS; ``username``/``password`` or ``token`` for auth). Credentials never appear in ``repr``.

>>> cfg = QuestDBConfig(address="questdb://127.0.0.1:9000")
>>> cfg.conf()
'http::addr=127.0.0.1:9000;auto_flush_rows=10000;auto_flush_interval=1000;'
>>> cfg.http_root, cfg.auth_headers()
('http://127.0.0.1:9000', {})
>>> secret = QuestDBConfig(address="https::addr=db:9000;username=ana;password=hunter2;")
>>> "hunter2" in repr(secret), secret.http_root, secret.auth_headers()["Authorization"][:6]
(False, 'https://db:9000', 'Basic ')
>>> QuestDBConfig(address="tcp::addr=db:9009;")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for QuestDBConfig
address
  Value error, QuestDB address 'tcp::addr=db:9009;' must be questdb://HOST:PORT or an ILP-over-HTTP configuration string http::addr=HOST:PORT; (or https::…), but it is neither ...
...
"""  # noqa: E501

from __future__ import annotations

import base64
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_URL = re.compile(r"^questdb(s?)://([^/:\s]+):(\d+)/?$")
_CONF = re.compile(r"^(https?)::(.*)$")
_SECRET_VALUE = re.compile(r"((?:password|token)=)[^;]*")


def _conf_pairs(text: str) -> dict[str, str]:
    """``key=value;`` pairs of a client configuration string (``;;`` escapes a ``;``)."""
    pairs: dict[str, str] = {}
    for part in re.split(r"(?<!;);(?!;)", text):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"{part!r} is not key=value")
        pairs[key.strip()] = value.replace(";;", ";")
    return pairs


def parse_address(address: str) -> tuple[str, dict[str, str]]:
    """``(scheme, settings)`` of a QuestDB address; ``scheme`` is ``http`` or ``https``.

    >>> parse_address("questdbs://db:9000")
    ('https', {'addr': 'db:9000'})
    >>> parse_address("http::addr=db:9000;retry_timeout=20000;")
    ('http', {'addr': 'db:9000', 'retry_timeout': '20000'})
    """
    text = address.strip()
    url = _URL.match(text)
    if url:
        return ("https" if url.group(1) else "http"), {"addr": f"{url.group(2)}:{url.group(3)}"}
    conf = _CONF.match(text)
    problem = "it is neither"
    if conf:
        try:
            settings = _conf_pairs(conf.group(2))
        except ValueError as exc:
            problem = f"its settings do not parse ({exc})"
        else:
            if re.fullmatch(r"[^:\s]+:\d+", settings.get("addr", "")):
                return conf.group(1), settings
            problem = "it has no addr=HOST:PORT"
    raise ValueError(
        f"QuestDB address {redact_conf(address)!r} must be questdb://HOST:PORT or an ILP-over-HTTP "
        f"configuration string http::addr=HOST:PORT; (or https::…), but {problem}"
    )


def redact_conf(text: str) -> str:
    """``text`` with the values of ``password=`` and ``token=`` settings replaced by ``***``.

    >>> redact_conf("http::addr=db:9000;username=ana;password=hunter2;")
    'http::addr=db:9000;username=ana;password=***;'
    """
    return _SECRET_VALUE.sub(r"\1***", text)


class QuestDBConfig(BaseModel):
    """The QuestDB server of the time-series tables, and the sender's flush thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(
        repr=False,
        description=(
            "questdb://HOST:PORT (questdbs:// for TLS) or the client's configuration string "
            "http::addr=HOST:PORT;[username=…;password=…;|token=…;] (https:: for TLS); the HTTP "
            "port (9000) serves both ILP writes and the DDL"
        ),
    )
    auto_flush_rows: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="The sender sends once this many rows are buffered (besides every batch end)",
    )
    auto_flush_interval_ms: int = Field(
        default=1_000,
        ge=1,
        le=3_600_000,
        description="…or once this many milliseconds passed since the last send",
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Timeout of the DDL requests sent at start (/exec)"
    )

    @field_validator("address")
    @classmethod
    def _known_form(cls, value: str) -> str:
        parse_address(value)
        return value

    def __repr_args__(self) -> Any:
        yield "address", redact_conf(self.address)
        yield from super().__repr_args__()

    def conf(self) -> str:
        """The client configuration string; flush settings the address sets itself are kept."""
        scheme, settings = parse_address(self.address)
        settings.setdefault("auto_flush_rows", str(self.auto_flush_rows))
        settings.setdefault("auto_flush_interval", str(self.auto_flush_interval_ms))
        body = "".join(f"{k}={v.replace(';', ';;')};" for k, v in settings.items())
        return f"{scheme}::{body}"

    @property
    def http_root(self) -> str:
        """The server's HTTP root (``/exec``, ``/ping`` live there)."""
        scheme, settings = parse_address(self.address)
        return f"{scheme}://{settings['addr']}"

    @property
    def verify_tls(self) -> bool:
        return parse_address(self.address)[1].get("tls_verify", "on") != "unsafe_off"

    def auth_headers(self) -> dict[str, str]:
        """HTTP auth of the address (basic or bearer token) for the DDL requests."""
        settings = parse_address(self.address)[1]
        if "token" in settings:
            return {"Authorization": f"Bearer {settings['token']}"}
        if "username" in settings:
            pair = f"{settings['username']}:{settings.get('password', '')}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}
