"""Kafka in and out: topics per record kind, the JSON envelope, the producer sink and the
market-data source. Import the submodules (``config`` stays free of client libraries)."""
