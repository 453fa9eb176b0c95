"""Rewrites of Sigma string values for query languages that cannot express every character.

A value must never change the structure of a query. Where a target language has no
escape for a character inside a value, the character becomes a wildcard that matches it,
so the query still matches the value and may match more, but never less.
"""

from __future__ import annotations

import re
from functools import cache

from sigma.types import Placeholder, SigmaRegularExpression, SigmaString, SpecialChars

Part = str | SpecialChars | Placeholder


@cache
def _replaced_pattern(chars: str) -> re.Pattern[str]:
    """Match one control character or one of chars, captured so split keeps it."""
    return re.compile("([\\x00-\\x1f\\x7f" + re.escape(chars) + "])")


def is_control(char: str) -> bool:
    """Tell whether char is an ASCII control character (U+0000-U+001F or U+007F)."""
    return ord(char) < 0x20 or ord(char) == 0x7F


def replace_chars(value: SigmaString, chars: str, wildcard: SpecialChars) -> SigmaString:
    """Return a copy of value with control characters and chars in plain text as wildcard."""
    pattern = _replaced_pattern(chars)
    parts: list[Part] = []
    for part in value.s:
        if not isinstance(part, str) or not pattern.search(part):
            parts.append(part)
            continue
        for index, piece in enumerate(pattern.split(part)):
            if index % 2:
                parts.append(wildcard)
            elif piece:
                parts.append(piece)
    rewritten = SigmaString("")
    rewritten.s = parts
    rewritten.original = value.original
    return rewritten


def has_literal_wildcard(value: SigmaString) -> bool:
    """Tell whether value's plain text contains a `*` or `?` that Sigma escaped."""
    return any(isinstance(part, str) and ("*" in part or "?" in part) for part in value.s)


UNESCAPED_DOLLAR_AT_END = re.compile(r"(?<!\\)(?:\\\\)*\$$")
LEADING_INLINE_FLAGS = re.compile(r"^\(\?[aiLmsux]+\)")


def unanchored(regex: SigmaRegularExpression) -> SigmaRegularExpression:
    """Return regex for an engine that matches whole values, keeping Sigma's search semantics.

    Sigma's `re` modifier matches anywhere in the value, but Lucene regular expressions
    (Lucene queries, ES|QL RLIKE) must match the whole value and have no `^` or `$`
    anchors. The pattern is wrapped as `.*(pattern).*`; a leading `^` or a trailing
    unescaped `$` drops the `.*` on its side instead.
    """
    pattern = str(regex.regexp)
    # Global inline flags such as (?i) must stay at the very start of the pattern.
    flags_match = LEADING_INLINE_FLAGS.match(pattern)
    inline_flags = flags_match.group(0) if flags_match else ""
    pattern = pattern[len(inline_flags) :]
    prefix, suffix = ".*", ".*"
    if pattern.startswith("^"):
        pattern, prefix = pattern[1:], ""
    if UNESCAPED_DOLLAR_AT_END.search(pattern):
        pattern, suffix = pattern[:-1], ""
    return SigmaRegularExpression(f"{inline_flags}{prefix}({pattern}){suffix}", set(regex.flags))
