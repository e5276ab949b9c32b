"""Create the time-series tables at start through QuestDB's HTTP ``/exec`` endpoint (httpx).

Every statement is ``CREATE TABLE IF NOT EXISTS``: applying them on every start, from every
worker, changes nothing once the tables exist. A refusal stops the start with the server's
reason and the table it concerns.
"""

from __future__ import annotations

import httpx

from connectors.questdb.config import QuestDBConfig
from connectors.questdb.tables import TABLES


class QuestDBSetupError(RuntimeError):
    """The server could not be reached, or refused a table's DDL."""


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict) and "error" in body:
        position = f" at position {body['position']}" if "position" in body else ""
        return f"{body['error']}{position}"
    return str(body)[:300]


def apply_ddl(config: QuestDBConfig, tables: list[str] | None = None) -> list[str]:
    """Send each table's DDL (all six by default); returns the statements sent."""
    sent: list[str] = []
    with httpx.Client(
        base_url=config.http_root,
        headers=config.auth_headers(),
        timeout=config.request_timeout_s,
        verify=config.verify_tls,
    ) as client:
        for name in tables or list(TABLES):
            statement = TABLES[name].ddl()
            try:
                response = client.get("/exec", params={"query": statement})
            except httpx.HTTPError as exc:
                raise QuestDBSetupError(
                    f"cannot reach QuestDB at {config.http_root} to create table {name!r}: {exc}"
                ) from None
            if response.status_code != 200:
                raise QuestDBSetupError(
                    f"QuestDB at {config.http_root} refused the DDL of table {name!r} "
                    f"(HTTP {response.status_code}): {_reason(response)}"
                )
            sent.append(statement)
    return sent
