"""Tests of the case-insensitive ES|QL backend."""

from __future__ import annotations

from collections.abc import Callable

RULE = """
title: Test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        {detection}
    condition: selection
"""


def condition(query: str) -> str:
    return query.split(" | where ", 1)[1]


def test_caseless_field_gets_lower_case_value(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="Image|endswith: '\\TrustedInstaller.exe'")
    assert condition(convert_rule("esql", rule)) == (
        'ends_with(process.executable.caseless, "\\\\trustedinstaller.exe")'
    )


def test_other_field_wrapped_in_to_lower(convert_rule: Callable[..., str]) -> None:
    rule = RULE.format(detection="CommandLine: 'New-Service'")
    assert condition(convert_rule("esql", rule)) == (
        'TO_LOWER(process.command_line)=="new-service"'
    )


def test_like_pattern_escapes_backslash(convert_rule: Callable[..., str]) -> None:
    """ES|QL's LIKE escapes with backslash, so a literal one is written twice in the pattern."""
    rule = RULE.format(detection="CommandLine|contains: '\\Temp\\'")
    assert condition(convert_rule("esql", rule)) == (
        'TO_LOWER(process.command_line) like "*\\\\\\\\temp\\\\\\\\*"'
    )
