"""JSON Schemas of the message envelopes, generated from the pydantic models of ``schemas/``.

The generated files are checked in under ``schemas/json/`` (one per kind, named like the
envelope's ``schema`` field); a test regenerates them and fails on any difference, so a model
change cannot ship without its schema. ``quorum schemas --write`` regenerates them.

>>> schema = envelope_schema(Kind.FILLS)
>>> schema["$id"], schema["properties"]["data"]["$ref"], sorted(schema["required"])
('quorum.v1.fills', '#/$defs/Fill', ['data', 'id', 'key', 'schema', 'ts', 'version'])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from connectors.kafka.envelope import VERSIONS, models
from connectors.kafka.topics import Kind, schema_name

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "json"
"""Where the checked-in schemas live (``schemas/json/quorum.v1.<kind>.json``)."""

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TS_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z$"
"""The envelope ``ts``: UTC, always nine fractional digits."""


def envelope_schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema of one kind's message value, ``data`` being its record's schema."""
    model = models()[kind]
    data = TypeAdapter(model).json_schema(mode="serialization", ref_template="#/$defs/{model}")
    defs = data.pop("$defs", {})
    defs[model.__name__] = data
    return {
        "$schema": _DIALECT,
        "$id": schema_name(kind),
        "title": f"{schema_name(kind)} message value",
        "description": (
            f"Envelope of one {kind.value} record. id: idempotency key (the same record re-emitted "
            "after a crash has the same id: dedupe on it); key: the message key (symbol, or the "
            "portfolio for portfolio-wide records); ts: the record's event time, RFC 3339 UTC with "
            "nine fractional digits (nanoseconds)."
        ),
        "type": "object",
        "properties": {
            "schema": {"const": schema_name(kind)},
            "version": {"const": VERSIONS[kind]},
            "id": {"type": "string", "minLength": 1},
            "key": {"type": "string", "minLength": 1},
            "ts": {
                "anyOf": [
                    {"type": "string", "format": "date-time", "pattern": TS_PATTERN},
                    {"type": "null"},
                ]
            },
            "data": {"$ref": f"#/$defs/{model.__name__}"},
        },
        "required": ["schema", "version", "id", "key", "ts", "data"],
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }


def render(schema: dict[str, Any]) -> str:
    """The file text of a schema (stable: sorted keys, two-space indent, final newline)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(kind: Kind, directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"{schema_name(kind)}.json"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)generate every kind's schema file into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in Kind:
        path = schema_path(kind, directory)
        path.write_text(render(envelope_schema(kind)))
        paths.append(path)
    return paths


def load_schema(kind: Kind, directory: Path = SCHEMA_DIR) -> dict[str, Any]:
    """The checked-in schema of ``kind``."""
    return json.loads(schema_path(kind, directory).read_text())
