"""Machinery every live market-data source shares.

* :mod:`.gate` and :mod:`.cursor`: ordering, de-duplication, gap detection, resume state;
* :mod:`.backoff`: reconnect and retry delays with jitter;
* :mod:`.frames`: why a connection ended, the error a frame decoder raises;
* :mod:`.health`: per-symbol heartbeats and staleness (:class:`~.health.FeedHealth`);
* :mod:`.rest`: history over REST through ccxt, with rate-limit-aware retries;
* :mod:`.outbox` and :mod:`.partition`: a background asyncio feed as a non-blocking Bytewax
  partition;
* :mod:`.session` and :mod:`.reconnect`: a feed session's set-up, health records, dead letters
  and REST history; a WebSocket session's connection, read loop, quotes and reconnects;
* :mod:`.routing` and :mod:`.side_channel`: where a live source's extra items go in a flow.

The Binance WebSocket source, the ccxt polling source and the Alpaca/Polygon stream source
(:mod:`connectors.market_data.stream`) are all built from these pieces.
"""
