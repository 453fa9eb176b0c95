"""A KQL backend for Microsoft Defender for Endpoint advanced hunting.

It builds on pySigma's Kusto backend and changes what that backend gets wrong for MDE:
string values are escaped as KQL string literals, wildcards inside a value become an
anchored case-insensitive regular expression, `?` matches one character, lists become
`in~` and negated lists `!in~`, values marked as terms become `has` and `has_any`, and each
query is complete: table, time window, DetectionType label and the projected columns.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sigma.backends.kusto.kusto import KustoBackend
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaBackendError, SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule
from sigma.types import SigmaNumber, SigmaRegularExpression, SigmaString, SpecialChars

from converter.backends.lazy_regex import LazyRegexMixin
from converter.transformations import SigmaTermString

LOOKBACK_PATTERN = re.compile(r"^[1-9][0-9]{0,5}(?:d|h|m|s)$")
IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_LOOKBACK = "24h"

KQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def kql_string(text: str) -> str:
    """Quote text as a KQL double-quoted string literal."""
    escaped = []
    for char in text:
        if char in KQL_ESCAPES:
            escaped.append(KQL_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def kql_identifier(name: str) -> str:
    """Return name as a KQL identifier, bracket-quoted when it is not a plain word."""
    if IDENTIFIER_PATTERN.match(name):
        return name
    return "[" + kql_string(name) + "]"


def is_has_safe(text: str) -> bool:
    """Tell whether `has text` returns exactly what `contains text` returns.

    Kusto's `has` checks a term boundary only where the needle's first or last character is
    a letter or digit. When both ends are other characters (and not `_`, which some Kusto
    versions treat as part of a term), no boundary is checked. `has` is then the same
    case-insensitive substring match as `contains`, evaluated with the term index.
    """
    if len(text) < 2 or not any(char.isalnum() for char in text):
        return False
    return all(not (char.isalnum() or char == "_") for char in (text[0], text[-1]))


def plain_contains_text(value: object) -> str | None:
    """Return X when value is the pattern `*X*` with a plain X, else None."""
    if not isinstance(value, SigmaString) or len(value.s) != 3:
        return None
    first, middle, last = value.s
    if first != SpecialChars.WILDCARD_MULTI or last != SpecialChars.WILDCARD_MULTI:
        return None
    return middle if isinstance(middle, str) else None


def uses_has(value: object) -> bool:
    """Tell whether a value is converted to `has`: a declared term or a has-safe contains."""
    if isinstance(value, SigmaTermString):
        return True
    text = plain_contains_text(value)
    return text is not None and is_has_safe(text)


def wildcard_regex(value: SigmaString) -> str:
    """Translate a Sigma wildcard pattern into an anchored, case-insensitive RE2 pattern."""
    pieces = ["(?is)^"]
    for part in value.s:
        if part == SpecialChars.WILDCARD_MULTI:
            pieces.append(".*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            pieces.append(".")
        elif isinstance(part, str):
            pieces.append(re.escape(part))
        else:
            raise SigmaFeatureNotSupportedByBackendError(f"unresolved placeholder {part}")
    pieces.append("$")
    return "".join(pieces)


class MdeKqlBackend(LazyRegexMixin, KustoBackend):
    """KQL for MDE advanced hunting, one complete query per rule."""

    name: ClassVar[str] = "sigmapack MDE KQL backend"
    identifier: ClassVar[str] = "sigmapack_kql"
    # pySigma's Backend declares formats a class variable and requires_pipeline an instance
    # variable; KustoBackend 1.0.1 declares them the other way round, so one side must differ.
    formats: ClassVar[dict[str, str]] = {  # type: ignore[misc]
        "default": "Standalone MDE advanced hunting query"
    }
    requires_pipeline: ClassVar[bool] = True  # type: ignore[misc]

    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False
    field_null_expression: ClassVar[str] = "isempty({field})"
    unbound_value_str_expression: ClassVar[str] = ""

    def __init__(self, *args: Any, lookback: str = DEFAULT_LOOKBACK, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not LOOKBACK_PATTERN.match(lookback):
            raise SigmaBackendError(
                f"invalid lookback '{lookback}': use a whole number up to 999999 and a unit"
                " d, h, m or s, for example 24h"
            )
        self.lookback = lookback

    def escape_and_quote_field(self, field_name: str) -> str:
        return kql_identifier(field_name)

    def convert_value_str(self, s: SigmaString | SigmaNumber, state: ConversionState) -> str:
        if isinstance(s, SigmaNumber):
            return str(s)
        text = []
        for part in s.s:
            if not isinstance(part, str):
                raise SigmaBackendError(f"wildcard left in a plain KQL string value: {s}")
            text.append(part)
        return kql_string("".join(text))

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
        # KustoBackend escapes backslashes and quotes but writes control characters raw,
        # which ends a KQL string literal.
        escaped = str(super().convert_value_re(r, state))
        return "".join(KQL_ESCAPES[char] if char in "\n\r\t" else char for char in escaped)

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        value = cond.value
        field = self.escape_and_quote_field(cond.field)
        if uses_has(value):
            return f"{field} has {self.convert_value_str(value[1:-1], state)}"  # type: ignore[index]
        if isinstance(value, SigmaString) and self._needs_regex(value):
            return f"{field} matches regex {kql_string(wildcard_regex(value))}"
        return super().convert_condition_field_eq_val_str(cond, state)

    @staticmethod
    def _needs_regex(value: SigmaString) -> bool:
        """Tell whether a wildcard sits where startswith, endswith and contains can't express."""
        if SpecialChars.WILDCARD_SINGLE in value.s:
            return True
        inner = value.s[1:-1] if len(value.s) > 1 else []
        return SpecialChars.WILDCARD_MULTI in inner

    def convert_condition_val_str(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> Any:
        raise SigmaFeatureNotSupportedByBackendError(
            "keyword detections (values without a field) are not supported in MDE queries;"
            " name the field that holds the value"
        )

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if isinstance(cond, ConditionOR) and self._term_list(cond):
            return True
        return super().decide_convert_condition_as_in_expression(cond, state)

    @staticmethod
    def _term_list(cond: ConditionOR | ConditionAND) -> bool:
        args = cond.args
        if len(args) < 2 or not all(
            isinstance(arg, ConditionFieldEqualsValueExpression) and uses_has(arg.value)
            for arg in args
        ):
            return False
        return len({arg.field for arg in args}) == 1  # type: ignore[union-attr]

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> Any:
        return self._in_expression(cond, state, negated=False)

    def _in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState, negated: bool
    ) -> str:
        args: list[ConditionFieldEqualsValueExpression] = cond.args  # type: ignore[assignment]
        field = self.escape_and_quote_field(args[0].field)
        values = [arg.value for arg in args]
        if self._term_list(cond):
            operator = "has_any"
            values = [value[1:-1] for value in values]  # type: ignore[index]
        elif all(isinstance(value, SigmaNumber) for value in values):
            operator = "in"
        else:
            operator = "in~"
        items = ", ".join(self.convert_value_str(value, state) for value in values)  # type: ignore[arg-type]
        expression = f"{field} {operator} ({items})"
        if not negated:
            return expression
        if operator == "has_any":
            return f"not({expression})"
        return f"{field} !{operator} ({items})"

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> Any:
        arg = cond.args[0]
        if isinstance(arg, ConditionOR) and self.decide_convert_condition_as_in_expression(
            arg, state
        ):
            return self._in_expression(arg, state, negated=True)
        return super().convert_condition_not(cond, state)

    def finalize_query_default(
        self, rule: SigmaRule, query: Any, index: int, state: ConversionState
    ) -> str:
        table = state.processing_state.get("query_table")
        if not table:
            raise SigmaBackendError(
                "no MDE table is chosen for this rule's log source; the MDE pipeline supports"
                " windows process_creation and registry_set, registry_add, registry_delete"
                " and registry_event rules"
            )
        columns = list(state.processing_state.get("project_columns") or [])
        label = detection_type(rule)
        lines = [
            str(table),
            f"| where Timestamp > ago({self.lookback})",
            f"| where {query}",
            f"| extend DetectionType = {kql_string(label)}",
        ]
        if columns:
            lines.append("| project " + ", ".join([*columns, "DetectionType"]))
        return "\n".join(lines)


def detection_type(rule: SigmaRule) -> str:
    """Return the DetectionType label: the pipeline's label, else the rule's name or title."""
    label = rule.custom_attributes.get("detection_type") or rule.name or rule.title
    return str(label)
