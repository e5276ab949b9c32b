"""quorum schemas: the JSON Schemas of the Kafka message envelopes, one per record kind."""

from __future__ import annotations

import argparse

HELP = "print the JSON Schema of a Kafka record kind (all kinds without KIND)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", help="record kind, e.g. fused_signals; omit for all")
    parser.add_argument(
        "--write",
        action="store_true",
        help="regenerate schemas/json/ from the pydantic models (after a model change)",
    )


def main(args: argparse.Namespace) -> int:
    import json

    from connectors.kafka.json_schemas import envelope_schema, load_schema, write_schemas
    from connectors.kafka.topics import Kind
    from flows.cli import UserError

    if args.write:
        for path in write_schemas():
            print(path)
        return 0
    try:
        kinds = [Kind.parse(args.kind)] if args.kind else list(Kind)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if len(kinds) == 1:
        print(json.dumps(load_schema(kinds[0]), indent=2, ensure_ascii=False))
        return 0
    everything = {envelope_schema(k)["$id"]: load_schema(k) for k in kinds}
    print(json.dumps(everything, indent=2, ensure_ascii=False))
    return 0
