"""What a push channel raises when a delivery did not go through."""

from __future__ import annotations


class PushError(RuntimeError):
    """``delivered`` pushes of the batch went through (in order) before the failure."""

    def __init__(self, message: str, delivered: int) -> None:
        super().__init__(message)
        self.delivered = delivered
