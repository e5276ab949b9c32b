"""Where Bytewax 0.21 runs things in a cluster: the worker of a keyed step's key, and of a
source partition.

A stateful step (``stateful_map``, ``stateful_batch``, …) hands every ``(key, value)`` to the
worker ``SipHash-1-3(key) % workers`` — Rust's ``DefaultHasher`` (zero keys) over the key's
UTF-8 bytes and the ``0xff`` terminator Rust's ``str`` hashing appends. A fixed-partitioned
source's partitions go round-robin over their names in sorted order: the partition of rank
``r`` is read by worker ``r % workers``. Bytewax does not expose either rule; both are pinned
against the running engine by ``tests/placement/test_bytewax_routing.py`` (bytewax is pinned).

Items read on one worker and keyed to another are pickled and sent over (between processes:
over TCP), at every keyed step. A source that puts each key's rows in a partition of the
worker its key is routed to (:func:`partition_rank_of_key`; the replay does) keeps the keyed
steps local, and a portfolio whose assets route to its own worker keeps the trading core local
too (:func:`portfolio_ids_per_worker`).

>>> worker_of_key("BTC/USDT", 2), worker_of_key("XRP/USDT", 2), worker_of_key("XRP/USDT", 3)
(1, 0, 2)
>>> worker_of_partition("replay-10-of-12", [f"replay-{i}-of-12" for i in range(12)], 2)
0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from siphash24 import siphash13

# Rust's `impl Hash for str` writes the bytes, then this terminator byte.
_STR_TERMINATOR = b"\xff"
_U64 = (1 << 64) - 1  # siphash24's intdigest is signed; Rust's hash is a u64


def key_hash(key: str) -> int:
    """The 64-bit hash Bytewax routes ``key`` by (SipHash-1-3, zero keys, Rust ``str`` framing).

    >>> key_hash("BTC/USDT") % 2
    1
    """
    return siphash13(key.encode() + _STR_TERMINATOR).intdigest() & _U64


def worker_of_key(key: str, workers: int) -> int:
    """The worker (global index) a stateful step keeps ``key``'s state on."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return key_hash(key) % workers


def worker_of_partition(name: str, names: Sequence[str], workers: int) -> int:
    """The worker that reads source partition ``name`` of ``names`` (all of the source's)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    ranked = sorted(set(names))
    if name not in ranked:
        raise ValueError(f"partition {name!r} is not one of the source's {ranked}")
    return ranked.index(name) % workers


def partition_rank_of_key(key: str, partitions: int) -> int:
    """The rank (in sorted partition names) of the partition to put ``key``'s rows in so that
    they are read on the worker its keyed state lives on, for every worker count that divides
    ``partitions`` (``h % p % w == h % w`` when ``w`` divides ``p``).

    >>> partition_rank_of_key("ETH/USDT", 4) % 2 == worker_of_key("ETH/USDT", 2)
    True
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    return key_hash(key) % partitions


def keys_per_worker(keys: Iterable[str], workers: int) -> list[list[str]]:
    """``keys`` grouped by the worker their state is kept on, in the order given.

    >>> keys_per_worker(["BTC/USDT", "XRP/USDT", "ETH/USDT"], 2)
    [['XRP/USDT'], ['BTC/USDT', 'ETH/USDT']]
    """
    groups: list[list[str]] = [[] for _ in range(workers)]
    for key in keys:
        groups[worker_of_key(key, workers)].append(key)
    return groups


def portfolio_ids_per_worker(prefix: str, workers: int, *, limit: int = 10_000) -> list[str]:
    """One portfolio id per worker, ``{prefix}-{n}`` with the smallest ``n`` that lands on it:
    a portfolio given the assets of its worker (:func:`keys_per_worker`) gets every input of
    theirs without a hop between workers.

    >>> ids = portfolio_ids_per_worker("book", 2)
    >>> [worker_of_key(i, 2) for i in ids]
    [0, 1]
    """
    ids: list[str | None] = [None] * workers
    for n in range(1, limit + 1):
        candidate = f"{prefix}-{n}"
        worker = worker_of_key(candidate, workers)
        if ids[worker] is None:
            ids[worker] = candidate
            if all(ids):
                return [i for i in ids if i is not None]
    raise ValueError(f"no '{prefix}-N' id up to N={limit} for each of {workers} workers")


def placement_advice(workers: int, partitions: int, portfolio_ids: Sequence[str]) -> list[str]:
    """What a cluster of ``workers`` loses to placement, as sentences for its operator: replay
    partitions that are not a multiple of the workers (keyed items cross between workers), and
    portfolios crowded on fewer workers than they could spread over (one worker runs their
    trading cores while others wait).

    >>> placement_advice(2, 2, ["half-1", "half-3"])
    []
    >>> for line in placement_advice(2, 1, ["half-1", "half-2"]):
    ...     print(line)
    source.partitions is 1, not a multiple of the 2 workers: about half of every keyed step's
    items are sent to another worker; set source.partitions to 2
    portfolios half-1, half-2 keep their trading cores on 1 of the 2 workers (0); ids that
    spread over the workers: half-1, half-3 (operators.placement.portfolio_ids_per_worker)
    """
    advice = []
    if workers > 1 and partitions % workers:
        share = "about half" if workers == 2 else f"about {workers - 1} in {workers}"
        advice.append(
            f"source.partitions is {partitions}, not a multiple of the {workers} workers: "
            f"{share} of every keyed step's items are sent to another worker; set "
            f"source.partitions to {workers}"
        )
    on = sorted({worker_of_key(p, workers) for p in portfolio_ids})
    if workers > 1 and len(on) < min(len(portfolio_ids), workers):
        prefix = portfolio_ids[0].rsplit("-", 1)[0] or "book"
        advice.append(
            f"portfolios {', '.join(portfolio_ids)} keep their trading cores on {len(on)} of "
            f"the {workers} workers ({', '.join(map(str, on))}); ids that spread over the "
            f"workers: {', '.join(portfolio_ids_per_worker(prefix, workers))} "
            "(operators.placement.portfolio_ids_per_worker)"
        )
    return advice
