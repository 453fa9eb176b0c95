"""The rule template of `sigmapack new`.

Every value the author must write starts with the placeholder marker TODO, which
`sigmapack check` reports as a high finding until it is replaced.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from pathlib import Path
from typing import Final

from converter.checks.conventions import PLACEHOLDER, WINDOWS_PREFIXES

CATEGORIES: Final = ("process_creation", "registry_set")
NAME: Final = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")

_HEADER: Final = f"""\
title: {PLACEHOLDER} short title of what the rule detects, at most 110 characters
id: {{rule_id}}
status: experimental
description: |
    {PLACEHOLDER} Detects ... Say what the rule detects, how attackers use it and why it
    matters.
references:
    - {PLACEHOLDER} https://attack.mitre.org/techniques/T1543/003/ or another source
author: {PLACEHOLDER} your name or handle
date: {{today}}
tags:
    - attack.persistence
    - attack.privilege-escalation
    - attack.t1543.003
"""

_DETECTIONS: Final = {
    "process_creation": f"""\
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '{PLACEHOLDER}.exe'
        CommandLine|contains: '{PLACEHOLDER} text of the command line'
    condition: selection
""",
    "registry_set": f"""\
logsource:
    category: registry_set
    product: windows
detection:
    selection:
        TargetObject|contains: '{PLACEHOLDER} HKLM\\SYSTEM\\CurrentControlSet\\Services\\'
        Details: '{PLACEHOLDER} value data'
    condition: selection
""",
}

_FOOTER: Final = f"""\
falsepositives:
    - {PLACEHOLDER} legitimate activity that also matches, or Unknown
# Set the level to informational, low, medium, high or critical.
level: medium
"""


def rule_path(rules_dir: Path, category: str, name: str) -> Path:
    """Return the path of a new rule: <rules_dir>/windows/<category>/<prefix><name>.yml."""
    prefix = WINDOWS_PREFIXES[category]
    stem = name if name.startswith(prefix) else prefix + name
    return rules_dir / "windows" / category / f"{stem}.yml"


def rule_text(category: str, today: date, rule_id: uuid.UUID | None = None) -> str:
    """Return the YAML of a new rule with a fresh random id and today's date."""
    header = _HEADER.format(rule_id=rule_id or uuid.uuid4(), today=today.isoformat())
    return header + _DETECTIONS[category] + _FOOTER
