"""Report formats of `sigmapack check`: text, JSON, SARIF 2.1.0, GitHub annotations, JUnit.

Every format lists the same findings. Rule values can contain control characters, so the
text-based formats replace them with escapes, and JUnit replaces the characters that XML 1.0
cannot contain.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from converter.about import versions
from converter.checks.findings import CheckReport, Finding, RuleFile, Severity

FORMATS: Final = ("text", "json", "sarif", "github", "junit")

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS: Final = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
GITHUB_COMMANDS: Final = {
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "notice",
}

# C0 controls other than tab, DEL and C1 controls: they can rewrite a terminal's screen.
CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Characters outside XML 1.0's Char production (tab, LF and CR are allowed there).
NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render(report: CheckReport, output_format: str, fail_level: Severity) -> str:
    """Return the report as a document of output_format, ending with a newline."""
    renderers: dict[str, Callable[[CheckReport, Severity], str]] = {
        "text": _text,
        "json": _json,
        "sarif": _sarif,
        "github": _github,
        "junit": _junit,
    }
    return renderers[output_format](report, fail_level)


def display_path(path: Path) -> str:
    """Return path relative to the working folder when it is inside it, in POSIX form."""
    try:
        return path.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def printable(text: str) -> str:
    """Return text with control characters written as \\xNN escapes."""
    return CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _location(finding: Finding) -> str:
    text = display_path(finding.path)
    if finding.line is not None:
        text += f":{finding.line}"
        if finding.column is not None:
            text += f":{finding.column}"
    return text


def _text(report: CheckReport, fail_level: Severity) -> str:
    lines = [
        f"{printable(_location(finding))}: {finding.severity.label}: "
        f"{printable(finding.message)} [{finding.check}]"
        for finding in report.findings
    ]
    return "".join(line + "\n" for line in lines)


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "severity": finding.severity.label,
        "check": finding.check,
        "message": finding.message,
        "path": display_path(finding.path),
        "line": finding.line,
        "column": finding.column,
        "rule_id": finding.rule_id,
    }


def _json(report: CheckReport, fail_level: Severity) -> str:
    counts = report.counts()
    document = {
        "tool": versions(),
        "fail_level": fail_level.label,
        "passed": not report.failed(fail_level),
        "summary": {
            "files": len(report.files),
            "failed_files": sum(1 for item in report.files if item.failed(fail_level)),
            "findings": {severity.label: counts[severity] for severity in reversed(Severity)},
        },
        "files": [
            {
                "path": display_path(rule_file.path),
                "rule_id": rule_file.rule_id,
                "title": rule_file.title,
                "passed": not rule_file.failed(fail_level),
                "findings": [_finding_json(finding) for finding in rule_file.findings],
            }
            for rule_file in report.files
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _sarif(report: CheckReport, fail_level: Severity) -> str:
    found = versions()
    checks = sorted({finding.check for finding in report.findings})
    rule_index = {check: index for index, check in enumerate(checks)}
    first_of: dict[str, Finding] = {}
    for finding in report.findings:
        first_of.setdefault(finding.check, finding)

    rules = [
        {
            "id": check,
            "name": check.replace(".", "/"),
            "shortDescription": {"text": _check_description(check)},
            "defaultConfiguration": {"level": SARIF_LEVELS[first_of[check].severity]},
        }
        for check in checks
    ]
    results = [_sarif_result(finding, rule_index[finding.check]) for finding in report.findings]
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "sigmapack",
                        "version": found["sigmapack"],
                        "semanticVersion": found["sigmapack"],
                        "rules": rules,
                        "properties": {"pysigma": found["pysigma"], "attack": found["attack"]},
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "exitCode": 1 if report.failed(fail_level) else 0,
                        "properties": {"failLevel": fail_level.label},
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _check_description(check: str) -> str:
    namespace, _, name = check.partition(".")
    if namespace == "pysigma":
        return f"pySigma validator {name}"
    if namespace == "sigmahq":
        return f"SigmaHQ convention: {name.replace('-', ' ')}"
    return {
        "yaml": "The file must be valid YAML without duplicate keys",
        "schema": "The rule must follow the Sigma rule schema",
        "file": "The rule file must be a readable regular UTF-8 file",
    }.get(check, check)


def _sarif_result(finding: Finding, rule_index: int) -> dict[str, Any]:
    shown = display_path(finding.path)
    location: dict[str, Any] = {"uri": quote(shown)}
    if Path(shown).is_absolute():
        # A file outside the working folder: an absolute file URI, with no base to resolve.
        location["uri"] = Path(shown).as_uri()
    else:
        location["uriBaseId"] = "%SRCROOT%"
    physical: dict[str, Any] = {"artifactLocation": location}
    if finding.line is not None:
        region: dict[str, int] = {"startLine": finding.line}
        if finding.column is not None:
            region["startColumn"] = finding.column
        physical["region"] = region
    result: dict[str, Any] = {
        "ruleId": finding.check,
        "ruleIndex": rule_index,
        "level": SARIF_LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": physical}],
        "properties": {"severity": finding.severity.label},
    }
    if finding.rule_id:
        result["properties"]["sigmaRuleId"] = finding.rule_id
    return result


def _github_escape(text: str, property_value: bool = False) -> str:
    """Escape text as GitHub's workflow commands require for data and property values."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return printable(text)


def _github(report: CheckReport, fail_level: Severity) -> str:
    lines = []
    for finding in report.findings:
        properties = [f"file={_github_escape(display_path(finding.path), True)}"]
        if finding.line is not None:
            properties.append(f"line={finding.line}")
            if finding.column is not None:
                properties.append(f"col={finding.column}")
        properties.append(f"title={_github_escape(f'sigmapack {finding.check}', True)}")
        message = f"{finding.severity.label}: {finding.message}"
        lines.append(
            f"::{GITHUB_COMMANDS[finding.severity]} {','.join(properties)}::"
            f"{_github_escape(message)}"
        )
    return "".join(line + "\n" for line in lines)


def _xml_text(text: str) -> str:
    return NOT_XML.sub("\ufffd", text)


def _junit(report: CheckReport, fail_level: Severity) -> str:
    failures = sum(1 for rule_file in report.files if rule_file.failed(fail_level))
    attributes = {
        "name": "sigmapack check",
        "tests": str(len(report.files)),
        "failures": str(failures),
        "errors": "0",
        "skipped": "0",
    }
    suites = ET.Element("testsuites", attributes)
    suite = ET.SubElement(suites, "testsuite", attributes)
    for rule_file in report.files:
        _junit_case(suite, rule_file, fail_level)
    ET.indent(suites)
    body = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _junit_case(suite: ET.Element, rule_file: RuleFile, fail_level: Severity) -> None:
    path = display_path(rule_file.path)
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": _xml_text(str(Path(path).parent).replace("/", ".")),
            "name": _xml_text(path),
            "file": _xml_text(path),
        },
    )
    failing = [item for item in rule_file.findings if item.severity >= fail_level]
    others = [item for item in rule_file.findings if item.severity < fail_level]
    if failing:
        worst_finding = max(failing, key=lambda item: item.severity)
        worst = worst_finding.severity
        failure = ET.SubElement(
            case,
            "failure",
            {
                "message": _xml_text(
                    f"{len(failing)} finding(s) at or above {fail_level.label}:"
                    f" {worst_finding.message}"
                ),
                "type": worst.label,
            },
        )
        failure.text = _xml_text(_finding_lines(failing))
    if others:
        output = ET.SubElement(case, "system-out")
        output.text = _xml_text(_finding_lines(others))


def _finding_lines(findings: list[Finding]) -> str:
    return "".join(
        f"{_location(item)}: {item.severity.label}: {item.message} [{item.check}]\n"
        for item in findings
    )
