"""A Splunk backend whose values cannot hold a character that SPL search cannot express.

Splunk's search command has no escape for an asterisk, which is always a wildcard, and
none for control characters inside a quoted value. pySigma's SplunkBackend 2.1.0 writes `\\*`
and raw newlines or tabs there. Both are major breakers in Splunk's default segmentation,
so this backend writes a `*` wildcard in their place: the search still matches the value
and may match more.
"""

from __future__ import annotations

from sigma.conversion.state import ConversionState
from sigma.types import SigmaString, SpecialChars

from converter.backends.stock import FastSplunkBackend
from converter.backends.values import replace_chars


class SafeSplunkBackend(FastSplunkBackend):
    """FastSplunkBackend with asterisks and control characters in values as wildcards."""

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        widened = replace_chars(s, "*", SpecialChars.WILDCARD_MULTI)
        return str(super().convert_value_str(widened, state))
