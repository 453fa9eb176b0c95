"""`sigmapack test`: run every rule over the regression corpus in each target's engine.

Each rule is converted to KQL, EQL and Splunk SPL. The rule's own logic (pySigma's SQLite
backend) and the KQL and EQL queries run over every corpus event, and each result is
compared with the rule's expectation file. The Splunk query's structure is checked. The
result is a matrix of rule x target x event.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from converter.conversion import load_rules
from converter.engines import Engine, EngineError, EqlEngine, KqlEngine, SigmaEngine
from converter.output import relative_source
from converter.regression import (
    MATRIX_TARGETS,
    CorpusEvent,
    RegressionError,
    RuleExpectations,
    load_corpus,
    load_expectations,
)
from converter.rules import LoadedRule, RuleError
from converter.spl_check import check_spl
from converter.targets import TARGETS, Options

SPLUNK_CONSTRAINTS = ("source", "EventCode")
MISSING_COLUMN = re.compile(r"no such column: (\S+)")


@dataclass
class TestRequest:
    """The options of one `sigmapack test` run."""

    paths: list[Path]
    regression_dir: Path
    output_format: str = "text"
    show_all: bool = False


@dataclass
class EventRow:
    """One event's results for one rule: per target, the result and the expected result."""

    event: CorpusEvent
    listed: bool
    match: bool
    results: dict[str, bool]
    expected: dict[str, bool]
    exceptions: dict[str, str]
    note: str

    @property
    def failed_targets(self) -> list[str]:
        return [name for name, hit in self.results.items() if hit != self.expected[name]]

    @property
    def disagreement(self) -> bool:
        return len(set(self.results.values())) > 1


@dataclass
class RuleRun:
    """Everything `sigmapack test` found for one rule."""

    rule: LoadedRule
    name: str
    expectations: RuleExpectations | None
    rows: list[EventRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    splunk_problems: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        found = list(self.errors)
        for row in self.rows:
            for target in row.failed_targets:
                expected = "match" if row.expected[target] else "no match"
                got = "hit" if row.results[target] else "miss"
                found.append(f"event {row.event.event_id}: {target} expected {expected}, got {got}")
        found += [f"splunk: {problem}" for problem in self.splunk_problems]
        return found


def run_test(request: TestRequest) -> int:
    """Run the regression matrix, print it, and return the exit code."""
    missing = [str(path) for path in request.paths if not path.exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    rules, rule_errors = load_rules(request.paths)
    try:
        corpus = load_corpus(request.regression_dir / "events")
        expectations = load_expectations(
            request.regression_dir / "rules", [event.event_id for event in corpus]
        )
    except RegressionError as err:
        click.echo(str(err), err=True)
        return 1
    for error in rule_errors:
        click.echo(str(error), err=True)

    engine_events = [event.engine_event for event in corpus]
    sigma_engine = SigmaEngine(engine_events)
    engines: dict[str, Engine] = {
        "sigma": sigma_engine,
        "kql": KqlEngine(engine_events),
        "eql": EqlEngine(engine_events),
    }
    runs = [run_rule(rule, corpus, expectations, engines) for rule in rules]

    if request.output_format == "json":
        click.echo(json.dumps(json_report(runs, corpus), indent=2, ensure_ascii=False))
    else:
        click.echo(text_report(runs, corpus, request.show_all), nl=False)

    failures = sum(len(run.failures) for run in runs) + len(rule_errors)
    if failures:
        click.echo(f"sigmapack: {failures} problem(s) found; see the matrix above", err=True)
        return 1
    return 0


def run_rule(
    loaded: LoadedRule,
    corpus: Sequence[CorpusEvent],
    all_expectations: dict[str, RuleExpectations],
    engines: dict[str, Engine],
) -> RuleRun:
    """Convert one rule, run it in every engine and compare with its expectations."""
    rule: Any = loaded.rule
    run = RuleRun(loaded, str(rule.name or rule.title), all_expectations.get(str(rule.id)))
    if run.expectations is None:
        run.errors.append(f"no expectation file in the regression folder lists rule id {rule.id}")
        return run

    hits: dict[str, set[str]] = {}
    for target in MATRIX_TARGETS:
        try:
            query = _query(loaded, target)
            hits[target] = _run_query(engines[target], query)
        except (RuleError, EngineError) as err:
            message = err.message if isinstance(err, RuleError) else str(err)
            run.errors.append(f"{target}: {message}")
    if run.errors:
        return run

    try:
        run.splunk_problems = check_spl(_query(loaded, "splunk"), SPLUNK_CONSTRAINTS)
    except RuleError as err:
        run.errors.append(f"splunk: {err.message}")

    for event in corpus:
        expectation = run.expectations.expectation(event.event_id)
        run.rows.append(
            EventRow(
                event=event,
                listed=event.event_id in run.expectations.entries,
                match=expectation.match,
                results={target: event.event_id in hits[target] for target in MATRIX_TARGETS},
                expected={target: expectation.expected(target) for target in MATRIX_TARGETS},
                exceptions=expectation.exceptions,
                note=expectation.note,
            )
        )
    return run


def _query(loaded: LoadedRule, target_name: str) -> str:
    """Convert a rule to one target; `sigma` is SQLite through pySigma's Sysmon pipeline."""
    if target_name == "sigma":
        from sigma.backends.sqlite.sqlite import sqliteBackend
        from sigma.pipelines.sysmon.sysmon import sysmon_pipeline

        # pySigma-backend-sqlite 2.0.0 has no type annotations.
        backend_class: Any = sqliteBackend
        backend: Any = backend_class(sysmon_pipeline())
        output_format = "default"
    else:
        target = TARGETS[target_name]
        backend = target.make_backend(Options())
        output_format = target.output_format
    try:
        queries = backend.convert_rule(copy.deepcopy(loaded.rule), output_format)
    except Exception as err:  # pySigma backends raise SigmaError and plain Python errors
        message = " ".join(str(err).split())
        raise RuleError(loaded.path, f"cannot convert to {target_name}: {message}") from err
    if len(queries) != 1:
        raise RuleError(loaded.path, f"{target_name}: expected one query, got {len(queries)}")
    return str(queries[0])


def _run_query(engine: Engine, query: str) -> set[str]:
    """Run a query; for SQLite, add NULL columns for fields no event has, then retry."""
    for _ in range(50):
        try:
            return engine.run(query)
        except EngineError as err:
            missing = MISSING_COLUMN.search(str(err))
            if not isinstance(engine, SigmaEngine) or missing is None:
                raise
            engine.add_missing_fields([missing.group(1).strip("`\"'")])
    raise EngineError("the query names more than 50 fields that no event has")


# --- reports ----------------------------------------------------------------------------


def text_report(runs: Sequence[RuleRun], corpus: Sequence[CorpusEvent], show_all: bool) -> str:
    """Format the matrix: listed events and every hit or disagreement, per rule."""
    root = Path.cwd()
    lines: list[str] = []
    width = max((len(event.event_id) for event in corpus), default=10) + 2
    for run in runs:
        lines.append(f"{run.name}  {relative_source(run.rule.path, root)}")
        if run.expectations is not None:
            lines.append(f"  expectations: {relative_source(run.expectations.path, root)}")
        lines += [f"  ERROR {error}" for error in run.errors]
        if run.rows:
            lines.append(
                "  "
                + "event".ljust(width)
                + "expected  "
                + "".join(target.ljust(7) for target in MATRIX_TARGETS)
            )
        quiet = 0
        for row in run.rows:
            if not (show_all or row.listed or any(row.results.values()) or row.failed_targets):
                quiet += 1
                continue
            lines += _row_lines(row, width)
        if run.rows:
            lines.append(f"  {quiet} other events: no hit in any target")
            splunk = "; ".join(run.splunk_problems) or (
                "structure ok (quotes closed, no \\* or control characters in values,"
                " parentheses balanced, source and EventCode apply to the whole search)"
            )
            lines.append(f"  splunk (no engine runs here, checked structurally): {splunk}")
        lines.append("")
    lines.append(_summary(runs, corpus))
    return "\n".join(lines) + "\n"


def _row_lines(row: EventRow, width: int) -> list[str]:
    cells = []
    for target in MATRIX_TARGETS:
        mark = "hit" if row.results[target] else "miss"
        if target in row.failed_targets:
            mark += "!"
        elif target in row.exceptions:
            mark += "*"
        cells.append(mark.ljust(7))
    expected = "match" if row.match else "no match"
    flag = ""
    if row.failed_targets:
        flag = "  FAILED: " + ", ".join(row.failed_targets)
    elif row.disagreement:
        flag = "  targets differ (documented)"
    lines = [f"  {row.event.event_id.ljust(width)}{expected.ljust(10)}{''.join(cells)}{flag}"]
    lines += [f"      * {target}: {reason}" for target, reason in row.exceptions.items()]
    return lines


def _summary(runs: Sequence[RuleRun], corpus: Sequence[CorpusEvent]) -> str:
    failures = sum(len(run.failures) for run in runs)
    disagreements = sum(1 for run in runs for row in run.rows if row.disagreement)
    listed = sum(1 for run in runs for row in run.rows if row.listed)
    return (
        f"{len(runs)} rules x {len(MATRIX_TARGETS)} targets ({', '.join(MATRIX_TARGETS)})"
        f" x {len(corpus)} events ({listed} listed in expectation files):"
        f" {failures} failed, {disagreements} disagreements between targets"
        " (* marks a documented difference, ! a failed expectation)"
    )


def json_report(runs: Sequence[RuleRun], corpus: Sequence[CorpusEvent]) -> dict[str, Any]:
    """Return the whole matrix, every event included, as JSON-ready data."""
    root = Path.cwd()
    return {
        "targets": list(MATRIX_TARGETS),
        "events": len(corpus),
        "rules": [
            {
                "rule": relative_source(run.rule.path, root),
                "name": run.name,
                "expectations": relative_source(run.expectations.path, root)
                if run.expectations
                else None,
                "errors": run.errors,
                "splunk_problems": run.splunk_problems,
                "failures": run.failures,
                "events": [
                    {
                        "event": row.event.event_id,
                        "listed": row.listed,
                        "match": row.match,
                        "results": row.results,
                        "expected": row.expected,
                        "exceptions": row.exceptions,
                        "disagreement": row.disagreement,
                        "failed_targets": row.failed_targets,
                    }
                    for row in run.rows
                ],
            }
            for run in runs
        ],
        "failures": sum(len(run.failures) for run in runs),
    }
