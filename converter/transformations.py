"""sigmapack's own pySigma transformations, registered by name for pipeline YAML files.

Each transformation rewrites detection items so that the Microsoft Defender for Endpoint
(MDE) query keeps the rule's meaning. Registering them in pySigma's transformation table
lets `pipelines/*.yml` use them like the built-in ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaTransformationError
from sigma.processing.conditions import rule_conditions
from sigma.processing.conditions.base import RuleProcessingCondition
from sigma.processing.transformations import transformations
from sigma.processing.transformations.base import (
    DetectionItemTransformation,
    PreprocessingTransformation,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaString, SigmaType, SpecialChars

PREFIX = "sigmapack_"


class SigmaTermString(SigmaString):
    """A `contains` value that the KQL backend matches as a Kusto term phrase with `has`."""


def _sigma_string(parts: list[str | SpecialChars]) -> SigmaString:
    """Build a SigmaString from already parsed parts, so no character is reinterpreted."""
    value = SigmaString("")
    value.s = [part for part in parts if part != ""]
    value.original = "".join(part if isinstance(part, str) else "*" for part in parts)
    return value


def _endswith_path_segment(value: object) -> str | None:
    """Return NAME when the value is the pattern `*\\NAME` with a plain NAME, else None."""
    if not isinstance(value, SigmaString) or len(value.s) != 2:
        return None
    wildcard, tail = value.s
    if wildcard != SpecialChars.WILDCARD_MULTI or not isinstance(tail, str):
        return None
    if not tail.startswith("\\") or "\\" in tail[1:] or len(tail) < 2:
        return None
    return tail[1:]


def _split_endswith_items(
    detection_item: SigmaDetectionItem, target_field: str
) -> SigmaDetection | SigmaDetectionItem | None:
    """Move `*\\NAME` values to an equality test on target_field and keep the others."""
    names = [_endswith_path_segment(value) for value in detection_item.value]
    moved: list[SigmaType] = [_sigma_string([name]) for name in names if name]
    kept = [value for value, name in zip(detection_item.value, names, strict=True) if not name]
    if not moved:
        return None

    moved_item = SigmaDetectionItem(
        target_field, [], moved, value_linking=detection_item.value_linking, auto_modifiers=False
    )
    if not kept:
        return moved_item

    kept_item = SigmaDetectionItem(
        detection_item.field,
        detection_item.modifiers,
        kept,
        value_linking=detection_item.value_linking,
        auto_modifiers=False,
    )
    return SigmaDetection([moved_item, kept_item], item_linking=detection_item.value_linking)


@dataclass
class FileNameFromPathTransformation(DetectionItemTransformation):
    """Match `Image|endswith: '\\name.exe'` on MDE's file name column instead of the path.

    MDE stores the executable's folder and name separately, and FolderPath ends with
    `\\` + FileName. A path that ends with one whole segment is therefore the same test as
    a case-insensitive equality on the file name, which is what analysts write by hand.
    """

    mapping: dict[str, str] = field(default_factory=dict)

    def apply_detection_item(
        self, detection_item: SigmaDetectionItem
    ) -> SigmaDetection | SigmaDetectionItem | None:
        target = self.mapping.get(detection_item.field or "")
        if target is None:
            return None
        return _split_endswith_items(detection_item, target)


HIVES: dict[str, str] = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKU": "HKEY_USERS",
    "HKCU": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
}


def _long_hive_parts(value: SigmaString) -> list[str | SpecialChars]:
    """Rewrite a short hive name (HKLM) at the start of a plain part to MDE's long form."""
    parts: list[str | SpecialChars] = []
    for index, part in enumerate(value.s):
        at_start = index == 0 or value.s[index - 1] == SpecialChars.WILDCARD_MULTI
        if isinstance(part, str) and at_start:
            part = _long_hive(part)
        if isinstance(part, (str, SpecialChars)):
            parts.append(part)
        else:
            raise SigmaTransformationError(f"placeholder {part} is not supported in registry paths")
    return parts


def _long_hive(text: str) -> str:
    head, separator, rest = text.partition("\\")
    long_name = HIVES.get(head.upper())
    if long_name is None or not separator:
        return text
    return long_name + separator + rest


@dataclass
class RegistryPathTransformation(DetectionItemTransformation):
    """Split Sysmon's TargetObject into MDE's RegistryKey and RegistryValueName columns.

    Sysmon writes the key and the value name as one path (`HKLM\\...\\Services\\x\\Start`),
    MDE keeps the key (`HKEY_LOCAL_MACHINE\\...\\Services\\x`) and the value name (`Start`)
    apart. A value `*\\NAME` becomes `RegistryValueName =~ NAME`; every other value is
    matched on RegistryKey with the hive written out in full.
    """

    path_field: str = "TargetObject"
    key_field: str = "RegistryKey"
    value_name_field: str = "RegistryValueName"

    def apply_detection_item(
        self, detection_item: SigmaDetectionItem
    ) -> SigmaDetection | SigmaDetectionItem | None:
        if detection_item.field != self.path_field:
            return None

        split = _split_endswith_items(detection_item, self.value_name_field)
        for item in _detection_items(split or detection_item):
            if item.field == self.path_field:
                item.field = self.key_field
                item.value = [self._long_hive_value(value) for value in item.value]
        return split or detection_item

    @staticmethod
    def _long_hive_value(value: SigmaType) -> SigmaType:
        if isinstance(value, SigmaString):
            return _sigma_string(_long_hive_parts(value))
        return value


def _detection_items(
    node: SigmaDetection | SigmaDetectionItem,
) -> Iterator[SigmaDetectionItem]:
    if isinstance(node, SigmaDetectionItem):
        yield node
        return
    for child in node.detection_items:
        yield from _detection_items(child)


DWORD_PATTERN = re.compile(r"^(?:DWORD|QWORD) \(0x([0-9a-fA-F]{1,16})\)$")


@dataclass
class RegistryDwordTransformation(DetectionItemTransformation):
    """Turn Sysmon's `DWORD (0x00000002)` registry data into MDE's decimal text `2`."""

    data_field: str = "Details"

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetectionItem | None:
        if detection_item.field != self.data_field:
            return None

        changed = False
        values = []
        for value in detection_item.value:
            match = _plain_match(value)
            if match is not None:
                value = _sigma_string([str(int(match.group(1), 16))])
                changed = True
            values.append(value)
        if not changed:
            return None
        detection_item.value = values
        return detection_item


def _plain_match(value: object) -> re.Match[str] | None:
    if not isinstance(value, SigmaString) or value.contains_special():
        return None
    return DWORD_PATTERN.match(str(value))


@dataclass
class TermMatchTransformation(DetectionItemTransformation):
    """Declare that `contains` values of the given fields are Kusto term matches (`has`).

    Kusto's `has` matches whole terms, so `"sc.exe recreate x" has "create"` is false while
    `contains` is true. A rule pack that wants the term semantics, as a hand-written MDE
    query usually does, applies this in its own pipeline. Other rules keep substring matching.
    """

    fields: list[str] = field(default_factory=list)

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> SigmaDetectionItem | None:
        if detection_item.field not in self.fields:
            return None

        changed = False
        values = []
        for value in detection_item.value:
            if _is_plain_contains(value):
                assert isinstance(value, SigmaString)
                term = SigmaTermString("")
                term.s = list(value.s)
                term.original = value.original
                value = term
                changed = True
            values.append(value)
        if not changed:
            return None
        detection_item.value = values
        return detection_item


def _is_plain_contains(value: object) -> bool:
    if not isinstance(value, SigmaString) or isinstance(value, SigmaTermString):
        return False
    return (
        len(value.s) == 3
        and value.s[0] == SpecialChars.WILDCARD_MULTI
        and value.s[2] == SpecialChars.WILDCARD_MULTI
        and isinstance(value.s[1], str)
    )


@dataclass
class RequireFieldsTransformation(DetectionItemTransformation):
    """Fail a rule that uses a field the target table has no column for."""

    allowed: list[str] = field(default_factory=list)
    target: str = "the target"

    def apply_detection_item(self, detection_item: SigmaDetectionItem) -> None:
        name = detection_item.field
        if name is None or name in self.allowed:
            return None
        raise SigmaTransformationError(
            f"field '{name}' cannot be mapped to {self.target}; "
            "use a field of the rule's log source taxonomy or extend the pipeline's mapping"
        )


@dataclass
class DetectionTypeTransformation(PreprocessingTransformation):
    """Set the label that the KQL output puts in its DetectionType column."""

    label: str = ""
    ATTRIBUTE: ClassVar[str] = "detection_type"

    def apply(self, rule: SigmaRule | object) -> None:
        if isinstance(rule, SigmaRule):
            super().apply(rule)
            rule.custom_attributes[self.ATTRIBUTE] = self.label


@dataclass
class RuleIdCondition(RuleProcessingCondition):
    """Match rules whose Sigma `id` is one of ids; a rule without an id never matches."""

    ids: list[str] = field(default_factory=list)

    def match(self, rule: SigmaRule | SigmaCorrelationRule) -> bool:
        return rule.id is not None and str(rule.id) in self.ids


REGISTERED: dict[str, type] = {
    PREFIX + "file_name_from_path": FileNameFromPathTransformation,
    PREFIX + "registry_path": RegistryPathTransformation,
    PREFIX + "registry_dword": RegistryDwordTransformation,
    PREFIX + "term_match": TermMatchTransformation,
    PREFIX + "require_fields": RequireFieldsTransformation,
    PREFIX + "detection_type": DetectionTypeTransformation,
}


def register() -> None:
    """Make sigmapack's transformations usable by name in pipeline YAML files."""
    transformations.update(REGISTERED)
    rule_conditions[PREFIX + "rule_id"] = RuleIdCondition  # type: ignore[index]
