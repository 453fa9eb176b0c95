"""Findings of `sigmapack check`: what is wrong, how bad, and where."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path


class Severity(IntEnum):
    """Severity of a finding, in pySigma's three levels; higher values are worse."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Severity:
        return cls[label.upper()]


@dataclass(frozen=True)
class Finding:
    """One problem of one rule file.

    check names the check that found it, for example "yaml", "schema", "pysigma.attacktag"
    or "sigmahq.title-length". line and column are 1-based and None where unknown.
    """

    severity: Severity
    check: str
    message: str
    path: Path
    line: int | None = None
    column: int | None = None
    rule_id: str | None = None

    def location(self) -> str:
        """Return path[:line[:column]] in the form compilers and editors print."""
        text = self.path.as_posix()
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


@dataclass
class RuleFile:
    """A checked rule file with its rule id and title where it could be read."""

    path: Path
    rule_id: str | None = None
    title: str | None = None
    findings: list[Finding] = field(default_factory=list)

    def failed(self, fail_level: Severity) -> bool:
        """Return True if a finding of this file is at or above fail_level."""
        return any(finding.severity >= fail_level for finding in self.findings)


@dataclass
class CheckReport:
    """Every checked rule file and its findings, in path order."""

    files: list[RuleFile] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [finding for rule_file in self.files for finding in rule_file.findings]

    def failed(self, fail_level: Severity) -> bool:
        """Return True if any finding is at or above fail_level."""
        return any(rule_file.failed(fail_level) for rule_file in self.files)

    def counts(self) -> dict[Severity, int]:
        """Return the number of findings of each severity."""
        counts = dict.fromkeys(Severity, 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts
