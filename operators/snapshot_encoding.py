"""Compact encodings for the state Bytewax snapshots: what a symbol's snapshot is made of.

Bytewax snapshots every key's state by pickling it, and many cores hold their configuration
(frozen pydantic models): pickled whole, with its field names and the set of fields given, a
default configuration costs about 650 bytes in every symbol's snapshot of every step that holds
one. A model with :class:`PicklesAsChanges` pickles as its class and the fields that differ
from the defaults, and is validated again on restore (the same values, the same model).

>>> import pickle
>>> from operators.fusion.config import FusionConfig
>>> pickle.loads(pickle.dumps(FusionConfig(open_above=0.8))) == FusionConfig(open_above=0.8)
True
>>> len(pickle.dumps(FusionConfig())) < 120
True

Parts whose pickle is large but repetitive (river's models, indicator windows of nearby
prices) are carried as one zlib-compressed pickle (:func:`packed`), at the cost of compressing
when Bytewax writes a snapshot; the deep copies Bytewax makes every epoch never compress.

>>> unpacked(packed({"closes": [100.0] * 50})) == {"closes": [100.0] * 50}
True
"""

from __future__ import annotations

import pickle
import zlib
from typing import Any


def _restored(cls: Any, changes: dict[str, Any]) -> Any:
    return cls.model_validate(changes)


class PicklesAsChanges:
    """Mixin for a frozen pydantic model: pickle as ``(class, non-default fields)``."""

    def __reduce__(self) -> tuple[Any, tuple[Any, dict[str, Any]]]:
        changes = self.model_dump(exclude_defaults=True)  # type: ignore[attr-defined]
        return _restored, (type(self), changes)


def packed(value: Any) -> bytes:
    """``value`` pickled (highest protocol) and zlib-compressed."""
    return zlib.compress(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def unpacked(data: bytes) -> Any:
    """The value :func:`packed` encoded (the bytes come from the snapshot being restored)."""
    return pickle.loads(zlib.decompress(data))
