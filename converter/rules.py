"""Finding and loading Sigma rule files, with the file and line of every problem."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

RULE_SUFFIXES = (".yml", ".yaml")
# libyaml's parser is about ten times faster than the pure-Python one on rule files.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_RULE_BYTES = 1_000_000


@dataclass(frozen=True)
class RuleError(Exception):
    """A rule file that can't be read, parsed or converted."""

    path: Path
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        location = str(self.path)
        if self.line is not None:
            location += f":{self.line}"
            if self.column is not None:
                location += f":{self.column}"
        return f"{location}: {self.message}"


@dataclass
class LoadedRule:
    """A parsed Sigma rule and the file it came from."""

    path: Path
    rule: object  # sigma.rule.SigmaRule, kept untyped so this module imports without pySigma
    text: str


def find_rule_files(paths: Iterable[Path]) -> tuple[list[Path], list[RuleError]]:
    """Return the rule files under paths in a stable order, and the paths that don't exist."""
    files: set[Path] = set()
    errors = []
    for path in paths:
        if path.is_file():
            files.add(path)
        elif path.is_dir():
            files.update(_walk(path))
        else:
            errors.append(RuleError(path, "no such file or folder"))
    return sorted(files, key=lambda p: p.as_posix()), errors


def _walk(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.suffix.lower() in RULE_SUFFIXES and path.is_file():
            yield path


def load_rule(path: Path) -> LoadedRule:
    """Read, parse and validate the structure of one rule file, or raise RuleError."""
    text = _read_text(path)
    document = _parse_yaml(path, text)

    from sigma.exceptions import SigmaError, SigmaRuleLocation
    from sigma.rule import SigmaRule

    try:
        rule = SigmaRule.from_dict(document, collect_errors=True, source=SigmaRuleLocation(path))
    except SigmaError as err:
        raise _sigma_rule_error(path, text, err) from err
    except RecursionError as err:
        raise RuleError(path, "invalid Sigma rule: nesting is too deep") from err
    if rule.errors:
        raise _sigma_rule_error(path, text, rule.errors[0])
    return LoadedRule(path, rule, text)


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_RULE_BYTES:
            raise RuleError(
                path, f"file is {size} bytes; a rule file may have at most {MAX_RULE_BYTES}"
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RuleError(path, f"not UTF-8 text (invalid byte at offset {err.start})") from err
    except OSError as err:
        raise RuleError(path, f"cannot read file: {err.strerror}") from err


def _parse_yaml(path: Path, text: str) -> dict[str, object]:
    try:
        documents = list(yaml.load_all(text, Loader=SAFE_LOADER))
    except RecursionError as err:
        raise RuleError(path, "invalid YAML: nesting is too deep to parse") from err
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise RuleError(path, f"invalid YAML: {err.problem}", line, column) from err
    except yaml.YAMLError as err:
        raise RuleError(path, f"invalid YAML: {err}") from err

    documents = [document for document in documents if document is not None]
    if not documents:
        raise RuleError(path, "file is empty; a rule needs title, logsource and detection")
    if len(documents) > 1:
        raise RuleError(path, "file holds several YAML documents; put each rule in its own file")
    document = documents[0]
    if not isinstance(document, dict):
        raise RuleError(
            path, "a rule must be a YAML mapping with title, logsource and detection", 1
        )
    return document


def _sigma_rule_error(path: Path, text: str, err: Exception) -> RuleError:
    message = re.sub(r"\s+", " ", str(err)).strip()
    message = message.split(" in rule ", 1)[0] if " in rule " in message else message
    return RuleError(path, f"invalid Sigma rule: {message}", _line_of_quoted_word(text, message))


def _line_of_quoted_word(text: str, message: str) -> int | None:
    """Find the line of the first quoted word of the message, where the error usually sits."""
    for word in re.findall(r"'([^']+)'", message):
        for number, line in enumerate(text.splitlines(), start=1):
            if word in line:
                return number
    return None
