"""Checking rule files: loading, Sigma schema, pySigma validators and SigmaHQ conventions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from converter.checks.conventions import check_conventions
from converter.checks.findings import CheckReport, Finding, RuleFile, Severity
from converter.checks.validators import run_validators
from converter.rules import LoadedRule, RuleError, find_rule_files, try_load_rule


def check_paths(paths: Sequence[Path], today: date | None = None) -> CheckReport:
    """Check every rule file under paths and return the findings of each file.

    A file that cannot be read or loaded gets its load errors as high findings, and the
    other files are still checked. Cross-file checks (id, title and file name uniqueness)
    run over the files that loaded.
    """
    rule_paths, path_errors = find_rule_files(paths)
    files: dict[Path, RuleFile] = {}
    for error in path_errors:
        _file(files, error.path).findings.append(_load_finding(error))

    loaded_rules: list[LoadedRule] = []
    for path in rule_paths:
        rule_file = _file(files, path)
        loaded, errors = try_load_rule(path)
        if loaded is None:
            rule_file.rule_id = next((e.rule_id for e in errors if e.rule_id), None)
            rule_file.findings += [_load_finding(error) for error in errors]
            continue
        loaded_rules.append(loaded)
        rule_file.rule_id = _text(loaded.document.get("id"))
        rule_file.title = _text(loaded.document.get("title"))
        rule_file.findings += check_conventions(loaded, today)

    for finding in run_validators(loaded_rules):
        files[finding.path].findings.append(finding)

    for rule_file in files.values():
        rule_file.findings.sort(key=_finding_order)
    return CheckReport(sorted(files.values(), key=lambda item: item.path.as_posix()))


def _file(files: dict[Path, RuleFile], path: Path) -> RuleFile:
    return files.setdefault(path, RuleFile(path))


def _load_finding(error: RuleError) -> Finding:
    return Finding(
        Severity.HIGH,
        _load_check(error.message),
        error.message,
        error.path,
        error.line,
        error.column,
        error.rule_id,
    )


def _load_check(message: str) -> str:
    """Return the check name of a load error from its message, which rules.py words."""
    if message.startswith("invalid Sigma rule"):
        return "schema"
    if message.startswith(("invalid YAML", "duplicate key", "YAML", "values are nested")):
        return "yaml"
    if message.startswith(("a rule must be", "file contains several", "a mapping key")):
        return "yaml"
    return "file"


def _finding_order(finding: Finding) -> tuple[int, int, int, str]:
    return (finding.line or 0, finding.column or 0, -finding.severity, finding.check)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
