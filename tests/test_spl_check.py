"""The structural SPL check, used because no Splunk engine runs in the tests."""

from __future__ import annotations

import pytest

from converter.spl_check import check_spl, parse_search, tokenize

SYSMON = ("source", "EventCode")
HEAD = 'source="WinEventLog:Microsoft-Windows-Sysmon/Operational" EventCode=1'


@pytest.mark.parametrize(
    "query",
    [
        f'{HEAD} Image="*\\\\sc.exe" CommandLine IN ("*create*", "*config*")',
        f'{HEAD} (Image="*\\\\sc.exe" CommandLine="*a*") OR (Image="*\\\\p.exe" CommandLine="*b*")',
        f'{HEAD} A="1" B="2" OR C="3" | table Image',
        f'{HEAD} T="x" NOT (Image IN ("*\\\\services.exe", "*\\\\svchost.exe"))',
        f'{HEAD} CommandLine="*a\\"b|c*"',
    ],
)
def test_valid_searches_pass(query: str) -> None:
    assert check_spl(query, SYSMON) == []


def test_or_at_top_level_fails() -> None:
    # AND binds weaker than OR in SPL, but an explicit OR of two groups at the top leaves
    # the constraint inside the first group only.
    query = f'({HEAD} A="1") OR B="2"'
    assert check_spl(query, SYSMON) == [
        "the source constraint does not apply to the whole search",
        "the EventCode constraint does not apply to the whole search",
    ]


def test_missing_event_code_fails() -> None:
    query = 'source="x" Image="*"'
    assert check_spl(query, SYSMON) == [
        "the EventCode constraint does not apply to the whole search"
    ]


def test_escaped_asterisk_fails() -> None:
    problems = check_spl(f'{HEAD} CommandLine="a\\*b"', SYSMON)
    assert len(problems) == 1
    assert "contains \\*" in problems[0]


def test_raw_newline_fails() -> None:
    problems = check_spl(f'{HEAD} CommandLine="a\nb"', SYSMON)
    assert len(problems) == 1
    assert "U+000A" in problems[0]


def test_unclosed_quote_fails() -> None:
    problems = check_spl(f'{HEAD} CommandLine="abc', SYSMON)
    assert any("is not closed" in problem for problem in problems)


def test_unbalanced_parentheses_fail() -> None:
    assert "parentheses do not balance" in check_spl(f"{HEAD} (A=1", SYSMON)
    assert "parentheses do not balance" in check_spl(f"{HEAD} A=1)", SYSMON)


def test_parenthesis_inside_quotes_ignored() -> None:
    assert check_spl(f'{HEAD} CommandLine="a(b"', SYSMON) == []


def test_precedence_not_or_and() -> None:
    tree = parse_search(tokenize("a b OR c NOT d"))
    assert tree == ("AND", "a", ("OR", "b", "c"), ("NOT", "d"))


def test_in_list_is_one_term() -> None:
    tokens = tokenize('Image IN ("a)", "b") x')
    assert [token.text for token in tokens] == ['Image IN ("a)", "b")', "x"]
