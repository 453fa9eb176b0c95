"""Finding and loading Sigma rule files, with the file and line of every problem."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from converter.rule_schema import (
    locate_sigma_error,
    sigma_error_message,
    structure_errors,
)
from converter.rule_yaml import YAML_LOADER, Position, YamlLocations, YamlProblem, load_document

RULE_SUFFIXES = (".yml", ".yaml")
# The YAML loader class that rule files are parsed with (libyaml's where PyYAML has it).
SAFE_LOADER = YAML_LOADER
MAX_RULE_BYTES = 1_000_000


@dataclass(frozen=True)
class RuleError(Exception):
    """A rule file that can't be read, parsed or converted.

    rule_id is the rule's `id` text when the file could be parsed far enough to have one.
    """

    path: Path
    message: str
    line: int | None = None
    column: int | None = None
    rule_id: str | None = None

    def __reduce__(self) -> tuple[type[RuleError], tuple[object, ...]]:
        # BaseException's pickling sets attributes after creation, which a frozen dataclass
        # rejects, so rebuild from the fields instead. Worker processes return RuleErrors.
        return (RuleError, (self.path, self.message, self.line, self.column, self.rule_id))

    def __str__(self) -> str:
        location = str(self.path)
        if self.line is not None:
            location += f":{self.line}"
            if self.column is not None:
                location += f":{self.column}"
        return f"{location}: {self.message}"


@dataclass
class LoadedRule:
    """A parsed Sigma rule, the file it came from and the positions of its YAML keys."""

    path: Path
    rule: object  # sigma.rule.SigmaRule, kept untyped so this module imports without pySigma
    text: str
    document: dict[str, Any] = field(default_factory=dict)
    locations: YamlLocations = field(default_factory=YamlLocations)


def find_rule_files(paths: Iterable[Path]) -> tuple[list[Path], list[RuleError]]:
    """Return the rule files under paths in a stable order, and the paths that can't be used.

    Folders are searched recursively, following symbolic links to folders. A symbolic link
    loop, a broken link, a rule-named entry that is not a regular file and an unreadable
    folder each become a RuleError, so no rule file is skipped without a message.
    """
    files: dict[str, Path] = {}
    errors: list[RuleError] = []
    for path in paths:
        error = _path_error(path)
        if error is not None:
            errors.append(error)
        elif path.is_dir():
            _walk(path, files, errors)
        elif not stat.S_ISREG(path.stat().st_mode):
            errors.append(RuleError(path, "not a regular file; a rule must be a YAML file"))
        else:
            files.setdefault(os.path.realpath(path), path)
    return sorted(files.values(), key=lambda p: p.as_posix()), errors


def _path_error(path: Path) -> RuleError | None:
    try:
        path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return RuleError(path, f"broken symbolic link to {os.readlink(path)}")
        return RuleError(path, "no such file or folder")
    except OSError as err:
        if path.is_symlink():
            return RuleError(path, f"symbolic link loop ({err.strerror}); fix or remove the link")
        return RuleError(path, f"cannot read: {err.strerror}")
    return None


def _walk(root: Path, files: dict[str, Path], errors: list[RuleError]) -> None:
    """Collect rule files below root, reporting loops, broken links and unreadable entries."""
    # Each stack entry is a folder and the (device, inode) pairs of the folders above it,
    # so a link back to one of them is found without a global visited set.
    stack: list[tuple[Path, frozenset[tuple[int, int]]]] = [(root, frozenset())]
    while stack:
        folder, ancestors = stack.pop()
        try:
            info = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as err:
            errors.append(RuleError(folder, f"cannot read folder: {err.strerror}"))
            continue
        inside = ancestors | {(info.st_dev, info.st_ino)}
        for entry in entries:
            path = Path(entry.path)
            is_rule_name = path.suffix.lower() in RULE_SUFFIXES
            error = _path_error(path)
            if error is not None:
                if is_rule_name or entry.is_symlink():
                    errors.append(error)
                continue
            target = path.stat()
            if stat.S_ISDIR(target.st_mode):
                if (target.st_dev, target.st_ino) in inside:
                    errors.append(
                        RuleError(
                            path,
                            f"symbolic link loop: it points to {os.readlink(path)}, a folder"
                            " that contains it; remove the link",
                        )
                    )
                else:
                    stack.append((path, inside))
            elif is_rule_name and stat.S_ISREG(target.st_mode):
                files.setdefault(os.path.realpath(path), path)
            elif is_rule_name:
                errors.append(RuleError(path, "not a regular file; a rule must be a YAML file"))


def load_rule(path: Path) -> LoadedRule:
    """Read, parse and validate the structure of one rule file, or raise RuleError."""
    loaded, errors = try_load_rule(path)
    if errors:
        raise errors[0]
    assert loaded is not None
    return loaded


def try_load_rule(path: Path) -> tuple[LoadedRule | None, list[RuleError]]:
    """Read, parse and validate one rule file, returning every problem found.

    Returns the loaded rule and no errors, or None and at least one error, each with the
    line and column of the YAML key or value it concerns where that is known.
    """
    try:
        text = _read_text(path)
        document, locations = _parse_yaml(path, text)
    except RuleError as err:
        return None, [err]

    rule_id = _rule_id(document)
    errors = [
        _error_at(
            path,
            f"invalid Sigma rule: {problem.message}",
            _structure_position(locations, problem.path, problem.at_value),
            rule_id,
        )
        for problem in structure_errors(document)
    ]
    if errors:
        return None, errors

    rule, errors = _sigma_rule(path, text, document, locations)
    if errors:
        return None, [replace(error, rule_id=rule_id) for error in errors]
    return LoadedRule(path, rule, text, document, locations), []


def combine_errors_by_file(errors: Sequence[RuleError]) -> list[RuleError]:
    """Merge the errors of each file into one, for one message line per rule file.

    Errors that differ only in the target ("cannot convert to kql: X", "cannot convert to
    splunk: X") become "cannot convert to kql, splunk: X". Different messages are joined
    with "; ". The merged error keeps the first error's line and column. Files keep the
    order of their first error.
    """
    by_file: dict[Path, list[RuleError]] = {}
    for error in errors:
        by_file.setdefault(error.path, []).append(error)

    combined = []
    for path, group in by_file.items():
        reasons: dict[str, list[str]] = {}
        for error in group:
            target, reason = _split_target(error.message)
            targets = reasons.setdefault(reason, [])
            if target and target not in targets:
                targets.append(target)
        parts = [
            f"cannot convert to {', '.join(targets)}: {reason}" if targets else reason
            for reason, targets in reasons.items()
        ]
        first = group[0]
        combined.append(RuleError(path, "; ".join(parts), first.line, first.column, first.rule_id))
    return combined


CONVERT_PREFIX = "cannot convert to "


def _split_target(message: str) -> tuple[str | None, str]:
    if message.startswith(CONVERT_PREFIX) and ": " in message:
        target, reason = message[len(CONVERT_PREFIX) :].split(": ", 1)
        return target, reason
    return None, message


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_RULE_BYTES + 1)
    except OSError as err:
        raise RuleError(path, f"cannot read file: {err.strerror}") from err
    if len(data) > MAX_RULE_BYTES:
        size = path.stat().st_size
        raise RuleError(
            path, f"file is {size} bytes; a rule file may have at most {MAX_RULE_BYTES}"
        )
    nul = data.find(b"\0")
    if nul >= 0:
        raise RuleError(path, f"binary file (NUL byte at offset {nul}), not YAML")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RuleError(path, f"not UTF-8 text (invalid byte at offset {err.start})") from err


def _parse_yaml(path: Path, text: str) -> tuple[dict[str, Any], YamlLocations]:
    try:
        document, locations = load_document(text)
    except YamlProblem as problem:
        position = problem.position
        raise RuleError(
            path,
            problem.message,
            position.line if position else None,
            position.column if position else None,
        ) from problem

    if document is None:
        raise RuleError(path, "file is empty; a rule needs title, logsource and detection")
    if not isinstance(document, dict):
        raise RuleError(
            path, "a rule must be a YAML mapping with title, logsource and detection", 1
        )
    return document, locations


def _sigma_rule(
    path: Path, text: str, document: dict[str, Any], locations: YamlLocations
) -> tuple[object, list[RuleError]]:
    """Build the pySigma rule and parse its conditions, so every schema error shows here."""
    from sigma.exceptions import SigmaError, SigmaRuleLocation
    from sigma.rule import SigmaRule

    def error_of(err: Exception) -> RuleError:
        position = locate_sigma_error(err, document, locations, text)
        message = f"invalid Sigma rule: {sigma_error_message(err)}"
        return _error_at(path, message, position, None)

    try:
        rule = SigmaRule.from_dict(document, collect_errors=True, source=SigmaRuleLocation(path))
        if rule.errors:
            return None, [error_of(err) for err in rule.errors]
        for condition in rule.detection.parsed_condition:
            _ = condition.parsed
    except SigmaError as err:
        return None, [error_of(err)]
    except RecursionError:
        return None, [RuleError(path, "invalid Sigma rule: nesting is too deep")]
    except (AttributeError, TypeError, ValueError, KeyError) as err:
        # NOTE: structure_errors() rejects the inputs known to crash pySigma 1.5.1 first;
        # this keeps an unknown one a message on the rule instead of a traceback.
        return None, [
            RuleError(path, f"invalid Sigma rule: pySigma failed with {type(err).__name__}: {err}")
        ]
    return rule, []


def _structure_position(
    locations: YamlLocations, path: tuple[str | int, ...], at_value: bool
) -> Position | None:
    if at_value:
        return locations.value(path) or locations.nearest(path)
    return locations.nearest(path)


def _error_at(
    path: Path, message: str, position: Position | None, rule_id: str | None
) -> RuleError:
    if position is None:
        return RuleError(path, message, rule_id=rule_id)
    return RuleError(path, message, position.line, position.column, rule_id)


def _rule_id(document: dict[str, Any]) -> str | None:
    value = document.get("id")
    return value if isinstance(value, str) else None
