"""Tests of the MDE KQL backend: escaping, operators and the output shape."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sigma.exceptions import SigmaError

from converter.backends.kql import is_has_safe, kql_identifier, kql_string, wildcard_regex
from converter.targets import Options, TargetError, get_target

RULE = """
title: Test
name: Test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        {detection}
    condition: {condition}
"""


def where_clause(query: str) -> str:
    lines = [line for line in query.splitlines() if line.startswith("| where ")]
    return lines[1].removeprefix("| where ")


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\Temp\\", '"C:\\\\Temp\\\\"'),
        ("a\nb\tc\rd", '"a\\nb\\tc\\rd"'),
        ("bell\x07", '"bell\\u0007"'),
        ("Grüße", '"Grüße"'),
    ],
)
def test_kql_string_escapes(text: str, literal: str) -> None:
    assert kql_string(text) == literal


def test_kql_identifier_quotes_odd_names() -> None:
    assert kql_identifier("FileName") == "FileName"
    assert kql_identifier("odd name") == '["odd name"]'


def test_wildcard_in_middle_becomes_regex(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine: 'sc*create'", condition="selection")
    assert where_clause(convert_rule("kql", rule)) == (
        'ProcessCommandLine matches regex "(?is)^sc.*create$"'
    )


def test_single_char_wildcard_becomes_dot(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine|startswith: 'sc?exe'", condition="selection")
    assert where_clause(convert_rule("kql", rule)) == (
        'ProcessCommandLine matches regex "(?is)^sc.exe.*$"'
    )


def test_regex_escapes_special_characters() -> None:
    from sigma.types import SigmaString

    assert wildcard_regex(SigmaString("a.b*(c)")) == "(?is)^a\\.b.*\\(c\\)$"


def test_escaped_wildcard_is_literal(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine|contains: 'a\\*b'", condition="selection")
    assert where_clause(convert_rule("kql", rule)) == 'ProcessCommandLine contains "a*b"'


def test_quote_in_value_is_escaped(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine|contains: 'x\" or 1==1'", condition="selection")
    assert where_clause(convert_rule("kql", rule)) == 'ProcessCommandLine contains "x\\" or 1==1"'


def test_negated_list_uses_not_in(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(
        detection=(
            "CommandLine: x\n    filter:\n        ParentImage|endswith: ['\\a.exe', '\\b.exe']"
        ),
        condition="selection and not filter",
    )
    assert where_clause(convert_rule("kql", rule)) == (
        'ProcessCommandLine =~ "x" and (InitiatingProcessFileName !in~ ("a.exe", "b.exe"))'
    )


def test_number_uses_exact_equality(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="ProcessId: 4", condition="selection")
    assert where_clause(convert_rule("kql", rule)) == "ProcessId == 4"


def test_null_value_uses_isempty(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine: null", condition="selection")
    assert where_clause(convert_rule("kql", rule)) == "isempty(ProcessCommandLine)"


def test_contains_all_stays_substring(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine|contains|all: [a, b]", condition="selection")
    assert where_clause(convert_rule("kql", rule)) == (
        'ProcessCommandLine contains "a" and ProcessCommandLine contains "b"'
    )


def test_keyword_detection_rejected(convert_rule: Callable[..., str]) -> None:
    rule = """
    title: Test
    logsource:
        category: process_creation
        product: windows
    detection:
        keywords:
            - evil
        condition: keywords
    """
    with pytest.raises(SigmaError, match="keyword detections"):
        convert_rule("kql", rule)


def test_query_shape(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine: x", condition="selection")
    assert convert_rule("kql", rule, lookback="7d").splitlines() == [
        "DeviceProcessEvents",
        "| where Timestamp > ago(7d)",
        '| where ProcessCommandLine =~ "x"',
        '| extend DetectionType = "Test"',
        "| project Timestamp, DeviceName, AccountName, FileName, ProcessCommandLine,"
        " InitiatingProcessFileName, InitiatingProcessCommandLine, DetectionType",
    ]


def test_label_falls_back_to_title(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine: x", condition="selection").replace(
        "name: Test\n", ""
    )
    assert '| extend DetectionType = "Test"' in convert_rule("kql", rule)


@pytest.mark.parametrize("lookback", ["24", "1w", "-1h", "0h", "1h;drop"])
def test_invalid_lookback_rejected(lookback: str) -> None:
    with pytest.raises(SigmaError, match="invalid lookback"):
        get_target("kql").make_backend(Options(lookback=lookback))


def test_unknown_target_lists_known_ones() -> None:
    with pytest.raises(TargetError, match="choose one of: kql, splunk"):
        get_target("qradar")


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("\\Temp\\", True),
        ("%APPDATA%", True),
        (" -enc ", True),
        ("create", False),
        ("\\sc.exe", False),
        ("_x_", False),
        ("\\\\", False),
        ("-", False),
    ],
)
def test_has_safe_needles(text: str, safe: bool) -> None:
    assert is_has_safe(text) is safe


def test_contains_with_separator_edges_uses_has(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine|contains: '\\Temp\\'", condition="selection")
    assert where_clause(convert_rule("kql", rule)) == 'ProcessCommandLine has "\\\\Temp\\\\"'


def test_contains_list_of_safe_values_uses_has_any(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(
        detection="CommandLine|contains: ['\\Temp\\', ' /c ']", condition="selection"
    )
    assert where_clause(convert_rule("kql", rule)) == (
        'ProcessCommandLine has_any ("\\\\Temp\\\\", " /c ")'
    )


def test_mixed_contains_list_keeps_contains(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(
        detection="CommandLine|contains: ['\\Temp\\', 'evil']", condition="selection"
    )
    assert where_clause(convert_rule("kql", rule)) == (
        'ProcessCommandLine has "\\\\Temp\\\\" or ProcessCommandLine contains "evil"'
    )
