"""Keep a live source's side items out of a flow that only takes market data.

:class:`SideChannelSource` wraps a partitioned source: market batches and dead letters enter the
flow; everything else (feed health, quotes) goes to a callback in the worker thread. It lets a
flow built for replays run on a live source unchanged; a flow that routes those items itself
(:func:`connectors.feed.routing.split_feed`) takes the source directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.feed.routing import is_market
from schemas.records import DeadLetter


def enters_flow(item: Any) -> bool:
    return is_market(item) or isinstance(item, DeadLetter)


class _SidePartition(StatefulSourcePartition[Any, Any]):
    def __init__(
        self,
        inner: StatefulSourcePartition[Any, Any],
        on_side: Callable[[Any], None],
        forward_side: bool,
    ):
        self.inner = inner
        self._on_side = on_side
        self._forward_side = forward_side

    def next_batch(self) -> list[Any]:
        items = self.inner.next_batch()
        kept = []
        for item in items:
            if enters_flow(item):
                kept.append(item)
            else:
                self._on_side(item)
                if self._forward_side:
                    kept.append(item)
        return kept

    def next_awake(self) -> datetime | None:
        return self.inner.next_awake()

    def snapshot(self) -> Any:
        return self.inner.snapshot()

    def close(self) -> None:
        self.inner.close()


class SideChannelSource(FixedPartitionedSource[Any, Any]):
    """``inner``'s market items into the flow, the others to ``on_side`` (and, with
    ``forward_side``, into the flow as well: the shared flow routes quotes and feed health to the
    trading core).

    ``partitions`` lists the built inner partitions (for counters at the end of a run).
    """

    def __init__(
        self,
        inner: FixedPartitionedSource[Any, Any],
        on_side: Callable[[Any], None],
        *,
        forward_side: bool = False,
    ) -> None:
        self.inner = inner
        self.on_side = on_side
        self.forward_side = forward_side
        self.partitions: list[StatefulSourcePartition[Any, Any]] = []

    def list_parts(self) -> list[str]:
        return self.inner.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: Any) -> _SidePartition:
        part = self.inner.build_part(step_id, for_part, resume_state)
        self.partitions.append(part)
        return _SidePartition(part, self.on_side, self.forward_side)
