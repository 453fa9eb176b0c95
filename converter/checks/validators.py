"""Running pySigma's core validators offline and placing their issues in the rule files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from typing import Any, Final

from converter.checks.findings import Finding, Severity
from converter.rule_yaml import KeyPath, Position
from converter.rules import LoadedRule

# Fix for each pySigma 1.5.1 issue class, appended to the issue's description.
HINTS: Final = {
    "DanglingDetectionIssue": "use it in the condition or remove it",
    "DanglingConditionIssue": "define it under detection or fix the condition",
    "ThemConditionWithSingleDetectionIssue": "name the search identifier instead of 'them'",
    "AllOfThemConditionIssue": "write 'all of selection*' or name the identifiers",
    "SpecificInsteadOfGenericLogsourceIssue": "use the generic log source category instead",
    "FieldnameLogsourceIssue": "use a field name that this log source has",
    "IdentifierExistenceIssue": "add 'id:' with a new random UUID",
    "IdentifierCollisionIssue": "give one of these rules a new random UUID",
    "DuplicateTitleIssue": "make each title unique",
    "DuplicateReferencesIssue": "remove the repeated reference",
    "DuplicateFilenameIssue": "rename one of the files",
    "FilenameLengthIssue": "use a file name of 10 to 90 characters",
    "CustomAttributesIssue": "check the spelling of the field name",
    "AllWithoutContainsModifierIssue": "add the 'contains' modifier before 'all'",
    "Base64OffsetWithoutContainsModifierIssue": "add the 'contains' modifier after it",
    "WindowsDashCombinedWithAllModifierIssue": "remove 'all' or 'windash'",
    "ModifierAppliedMultipleIssue": "apply each modifier once",
    "InvalidTagFormatIssue": "use lowercase letters, digits, '.', '-' and '_' in tags",
    "InvalidATTACKTagIssue": "use a tactic, technique, group or software of ATT&CK",
    "InvalidTLPTagIssue": "use a TLP tag such as tlp.clear or tlp.amber",
    "DuplicateTagIssue": "remove the repeated tag",
    "InvalidNamespaceTagIssue": "use a known namespace such as attack, car, cve or detection",
    "InvalidPatternTagIssue": "follow the pattern of the tag's namespace",
    "DoubleWildcardIssue": "use a single '*'",
    "NumberAsStringIssue": "write the number without quotes",
    "ControlCharacterIssue": "escape the backslash as '\\\\' or use single quotes",
    "WildcardsInsteadOfContainsModifierIssue": "use the 'contains' modifier",
    "WildcardInsteadOfStartswithIssue": "use the 'startswith' modifier",
    "WildcardInsteadOfEndswithIssue": "use the 'endswith' modifier",
    "EscapedWildcardIssue": "remove the backslash unless a literal '*' or '?' is meant",
}

# Top-level keys of the issues that name no value in the rule.
ISSUE_KEYS: Final = {
    "ThemConditionWithSingleDetectionIssue": ("detection", "condition"),
    "AllOfThemConditionIssue": ("detection", "condition"),
    "SpecificInsteadOfGenericLogsourceIssue": ("logsource",),
    "IdentifierExistenceIssue": (),
    "IdentifierCollisionIssue": ("id",),
    "DuplicateTitleIssue": ("title",),
    "DuplicateFilenameIssue": (),
    "FilenameLengthIssue": (),
}


def run_validators(rules: Sequence[LoadedRule]) -> list[Finding]:
    """Run every offline pySigma core validator on rules and return their findings.

    Validators keep state across rules, so issues of several rules (one id used twice) come
    from finalize() and become one finding in each rule file involved.
    """
    from converter.offline import available_validators

    by_rule = {id(loaded.rule): loaded for loaded in rules}
    findings: list[Finding] = []
    for identifier, validator_class in sorted(available_validators().items()):
        validator = validator_class()
        for loaded in rules:
            issues = _safely(identifier, loaded, validator.validate, loaded.rule, findings)
            findings += _to_findings(identifier, issues, by_rule)
        issues = _safely(identifier, None, validator.finalize, None, findings)
        findings += _to_findings(identifier, issues, by_rule)
    return findings


def _safely(
    name: str,
    loaded: LoadedRule | None,
    call: Callable[..., Iterable[Any]],
    rule: object,
    findings: list[Finding],
) -> list[Any]:
    """Call a validator, turning an exception into a finding so one bug hides no results."""
    try:
        return list(call(rule) if rule is not None else call())
    except Exception as err:  # any validator bug must become a finding, not a traceback
        if loaded is None:
            print(f"sigmapack: pySigma validator {name} failed: {err!r}", file=sys.stderr)
            return []
        findings.append(
            Finding(
                Severity.HIGH,
                "pysigma.validator-error",
                f"pySigma validator {name} failed on this rule with {type(err).__name__}:"
                f" {err}; simplify the rule or report the failure",
                loaded.path,
                rule_id=_rule_id(loaded),
            )
        )
        return []


def _to_findings(
    identifier: str, issues: list[Any], by_rule: dict[int, LoadedRule]
) -> list[Finding]:
    findings = []
    for issue in issues:
        involved = [by_rule[id(rule)] for rule in issue.rules if id(rule) in by_rule]
        for loaded in involved:
            findings.append(_finding(identifier, issue, loaded, involved))
    return findings


def _finding(
    identifier: str, issue: Any, loaded: LoadedRule, involved: list[LoadedRule]
) -> Finding:
    class_name = type(issue).__name__
    details = _details(issue)
    message = issue.description.rstrip(".")
    if details:
        message += f" ({details})"
    others = [other.path.as_posix() for other in involved if other is not loaded]
    if others:
        message += f"; also in {', '.join(others)}"
    hint = HINTS.get(class_name)
    if hint:
        message += f": {hint}"
    position = _position(issue, loaded)
    return Finding(
        Severity[issue.severity.name],
        f"pysigma.{identifier}",
        message,
        loaded.path,
        position.line if position else None,
        position.column if position else None,
        _rule_id(loaded),
    )


def _details(issue: Any) -> str:
    parts = []
    for field in fields(issue):
        if field.name == "rules":
            continue
        value = getattr(issue, field.name)
        if field.name == "detection_item":
            value = _detection_item_key(value)
        elif field.name == "modifiers":
            value = ", ".join(sorted(modifier.__name__ for modifier in value))
        parts.append(f"{field.name.replace('_', ' ')} '{value}'")
    return ", ".join(parts)


def _detection_item_key(item: Any) -> str:
    return "|".join([str(item.field or "")] + [_modifier_name(m) for m in item.modifiers])


def _modifier_name(modifier: type) -> str:
    from sigma.modifiers import reverse_modifier_mapping

    return str(reverse_modifier_mapping.get(modifier.__name__, modifier.__name__))


def _position(issue: Any, loaded: LoadedRule) -> Position | None:
    """Find the key or value of the rule that an issue is about."""
    locations = loaded.locations
    class_name = type(issue).__name__
    if class_name in ISSUE_KEYS:
        path = ISSUE_KEYS[class_name]
        return locations.nearest(path) if path else None

    for field in fields(issue):
        if field.name == "rules":
            continue
        value = getattr(issue, field.name)
        if field.name == "detection_item":
            found = _field_key(loaded, str(value.field or ""))
        elif field.name in ("detection_name", "fieldname"):
            found = locations.find_key(str(value), ("detection",)) or locations.find_key(str(value))
        elif field.name == "condition_name":
            found = ("detection", "condition")
        elif field.name in ("tag", "reference"):
            found = _list_entry(loaded, "tags" if field.name == "tag" else "references", value)
        else:
            found = _value_path(loaded.document.get("detection"), ("detection",), str(value))
        if found and isinstance(found[-1], int):
            return locations.value(found)
        if found:
            return locations.nearest(found)
    # A value that pySigma rewrote (escapes, wildcards) is not found by its text, so point
    # at the detection section it came from.
    return locations.nearest(("detection",))


def _field_key(loaded: LoadedRule, field_name: str) -> KeyPath | None:
    for path in sorted(loaded.locations.keys, key=lambda p: _order(loaded, p)):
        is_field = len(path) >= 3 and path[0] == "detection" and isinstance(path[-1], str)
        if is_field and str(path[-1]).split("|")[0] == field_name:
            return path
    return None


def _order(loaded: LoadedRule, path: KeyPath) -> tuple[int, int]:
    position = loaded.locations.keys[path]
    return position.line, position.column


def _list_entry(loaded: LoadedRule, name: str, value: object) -> KeyPath | None:
    entries = loaded.document.get(name)
    if isinstance(entries, list):
        for index, entry in enumerate(entries):
            if str(entry) == str(value):
                return (name, index)
    return (name,)


def _value_path(node: object, path: KeyPath, text: str) -> KeyPath | None:
    if isinstance(node, dict):
        for key, value in node.items():
            found = _value_path(value, (*path, str(key)), text)
            if found:
                return found
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found = _value_path(value, (*path, index), text)
            if found:
                return found
    elif node is not None and str(node) == text:
        return path
    return None


def _rule_id(loaded: LoadedRule) -> str | None:
    value = loaded.document.get("id")
    return value if isinstance(value, str) else None
