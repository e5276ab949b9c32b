"""Binance's request signing, as the simulator checks it (HMAC-SHA256, timestamp, recvWindow).

The signed payload is the query string followed by the request body (Binance's
``totalParams``), without the ``signature`` parameter; the signature is the hex HMAC-SHA256 of
it under the account's secret. The timestamp must lie within ``recvWindow`` ms (default 5000,
at most 60000) of the server's wall clock and not more than 1 s ahead of it.

>>> keys = ApiKeys({"key-1": "secret-1"})
>>> payload = "symbol=BTCUSDT&timestamp=1000"
>>> keys.verify("key-1", payload + "&signature=" + sign("secret-1", payload), "", now_ms=1500)
'key-1'
>>> keys.verify("key-1", payload + "&signature=00", "", now_ms=1500)
Traceback (most recent call last):
...
connectors.simulator.matching.OrderError: Signature for this request is not valid.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl

from connectors.simulator.matching import OrderError

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` under ``secret``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _split_signature(text: str) -> tuple[str, str | None]:
    """``text`` without its ``signature`` parameter, and that parameter's value."""
    kept, signature = [], None
    for part in text.split("&") if text else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


class ApiKeys:
    """API keys and their secrets (the simulator's accounts).

    The secrets never appear in ``repr`` or in an error message.
    """

    def __init__(self, secrets: dict[str, str]) -> None:
        self._secrets = dict(secrets)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._secrets)} keys)"

    def __contains__(self, api_key: object) -> bool:
        return api_key in self._secrets

    def known(self, api_key: str | None) -> str:
        """``api_key`` when it is an account's, else Binance's -2015."""
        if api_key is None or api_key not in self._secrets:
            raise OrderError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return api_key

    def verify(self, api_key: str | None, query: str, body: str, *, now_ms: int) -> str:
        """Check a signed request; returns the account's key or raises Binance's error."""
        key = self.known(api_key)
        query_part, query_sig = _split_signature(query)
        body_part, body_sig = _split_signature(body)
        signature = query_sig or body_sig
        params = dict(parse_qsl(query_part)) | dict(parse_qsl(body_part))
        if signature is None:
            raise OrderError(
                -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        expected = sign(self._secrets[key], query_part + body_part)
        if not hmac.compare_digest(expected, signature.lower()):
            raise OrderError(-1022, "Signature for this request is not valid.")
        check_timestamp(params, now_ms)
        return key

    def verify_params(self, params: dict[str, str], *, now_ms: int) -> str:
        """Check WebSocket-API signed ``params`` (sorted ``key=value`` pairs, Binance's rule)."""
        key = self.known(params.get("apiKey"))
        signature = params.get("signature")
        if signature is None:
            raise OrderError(-1102, "Mandatory parameter 'signature' was not sent.")
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature")
        if not hmac.compare_digest(sign(self._secrets[key], payload), str(signature).lower()):
            raise OrderError(-1022, "Signature for this request is not valid.")
        check_timestamp(params, now_ms)
        return key


def check_timestamp(params: dict[str, str], now_ms: int) -> None:
    """Binance's ``timestamp``/``recvWindow`` rule, with its error codes."""
    try:
        timestamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise OrderError(
            -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        ) from None
    try:
        window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
    except ValueError:
        raise OrderError(-1100, "Illegal characters found in parameter 'recvWindow'.") from None
    if not 0 < window <= MAX_RECV_WINDOW_MS:
        raise OrderError(-1131, "recvWindow must be less than 60000")
    if timestamp > now_ms + 1000 or now_ms - timestamp > window:
        raise OrderError(-1021, "Timestamp for this request is outside of the recvWindow.")
