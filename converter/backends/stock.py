"""pySigma's Splunk and Elasticsearch backends with the lazy regex fix and nothing else."""

from __future__ import annotations

from typing import Any

from sigma.backends.elasticsearch.elasticsearch_eql import EqlBackend
from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend
from sigma.backends.splunk.splunk import SplunkBackend
from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.state import ConversionState
from sigma.types import SigmaString

from converter.backends.lazy_regex import LazyRegexMixin, convert_eq_val_str_lazily


class FastSplunkBackend(LazyRegexMixin, SplunkBackend):
    """SplunkBackend 2.1.0 that builds a regex only for templates that use one."""


class FastLuceneBackend(LazyRegexMixin, LuceneBackend):
    """LuceneBackend 2.1.1 that builds a regex only for templates that use one."""


class FastEqlBackend(EqlBackend):
    """EqlBackend 2.1.1 that builds a regex only for templates that use one."""

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> Any:
        # EqlBackend writes empty strings and IP addresses with `==`; keep that path as is.
        value = cond.value
        # is_ip is annotated for a condition but called with its value by EqlBackend itself.
        if not isinstance(value, SigmaString) or value.convert() == "" or self.is_ip(value):  # type: ignore[arg-type]
            return super().convert_condition_field_eq_val_str(cond, state)
        return convert_eq_val_str_lazily(self, cond, state)
