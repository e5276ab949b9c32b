"""A QuestDB-compatible HTTP server on 127.0.0.1 for the real ``questdb`` client and httpx.

It implements what Quorum's sink uses, with QuestDB's documented shapes:

* ``GET /settings``: advertises ILP protocol versions 1 and 2 (as QuestDB 8.3+ does), so the
  client speaks version 2 (binary doubles, ``n``-suffixed nanosecond timestamps);
* ``GET /ping``: 204;
* ``POST /write`` and ``/api/v2/write``: ILP over HTTP; every line is parsed (text and binary
  doubles) and kept, raw and decoded; ``reject`` makes the server answer a table's rows with
  QuestDB's 400 JSON error;
* ``GET /exec?query=…``: the DDL, kept verbatim; ``{"ddl": "OK"}``.

Dedup is modelled, and only from what the DDL declares: a table created with
``DEDUP UPSERT KEYS(…)`` keeps one row per key (the last written), as QuestDB's WAL dedup does;
``rows(table)`` returns those. Without that clause every line would be kept. Nothing else of
QuestDB (SQL, types, partitions) is modelled.
"""

from __future__ import annotations

import json
import re
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback_http import LoopbackServer, send_json

_BINARY_F64 = 16
_UPSERT_KEYS = re.compile(
    r"CREATE TABLE IF NOT EXISTS (\w+) .* DEDUP UPSERT KEYS\(([^)]*)\)", re.DOTALL
)


@dataclass(frozen=True)
class Line:
    """One decoded ILP line: ``ts_ns`` is the designated timestamp (None: server time)."""

    table: str
    symbols: dict[str, str]
    columns: dict[str, Any]
    ts_ns: int | None


@dataclass(frozen=True)
class Nanos:
    """A timestamp column value (``123n``), told apart from a LONG (``123i``)."""

    ns: int


class IlpError(ValueError):
    pass


class _Reader:
    """A cursor over an ILP body (bytes: protocol 2 carries binary doubles)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def peek(self) -> int | None:
        return self.body[self.pos] if self.pos < len(self.body) else None

    def token(self, stops: bytes) -> str:
        """Up to an unescaped stop byte (backslash escapes the next byte)."""
        out = bytearray()
        while (b := self.peek()) is not None and b not in stops:
            if b == 0x5C:  # backslash
                self.pos += 1
                b = self.body[self.pos]
            out.append(b)
            self.pos += 1
        return out.decode()

    def expect(self, byte: bytes) -> None:
        if self.peek() != byte[0]:
            raise IlpError(
                f"expected {byte!r} at byte {self.pos}, got {self.body[self.pos :][:20]!r}"
            )
        self.pos += 1

    def value(self) -> Any:
        b = self.peek()
        if b == ord("="):  # binary value of protocol 2
            kind = self.body[self.pos + 1]
            if kind != _BINARY_F64:
                raise IlpError(f"binary type {kind} is not modelled")
            (number,) = struct.unpack_from("<d", self.body, self.pos + 2)
            self.pos += 10
            return number
        if b == ord('"'):
            self.pos += 1
            out = bytearray()
            while (b := self.peek()) != ord('"'):
                if b is None:
                    raise IlpError("unterminated string")
                if b == 0x5C:
                    self.pos += 1
                    b = self.body[self.pos]
                out.append(b)
                self.pos += 1
            self.pos += 1
            return out.decode()
        text = self.token(b", \n")
        if text in ("t", "T", "true", "True"):
            return True
        if text in ("f", "F", "false", "False"):
            return False
        if text.endswith("i"):
            return int(text[:-1])
        if text.endswith("n"):
            return Nanos(int(text[:-1]))
        if text.endswith("t"):
            return Nanos(int(text[:-1]) * 1000)
        return float(text)


def parse_ilp(body: bytes) -> list[Line]:
    """Decode every line of an ILP body (protocol 1 or 2)."""
    reader = _Reader(body)
    lines: list[Line] = []
    while reader.peek() is not None:
        if reader.peek() == ord("\n"):
            reader.pos += 1
            continue
        table = reader.token(b", ")
        symbols: dict[str, str] = {}
        while reader.peek() == ord(","):
            reader.pos += 1
            name = reader.token(b"=")
            reader.expect(b"=")
            symbols[name] = reader.token(b", ")
        reader.expect(b" ")
        columns: dict[str, Any] = {}
        while True:
            name = reader.token(b"=")
            reader.expect(b"=")
            columns[name] = reader.value()
            if reader.peek() != ord(","):
                break
            reader.pos += 1
        ts_ns = None
        if reader.peek() == ord(" "):
            reader.pos += 1
            stamp = reader.token(b"\n")
            ts_ns = int(stamp[:-1]) if stamp.endswith("n") else int(stamp)
        reader.expect(b"\n")
        lines.append(Line(table, symbols, columns, ts_ns))
    return lines


class FakeQuestDB(LoopbackServer):
    """The server (see the module docstring); a context manager like every loopback double."""

    def __init__(self, protocol_versions: tuple[int, ...] = (1, 2)) -> None:
        self.protocol_versions = protocol_versions
        self.lines: list[Line] = []
        self.raw_bodies: list[bytes] = []
        self.write_paths: list[str] = []
        self.ddl: list[str] = []
        self.reject: dict[str, str] = {}
        """table → error message: its rows are refused with HTTP 400."""
        self.refuse_ddl: dict[str, str] = {}
        """table → error message: its CREATE TABLE is refused with HTTP 400."""
        self._upsert_keys: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        super().__init__(_handler(self))

    @property
    def addr(self) -> str:
        return self.root.removeprefix("http://")

    def rows(self, table: str) -> list[Line]:
        """The table as QuestDB would hold it: deduplicated on its declared upsert keys."""
        with self._lock:
            lines = [line for line in self.lines if line.table == table]
            keys = self._upsert_keys.get(table)
        if keys is None:
            return lines
        kept: dict[tuple[Any, ...], Line] = {}
        for line in lines:
            values = {**line.columns, **line.symbols, "ts": line.ts_ns}
            kept[tuple(values.get(k) for k in keys)] = line
        return sorted(kept.values(), key=lambda line: (line.ts_ns, json.dumps(line.symbols)))

    def _exec(self, query: str) -> tuple[int, dict[str, Any]]:
        match = _UPSERT_KEYS.search(query)
        table = match.group(1) if match else None
        if table in self.refuse_ddl:
            return 400, {"query": query, "error": self.refuse_ddl[table], "position": 0}
        with self._lock:
            self.ddl.append(query)
            if match:
                self._upsert_keys[table] = tuple(k.strip() for k in match.group(2).split(","))
        return 200, {"ddl": "OK"}

    def _write(self, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        try:
            lines = parse_ilp(body)
        except (IlpError, ValueError, IndexError) as exc:
            return 400, {"code": "invalid", "message": f"cannot parse line protocol: {exc}"}
        for number, line in enumerate(lines, 1):
            if line.table in self.reject:
                return 400, {
                    "code": "invalid",
                    "message": f"error in line {number}: table: {line.table}; "
                    f"{self.reject[line.table]}",
                    "line": number,
                    "errorId": "fake-1",
                }
        with self._lock:
            self.raw_bodies.append(body)
            self.write_paths.append(path)
            self.lines.extend(lines)
        return 204, None


def _handler(server: FakeQuestDB) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _empty(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/settings":
                versions = list(server.protocol_versions)
                body = {"config": {"line.proto.support.versions": versions}}
                send_json(self, 200, json.dumps(body).encode())
            elif url.path == "/ping":
                self._empty(204)
            elif url.path == "/exec":
                query = parse_qs(url.query).get("query", [""])[0]
                status, body = server._exec(query)
                send_json(self, status, json.dumps(body).encode())
            else:
                self._empty(404)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            if url.path not in ("/write", "/api/v2/write"):
                self._empty(404)
                return
            status, answer = server._write(url.path, body)
            if answer is None:
                self._empty(status)
            else:
                send_json(self, status, json.dumps(answer).encode())

    return Handler
