"""Line-aware YAML loading for rule files, with limits against hostile documents.

The document is composed into YAML nodes first, because nodes carry the line and column of
every key and value. The nodes are checked for duplicate keys, alias expansion, recursive
aliases and nesting depth before any Python object is built from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import yaml

# libyaml's composer is about seven times faster than PyYAML's pure Python one (1 MB of flow
# sequence: 1.0 s against 7.1 s), and libyaml rejects flow nesting deeper than 1,000 levels
# before composing. PyYAML wheels for Linux ship libyaml.
# NOTE: without libyaml the pure Python loader is used, and a 1 MB rule can take 7 s to load.
YAML_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Values (mappings, sequences and scalars) a document may have once aliases are expanded. The
# largest SigmaHQ rule (driver_load_win_vuln_drivers.yml, 295 kB) has about 6,000.
MAX_NODES: Final = 100_000

# Nesting levels of mappings and sequences. A Sigma rule needs about six.
MAX_DEPTH: Final = 64

MERGE_KEY: Final = "tag:yaml.org,2002:merge"

KeyPath = tuple[str | int, ...]


class Position(NamedTuple):
    """A 1-based line and column in a YAML file."""

    line: int
    column: int


@dataclass(frozen=True)
class YamlProblem(Exception):
    """A YAML document that can't be loaded, with the position of the problem if known."""

    message: str
    position: Position | None = None


@dataclass
class YamlLocations:
    """Positions of the keys and values of a loaded document, by key path.

    A key path lists the mapping keys (as text) and sequence indexes from the document root,
    for example ("detection", "selection", "Image|endswith", 0).
    """

    keys: dict[KeyPath, Position] = field(default_factory=dict)
    values: dict[KeyPath, Position] = field(default_factory=dict)

    def key(self, path: KeyPath) -> Position | None:
        """Return the position of the key at path, or of the value for a sequence item."""
        return self.keys.get(path) or self.values.get(path)

    def value(self, path: KeyPath) -> Position | None:
        """Return the position of the value at path."""
        return self.values.get(path)

    def nearest(self, path: KeyPath) -> Position | None:
        """Return the position of the key at path, else of its closest existing parent."""
        for end in range(len(path), 0, -1):
            position = self.key(path[:end])
            if position is not None:
                return position
        return None

    def find_key(self, name: str, under: KeyPath = ()) -> KeyPath | None:
        """Return the first key path below under whose last key is name, in file order."""
        candidates = [
            path
            for path in self.keys
            if len(path) > len(under) and path[: len(under)] == under and path[-1] == name
        ]
        return min(candidates, key=lambda path: _order(self.keys[path]), default=None)


def _order(position: Position) -> tuple[int, int]:
    return position.line, position.column


def load_document(text: str) -> tuple[object, YamlLocations]:
    """Load the single YAML document of text with the positions of its keys and values.

    Returns None as the document when text has no document. Raises YamlProblem for invalid
    YAML, several documents, duplicate keys, recursive aliases, more than MAX_NODES values
    or more than MAX_DEPTH nesting levels.
    """
    loader = YAML_LOADER(text)
    try:
        nodes = _compose_all(loader, text)
        if not nodes:
            return None, YamlLocations()
        if len(nodes) > 1:
            raise YamlProblem(
                "file contains several YAML documents; put each rule in its own file",
                _position(nodes[1]),
            )
        node = nodes[0]
        locations = YamlLocations()
        # An alias needs an anchor (&name); without any "&" the node graph is a tree.
        _check_nodes(node, locations, may_have_aliases="&" in text)
        return _construct(loader, node), locations
    finally:
        loader.dispose()


def _compose_all(loader: yaml.SafeLoader, text: str) -> list[yaml.Node]:
    nodes = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None and not _is_null(node):
                nodes.append(node)
    except RecursionError as err:
        raise YamlProblem("invalid YAML: nesting is too deep to parse") from err
    except yaml.MarkedYAMLError as err:
        message = _describe_yaml_error(err, _character_at(text, err.problem_mark))
        raise YamlProblem(message, _mark_position(err.problem_mark)) from err
    except yaml.YAMLError as err:
        raise YamlProblem(f"invalid YAML: {err}") from err
    return nodes


def _character_at(text: str, mark: yaml.Mark | None) -> str:
    if mark is None:
        return ""
    lines = text.splitlines()
    if mark.line >= len(lines) or mark.column >= len(lines[mark.line]):
        return ""
    return lines[mark.line][mark.column]


def _describe_yaml_error(err: yaml.MarkedYAMLError, character: str = "") -> str:
    problem = err.problem or "syntax error"
    if character == "\t" or "'\\t'" in problem:
        return "invalid YAML: tab character; indent with spaces only"
    if "maximum nesting depth" in problem or "nesting depth" in (err.context or ""):
        return "invalid YAML: nesting is too deep to parse (libyaml allows 1000 levels)"
    if err.context:
        return f"invalid YAML: {problem} ({err.context})"
    return f"invalid YAML: {problem}"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _mark_position(mark: yaml.Mark | None) -> Position | None:
    if mark is None:
        return None
    return Position(mark.line + 1, mark.column + 1)


def _position(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _check_nodes(root: yaml.Node, locations: YamlLocations, may_have_aliases: bool = True) -> None:
    """Walk the node graph once, recording positions and enforcing the limits.

    Aliases make the graph share nodes, so the expanded size is counted with one entry per
    distinct node, which keeps a "billion laughs" document linear to check.
    """
    if may_have_aliases:
        sizes: dict[int, int] = {}
        _measure(root, sizes)
        if sizes[id(root)] > MAX_NODES:
            raise _too_many_values(root)
    _record(root, locations)


def _too_many_values(node: yaml.Node) -> YamlProblem:
    return YamlProblem(
        f"YAML aliases or size expand the rule to more than {MAX_NODES} values; a rule"
        " needs far fewer, so remove the anchors (&) and aliases (*)",
        _position(node),
    )


def _too_deep(node: yaml.Node) -> YamlProblem:
    return YamlProblem(
        f"values are nested more than {MAX_DEPTH} levels deep; a Sigma rule needs about six",
        _position(node),
    )


def _measure(root: yaml.Node, sizes: dict[int, int]) -> None:
    """Store the expanded value count of every node in sizes, without recursion."""
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if children_done:
            on_path.discard(id(node))
            sizes[id(node)] = min(MAX_NODES + 1, 1 + sum(sizes[id(c)] for c in _children(node)))
            continue
        if id(node) in sizes:
            continue
        if id(node) in on_path:
            raise YamlProblem(
                "YAML alias refers to a value that contains it, which makes the rule infinitely"
                " deep; remove the alias",
                _position(node),
            )
        if depth > MAX_DEPTH:
            raise _too_deep(node)
        on_path.add(id(node))
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(node))


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _record(root: yaml.Node, locations: YamlLocations) -> None:
    """Record key and value positions by key path, and reject duplicate mapping keys.

    The walk also enforces MAX_NODES and MAX_DEPTH, for documents that skipped _measure.
    """
    locations.values[()] = _position(root)
    stack: list[tuple[yaml.Node, KeyPath]] = [(root, ())]
    visited = 0
    while stack:
        node, path = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            raise _too_many_values(root)
        if len(path) >= MAX_DEPTH:
            raise _too_deep(node)
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                locations.values[(*path, index)] = _position(item)
                stack.append((item, (*path, index)))
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, yaml.Node] = {}
            for key, value in node.value:
                if key.tag == MERGE_KEY:
                    continue
                name = _key_text(key)
                if name in seen:
                    first = _position(seen[name])
                    raise YamlProblem(
                        f"duplicate key '{name}' (first defined on line {first.line}); YAML"
                        " keeps only the last value, so merge or rename the keys",
                        _position(key),
                    )
                seen[name] = key
                child = (*path, name)
                locations.keys.setdefault(child, _position(key))
                locations.values.setdefault(child, _position(value))
                stack.append((value, child))


def _key_text(key: yaml.Node) -> str:
    if isinstance(key, yaml.ScalarNode):
        return str(key.value)
    raise YamlProblem("a mapping key must be a plain value, not a list or mapping", _position(key))


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    try:
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        raise YamlProblem(_describe_yaml_error(err), _mark_position(err.problem_mark)) from err
    except ValueError as err:
        # PyYAML builds a date from any value shaped like one, so 2026-13-45 fails here.
        raise YamlProblem(
            f"invalid YAML value: {err}; write dates as yyyy-mm-dd",
            _value_error_position(loader, node),
        ) from err


def _value_error_position(loader: yaml.SafeLoader, root: yaml.Node) -> Position | None:
    """Find the timestamp-shaped scalar that PyYAML cannot turn into a date."""
    stack = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
            try:
                loader.construct_yaml_timestamp(node)
            except ValueError:
                return _position(node)
        stack.extend(reversed(list(_children(node))))
    return None
