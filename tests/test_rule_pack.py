"""Policies over the whole rule pack, each listing every offending rule at once."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.rule import SigmaLevel, SigmaRule

from converter.offline import available_validators, use_pinned_data

REPO = Path(__file__).resolve().parent.parent
REFERENCE_NAMES = {
    "NewServiceCreation",
    "SuspiciousServiceBinary",
    "UnusualParentService",
    "AutostartServiceReg",
}
REQUIRED_TAGS = {"attack.persistence", "attack.privilege-escalation", "attack.t1543.003"}
FILE_NAME = re.compile(r"^(proc_creation_win|registry_set)_[a-z0-9_]+\.yml$")


@pytest.fixture(scope="module")
def rules() -> dict[Path, SigmaRule]:
    loaded = {}
    for path in sorted((REPO / "sigma").rglob("*.yml")):
        collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
        assert len(collection.rules) == 1, path
        loaded[path] = collection.rules[0]
    return loaded


def test_pack_has_one_rule_per_branch(rules: dict[Path, SigmaRule]) -> None:
    assert sorted(rule.name or "" for rule in rules.values()) == sorted(REFERENCE_NAMES)


def test_rules_pass_all_validators_offline(rules: dict[Path, SigmaRule]) -> None:
    use_pinned_data()
    validators = [validator() for validator in available_validators().values()]
    issues = [
        f"{path.name}: {issue}"
        for path, rule in rules.items()
        for validator in validators
        for issue in validator.validate(rule)
    ]
    issues += [f"{issue}" for validator in validators for issue in validator.finalize()]
    assert issues == []


def test_rules_have_uuid_ids(rules: dict[Path, SigmaRule]) -> None:
    offenders = [path.name for path, rule in rules.items() if not isinstance(rule.id, uuid.UUID)]
    assert offenders == []


def test_rules_have_attack_tags(rules: dict[Path, SigmaRule]) -> None:
    offenders = [
        path.name
        for path, rule in rules.items()
        if not {str(tag) for tag in rule.tags} >= REQUIRED_TAGS
    ]
    assert offenders == []


def test_rules_have_metadata(rules: dict[Path, SigmaRule]) -> None:
    offenders = [
        path.name
        for path, rule in rules.items()
        if not (
            rule.title
            and rule.description
            and rule.author
            and rule.date
            and rule.status
            and rule.falsepositives
            and rule.level == SigmaLevel.HIGH
        )
    ]
    assert offenders == []


def test_rule_file_names_follow_convention(rules: dict[Path, SigmaRule]) -> None:
    offenders = [path.name for path in rules if not FILE_NAME.match(path.name)]
    assert offenders == []
