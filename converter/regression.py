"""The regression corpus of `sigmapack test`: events, and per rule the events it must match.

Events are JSON lines under `regression/events/`. Each contains `id`, `source`, `licence`,
an optional `note`, and either `sysmon` (a Sysmon event: EventData fields plus EventID)
or `mde_table` and `mde` (a real MDE row, used as it is). The other shapes are derived
by converter.event_mapping.

Expectations are YAML files under `regression/rules/`, one per rule, found by the rule
id in `rule_metadata` (the key SigmaHQ's regression tests use). `match` lists the events
the rule must match and `no_match` the near misses it must not match; every event not
listed must not match either. An entry's `except` maps a target to the documented reason
why that target gives the opposite result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter.engines import EngineEvent
from converter.event_mapping import (
    EventShapeError,
    mde_table,
    mde_to_sysmon,
    sysmon_to_ecs,
    sysmon_to_mde,
)
from converter.rule_yaml import YamlProblem, load_document

MATRIX_TARGETS = ("sigma", "kql", "eql")
EVENT_KEYS = frozenset({"id", "source", "licence", "note", "sysmon", "mde_table", "mde"})
EXPECTATION_KEYS = frozenset({"rule_metadata", "match", "no_match"})
ENTRY_KEYS = frozenset({"event", "note", "except"})


@dataclass(frozen=True)
class RegressionError(Exception):
    """A corpus or expectation file that can't be read or is invalid."""

    path: Path
    message: str
    line: int | None = None

    def __str__(self) -> str:
        location = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{location}: {self.message}"


@dataclass(frozen=True)
class CorpusEvent:
    """One corpus event with its provenance and every shape the engines read."""

    event_id: str
    source: str
    licence: str
    note: str
    origin: str  # "sysmon" or "mde": the shape the event was recorded or written in
    engine_event: EngineEvent


@dataclass(frozen=True)
class Expectation:
    """Whether a rule must match one event, and the targets documented to differ."""

    event_id: str
    match: bool
    note: str
    exceptions: dict[str, str] = field(default_factory=dict)

    def expected(self, target: str) -> bool:
        """Return the result the target must give: the opposite where an exception is declared."""
        return self.match != (target in self.exceptions)


@dataclass(frozen=True)
class RuleExpectations:
    """The expectation file of one rule."""

    path: Path
    rule_id: str
    title: str
    entries: dict[str, Expectation]

    def expectation(self, event_id: str) -> Expectation:
        """Return the listed expectation, or 'must not match' for an event not listed."""
        return self.entries.get(event_id) or Expectation(event_id, False, "")


def load_corpus(folder: Path) -> list[CorpusEvent]:
    """Load every `*.jsonl` file in folder, in file-name order, or raise RegressionError."""
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise RegressionError(folder, "no *.jsonl event files found")
    events: list[CorpusEvent] = []
    seen: dict[str, str] = {}
    for path in files:
        for number, line in enumerate(_read(path).splitlines(), start=1):
            if not line.strip():
                continue
            event = _corpus_event(path, number, line)
            if event.event_id in seen:
                raise RegressionError(
                    path,
                    f"event id {event.event_id} is also used at {seen[event.event_id]}",
                    number,
                )
            seen[event.event_id] = f"{path}:{number}"
            events.append(event)
    return events


def _corpus_event(path: Path, number: int, line: str) -> CorpusEvent:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise RegressionError(path, f"invalid JSON: {err.msg}", number) from err
    if not isinstance(record, dict):
        raise RegressionError(path, "an event must be a JSON object", number)
    unknown = set(record) - EVENT_KEYS
    if unknown:
        raise RegressionError(path, f"unknown keys {sorted(unknown)}", number)
    for key in ("id", "source", "licence"):
        if not isinstance(record.get(key), str) or not record[key]:
            raise RegressionError(path, f"missing or empty '{key}'", number)

    try:
        if isinstance(record.get("sysmon"), dict) and "mde" not in record:
            sysmon = record["sysmon"]
            table, row, origin = mde_table(sysmon), sysmon_to_mde(sysmon), "sysmon"
        elif isinstance(record.get("mde"), dict) and "sysmon" not in record:
            table, row, origin = str(record.get("mde_table")), record["mde"], "mde"
            sysmon = mde_to_sysmon(table, row)
        else:
            raise RegressionError(
                path, "an event needs exactly one of 'sysmon' or 'mde' (an object)", number
            )
        ecs = sysmon_to_ecs(sysmon)
    except EventShapeError as err:
        raise RegressionError(path, f"event {record['id']}: {err}", number) from err

    engine_event = EngineEvent(record["id"], sysmon, table, row, ecs)
    note = str(record.get("note", ""))
    return CorpusEvent(
        record["id"], record["source"], record["licence"], note, origin, engine_event
    )


def load_expectations(folder: Path, event_ids: Iterable[str]) -> dict[str, RuleExpectations]:
    """Load every expectation file in folder, keyed by rule id, or raise RegressionError."""
    known = set(event_ids)
    found: dict[str, RuleExpectations] = {}
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        expectations = _expectation_file(path, known)
        if expectations.rule_id in found:
            other = found[expectations.rule_id].path
            raise RegressionError(path, f"rule id {expectations.rule_id} is also used by {other}")
        found[expectations.rule_id] = expectations
    return found


def _expectation_file(path: Path, known: set[str]) -> RuleExpectations:
    try:
        document, locations = load_document(_read(path))
    except YamlProblem as problem:
        line = problem.position.line if problem.position else None
        raise RegressionError(path, problem.message, line) from problem
    if not isinstance(document, dict):
        raise RegressionError(path, "expected a mapping with rule_metadata, match and no_match")
    unknown = set(document) - EXPECTATION_KEYS
    if unknown:
        raise RegressionError(path, f"unknown keys {sorted(unknown)}")

    metadata = document.get("rule_metadata")
    if not isinstance(metadata, list) or len(metadata) != 1 or not isinstance(metadata[0], dict):
        raise RegressionError(path, "rule_metadata must list exactly one rule with id and title")
    rule_id = str(metadata[0].get("id", ""))
    if not rule_id:
        raise RegressionError(path, "rule_metadata is missing the rule id")

    entries: dict[str, Expectation] = {}
    for key, match in (("match", True), ("no_match", False)):
        for index, entry in enumerate(document.get(key) or []):
            position = locations.value((key, index))
            line = position.line if position else None
            try:
                expectation = _entry(path, key, entry, match, known)
            except RegressionError as err:
                raise RegressionError(path, err.message, err.line or line) from err
            if expectation.event_id in entries:
                message = f"event {expectation.event_id} is listed twice"
                raise RegressionError(path, message, line)
            entries[expectation.event_id] = expectation
    title = str(metadata[0].get("title", ""))
    return RuleExpectations(path, rule_id, title, entries)


def _entry(path: Path, key: str, entry: Any, match: bool, known: set[str]) -> Expectation:
    if not isinstance(entry, dict) or not isinstance(entry.get("event"), str):
        raise RegressionError(path, f"each item of {key} needs an 'event' id")
    event_id = entry["event"]
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise RegressionError(path, f"event {event_id}: unknown keys {sorted(unknown)}")
    if event_id not in known:
        raise RegressionError(path, f"event {event_id} is not in the corpus")
    exceptions = entry.get("except") or {}
    if not isinstance(exceptions, dict):
        raise RegressionError(path, f"event {event_id}: 'except' must map targets to reasons")
    for target, reason in exceptions.items():
        if target not in MATRIX_TARGETS:
            raise RegressionError(
                path,
                f"event {event_id}: unknown target '{target}' in except;"
                f" use {', '.join(MATRIX_TARGETS)}",
            )
        if not isinstance(reason, str) or not reason.strip():
            raise RegressionError(path, f"event {event_id}: target {target} needs a reason")
    return Expectation(event_id, match, str(entry.get("note", "")), dict(exceptions))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RegressionError(path, f"not UTF-8 text (invalid byte at offset {err.start})") from err
    except OSError as err:
        raise RegressionError(path, f"cannot read file: {err.strerror}") from err
