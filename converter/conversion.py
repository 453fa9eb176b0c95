"""Converting rule files to every target, in worker processes, accounting for every rule.

Each rule file is parsed once; the parsed rule is copied for each target because pySigma's
pipelines change a rule in place. Work is split by file over a process pool and the results
come back in file order, so the output is the same whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter.rules import LoadedRule, RuleError, find_rule_files, load_rule
from converter.targets import TARGETS, Options, Target

# Failure reasons. Every failure gets exactly one. "internal-error" marks a bug in sigmapack
# or in a backend that should be reported.
INVALID_RULE = "invalid-rule"
UNSUPPORTED_LOGSOURCE = "unsupported-logsource"
UNMAPPED_FIELD = "unmapped-field"
UNSUPPORTED_FEATURE = "unsupported-feature"
BACKEND_LIMITATION = "backend-limitation"
INTERNAL_ERROR = "internal-error"
REASONS = (
    INVALID_RULE,
    UNSUPPORTED_LOGSOURCE,
    UNMAPPED_FIELD,
    UNSUPPORTED_FEATURE,
    BACKEND_LIMITATION,
    INTERNAL_ERROR,
)
# Reasons that describe what a target can't express rather than a defect in the rule.
UNSUPPORTED_REASONS = frozenset({UNSUPPORTED_LOGSOURCE, UNMAPPED_FIELD, UNSUPPORTED_FEATURE})


@dataclass(frozen=True)
class RuleInfo:
    """A rule's file and identifiers, as the output and the report use them."""

    path: Path
    id: str | None = None
    name: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Query:
    """One rule converted to one target."""

    rule: RuleInfo
    target: Target
    text: str


@dataclass(frozen=True)
class Failure:
    """One rule that could not be loaded, or not converted to one target."""

    error: RuleError
    reason: str
    target: str | None = None  # None when the file itself could not be loaded

    @property
    def path(self) -> Path:
        return self.error.path


@dataclass
class Conversion:
    """Everything one conversion run produced, in rule file order."""

    rules: list[RuleInfo] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    files: int = 0


def convert(
    paths: Sequence[Path],
    targets: Sequence[Target],
    options: Options,
    jobs: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
    on_queries: Callable[[list[Query]], None] | None = None,
) -> Conversion:
    """Convert the rule files under paths to every target with jobs worker processes.

    on_progress, if given, is called with the number of files done and the total.
    on_queries, if given, is called with each file's queries as soon as they arrive, so
    the caller can write them while workers convert the following files.
    """
    files, missing = find_rule_files(paths)
    result = Conversion(files=len(files))
    result.failures += [Failure(error, INVALID_RULE) for error in missing]

    target_names = [target.name for target in targets]
    for done, outcome in enumerate(_outcomes(files, target_names, options, jobs), start=1):
        queries = _collect(result, outcome)
        if on_queries is not None and queries:
            on_queries(queries)
        if on_progress is not None:
            on_progress(done, len(files))
    return result


@dataclass
class FileOutcome:
    """The result of one rule file for every target, as sent back by a worker."""

    rule: RuleInfo | None
    queries: dict[str, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)


def _collect(result: Conversion, outcome: FileOutcome) -> list[Query]:
    result.failures += outcome.failures
    if outcome.rule is None:
        return []
    result.rules.append(outcome.rule)
    queries = [Query(outcome.rule, TARGETS[name], text) for name, text in outcome.queries.items()]
    result.queries += queries
    return queries


def _outcomes(
    files: list[Path], target_names: list[str], options: Options, jobs: int
) -> Iterator[FileOutcome]:
    if jobs <= 1 or len(files) < 2:
        for path in files:
            yield convert_file(path, target_names, options)
        return

    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    chunk_size = max(1, min(32, len(files) // (jobs * 8)))
    with context.Pool(jobs, initializer=_init_worker, initargs=(target_names, options)) as pool:
        yield from pool.imap(_convert_in_worker, files, chunksize=chunk_size)


_worker_targets: list[str] = []
_worker_options = Options()


def _init_worker(target_names: list[str], options: Options) -> None:
    global _worker_targets, _worker_options
    _worker_targets = target_names
    _worker_options = options


def _convert_in_worker(path: Path) -> FileOutcome:
    return convert_file(path, _worker_targets, _worker_options)


_backends: dict[tuple[str, Options], Any] = {}


def backend_for(target: Target, options: Options) -> Any:
    """Return this process's backend for target, created on first use."""
    key = (target.name, options)
    if key not in _backends:
        _backends[key] = target.make_backend(options)
    return _backends[key]


def convert_file(path: Path, target_names: Sequence[str], options: Options) -> FileOutcome:
    """Load one rule file and convert it to every named target."""
    try:
        loaded = load_rule(path)
    except RuleError as err:
        return FileOutcome(None, failures=[Failure(err, INVALID_RULE)])

    outcome = FileOutcome(rule_info(loaded))
    pickled = pickle.dumps(loaded.rule, protocol=pickle.HIGHEST_PROTOCOL)
    for index, name in enumerate(target_names):
        target = TARGETS[name]
        # The last target may change the parsed rule itself: nothing uses it afterwards.
        last = index == len(target_names) - 1
        rule = loaded.rule if last else pickle.loads(pickled)
        backend = backend_for(target, options)
        try:
            outcome.queries[name] = convert_parsed(backend, target, loaded.path, rule)
        except ConversionFailure as failure:
            outcome.failures.append(Failure(failure.error, failure.reason, name))
    return outcome


def rule_info(loaded: LoadedRule) -> RuleInfo:
    """Return the identifiers of a loaded rule."""
    rule: Any = loaded.rule
    rule_id = str(rule.id) if getattr(rule, "id", None) else None
    return RuleInfo(loaded.path, rule_id, getattr(rule, "name", None), getattr(rule, "title", None))


class ConversionFailure(Exception):
    """A rule that one backend could not convert, with the failure reason."""

    def __init__(self, error: RuleError, reason: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.reason = reason


def convert_parsed(backend: Any, target: Target, path: Path, rule: Any) -> str:
    """Convert a parsed rule that the caller no longer needs, as the backend changes it."""
    try:
        queries = backend.convert_rule(rule, target.output_format)
    except Exception as err:
        # Any backend failure becomes a classified failure of this rule, never a crashed run.
        text = describe(err, path)
        reason = classify(err, text)
        message = f"cannot convert to {target.name}: {text}"
        raise ConversionFailure(RuleError(path, message), reason) from err
    if len(queries) != 1:
        message = f"cannot convert to {target.name}: the backend returned {len(queries)} queries"
        raise ConversionFailure(RuleError(path, message), BACKEND_LIMITATION)
    return str(queries[0])


def classify(err: Exception, text: str | None = None) -> str:
    """Return the failure reason for an exception raised while converting a rule.

    text is the exception's message without the rule path, which must not sway the reason.
    """
    from sigma.exceptions import (
        SigmaError,
        SigmaFeatureNotSupportedByBackendError,
        SigmaTransformationError,
    )

    if text is None:
        text = str(err)
    if isinstance(err, SigmaTransformationError) or "supports only" in text:
        if "field" in text:
            return UNMAPPED_FIELD
        return UNSUPPORTED_LOGSOURCE
    if "Rule type not yet supported" in text:
        return UNSUPPORTED_LOGSOURCE
    if isinstance(err, (SigmaFeatureNotSupportedByBackendError, NotImplementedError)):
        return UNSUPPORTED_FEATURE
    if isinstance(err, SigmaError):
        return BACKEND_LIMITATION
    if isinstance(err, (ValueError, TypeError)):
        return BACKEND_LIMITATION
    return INTERNAL_ERROR


def describe(err: Exception, path: Path) -> str:
    """Return an exception as one line, without the rule path that pySigma appends."""
    from sigma.exceptions import SigmaError

    text = " ".join(str(err).split())
    text = text.replace(f" in {path}", "").split(" (while ", 1)[0]
    if isinstance(err, (SigmaError, NotImplementedError)):
        return text
    return f"{type(err).__name__}: {text}"


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
