"""Counting KQL `contains` predicates that Kusto could evaluate as `has` with its term index.

Kusto evaluates `has` with its term index and `contains` by scanning the column. The count
of `contains` predicates whose needle `has` would match identically should be zero in
sigmapack's output. The rest stay `contains` because `has` would change the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from converter.backends.kql import is_has_safe

# `contains`, `!contains` and `contains_cs` followed by a double-quoted KQL string literal.
CONTAINS_PATTERN = re.compile(r'(?<![\w!])(!?contains(?:_cs)?) "((?:[^"\\]|\\.)*)"')
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class ContainsCount:
    """How many `contains` predicates could use `has` and how many must not."""

    replaceable: int = 0
    necessary: int = 0

    def __add__(self, other: ContainsCount) -> ContainsCount:
        return ContainsCount(self.replaceable + other.replaceable, self.necessary + other.necessary)


def unescape(literal: str) -> str:
    """Return the text of a KQL double-quoted string literal's body."""
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda match: (
            chr(int(match.group(1)[1:], 16))
            if match.group(1).startswith("u") and len(match.group(1)) == 5
            else ESCAPES.get(match.group(1), match.group(1))
        ),
        literal,
    )


def count_contains(query: str) -> ContainsCount:
    """Count the `contains` predicates of one KQL query by whether `has` is equivalent."""
    replaceable = necessary = 0
    for match in CONTAINS_PATTERN.finditer(query):
        if is_has_safe(unescape(match.group(2))):
            replaceable += 1
        else:
            necessary += 1
    return ContainsCount(replaceable, necessary)


def count_all(queries: Iterable[str]) -> ContainsCount:
    """Add up count_contains over many queries."""
    total = ContainsCount()
    for query in queries:
        total += count_contains(query)
    return total
