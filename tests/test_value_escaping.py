"""Property tests: no value can change the structure of a converted query.

Hypothesis builds values from quotes, backslashes, escaped wildcards, pipes, parentheses,
newlines, tabs and non-ASCII letters, puts each in an `equals`, `contains`, `startswith`
and `endswith` detection, and converts it to every target. Each query must parse
(Kusto.Language for KQL, luqum for Lucene, eql for EQL, sigmapack's SPL check for Splunk,
and a check of its string literal for ES|QL, for which no Python parser runs on 3.11).
Where an engine runs (duckdb-kql, eql), the query must match an event holding exactly the
value and no near miss.

CI runs the `ci` profile: a fixed seed (derandomize) and few examples. Run more with
`HYPOTHESIS_PROFILE=long python -m pytest tests/test_value_escaping.py`.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kusto_language import check_kql_text, only_errors
from sigma.collection import SigmaCollection

from converter.engines import EngineEvent, EqlEngine, KqlEngine
from converter.event_mapping import sysmon_to_ecs, sysmon_to_mde
from converter.spl_check import check_spl
from converter.targets import TARGETS, Options

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=4,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MODIFIERS = ("", "contains", "startswith", "endswith")
CHARACTERS = st.sampled_from(
    [
        *list("aZ09 "),
        '"',
        "'",
        "\\",
        "*",
        "?",
        "|",
        "(",
        ")",
        "\n",
        "\t",
        "\r",
        "%",
        "_",
        "é",
        "Ж",
        "中",
        ":",
        "/",
        "=",
        "[",
        "]",
        "{",
        "}",
        "~",
        "!",
        "&",
        "<",
        ">",
        ",",
    ]
)
TEXTS = st.text(CHARACTERS, min_size=1, max_size=12)
BATCH = st.lists(TEXTS, min_size=8, max_size=8)


def sigma_value(text: str) -> str:
    """Write text as a Sigma value that means exactly text: escape \\, * and ?."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def sigma_matches(modifier: str, text: str, haystack: str) -> bool:
    """Sigma's case-insensitive string modifiers, as the oracle."""
    needle, value = text.lower(), haystack.lower()
    return {
        "": value == needle,
        "contains": needle in value,
        "startswith": value.startswith(needle),
        "endswith": value.endswith(needle),
    }[modifier]


def near_misses(modifier: str, text: str) -> list[str]:
    """Values one edit away from a match, kept only where the Sigma oracle rejects them."""
    candidates = [text + "x", "x" + text, text[:-1], text[1:], "x" + text + "x"]
    return [value for value in candidates if not sigma_matches(modifier, text, value)]


def convert(target: str, text: str, modifier: str) -> str:
    field = "CommandLine" + (f"|{modifier}" if modifier else "")
    rule = SigmaCollection.from_dicts(
        [
            {
                "title": "escaping",
                "id": "7f4d2c1a-3b5e-4f60-8a9b-0c1d2e3f4a5b",
                "logsource": {"category": "process_creation", "product": "windows"},
                "detection": {"selection": {field: sigma_value(text)}, "condition": "selection"},
            }
        ]
    ).rules[0]
    backend = TARGETS[target].make_backend(Options())
    queries = backend.convert_rule(copy.deepcopy(rule), TARGETS[target].output_format)
    assert len(queries) == 1
    return str(queries[0])


Case = tuple[str, str]


def exact_id(case: Case) -> str:
    return f"{case[0]}|{case[1]}|exact"


def case_events(all_cases: list[Case]) -> tuple[list[EngineEvent], dict[Case, set[str]]]:
    """Build one event holding each case's exact value and one per near miss.

    Returns the events and, per case, the ids of its own events. A query may also match
    other cases' values, which is no failure of this case.
    """
    events: list[EngineEvent] = []
    owned: dict[Case, set[str]] = {}
    for case in dict.fromkeys(all_cases):
        modifier, text = case
        values = {exact_id(case): text}
        for index, miss in enumerate(near_misses(modifier, text)):
            values[f"{modifier}|{text}|miss{index}"] = miss
        for event_id, value in values.items():
            sysmon = {"EventID": 1, "Image": "C:\\x\\test.exe", "CommandLine": value}
            mde, ecs = sysmon_to_mde(sysmon), sysmon_to_ecs(sysmon)
            events.append(EngineEvent(event_id, sysmon, "DeviceProcessEvents", mde, ecs))
        owned[case] = set(values)
    return events, owned


def cases(texts: list[str]) -> list[tuple[str, str]]:
    return [(modifier, text) for text in texts for modifier in MODIFIERS]


EDGE_VALUES = ["a\nb", "\t", 'a"b\\', "\\*x\\?", "(a|b)", "é*Ж", "*", "a\\", '"', " \n "]


@settings(PROFILE)
@given(BATCH)
@example(EDGE_VALUES[:8])
@example(EDGE_VALUES[2:])
def test_kql_parses_and_matches(texts: list[str]) -> None:
    queries = {(modifier, text): convert("kql", text, modifier) for modifier, text in cases(texts)}

    listing = "\n".join(f"// {index}\n{query}" for index, query in enumerate(queries.values()))
    # One Kusto.Language run per batch: check_kql_text checks one text, so the queries are
    # joined as statements of a single script whose errors name their line.
    errors = only_errors(check_kql_text(_as_script(list(queries.values()))))
    assert errors == [], f"{errors[0].describe()}\n{listing}"

    events, owned = case_events(list(queries))
    engine = KqlEngine(events)
    for case, query in queries.items():
        hits = engine.run(query) & owned[case]
        assert hits == {exact_id(case)}, f"{case[0]} {case[1]!r}: {query} matched {hits}"


def _as_script(queries: list[str]) -> str:
    """Join complete queries into one script of `let` statements and a final union."""
    lets = [f"let q{index} = {query};" for index, query in enumerate(queries)]
    union = "union " + ", ".join(f"q{index}" for index in range(len(queries)))
    return "\n".join([*lets, union])


@settings(PROFILE)
@given(BATCH)
@example(EDGE_VALUES[:8])
@example(EDGE_VALUES[2:])
def test_eql_parses_and_matches(texts: list[str]) -> None:
    all_cases = cases(texts)
    events, owned = case_events(all_cases)
    engine = EqlEngine(events)
    for case in all_cases:
        query = convert("eql", case[1], case[0])
        hits = engine.run(query) & owned[case]
        assert hits == {exact_id(case)}, f"{case[0]} {case[1]!r}: {query} matched {hits}"


@settings(PROFILE)
@given(BATCH)
@example(EDGE_VALUES[:8])
@example(EDGE_VALUES[2:])
def test_lucene_value_is_one_term(texts: list[str]) -> None:
    from luqum.parser import parser
    from luqum.tree import Phrase, SearchField, Word

    for modifier, text in cases(texts):
        query = convert("lucene", text, modifier)
        tree = parser.parse(query)
        assert isinstance(tree, SearchField), f"{modifier} {text!r}: {query} -> {tree!r}"
        assert tree.name == "process.command_line"
        assert isinstance(tree.expr, (Word, Phrase)), f"{query} -> {tree!r}"
        matches = lucene_term_matcher(tree.expr)
        assert matches(text), f"{modifier} {text!r}: {query}"
        for miss in near_misses(modifier, text):
            if "\n" not in text and "\t" not in text and "\r" not in text:
                assert not matches(miss), f"{modifier} {text!r} matched {miss!r}: {query}"


def lucene_term_matcher(node: Any) -> Callable[[str], bool]:
    """Match a keyword value against a Lucene term as Elasticsearch reads it.

    A phrase is exact text with \\" and \\\\ escapes; a word has `*` and `?` wildcards and
    a backslash before any character makes it literal. Keyword fields compare letter case
    as stored, so the haystacks here keep the rule's case.
    """
    raw = str(node.value)
    if raw.startswith('"'):
        text = re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.DOTALL)
        return lambda value: value == text
    pieces = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            pieces.append(re.escape(raw[index + 1]))
            index += 2
            continue
        pieces.append({"*": ".*", "?": "."}.get(char, re.escape(char)))
        index += 1
    pattern = re.compile("".join(pieces), re.DOTALL)
    return lambda value: pattern.fullmatch(value) is not None


@settings(PROFILE)
@given(BATCH)
@example(EDGE_VALUES[:8])
@example(EDGE_VALUES[2:])
def test_splunk_structure(texts: list[str]) -> None:
    for modifier, text in cases(texts):
        query = convert("splunk", text, modifier)
        assert check_spl(query, ("source", "EventCode")) == [], f"{modifier} {text!r}: {query}"
        value = re.search(r'CommandLine=("(?:[^"\\]|\\.)*")$', query)
        assert value is not None, query
        assert splunk_value_matches(value.group(1), text), f"{modifier} {text!r}: {query}"


def splunk_value_matches(quoted: str, haystack: str) -> bool:
    """Match a quoted SPL value: \\" and \\\\ escapes, `*` wildcards, letter case ignored.

    Splunk cannot express every character, so sigmapack writes `*` for some; only the
    exact value is checked here, because the wildcard may also match near misses.
    """
    pieces = []
    body = quoted[1:-1]
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            pieces.append(re.escape(body[index + 1]))
            index += 2
            continue
        pieces.append(".*" if char == "*" else re.escape(char))
        index += 1
    return re.fullmatch("".join(pieces), haystack, re.DOTALL | re.IGNORECASE) is not None


ESQL_STRING = re.compile(r'"((?:[^"\\\r\n]|\\[tnr"\\])*)"')
ESQL_SHAPES = {
    "": re.compile(r'^TO_LOWER\(process\.command_line\)==(?P<s>".*")$', re.DOTALL),
    "like": re.compile(r'^TO_LOWER\(process\.command_line\) like (?P<s>".*")$', re.DOTALL),
    "startswith": re.compile(
        r'^starts_with\(TO_LOWER\(process\.command_line\), (?P<s>".*")\)$', re.DOTALL
    ),
    "endswith": re.compile(
        r'^ends_with\(TO_LOWER\(process\.command_line\), (?P<s>".*")\)$', re.DOTALL
    ),
}


@settings(PROFILE)
@given(BATCH)
@example(EDGE_VALUES[:8])
@example(EDGE_VALUES[2:])
def test_esql_structure(texts: list[str]) -> None:
    for modifier, text in cases(texts):
        query = convert("esql", text, modifier)
        condition = query.split(" | where ", 1)[1]
        shape = next(
            (name, found)
            for name, pattern in ESQL_SHAPES.items()
            if (found := pattern.match(condition))
        )
        literal = shape[1].group("s")
        assert ESQL_STRING.fullmatch(literal), f"invalid ES|QL string {literal!r} in {query}"
        assert esql_matches(shape[0], literal, text.lower()), f"{modifier} {text!r}: {query}"
        for miss in near_misses(modifier, text):
            assert not esql_matches(shape[0], literal, miss.lower()), f"{miss!r}: {query}"


def esql_matches(shape: str, literal: str, haystack: str) -> bool:
    """Evaluate one ES|QL comparison of the lower-cased field with a string literal."""
    text = re.sub(
        r"\\([tnr\"\\])", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m[1], m[1]), literal[1:-1]
    )
    if shape == "":
        return haystack == text
    if shape == "startswith":
        return haystack.startswith(text)
    if shape == "endswith":
        return haystack.endswith(text)
    pieces = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            pieces.append(re.escape(text[index + 1]))
            index += 2
            continue
        pieces.append({"*": ".*", "?": "."}.get(char, re.escape(char)))
        index += 1
    return re.fullmatch("".join(pieces), haystack, re.DOTALL) is not None


@pytest.mark.parametrize("target", ["lucene", "eql", "esql"])
def test_regex_is_unanchored(target: str) -> None:
    """Sigma's re matches anywhere; Lucene, EQL regex~ and ES|QL RLIKE match whole values."""
    rule = {
        "title": "regex",
        "logsource": {"category": "process_creation", "product": "windows"},
        "detection": {
            "selection": {"CommandLine|re": "sc(\\.exe)? create"},
            "condition": "selection",
        },
    }
    collection = SigmaCollection.from_dicts([rule])
    backend = TARGETS[target].make_backend(Options())
    query = str(backend.convert_rule(collection.rules[0], TARGETS[target].output_format)[0])
    assert ".*(sc(\\\\.exe)? create).*" in query or ".*(sc(\\.exe)? create).*" in query


def test_anchored_regex_keeps_anchor_side() -> None:
    from sigma.types import SigmaRegularExpression

    from converter.backends.values import unanchored

    assert str(unanchored(SigmaRegularExpression("^ab")).regexp) == "(ab).*"
    assert str(unanchored(SigmaRegularExpression("ab$")).regexp) == ".*(ab)"
    assert str(unanchored(SigmaRegularExpression("ab\\$")).regexp) == ".*(ab\\$).*"
    assert str(unanchored(SigmaRegularExpression("(?i)ab")).regexp) == "(?i).*(ab).*"
    assert str(unanchored(SigmaRegularExpression("(?is)^ab$")).regexp) == "(?is)(ab)"
