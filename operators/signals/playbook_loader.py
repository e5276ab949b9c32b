"""Load playbook YAML files, rejecting a bad one with its file, line and field named.

Files are read with ruamel.yaml (YAML 1.2: ``on`` and ``yes`` are strings, not booleans), which
keeps the line and column of every key and list item; pydantic's error locations are walked
through that tree to point at the offending line.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "bad.yaml").write_text(
...     "name: oops\\ndirection: long\\ntimeframe: 15m\\nwhen: rsi_99x < 30\\nconfidence: 0.5\\n")
>>> load_playbooks([folder / "bad.yaml"])
Traceback (most recent call last):
...
operators.signals.playbook_loader.PlaybookError: invalid playbook:
  .../bad.yaml:4:7: when.left: unknown indicator 'rsi_99x' (known: ...)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from operators.signals.playbook import Playbook, PlaybookFile
from schemas.common import Timeframe


@dataclass(frozen=True, slots=True)
class PlaybookProblem:
    """One thing wrong with a playbook file, located to the line (1-based)."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PlaybookError(ValueError):
    """Playbooks that cannot run; ``problems`` lists each with file, line and field."""

    def __init__(self, problems: Sequence[PlaybookProblem]) -> None:
        self.problems = list(problems)
        super().__init__("invalid playbook:\n" + "\n".join(f"  {p}" for p in self.problems))


def _plain(value: Any) -> Any:
    """ruamel's commented containers and scalars → plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _locate(root: Any, loc: Sequence[int | str]) -> tuple[int, int, str]:
    """Walk an error location through the YAML tree: (line, column) 0-based and the field path.

    Elements of ``loc`` that are not keys or indexes of the tree (pydantic's union tags such as
    ``compare`` or ``float``) are skipped.
    """
    node = root
    line, column = getattr(getattr(root, "lc", None), "line", 0), 0
    path: list[str] = []
    for element in loc:
        if isinstance(node, CommentedMap) and isinstance(element, str) and element in node:
            scalar = not isinstance(node[element], CommentedMap | CommentedSeq)
            line, column = node.lc.value(element) if scalar else node.lc.key(element)
            node = node[element]
            path.append(element)
        elif isinstance(node, CommentedSeq) and isinstance(element, int) and element < len(node):
            line, column = node.lc.item(element)
            node = node[element]
            path.append(f"[{element}]")
        elif not isinstance(node, CommentedMap | CommentedSeq) and _is_field_name(element):
            path.append(str(element))  # inside a condition sentence: name the parsed part
    return line, column, ".".join(path).replace(".[", "[")


_UNION_TAGS = frozenset({"compare", "cross", "all", "any", "not", "sequence"})


def _is_field_name(element: int | str) -> bool:
    return (
        isinstance(element, str)
        and element not in _UNION_TAGS
        and element.isidentifier()
        and element not in {"float", "int", "str", "bool"}
    )


def _problems(exc: ValidationError, file: str, root: Any) -> list[PlaybookProblem]:
    problems = []
    for error in exc.errors():
        line, column, field = _locate(root, error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field {error['loc'][-1]!r}"
        problems.append(PlaybookProblem(file, line + 1, column + 1, field, message))
    return problems


def parse_playbook_text(
    text: str, file: str = "<playbook>", timeframes: Iterable[Timeframe] | None = None
) -> list[Playbook]:
    """Playbooks in one YAML document: a single playbook mapping or ``playbooks: [...]``.

    >>> [p.name for p in parse_playbook_text(
    ...     "name: a\\ndirection: short\\ntimeframe: 1h\\nwhen: rsi_14 > 70\\nconfidence: 0.4")]
    ['a']
    """
    return _parse(text, file, timeframes)[0]


def _parse(
    text: str, file: str, timeframes: Iterable[Timeframe] | None
) -> tuple[list[Playbook], Any]:
    try:
        root = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise PlaybookError(
            [PlaybookProblem(file, line, column, "", f"not valid YAML: {exc.problem}")]
        ) from None
    if not isinstance(root, CommentedMap):
        raise PlaybookError(
            [
                PlaybookProblem(
                    file,
                    1,
                    1,
                    "",
                    "a playbook file holds a mapping (one playbook or 'playbooks: [...]')",
                )
            ]
        )
    context = {"timeframes": frozenset(timeframes)} if timeframes is not None else None
    data = _plain(root)
    try:
        if "playbooks" in data:
            return PlaybookFile.model_validate(data, context=context).playbooks, root
        return [Playbook.model_validate(data, context=context)], root
    except ValidationError as exc:
        raise PlaybookError(_problems(exc, file, root)) from None


def load_playbooks(
    paths: Iterable[Path | str], timeframes: Iterable[Timeframe] | None = None
) -> list[Playbook]:
    """Every playbook in ``paths`` (files, or folders of ``*.yaml``/``*.yml``), names unique.

    All problems of all files are collected before raising one :class:`PlaybookError`.
    """
    allowed = frozenset(timeframes) if timeframes is not None else None
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            files.extend(sorted([*entry.glob("*.yaml"), *entry.glob("*.yml")]))
        else:
            files.append(entry)
    playbooks: list[Playbook] = []
    problems: list[PlaybookProblem] = []
    seen: dict[str, str] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(PlaybookProblem(str(file), 1, 1, "", f"cannot read: {exc.strerror}"))
            continue
        try:
            loaded, root = _parse(text, str(file), allowed)
        except PlaybookError as exc:
            problems.extend(exc.problems)
            continue
        for index, playbook in enumerate(loaded):
            if playbook.name in seen:
                loc = ("playbooks", index, "name") if "playbooks" in root else ("name",)
                line, column, field = _locate(root, loc)
                problems.append(
                    PlaybookProblem(
                        str(file),
                        line + 1,
                        column + 1,
                        field,
                        f"playbook name {playbook.name!r} is already used in {seen[playbook.name]}",
                    )
                )
            seen[playbook.name] = str(file)
            playbooks.append(playbook)
    if problems:
        raise PlaybookError(problems)
    return playbooks
