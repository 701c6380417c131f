"""Safe YAML loading with YAML 1.2 core-schema scalars and source positions.

PyYAML resolves YAML 1.1: ``0450`` becomes the octal 296, ``no`` becomes False,
``1:30`` a sexagesimal number. A revenue code or a modifier must stay a string,
so this loader resolves plain scalars by the YAML 1.2 core schema only
(null, true/false, decimal int, float) and keeps every other scalar a string.
Numbers written with a leading zero stay strings too, since in claims data
they are codes. It also records the (line, column) of every key and value, so that lint can say
``file:line:col``, and reports duplicate keys instead of silently keeping one.

Rule and table files are untrusted input: anchors and aliases (and merge keys)
may expand a few hundred bytes into billions of values ("billion laughs": 766
bytes took lint to 3.9 GB). Before anything is built, the composed node graph
is measured (each node once) and a document whose aliases would add more
than ``MAX_ALIAS_EXPANSION`` values, or that refers to itself, is refused at
the alias responsible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_CORE = [
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$")),
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")),
    ("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")),
    # a float needs a point or an exponent; leading zeros ("0450", "010") stay strings
    (
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:0|[1-9][0-9]*)?(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|(?:\.[0-9]*)?[eE][-+]?[0-9]+)$"),
    ),
]


MAX_ALIAS_EXPANSION = 10_000  # values that aliases may add to a document beyond what is written out


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's implicit resolvers only; records where aliases are."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.aliases: list[tuple[str, yaml.Mark, yaml.Node]] = []  # (anchor, where the alias is, its node)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if event.anchor in self.anchors:
                self.aliases.append((event.anchor, event.start_mark, self.anchors[event.anchor]))
        return super().compose_node(parent, index)


Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _rx in _CORE:
    Yaml12Loader.add_implicit_resolver(_tag, _rx, list("-+0123456789.tTfFnN~") + [""])


def _int(loader, node):
    return int(loader.construct_scalar(node))


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _int)

Path_ = tuple  # a path into the document: ("rules", 0, "when")


@dataclass
class YamlDoc:
    """A loaded document with positions: ``positions[path] = (line, col)`` (1-based) of the value."""

    data: Any
    file: str
    positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    nodes: dict[tuple, yaml.Node] = field(default_factory=dict)
    duplicates: list[tuple[tuple, tuple[int, int]]] = field(default_factory=list)

    def pos(self, path: tuple, key: bool = False) -> tuple[int, int]:
        """Best known position of a path: its own, else its nearest parent's."""
        table = self.key_positions if key else self.positions
        while path:
            if path in table:
                return table[path]
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))


class YamlError(Exception):
    def __init__(self, message: str, file: str, line: int, column: int):
        super().__init__(message)
        self.message, self.file, self.line, self.column = message, file, line, column


def _convert(node: yaml.Node, path: tuple, doc: YamlDoc, loader: Yaml12Loader) -> Any:
    doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    doc.nodes[path] = node
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                key = str(key)
            key_pos = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                doc.duplicates.append((path + (key,), key_pos))
            doc.key_positions[path + (key,)] = key_pos
            out[key] = _convert(value_node, path + (key,), doc, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), doc, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of a character index."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _check_expansion(root: yaml.Node, loader: Yaml12Loader, file: str) -> None:
    """Refuse a document whose aliases expand past the budget, or loop, before it is converted."""
    if not loader.aliases:
        return
    sizes: dict[int, int] = {}
    building: set[int] = set()

    def size(node: yaml.Node) -> int:  # values the node becomes once aliases are expanded; each node walked once
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in building:
            raise _Loop()
        building.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        building.discard(key)
        sizes[key] = total
        return total

    written = 0

    def count(node: yaml.Node, seen: set[int]) -> None:  # distinct nodes as written
        nonlocal written
        stack = [node]
        while stack:
            current = stack.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            written += 1
            if isinstance(current, yaml.SequenceNode):
                stack.extend(current.value)
            elif isinstance(current, yaml.MappingNode):
                stack.extend(n for pair in current.value for n in pair)

    try:
        total = size(root)
    except _Loop:
        anchor, mark, _ = next(a for a in loader.aliases if id(a[2]) in building)
        raise YamlError(
            f"alias *{anchor} is inside the value it refers to (the document would be infinite)",
            file,
            mark.line + 1,
            mark.column + 1,
        ) from None
    count(root, set())
    if total - written > MAX_ALIAS_EXPANSION:
        anchor, mark, node = max(loader.aliases, key=lambda a: sizes.get(id(a[2]), 0))
        raise YamlError(
            f"aliases expand this document by {total - written:,} values, over the limit of "
            f"{MAX_ALIAS_EXPANSION:,} (alias *{anchor} alone is {sizes.get(id(node), 0):,}); "
            "write the values out",
            file,
            mark.line + 1,
            mark.column + 1,
        )


class _Loop(Exception):
    """An alias inside the node it refers to."""


def load_text(text: str, file: str = "<string>") -> list[YamlDoc]:
    """All documents in a YAML text, safely, with positions."""
    try:
        loader = Yaml12Loader(text)  # the reader rejects NUL and other control characters here, for the whole text
    except yaml.reader.ReaderError as exc:
        line, column = _line_col(text, exc.position)
        raise YamlError(
            f"character U+{exc.character:04X} is not allowed in YAML (control character); remove it", file, line, column
        ) from None
    docs = []
    try:
        while loader.check_node():
            loader.aliases.clear()
            node = loader.get_node()
            if node is not None:
                _check_expansion(node, loader, file)
            doc = YamlDoc(None, file)
            doc.data = _convert(node, (), doc, loader) if node is not None else None
            docs.append(doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(
            f"YAML syntax: {exc.problem or exc.context}",
            file,
            (mark.line + 1) if mark else 1,
            (mark.column + 1) if mark else 1,
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML: {exc}", file, 1, 1) from None
    except RecursionError:
        raise YamlError("YAML nested too deeply", file, 1, 1) from None
    finally:
        loader.dispose()
    return docs


def load_file(path: str | Path) -> YamlDoc:
    """A single-document YAML file."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8")
        line, column = _line_col(good, len(good))
        raise YamlError(
            f"not UTF-8: byte 0x{raw[exc.start]:02X} cannot be decoded; save the file as UTF-8", str(path), line, column
        ) from None
    docs = load_text(text, str(path))
    if not docs:
        return YamlDoc(None, str(path))
    if len(docs) > 1:
        raise YamlError("expected one YAML document, found several", str(path), 1, 1)
    return docs[0]


def safe_load(text: str) -> Any:
    """Plain data from YAML 1.2 core text (no positions)."""
    docs = load_text(text)
    return docs[0].data if docs else None


def scalar_offset(doc: YamlDoc, path: tuple, line: int, column: int) -> tuple[int, int]:
    """File position of (line, column) inside a scalar's text: maps expression errors to the file.

    Plain and quoted scalars on one line map by column; block scalars (| and >)
    map line by line from the line after the indicator, at the block's indent.
    """
    node = doc.nodes.get(path)
    if node is None or not isinstance(node, yaml.ScalarNode):
        return doc.pos(path)
    start_line, start_col = node.start_mark.line + 1, node.start_mark.column + 1
    style = node.style
    if style in ("|", ">"):
        buffer = node.start_mark.buffer or ""
        lines = buffer.splitlines()
        first = node.start_mark.line + 1  # 0-based index of the block's first content line
        indent = 0
        for text in lines[first:]:
            if text.strip():
                indent = len(text) - len(text.lstrip(" "))
                break
        if style == "|":
            return (first + line, indent + column)
        # folded: each source line joins the text with one space; walk them to find the column
        remaining = column
        for number in range(first, min(len(lines), node.end_mark.line + 1)):
            content = lines[number][indent:]
            if not content.strip():
                continue
            if remaining <= len(content) + 1:
                return (number + 1, indent + remaining)
            remaining -= len(content) + 1
        return (first + 1, indent + column)
    quote = 1 if style in ("'", '"') else 0
    return (start_line + line - 1, (start_col + quote + column - 1) if line == 1 else column)
