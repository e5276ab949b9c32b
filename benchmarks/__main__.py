"""``python -m benchmarks``: the whole benchmark harness (see :mod:`benchmarks.harness`)."""

from benchmarks.harness import main

if __name__ == "__main__":
    raise SystemExit(main())
