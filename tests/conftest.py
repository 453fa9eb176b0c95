"""Shared helpers for sigmapack's tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest
from sigma.collection import SigmaCollection

from converter.targets import Options, get_target


def _convert(target_name: str, rule_yaml: str, lookback: str = "24h") -> str:
    backend = get_target(target_name).make_backend(Options(lookback=lookback))
    rule = SigmaCollection.from_yaml(textwrap.dedent(rule_yaml)).rules[0]
    queries = backend.convert_rule(rule, get_target(target_name).output_format)
    assert len(queries) == 1
    return str(queries[0])


@pytest.fixture
def convert_rule() -> Callable[..., str]:
    """Convert one inline YAML rule to a target and return the single query."""
    return _convert
