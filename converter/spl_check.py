"""Structural checks of Splunk SPL queries, since no Splunk engine runs here.

`check_spl` reports quoted values that are not closed, contain a raw control character or
`\\*` (Splunk cannot escape an asterisk: it stays a wildcard, so `\\*` matches a backslash
and any text), parentheses that do not balance, and, for Sysmon searches, a `source` or
`EventCode` term that does not constrain the whole search. The last check parses the
search before the first pipe with SPL's boolean precedence: NOT binds tightest, then OR,
then AND, which may also be written as juxtaposition.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    kind: str  # "(", ")", "term", "AND", "OR" or "NOT"
    text: str


class SplSyntaxError(ValueError):
    """A search expression that does not parse."""


def check_spl(query: str, require_constraints: tuple[str, ...] = ()) -> list[str]:
    """Return the structural problems of an SPL query; an empty list means none were found.

    require_constraints names fields (such as `source` and `EventCode`) whose terms must be
    operands of the top-level AND of the search before the first pipe.
    """
    segments, problems = split_pipes(query)
    if problems or not require_constraints:
        return problems
    try:
        tree = parse_search(tokenize(segments[0]))
    except SplSyntaxError as err:
        return [f"the search does not parse: {err}"]
    top_level = tree[1:] if isinstance(tree, tuple) and tree[0] == "AND" else [tree]
    for field_name in require_constraints:
        prefix = field_name.lower() + "="
        if not any(isinstance(item, str) and item.lower().startswith(prefix) for item in top_level):
            problems.append(f"the {field_name} constraint does not apply to the whole search")
    return problems


def split_pipes(query: str) -> tuple[list[str], list[str]]:
    """Split the query at pipes outside quotes, checking quoted values on the way."""
    segments: list[str] = []
    problems: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(query):
        char = query[index]
        if char == '"':
            end = _quoted_end(query, index, problems)
            current.append(query[index:end])
            index = end
            continue
        if char == "|":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))
    depth = 0
    for char in _outside_quotes(query):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        problems.append("parentheses do not balance")
    return segments, problems


def _quoted_end(query: str, start: int, problems: list[str]) -> int:
    """Return the index after the quoted value that starts at start, recording problems."""
    index = start + 1
    while index < len(query):
        char = query[index]
        if char == "\\" and index + 1 < len(query):
            if query[index + 1] == "*":
                problems.append(f"quoted value {query[start : start + 40]!r} contains \\*")
            index += 2
            continue
        if char == '"':
            return index + 1
        if ord(char) < 0x20:
            problems.append(
                f"quoted value {query[start : start + 40]!r} contains the control character"
                f" U+{ord(char):04X}"
            )
        index += 1
    problems.append(f"quoted value {query[start : start + 40]!r} is not closed")
    return len(query)


def _outside_quotes(query: str) -> str:
    kept: list[str] = []
    index = 0
    while index < len(query):
        if query[index] == '"':
            index = _quoted_end(query, index, [])
            continue
        kept.append(query[index])
        index += 1
    return "".join(kept)


def tokenize(search: str) -> list[Token]:
    """Split a search expression into parentheses, boolean keywords and terms.

    A term runs to the next space or parenthesis outside quotes; `field IN (a, b)` is one
    term, because its parentheses hold values, not a group.
    """
    tokens: list[Token] = []
    index = 0
    while index < len(search):
        char = search[index]
        if char.isspace():
            index += 1
        elif char in "()":
            tokens.append(Token(char, char))
            index += 1
        else:
            end = _term_end(search, index)
            text = search[index:end]
            if text.upper() == "IN" and tokens and tokens[-1].kind == "term":
                close = _group_end(search, end)
                tokens[-1] = Token("term", f"{tokens[-1].text} IN {search[end:close].strip()}")
                end = close
            elif text.upper() in ("AND", "OR", "NOT"):
                tokens.append(Token(text.upper(), text))
            else:
                tokens.append(Token("term", text))
            index = end
    return tokens


def _term_end(search: str, index: int) -> int:
    while index < len(search) and not search[index].isspace() and search[index] not in "()":
        index = _quoted_end(search, index, []) if search[index] == '"' else index + 1
    return index


def _group_end(search: str, index: int) -> int:
    """Return the index after the parenthesized value list that follows IN."""
    while index < len(search) and search[index].isspace():
        index += 1
    if index >= len(search) or search[index] != "(":
        raise SplSyntaxError("IN is not followed by a parenthesized list")
    while index < len(search) and search[index] != ")":
        index = _quoted_end(search, index, []) if search[index] == '"' else index + 1
    return index + 1


Tree = str | tuple[object, ...]


def parse_search(tokens: list[Token]) -> Tree:
    """Parse tokens into nested tuples ("AND" | "OR" | "NOT", operands...) and term strings."""
    parser = _Parser(tokens)
    tree = parser.and_expression()
    if parser.position != len(tokens):
        raise SplSyntaxError(f"unexpected {tokens[parser.position].text!r}")
    return tree


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position].kind if self.position < len(self.tokens) else None

    def and_expression(self) -> Tree:
        operands = [self.or_expression()]
        while self.peek() not in (None, ")"):
            if self.peek() == "AND":
                self.position += 1
            operands.append(self.or_expression())
        return operands[0] if len(operands) == 1 else ("AND", *operands)

    def or_expression(self) -> Tree:
        operands = [self.not_expression()]
        while self.peek() == "OR":
            self.position += 1
            operands.append(self.not_expression())
        return operands[0] if len(operands) == 1 else ("OR", *operands)

    def not_expression(self) -> Tree:
        if self.peek() == "NOT":
            self.position += 1
            return ("NOT", self.not_expression())
        return self.primary()

    def primary(self) -> Tree:
        kind = self.peek()
        if kind is None:
            raise SplSyntaxError("the search ends where a term was expected")
        token = self.tokens[self.position]
        self.position += 1
        if kind == "(":
            inner = self.and_expression()
            if self.peek() != ")":
                raise SplSyntaxError("a parenthesis is not closed")
            self.position += 1
            return inner
        if kind != "term":
            raise SplSyntaxError(f"unexpected {token.text!r}")
        return token.text
