"""Stock market-data vendors (Alpaca, Polygon/Massive): bulk history into files or the store."""
