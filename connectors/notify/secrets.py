"""Read a secret named in configuration: ``env:NAME``, ``file:PATH`` or a literal value.

>>> import os
>>> os.environ["QUORUM_DOCTEST_TOKEN"] = "t0ken"
>>> resolve_secret("env:QUORUM_DOCTEST_TOKEN", "telegram.token")
't0ken'
>>> resolve_secret("env:QUORUM_DOCTEST_MISSING", "telegram.token")
Traceback (most recent call last):
...
connectors.notify.secrets.SecretMissingError: telegram.token: environment variable ... not set
"""

from __future__ import annotations

import os
from pathlib import Path


class SecretMissingError(ValueError):
    """A configured secret cannot be read; the message names the field and where it looked."""


def resolve_secret(reference: str, field: str) -> str:
    """The value ``reference`` points at; never echoes the value itself in an error."""
    if reference.startswith("env:"):
        name = reference[4:]
        value = os.environ.get(name)
        if not value:
            raise SecretMissingError(f"{field}: environment variable {name} is not set")
        return value
    if reference.startswith("file:"):
        path = Path(reference[5:])
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise SecretMissingError(f"{field}: cannot read {path} ({exc.strerror})") from None
        if not value:
            raise SecretMissingError(f"{field}: {path} is empty")
        return value
    return reference
