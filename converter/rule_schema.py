"""Structure checks of a rule document, and the YAML position of pySigma's rule errors.

pySigma 1.5.1 checks the Sigma schema while it builds a SigmaRule, but its errors carry no
line, and some wrong types make it raise AttributeError or TypeError instead of a
SigmaError (an integer id, an integer field name, a mapping as a field value). The checks
here run first and report those cases at the key or value that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from converter.rule_yaml import KeyPath, Position, YamlLocations

# Top-level fields of the Sigma rule specification 2.0 and the type each must have.
TEXT_FIELDS: Final = ("title", "id", "name", "taxonomy", "status", "description", "license")
TEXT_FIELDS_MORE: Final = ("author", "level")
LIST_OF_TEXT_FIELDS: Final = ("references", "tags", "falsepositives", "fields", "scope")
DATE_FIELDS: Final = ("date", "modified")
LOGSOURCE_FIELDS: Final = ("category", "product", "service", "definition")

# Keys of the detection section that are not search identifiers.
DETECTION_RESERVED: Final = ("condition", "timeframe")


@dataclass(frozen=True)
class StructureError:
    """One structural problem of a rule document, at the key path it concerns."""

    message: str
    path: KeyPath
    at_value: bool = True


def structure_errors(document: Mapping[str, Any]) -> list[StructureError]:
    """Return every structural problem that pySigma would reject or crash on, in file order."""
    errors = list(_metadata_errors(document))
    errors += _logsource_errors(document.get("logsource"))
    if "detection" in document:
        errors += _detection_errors(document["detection"])
    return errors


def _metadata_errors(document: Mapping[str, Any]) -> Iterator[StructureError]:
    for name in TEXT_FIELDS + TEXT_FIELDS_MORE:
        value = document.get(name)
        if value is not None and not isinstance(value, str):
            yield StructureError(f"'{name}' must be text, not {_type_name(value)}", (name,))
    for name in LIST_OF_TEXT_FIELDS:
        value = document.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            yield StructureError(
                f"'{name}' must be a list of text, not {_type_name(value)}; write each entry"
                " on its own line starting with '- '",
                (name,),
            )
            continue
        for index, item in enumerate(value):
            if not isinstance(item, str):
                yield StructureError(
                    f"'{name}' entries must be text, not {_type_name(item)}", (name, index)
                )
    for name in DATE_FIELDS:
        value = document.get(name)
        if value is not None and not isinstance(value, str | date):
            yield StructureError(
                f"'{name}' must be a date written yyyy-mm-dd, not {_type_name(value)}", (name,)
            )


def _logsource_errors(logsource: object) -> Iterator[StructureError]:
    if logsource is None:
        return
    if not isinstance(logsource, dict):
        yield StructureError(
            f"'logsource' must be a mapping with category, product or service, not"
            f" {_type_name(logsource)}",
            ("logsource",),
        )
        return
    for name in LOGSOURCE_FIELDS:
        value = logsource.get(name)
        if value is not None and not isinstance(value, str):
            yield StructureError(
                f"'logsource.{name}' must be text, not {_type_name(value)}", ("logsource", name)
            )


def _detection_errors(detection: object) -> Iterator[StructureError]:
    if not isinstance(detection, dict):
        yield StructureError(
            "'detection' must be a mapping of search identifiers and a condition, not"
            f" {_type_name(detection)}",
            ("detection",),
        )
        return
    yield from _condition_errors(detection)
    for name, definition in detection.items():
        if name in DETECTION_RESERVED:
            continue
        yield from _definition_errors(("detection", name), definition)


def _condition_errors(detection: Mapping[str, Any]) -> Iterator[StructureError]:
    if "condition" not in detection:
        yield StructureError(
            "'detection' has no 'condition'; add one, for example 'condition: selection'",
            ("detection",),
            at_value=False,
        )
        return
    condition = detection["condition"]
    conditions = condition if isinstance(condition, list) else [condition]
    for index, item in enumerate(conditions):
        path: KeyPath = ("detection", "condition")
        if isinstance(condition, list):
            path = (*path, index)
        if not isinstance(item, str) or not item.strip():
            yield StructureError(
                "'condition' must be text that names search identifiers, for example"
                f" 'selection and not filter', not {_type_name(item)}",
                path,
            )


def _definition_errors(path: KeyPath, definition: object) -> Iterator[StructureError]:
    name = path[-1]
    if not isinstance(name, str):
        yield StructureError(
            f"search identifier {name!r} must be text; quote it", path, at_value=False
        )
    if definition is None:
        yield StructureError(
            f"search identifier '{name}' is empty; give it field names and values", path
        )
    elif isinstance(definition, dict):
        yield from _field_map_errors(path, definition)
    elif isinstance(definition, list):
        if not definition:
            yield StructureError(f"search identifier '{name}' is an empty list", path)
        for index, item in enumerate(definition):
            if isinstance(item, dict):
                yield from _field_map_errors((*path, index), item)
            elif isinstance(item, list):
                yield StructureError(
                    f"'{name}' has a list inside a list; use a list of values or of mappings",
                    (*path, index),
                )
            elif item is None:
                yield StructureError(f"'{name}' has an empty list entry", (*path, index))


def _field_map_errors(path: KeyPath, fields: Mapping[Any, Any]) -> Iterator[StructureError]:
    if not fields:
        yield StructureError(f"'{path[1]}' has an empty mapping; add field names", path)
    for key, value in fields.items():
        if not isinstance(key, str):
            yield StructureError(
                f"field name {key!r} must be text; quote it", (*path, str(key)), at_value=False
            )
            continue
        values = value if isinstance(value, list) else [value]
        for index, item in enumerate(values):
            item_path: KeyPath = (*path, key, index) if isinstance(value, list) else (*path, key)
            if isinstance(item, dict | list):
                yield StructureError(
                    f"value of '{key}' is a {_type_name(item)}; a field takes one value or a"
                    " list of values (text, numbers, true, false or null)",
                    item_path,
                )


def _type_name(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, int | float):
        return "a number"
    return "text" if isinstance(value, str) else type(value).__name__


# pySigma error classes (sigma.exceptions, 1.5.1) and the top-level key each one concerns.
ERROR_KEYS: Final = {
    "SigmaIdentifierError": "id",
    "SigmaNameError": "name",
    "SigmaTaxonomyError": "taxonomy",
    "SigmaRelatedError": "related",
    "SigmaLevelError": "level",
    "SigmaStatusError": "status",
    "SigmaTagError": "tags",
    "SigmaDateError": "date",
    "SigmaModifiedError": "modified",
    "SigmaFieldsError": "fields",
    "SigmaFalsePositivesError": "falsepositives",
    "SigmaAuthorError": "author",
    "SigmaDescriptionError": "description",
    "SigmaReferencesError": "references",
    "SigmaTitleError": "title",
    "SigmaScopeError": "scope",
    "SigmaLicenseError": "license",
    "SigmaLogsourceError": "logsource",
    "SigmaDetectionError": "detection",
    "SigmaConditionError": "detection",
}


def sigma_error_message(err: Exception) -> str:
    """Return a pySigma error's message on one line, without the " in <file>" suffix."""
    text = str(err.args[0]) if err.args else str(err)
    return " ".join(text.split())


def locate_sigma_error(
    err: Exception, document: Mapping[str, Any], locations: YamlLocations, text: str
) -> Position | None:
    """Find the YAML position a pySigma rule error refers to.

    Condition errors point into the condition. Errors that quote a field name, modifier or
    value point at the first detection key or value containing it. Other errors point at
    the top-level key of their class.
    """
    message = sigma_error_message(err)
    quoted = re.findall(r"'([^']+)'", message)

    if "not defined in detections" in message or type(err).__name__ == "SigmaConditionError":
        return _condition_position(locations, text, quoted)

    for word in quoted:
        position = _detection_position(locations, word)
        if position is None:
            value_path = _value_path(document.get("detection"), ("detection",), word)
            position = locations.value(value_path) if value_path else None
        if position is not None:
            return position

    key = ERROR_KEYS.get(type(err).__name__)
    if key is not None:
        return locations.nearest((key,))
    return None


def _condition_position(locations: YamlLocations, text: str, words: list[str]) -> Position | None:
    paths = [path for path in locations.values if path[:2] == ("detection", "condition")]
    lines = text.splitlines()
    for path in sorted(paths, key=len, reverse=True):
        start = locations.values[path]
        if not words or start.line > len(lines):
            return start
        match = re.search(rf"(?<![\w*]){re.escape(words[0])}(?![\w*])", lines[start.line - 1])
        if match and match.start() + 1 >= start.column:
            return Position(start.line, match.start() + 1)
    return locations.nearest(("detection", "condition"))


def _detection_position(locations: YamlLocations, word: str) -> Position | None:
    """Return the first detection key that contains word as a field name or modifier."""
    parts = set(word.split("|"))
    keys = [
        path
        for path in locations.keys
        if len(path) >= 3
        and path[0] == "detection"
        and isinstance(path[-1], str)
        and (path[-1] == word or parts & set(path[-1].split("|")))
    ]
    if not keys:
        return None
    return min((locations.keys[path] for path in keys), key=lambda p: (p.line, p.column))


def _value_path(node: object, path: KeyPath, word: str) -> KeyPath | None:
    """Return the key path of the first value below node whose text is word."""
    if isinstance(node, dict):
        for key, value in node.items():
            found = _value_path(value, (*path, str(key)), word)
            if found:
                return found
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found = _value_path(value, (*path, index), word)
            if found:
                return found
    elif node is not None and str(node) == word:
        return path
    return None
