"""SigmaHQ rule conventions that apply to this pack, checked on the rule's YAML document.

The conventions follow SigmaHQ's rule creation guide and the checks of its rule repository.
A rule has a random UUID as id, a title of at most 110 characters, a description, dates
written yyyy-mm-dd, ATT&CK tags and false positives. Its file name starts with the prefix
of its log source. pySigma's own validators (see validators.py) cover id uniqueness,
tag existence in ATT&CK and detection logic.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from converter.checks.findings import Finding, Severity
from converter.rule_yaml import KeyPath, Position, YamlLocations
from converter.rules import LoadedRule

MAX_TITLE_LENGTH: Final = 110
MIN_DESCRIPTION_LENGTH: Final = 16

# Marker that `sigmapack new` puts in every value the author must replace.
PLACEHOLDER: Final = "TODO"

# Top-level fields of the Sigma rule specification 2.0.
SIGMA_FIELDS: Final = frozenset(
    {
        "title",
        "id",
        "related",
        "name",
        "taxonomy",
        "status",
        "description",
        "license",
        "author",
        "references",
        "date",
        "modified",
        "tags",
        "logsource",
        "detection",
        "fields",
        "falsepositives",
        "level",
        "scope",
        # Not in the Sigma specification, but SigmaHQ's rules use them for their tests.
        "regression_tests_path",
        "simulation",
    }
)

# File name prefixes of SigmaHQ's Windows rules, by log source category, as used in the
# SigmaHQ rules folder.
WINDOWS_PREFIXES: Final = {
    "process_creation": "proc_creation_win_",
    "registry_set": "registry_set_",
    "registry_add": "registry_add_",
    "registry_delete": "registry_delete_",
    "registry_event": "registry_event_",
    "file_event": "file_event_win_",
    "file_delete": "file_delete_",
    "file_access": "file_access_",
    "image_load": "image_load_",
    "network_connection": "net_connection_win_",
    "dns_query": "dns_query_win_",
    "driver_load": "driver_load_win_",
    "create_remote_thread": "create_remote_thread_win_",
    "process_access": "proc_access_win_",
    "pipe_created": "pipe_created_",
    "ps_script": "posh_ps_",
    "ps_module": "posh_pm_",
    "ps_classic_start": "posh_pc_",
}

FILE_NAME: Final = re.compile(r"^[a-z0-9_]+\.yml$")
ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ATTACK_TECHNIQUE_TAG: Final = re.compile(r"^attack\.t\d{4}(\.\d{3})?$")
RELATIVE_PATH: Final = re.compile(r"\.\.[/\\]")
CONTROL_CHARACTER: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class _Context:
    """The rule under check and a way to add findings at its keys."""

    def __init__(self, loaded: LoadedRule, today: date) -> None:
        self.loaded = loaded
        self.document: dict[str, Any] = loaded.document
        self.locations: YamlLocations = loaded.locations
        self.today = today
        self.findings: list[Finding] = []
        value = self.document.get("id")
        self.rule_id = value if isinstance(value, str) else None

    def add(self, severity: Severity, check: str, message: str, at: KeyPath = ()) -> None:
        position = self.locations.nearest(at) if at else None
        self._append(severity, check, message, position)

    def add_at_value(self, severity: Severity, check: str, message: str, at: KeyPath) -> None:
        position = self.locations.value(at) or self.locations.nearest(at)
        self._append(severity, check, message, position)

    def _append(
        self, severity: Severity, check: str, message: str, position: Position | None
    ) -> None:
        self.findings.append(
            Finding(
                severity,
                f"sigmahq.{check}",
                message,
                self.loaded.path,
                position.line if position else None,
                position.column if position else None,
                self.rule_id,
            )
        )


def check_conventions(loaded: LoadedRule, today: date | None = None) -> list[Finding]:
    """Return the convention findings of one loaded rule, in the order of the checks."""
    context = _Context(loaded, today or date.today())
    for check in CHECKS:
        check(context)
    return context.findings


def _placeholders(context: _Context) -> None:
    for path, text in _scalars(context.document, ()):
        if text.startswith(PLACEHOLDER):
            context.add_at_value(
                Severity.HIGH,
                "placeholder",
                f"'{_dotted(path)}' still has the template placeholder '{_shorten(text)}';"
                " replace it with the rule's own value",
                path,
            )


def _identifier(context: _Context) -> None:
    value = context.document.get("id")
    if value is None:
        return  # pySigma's identifier_existence reports a missing id
    try:
        parsed = uuid.UUID(str(value))
    except ValueError:
        return  # rejected when the rule was loaded
    if parsed.version != 4 or str(parsed) != value:
        context.add_at_value(
            Severity.MEDIUM,
            "id-format",
            f"id '{value}' must be a random UUID (version 4) in lowercase, for example"
            f" '{uuid.uuid4()}'",
            ("id",),
        )


def _title(context: _Context) -> None:
    title = context.document.get("title")
    if not isinstance(title, str):
        return
    if len(title) > MAX_TITLE_LENGTH:
        context.add_at_value(
            Severity.MEDIUM,
            "title-length",
            f"title has {len(title)} characters; shorten it to at most {MAX_TITLE_LENGTH}",
            ("title",),
        )
    if title.endswith("."):
        context.add_at_value(
            Severity.LOW, "title-style", "title ends with a period; remove it", ("title",)
        )
    if title.lower().startswith("detects "):
        context.add_at_value(
            Severity.LOW,
            "title-style",
            "title starts with 'Detects'; name what is detected, for example 'New Service"
            " Created by Sc.EXE'",
            ("title",),
        )
    if RELATIVE_PATH.search(title):
        context.add_at_value(
            Severity.HIGH,
            "title-path",
            "title contains a relative path ('../' or '..\\'); tools that name files after"
            " titles would write outside their folder, so remove it",
            ("title",),
        )
    if CONTROL_CHARACTER.search(title):
        context.add_at_value(
            Severity.HIGH,
            "title-control-character",
            "title contains a control character, which can rewrite a terminal or break"
            " reports; remove it",
            ("title",),
        )


def _description(context: _Context) -> None:
    description = context.document.get("description")
    if description is None:
        context.add(
            Severity.MEDIUM,
            "description",
            "rule has no description; add one that says what the rule detects and why it matters",
        )
    elif isinstance(description, str) and len(description.strip()) < MIN_DESCRIPTION_LENGTH:
        context.add_at_value(
            Severity.MEDIUM,
            "description",
            f"description is shorter than {MIN_DESCRIPTION_LENGTH} characters; say what the"
            " rule detects and why it matters",
            ("description",),
        )


def _dates(context: _Context) -> None:
    created = _date_field(context, "date")
    modified = _date_field(context, "modified")
    if "date" not in context.document:
        context.add(
            Severity.MEDIUM,
            "date",
            f"rule has no date; add 'date: {context.today.isoformat()}' (the day it was written)",
        )
    if created and modified and modified < created:
        context.add_at_value(
            Severity.MEDIUM,
            "date",
            f"modified {modified.isoformat()} is before date {created.isoformat()}; correct"
            " one of them",
            ("modified",),
        )


def _date_field(context: _Context, name: str) -> date | None:
    value = context.document.get(name)
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, date) else str(value)
    well_formed = isinstance(value, date) and not isinstance(value, datetime)
    if not well_formed or not ISO_DATE.match(_source_text(context, (name,))):
        context.add_at_value(
            Severity.MEDIUM,
            "date",
            f"{name} '{text}' must be written yyyy-mm-dd, without quotes",
            (name,),
        )
        return None
    assert isinstance(value, date)
    if value > context.today:
        context.add_at_value(
            Severity.MEDIUM,
            "date",
            f"{name} {text} is in the future; use the day the rule was written or changed",
            (name,),
        )
    return value


def _source_text(context: _Context, path: KeyPath) -> str:
    """Return the YAML source text of a one-line scalar value, without quotes."""
    position = context.locations.value(path)
    if position is None:
        return ""
    lines = context.loaded.text.splitlines()
    if position.line > len(lines):
        return ""
    return lines[position.line - 1][position.column - 1 :].split("#", 1)[0].strip()


def _tags(context: _Context) -> None:
    tags = context.document.get("tags") or []
    if not any(isinstance(tag, str) and ATTACK_TECHNIQUE_TAG.match(tag) for tag in tags):
        context.add(
            Severity.MEDIUM,
            "attack-tag",
            "rule has no ATT&CK technique tag; add one under 'tags', for example"
            " 'attack.t1543.003'",
            ("tags",),
        )


def _falsepositives(context: _Context) -> None:
    entries = context.document.get("falsepositives")
    if not entries:
        context.add(
            Severity.MEDIUM,
            "falsepositives",
            "rule lists no false positives; add 'falsepositives' with the benign activity"
            " that matches, or 'Unknown'",
            ("falsepositives",),
        )
        return
    for index, entry in enumerate(entries):
        if isinstance(entry, str) and not entry.strip():
            context.add_at_value(
                Severity.MEDIUM,
                "falsepositives",
                "false positive entry is empty; describe the benign activity or remove it",
                ("falsepositives", index),
            )


def _required_metadata(context: _Context) -> None:
    for name, severity, hint in (
        ("level", Severity.MEDIUM, "informational, low, medium, high or critical"),
        ("status", Severity.MEDIUM, "experimental for a new rule"),
        ("author", Severity.LOW, "your name or handle"),
    ):
        if context.document.get(name) is None:
            context.add(severity, name, f"rule has no '{name}'; add it ({hint})")


def _unknown_fields(context: _Context) -> None:
    for name in context.document:
        if name not in SIGMA_FIELDS:
            context.add(
                Severity.LOW,
                "unknown-field",
                f"'{name}' is not a field of the Sigma specification; remove it or check its"
                " spelling",
                (name,),
            )


def _file_name(context: _Context) -> None:
    path = context.loaded.path
    if not FILE_NAME.match(path.name):
        context.add(
            Severity.MEDIUM,
            "file-name",
            f"file name '{path.name}' must use only lowercase letters, digits and '_' and end"
            " with .yml",
        )
    logsource = context.document.get("logsource") or {}
    if logsource.get("product") != "windows":
        return
    category = logsource.get("category")
    prefix = WINDOWS_PREFIXES.get(str(category))
    if prefix and not path.name.startswith(prefix):
        context.add(
            Severity.MEDIUM,
            "file-name",
            f"file name '{path.name}' of a {category} rule must start with '{prefix}'",
        )
    if prefix and not _in_category_folder(path, str(category)):
        context.add(
            Severity.LOW,
            "folder",
            f"a {category} rule belongs in a folder windows/{category}/",
        )


# Folder names SigmaHQ uses for categories whose folder is not named after the category.
CATEGORY_FOLDERS: Final = {
    "ps_script": "powershell_script",
    "ps_module": "powershell_module",
    "ps_classic_start": "powershell_classic",
}


def _in_category_folder(path: Path, category: str) -> bool:
    """Return True for windows/<category>/ and for SigmaHQ's windows/<group>/<category>/."""
    parts = path.resolve().parts[:-1]
    folders = {category, CATEGORY_FOLDERS.get(category, category)}
    return bool(parts) and parts[-1] in folders and "windows" in parts


def _scalars(node: object, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _scalars(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _scalars(value, (*path, index))
    elif isinstance(node, str):
        yield path, node


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)


def _shorten(text: str, limit: int = 60) -> str:
    first_line = text.strip().splitlines()[0] if text.strip() else text
    return first_line if len(first_line) <= limit else first_line[: limit - 3] + "..."


CHECKS: Final[tuple[Callable[[_Context], None], ...]] = (
    _placeholders,
    _identifier,
    _title,
    _description,
    _dates,
    _tags,
    _falsepositives,
    _required_metadata,
    _unknown_fields,
    _file_name,
)
