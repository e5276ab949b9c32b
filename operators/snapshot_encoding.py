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

A step whose state is a large graph of Python objects (a symbol's signal engine and its river
models, its fusion core) hands Bytewax its pickle as the snapshot (:func:`frozen`) instead of a
deep copy: Bytewax keeps every key's snapshot until the epoch's snapshots are written, and with
thousands of symbols the deep copies were a second copy of the whole state in memory. The
builder takes either form back (:func:`thawed`).

>>> thawed(frozen({"closes": [1.0]})), thawed({"closes": [1.0]}), frozen(None)
({'closes': [1.0]}, {'closes': [1.0]}, None)
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


def frozen(state: Any) -> bytes | None:
    """A snapshot of ``state`` as its pickle: immutable, compact, unaffected by later changes."""
    return None if state is None else pickle.dumps(state, pickle.HIGHEST_PROTOCOL)


def thawed(saved: Any) -> Any:
    """The state a snapshot holds: unpickled from :func:`frozen`'s bytes, or as it is (the
    earlier form, a deep copy; or ``None``)."""
    return pickle.loads(saved) if isinstance(saved, bytes) else saved
