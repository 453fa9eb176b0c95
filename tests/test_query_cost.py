"""Tests of the count of `contains` predicates that could be `has`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from converter.output import strip_header
from converter.query_cost import ContainsCount, count_all, count_contains, unescape

REPO = Path(__file__).resolve().parent.parent


def test_unescape_kql_literal() -> None:
    assert unescape('a\\\\b\\"c\\nd\\u0041') == 'a\\b"c\ndA'


def test_counts_replaceable_and_necessary() -> None:
    query = 'T | where A contains "\\\\Temp\\\\" and B contains "evil" and C has "x"'
    assert count_contains(query) == ContainsCount(replaceable=1, necessary=1)


def test_counts_negated_contains() -> None:
    assert count_contains('T | where A !contains "%TEMP%"') == ContainsCount(1, 0)


def test_quote_inside_literal_does_not_end_it() -> None:
    query = 'T | where A contains "x\\" contains \\"y" and B contains "z"'
    assert count_contains(query) == ContainsCount(0, 2)


def test_generated_rule_has_no_replaceable_contains(convert_rule: Callable[..., str]) -> None:
    rule = """
    title: Test
    logsource:
        category: process_creation
        product: windows
    detection:
        selection:
            CommandLine|contains:
                - '\\Temp\\'
                - ' -enc '
                - 'evil'
        condition: selection
    """
    assert count_contains(convert_rule("kql", rule)) == ContainsCount(0, 1)


def test_pack_output_has_no_replaceable_contains() -> None:
    queries = [strip_header(path.read_text()) for path in (REPO / "output").rglob("*.kql")]
    assert queries
    assert count_all(queries).replaceable == 0
