"""The machine a benchmark ran on: CPU, cores, Python and library versions.

>>> info = machine_info()
>>> info["cores"] >= 1 and info["python"].count(".") == 2
True
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("bytewax", "numpy", "numba", "polars", "river", "ta-lib", "nautilus_trader")


def cpu_model() -> str:
    """The CPU model name (from ``/proc/cpuinfo`` on Linux, else ``platform``)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "platform": platform.platform(),
        "python": platform.python_version(),
        # 1, 5 and 15-minute load averages when measured: figures of a busy machine say so
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "libraries": {name: _version(name) for name in LIBRARIES},
    }
