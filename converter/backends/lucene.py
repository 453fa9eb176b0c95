"""A Lucene backend that keeps control characters and regular expressions in their place.

pySigma's LuceneBackend 2.1.1 writes control characters raw. An unescaped newline or tab
ends the term in Lucene's query syntax, so the rest of the value becomes a search of the
default field. Lucene has no escape sequence for them, so this backend writes the `?`
wildcard (one character) in their place. It also unanchors `re` values, because Lucene
regular expressions match whole values while Sigma's match anywhere.
"""

from __future__ import annotations

from typing import Any

from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.state import ConversionState
from sigma.types import SigmaRegularExpression, SigmaString, SpecialChars

from converter.backends.stock import FastLuceneBackend
from converter.backends.values import replace_chars, unanchored


class SafeLuceneBackend(FastLuceneBackend):
    """FastLuceneBackend with one-character wildcards for control characters."""

    # luqum 1.0.0 rejects a term that starts with a single quote, which Elasticsearch's
    # query_string does not reserve. Lucene reads an escaped character as itself, so the
    # escape changes no match and lets strict parsers read the query too.
    add_escaped = FastLuceneBackend.add_escaped + "'"

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        widened = replace_chars(s, "", SpecialChars.WILDCARD_SINGLE)
        return str(super().convert_value_str(widened, state))

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        if isinstance(cond.value, SigmaRegularExpression):
            cond = ConditionFieldEqualsValueExpression(cond.field, unanchored(cond.value))
        return super().convert_condition_field_eq_val_re(cond, state)
