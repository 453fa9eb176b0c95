"""Unit tests of the MDE pipeline's transformations, through the KQL target."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sigma.exceptions import SigmaTransformationError

PROCESS_RULE = """
title: Test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        {detection}
    condition: selection
"""

REGISTRY_RULE = """
title: Test
logsource:
    category: registry_set
    product: windows
detection:
    selection:
        {detection}
    condition: selection
"""


def where_clause(query: str) -> str:
    """Return the rule's own filter: the second `where` line of a generated query."""
    lines = [line for line in query.splitlines() if line.startswith("| where ")]
    assert len(lines) == 2, query
    return lines[1].removeprefix("| where ")


def test_image_endswith_name_becomes_file_name(convert_rule: Callable[..., str]) -> None:
    rule = PROCESS_RULE.format(detection="Image|endswith: '\\sc.exe'")
    assert where_clause(convert_rule("kql", rule)) == 'FileName =~ "sc.exe"'


def test_image_endswith_path_stays_folder_path(convert_rule: Callable[..., str]) -> None:
    rule = PROCESS_RULE.format(detection="Image|endswith: '\\System32\\sc.exe'")
    assert where_clause(convert_rule("kql", rule)) == 'FolderPath endswith "\\\\System32\\\\sc.exe"'


def test_image_mixed_values_split_by_kind(convert_rule: Callable[..., str]) -> None:
    rule = PROCESS_RULE.format(detection="Image|endswith: ['\\sc.exe', '\\Temp\\x.exe']")
    assert (
        where_clause(convert_rule("kql", rule))
        == 'FileName =~ "sc.exe" or FolderPath endswith "\\\\Temp\\\\x.exe"'
    )


def test_parent_image_list_becomes_in_list(convert_rule: Callable[..., str]) -> None:
    rule = PROCESS_RULE.format(detection="ParentImage|endswith: ['\\a.exe', '\\b.exe']")
    assert (
        where_clause(convert_rule("kql", rule))
        == 'InitiatingProcessFileName in~ ("a.exe", "b.exe")'
    )


def test_command_line_contains_stays_substring(convert_rule: Callable[..., str]) -> None:
    rule = PROCESS_RULE.format(detection="CommandLine|contains: 'create'")
    assert where_clause(convert_rule("kql", rule)) == 'ProcessCommandLine contains "create"'


def test_registry_value_name_split_from_path(convert_rule: Callable[..., str]) -> None:
    rule = REGISTRY_RULE.format(detection="TargetObject|endswith: '\\ImagePath'")
    assert where_clause(convert_rule("kql", rule)) == 'RegistryValueName =~ "ImagePath"'


def test_registry_short_hive_written_in_full(convert_rule: Callable[..., str]) -> None:
    rule = REGISTRY_RULE.format(detection="TargetObject|startswith: 'HKLM\\SOFTWARE\\Run\\'")
    assert (
        where_clause(convert_rule("kql", rule))
        == 'RegistryKey startswith "HKEY_LOCAL_MACHINE\\\\SOFTWARE\\\\Run\\\\"'
    )


def test_registry_hive_inside_contains(convert_rule: Callable[..., str]) -> None:
    rule = REGISTRY_RULE.format(detection="TargetObject|contains: 'HKU\\x\\Run'")
    assert (
        where_clause(convert_rule("kql", rule)) == 'RegistryKey contains "HKEY_USERS\\\\x\\\\Run"'
    )


def test_registry_hive_lookalike_unchanged(convert_rule: Callable[..., str]) -> None:
    rule = REGISTRY_RULE.format(detection="TargetObject|contains: 'SHKLM\\x'")
    assert where_clause(convert_rule("kql", rule)) == 'RegistryKey contains "SHKLM\\\\x"'


@pytest.mark.parametrize(
    ("sysmon", "mde"),
    [
        ("DWORD (0x00000002)", "2"),
        ("DWORD (0x00000000)", "0"),
        ("DWORD (0x00000010)", "16"),
        ("QWORD (0x00000001-0x00000000)", "QWORD (0x00000001-0x00000000)"),
        ("C:\\x.exe", "C:\\\\x.exe"),
    ],
)
def test_registry_dword_written_in_decimal(
    convert_rule: Callable[..., str], sysmon: str, mde: str
) -> None:
    rule = REGISTRY_RULE.format(detection=f"Details: '{sysmon}'")
    assert where_clause(convert_rule("kql", rule)) == f'RegistryValueData =~ "{mde}"'


def test_registry_event_type_mapped(convert_rule: Callable[..., str]) -> None:
    rule = REGISTRY_RULE.format(detection="EventType: SetValue")
    assert where_clause(convert_rule("kql", rule)) == 'ActionType =~ "RegistryValueSet"'


def test_registry_image_name_on_initiating_process(convert_rule: Callable[..., str]) -> None:
    rule = REGISTRY_RULE.format(detection="Image|endswith: '\\reg.exe'")
    assert where_clause(convert_rule("kql", rule)) == 'InitiatingProcessFileName =~ "reg.exe"'


def test_unmapped_field_fails_with_name(convert_rule: Callable[..., str]) -> None:
    rule = PROCESS_RULE.format(detection="Hostname: x")
    with pytest.raises(SigmaTransformationError, match="field 'Hostname' cannot be mapped"):
        convert_rule("kql", rule)


def test_unsupported_logsource_fails(convert_rule: Callable[..., str]) -> None:
    rule = """
    title: Test
    logsource:
        category: dns_query
        product: windows
    detection:
        selection:
            QueryName: x
        condition: selection
    """
    with pytest.raises(Exception, match="supports only Windows process_creation"):
        convert_rule("kql", rule)


PACK_RULE = """
title: Test
id: fbfe105f-4019-4ca9-ac1e-1c5a863ba4ce
name: NewServiceCreation
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        CommandLine|contains: {values}
    condition: selection
"""


def test_pack_rule_single_term_uses_has(convert_rule: Callable[..., str]) -> None:
    rule = PACK_RULE.format(values="create")
    assert where_clause(convert_rule("kql", rule)) == 'ProcessCommandLine has "create"'


def test_pack_rule_term_list_uses_has_any(convert_rule: Callable[..., str]) -> None:
    rule = PACK_RULE.format(values="['create', 'config']")
    assert (
        where_clause(convert_rule("kql", rule)) == 'ProcessCommandLine has_any ("create", "config")'
    )


def test_pack_term_match_needs_pack_id(convert_rule: Callable[..., str]) -> None:
    """A rule that only reuses a pack rule's name keeps Sigma's substring matching."""
    rule = PACK_RULE.format(values="create").replace(
        "id: fbfe105f-4019-4ca9-ac1e-1c5a863ba4ce", "id: 0d5b7e0e-6f2a-4c1b-9a43-6a2f0c1e9b55"
    )
    assert where_clause(convert_rule("kql", rule)) == 'ProcessCommandLine contains "create"'


def test_pack_label_replaces_rule_name(convert_rule: Callable[..., str]) -> None:
    rule = PACK_RULE.format(values="create").replace(
        "fbfe105f-4019-4ca9-ac1e-1c5a863ba4ce", "2e709f3e-be0f-4a1b-b346-1cb7d6d65034"
    )
    assert '| extend DetectionType = "ServiceCreatedByOfficeOrScript"' in convert_rule("kql", rule)
