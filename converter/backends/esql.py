"""An ES|QL backend whose string comparisons ignore letter case, as Sigma requires.

ES|QL's `==`, `LIKE`, `starts_with` and `ends_with` compare case-sensitively. Winlogbeat's
`.caseless` sub-fields (used by the ECS pipeline for process paths) hold lower-case text, so
the value is lower-cased for them; every other field is wrapped in `TO_LOWER()` as well.
"""

from __future__ import annotations

from typing import Any

from sigma.backends.elasticsearch.elasticsearch_esql import ESQLBackend
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.types import SigmaString, SpecialChars

from converter.backends.lazy_regex import LazyRegexMixin

LOWER_MARK = "\x00lower\x00"


def lower_sigma_string(value: SigmaString) -> SigmaString:
    """Return a copy of value with every plain part in lower case, wildcards kept."""
    lowered = SigmaString("")
    lowered.s = [part.lower() if isinstance(part, str) else part for part in value.s]
    lowered.original = value.original.lower()
    return lowered


def uses_like(value: SigmaString) -> bool:
    """Tell whether ESQLBackend renders value with LIKE rather than starts_with or ends_with."""
    if not value.contains_special():
        return False
    if value.endswith(SpecialChars.WILDCARD_MULTI) and not value[:-1].contains_special():
        return False
    return not (value.startswith(SpecialChars.WILDCARD_MULTI) and not value[1:].contains_special())


def like_literal_backslashes(value: SigmaString) -> SigmaString:
    """Double each backslash, because ES|QL's LIKE reads a backslash as its escape character."""
    doubled = SigmaString("")
    doubled.s = [part.replace("\\", "\\\\") if isinstance(part, str) else part for part in value.s]
    doubled.original = value.original
    return doubled


class CaselessEsqlBackend(LazyRegexMixin, ESQLBackend):
    """ES|QL with case-insensitive string matching."""

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
        lowered = self._caseless(cond)
        if isinstance(lowered.value, SigmaString) and uses_like(lowered.value):
            lowered.value = like_literal_backslashes(lowered.value)
        return super().convert_condition_field_eq_val_str(lowered, state)

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
