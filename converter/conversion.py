"""Converting loaded rules to each target, keeping every failure with its rule file."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter.rules import LoadedRule, RuleError, find_rule_files, load_rule
from converter.targets import Options, Target


@dataclass(frozen=True)
class Query:
    """One rule converted to one target."""

    rule: LoadedRule
    target: Target
    text: str


@dataclass
class Conversion:
    """Everything one conversion run produced: queries, loaded rules and failures."""

    rules: list[LoadedRule] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)
    failures: list[RuleError] = field(default_factory=list)


def load_rules(paths: Sequence[Path]) -> tuple[list[LoadedRule], list[RuleError]]:
    """Load every rule file under paths; a bad file becomes a RuleError, not an exception."""
    files, failures = find_rule_files(paths)
    rules = []
    for path in files:
        try:
            rules.append(load_rule(path))
        except RuleError as err:
            failures.append(err)
    return rules, failures


def convert(paths: Sequence[Path], targets: Sequence[Target], options: Options) -> Conversion:
    """Convert the rules under paths to every target; each rule is parsed once."""
    result = Conversion()
    result.rules, result.failures = load_rules(paths)
    for target in targets:
        backend = target.make_backend(options)
        for loaded in result.rules:
            try:
                text = convert_rule(backend, target, loaded)
            except RuleError as err:
                result.failures.append(err)
            else:
                result.queries.append(Query(loaded, target, text))
    return result


def convert_rule(backend: Any, target: Target, loaded: LoadedRule) -> str:
    """Convert one rule with one backend, raising RuleError with the target's name on failure."""
    from sigma.exceptions import SigmaError

    rule = copy.deepcopy(loaded.rule)
    try:
        queries = backend.convert_rule(rule, target.output_format)
    except SigmaError as err:
        raise RuleError(loaded.path, f"cannot convert to {target.name}: {_one_line(err)}") from err
    except (NotImplementedError, TypeError, ValueError, KeyError, AttributeError) as err:
        raise RuleError(
            loaded.path,
            f"cannot convert to {target.name}: the backend failed with {type(err).__name__}:"
            f" {_one_line(err)}",
        ) from err
    if len(queries) != 1:
        raise RuleError(
            loaded.path,
            f"cannot convert to {target.name}: expected one query, the backend returned"
            f" {len(queries)}",
        )
    return str(queries[0])


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
