"""An ES|QL backend whose string comparisons ignore letter case, as Sigma requires.

ES|QL's `==`, `LIKE`, `starts_with` and `ends_with` compare case-sensitively. Winlogbeat's
`.caseless` sub-fields (used by the ECS pipeline for process paths) contain lower-case text,
so the value is lower-cased for them. Every other field is wrapped in `TO_LOWER()` as well.

String values are written by this backend, not by pySigma's ESQLBackend 2.1.1, which kept
Sigma's wildcard escapes (`\\*`) in `==`, `starts_with` and `ends_with` values, where they
are invalid string escapes, and wrote newlines raw, which ES|QL strings do not allow.
`re` values are unanchored, because RLIKE matches whole values while Sigma's `re` does not.
"""

from __future__ import annotations

from typing import Any

from sigma.backends.elasticsearch.elasticsearch_esql import ESQLBackend
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.types import SigmaRegularExpression, SigmaString, SpecialChars

from converter.backends.lazy_regex import LazyRegexMixin
from converter.backends.values import unanchored

LOWER_MARK = "\x00lower\x00"


def lower_sigma_string(value: SigmaString) -> SigmaString:
    """Return a copy of value with every plain part in lower case, wildcards kept."""
    lowered = SigmaString("")
    lowered.s = [part.lower() if isinstance(part, str) else part for part in value.s]
    lowered.original = value.original.lower()
    return lowered


ESQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
PLAIN_TABLE = str.maketrans(ESQL_ESCAPES)
# In a LIKE pattern, a literal backslash, * or ? is first escaped with a backslash for LIKE,
# then every character of that pair is escaped for the string literal.
LIKE_TABLE = str.maketrans(
    {
        **ESQL_ESCAPES,
        **{char: ("\\" + char).translate(PLAIN_TABLE) for char in "\\*?"},
    }
)


def esql_string(value: SigmaString) -> str:
    """Quote value as an ES|QL string; a value with wildcards becomes a LIKE pattern.

    LIKE reads a backslash as its escape character, so in a pattern a literal backslash,
    `*` or `?` is escaped for LIKE first and then for the string literal.
    """
    like = value.contains_special()
    pieces = []
    for part in value.s:
        if part == SpecialChars.WILDCARD_MULTI:
            pieces.append("*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            pieces.append("?")
        elif isinstance(part, str):
            pieces.append(part.translate(LIKE_TABLE if like else PLAIN_TABLE))
        else:
            raise ValueError(f"unresolved placeholder {part} in an ES|QL value")
    return '"' + "".join(pieces) + '"'


class CaselessEsqlBackend(LazyRegexMixin, ESQLBackend):
    """ES|QL with case-insensitive string matching."""

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        return esql_string(s)

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
        escaped = str(super().convert_value_re(r, state))
        return "".join(
            ESQL_ESCAPES.get(char, char) if char in "\n\r\t" else char for char in escaped
        )

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if isinstance(cond.value, SigmaRegularExpression):
            cond = ConditionFieldEqualsValueExpression(cond.field, unanchored(cond.value))
        return super().convert_condition_field_eq_val_re(cond, state)

    def escape_and_quote_field(self, field_name: str) -> str:
        if not field_name.startswith(LOWER_MARK):
            return str(super().escape_and_quote_field(field_name))
        name = field_name[len(LOWER_MARK) :]
        quoted = str(super().escape_and_quote_field(name))
        if name.endswith(".caseless"):
            return quoted
        return f"TO_LOWER({quoted})"

    @staticmethod
    def _caseless(cond: ConditionFieldEqualsValueExpression) -> ConditionFieldEqualsValueExpression:
        if not isinstance(cond.value, SigmaString):
            return cond
        lowered = ConditionFieldEqualsValueExpression(
            LOWER_MARK + cond.field, lower_sigma_string(cond.value)
        )
        lowered.parent = cond.parent
        return lowered

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        return super().convert_condition_field_eq_val_str(self._caseless(cond), state)

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        args = [
            self._caseless(arg) if isinstance(arg, ConditionFieldEqualsValueExpression) else arg
            for arg in cond.args
        ]
        lowered = type(cond)(args)
        lowered.parent = cond.parent
        return super().convert_condition_as_in_expression(lowered, state)
