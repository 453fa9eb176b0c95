"""The combined KQL hunting query: every rule's query as a `let`, then their union.

Unlike the hand-written query the pack started from, whose final union leaves out its two
registry branches, the union here names every rule. An event that matches several rules
is returned once per rule, each row carrying that rule's DetectionType. In this pack every
UnusualParentService row therefore also appears as a NewServiceCreation row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from converter.conversion import Query


def let_name(query: Query, taken: set[str]) -> str:
    """Return a KQL identifier for the rule: its Sigma name, else its title, made unique."""
    raw = query.rule.name or query.rule.title or query.rule.path.stem
    name = re.sub(r"[^A-Za-z0-9_]+", "_", str(raw)).strip("_") or "Rule"
    if name[0].isdigit():
        name = "Rule_" + name
    unique = name
    counter = 2
    while unique in taken:
        unique = f"{name}_{counter}"
        counter += 1
    taken.add(unique)
    return unique


def combined_query(queries: Sequence[Query]) -> str:
    """Join standalone KQL queries into one hunting query sorted newest first."""
    taken: set[str] = set()
    statements = []
    names = []
    for query in queries:
        name = let_name(query, taken)
        names.append(name)
        statements.append(f"let {name} = {query.text};")
    union = "union " + ", ".join(names) + "\n| sort by Timestamp desc\n"
    return "\n".join(statements) + "\n" + union
