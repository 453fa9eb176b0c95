"""An EQL backend whose string values are valid EQL strings for every character.

pySigma's EqlBackend 2.1.1 escapes a newline, carriage return or tab as a backslash
followed by the raw character, which Elastic's EQL does not accept, and writes Sigma's
escaped wildcards as `\\*` and `\\?`, which are not EQL escape sequences either. EQL
strings take `\\n`, `\\r`, `\\t`, `\\\\`, `\\"` and `\\u{XX}` (Elastic EQL syntax reference),
and EQL has no way to escape a wildcard in a `:` or `like` pattern. A value with a literal
`*` or `?` is therefore matched exactly with `in~`, `startsWith~`, `endsWith~` or
`stringContains~`, the case-insensitive forms of EQL's lookup and string functions.
`re` values are unanchored, because EQL's `regex~` matches whole values (it reads Lucene
regular expressions) while Sigma's `re` matches anywhere.
"""

from __future__ import annotations

from typing import Any

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.types import SigmaRegularExpression, SigmaString, SpecialChars

from converter.backends.stock import FastEqlBackend
from converter.backends.values import has_literal_wildcard, is_control, unanchored

EQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
MULTI = SpecialChars.WILDCARD_MULTI


def eql_text(text: str) -> str:
    """Escape text for the inside of an EQL double-quoted string."""
    escaped = []
    for char in text:
        if char in EQL_ESCAPES:
            escaped.append(EQL_ESCAPES[char])
        elif is_control(char):
            escaped.append(f"\\u{{{ord(char):02x}}}")
        else:
            escaped.append(char)
    return "".join(escaped)


def eql_pattern(value: SigmaString) -> str:
    """Return value as a quoted EQL wildcard pattern.

    A literal `*` or `?` becomes the `?` wildcard, which also matches any other single
    character there.
    """
    pieces = []
    for part in value.s:
        if part == MULTI:
            pieces.append("*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            pieces.append("?")
        elif isinstance(part, str):
            pieces.append(eql_text(part).replace("*", "?"))
        else:
            raise ValueError(f"unresolved placeholder {part} in an EQL value")
    return '"' + "".join(pieces) + '"'


class SafeEqlBackend(FastEqlBackend):
    """FastEqlBackend with EQL escape sequences and exact matching of literal wildcards."""

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        return eql_pattern(s)

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
        # The re_expression template supplies the quotes; EQL's regex~ reads Lucene syntax.
        return eql_text(str(r.regexp))

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if isinstance(cond.value, SigmaRegularExpression):
            cond = ConditionFieldEqualsValueExpression(cond.field, unanchored(cond.value))
        return super().convert_condition_field_eq_val_re(cond, state)

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        value = cond.value
        if isinstance(value, SigmaString) and has_literal_wildcard(value):
            exact = self._exact_match(self.escape_and_quote_field(cond.field), value)
            if exact is not None:
                return exact
        return super().convert_condition_field_eq_val_str(cond, state)

    @staticmethod
    def _exact_match(field: str, value: SigmaString) -> str | None:
        """Return an exact, case-insensitive test for a value with at most outer wildcards."""
        parts = list(value.s)
        leading = bool(parts) and parts[0] == MULTI
        trailing = len(parts) > 1 and parts[-1] == MULTI
        inner = parts[int(leading) : len(parts) - int(trailing)]
        if len(inner) != 1 or not isinstance(inner[0], str):
            return None
        text = '"' + eql_text(inner[0]) + '"'
        if leading and trailing:
            return f"stringContains~({field}, {text})"
        if leading:
            return f"endsWith~({field}, {text})"
        if trailing:
            return f"startsWith~({field}, {text})"
        return f"{field} in~ ({text})"

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        for arg in cond.args:
            value = getattr(arg, "value", None)
            if isinstance(value, SigmaString) and has_literal_wildcard(value):
                return False
        return bool(super().decide_convert_condition_as_in_expression(cond, state))
