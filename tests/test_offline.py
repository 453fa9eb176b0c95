"""Test that converter.offline makes pySigma validate rules offline, on the shipped ATT&CK data."""

from __future__ import annotations

import importlib.util
import inspect
import json
import pkgutil
import socket
import sys
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend
from sigma.collection import SigmaCollection
from sigma.data import mitre_attack, mitre_d3fend
from sigma.rule import SigmaRule
from sigma.validation import SigmaValidator
from sigma.validators.base import SigmaRuleValidator, SigmaValidationIssue
from sigma.validators.core import validator_classname_to_identifier
from sigma.validators.core.tags import (
    D3FENDTagValidator,
    InvalidATTACKTagIssue,
    InvalidNamespaceTagIssue,
    InvalidTagFormatIssue,
)

from converter import offline

REPO_ROOT = Path(__file__).resolve().parent.parent

VALID_RULE = """
title: Service Created With sc.exe
id: 6f6c1b3e-8d4a-4a57-9a0e-2c1f0b9d7e11
status: test
description: Detects the creation of a Windows service from the command line.
references:
    - https://attack.mitre.org/techniques/T1543/003/
author: sigmapack tests
date: 2025-01-01
tags:
    - attack.persistence
    - attack.privilege-escalation
    - attack.t1543.003
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\sc.exe'
        CommandLine|contains: ' create '
    condition: selection
falsepositives:
    - Software installers
level: medium
"""

BOGUS_TECHNIQUE_RULE = """
title: Rule Tagged With An Unknown Technique
id: 0c7d2f61-5b3e-4f0a-8e21-9d4c6a1b2e33
status: test
description: Carries an ATT&CK technique tag that does not exist.
author: sigmapack tests
date: 2025-01-01
tags:
    - attack.t9999
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\sc.exe'
    condition: selection
level: low
"""

TAG_ISSUE_TYPES = (InvalidATTACKTagIssue, InvalidNamespaceTagIssue, InvalidTagFormatIssue)


class NetworkAccessError(AssertionError):
    """Raised by the patched socket functions: these tests must not open connections."""


@pytest.fixture
def connection_attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Make every socket connection and name lookup fail, and record the attempted addresses."""
    attempts: list[object] = []

    def reject_connect(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise NetworkAccessError(f"connection to {address!r} attempted")

    def reject_create_connection(address: object, *args: object, **kwargs: object) -> None:
        attempts.append(address)
        raise NetworkAccessError(f"connection to {address!r} attempted")

    def reject_getaddrinfo(host: object, *args: object, **kwargs: object) -> None:
        attempts.append(host)
        raise NetworkAccessError(f"name lookup of {host!r} attempted")

    monkeypatch.setattr(socket.socket, "connect", reject_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", reject_connect)
    monkeypatch.setattr(socket, "create_connection", reject_create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", reject_getaddrinfo)
    yield attempts
    assert attempts == [], f"network access attempted: {attempts}"


@pytest.fixture
def pysigma_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Give pySigma's ATT&CK and D3FEND disk caches an empty folder that does not exist yet.

    A cache left under ~/.cache/pysigma by an earlier run would otherwise serve a lookup that
    bypassed the pinned data, and hide the download attempt. The folder must stay absent,
    because pySigma creates it as soon as it opens a cache.
    """
    cache_root = tmp_path / "pysigma-cache"
    for module in (mitre_attack, mitre_d3fend):
        monkeypatch.setattr(module, "_DEFAULT_CACHE_DIR", cache_root / module.__name__)
        monkeypatch.setattr(module, "_custom_cache_dir", None)
        monkeypatch.setattr(module, "_cache", None)
    return cache_root


def enumerate_core_validators() -> dict[str, type[SigmaRuleValidator]]:
    """List pySigma's core validators the way sigma.validators.core builds its registry.

    use_pinned_data() removes entries from that registry, so the tests enumerate the classes
    again here to see every core validator, removed or not.
    """
    package = import_module("sigma.validators.core")
    found: dict[str, type[SigmaRuleValidator]] = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        module = import_module(f"{package.__name__}.{module_info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                name.endswith("Validator")
                and issubclass(cls, SigmaRuleValidator)
                and not inspect.isabstract(cls)
            ):
                found[validator_classname_to_identifier(name)] = cls
    return found


def validate_offline(rule_yaml: str) -> list[SigmaValidationIssue]:
    """Run every validator that converter.offline makes available on one rule, then finalize."""
    offline.use_pinned_data()
    validator = SigmaValidator(offline.available_validators().values())
    return validator.validate_rules(iter([SigmaRule.from_yaml(rule_yaml)]))


def load_build_script() -> ModuleType:
    path = REPO_ROOT / "tools" / "build_attack_data.py"
    spec = importlib.util.spec_from_file_location("build_attack_data", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_pinned_data_contains_t1543_003() -> None:
    data = offline.pinned_attack_data()

    assert data["mitre_attack_techniques"]["T1543.003"] == "Windows Service"
    assert data["mitre_attack_techniques"]["T1543"] == "Create or Modify System Process"
    assert data["mitre_attack_techniques_tactics_mapping"]["T1543.003"] == [
        "persistence",
        "privilege-escalation",
    ]


def test_pinned_data_contains_persistence_tactic() -> None:
    tactics = offline.pinned_attack_data()["mitre_attack_tactics"]

    assert tactics["TA0003"] == "persistence"
    assert tactics["TA0004"] == "privilege-escalation"
    assert len(tactics) == 14


def test_pinned_data_has_every_loader_key() -> None:
    data = offline.pinned_attack_data()

    assert set(data) == offline.ATTACK_DATA_KEYS
    assert len(data["mitre_attack_techniques"]) > 600
    assert len(data["mitre_attack_intrusion_sets"]) > 100
    assert len(data["mitre_attack_software"]) > 500
    assert len(data["mitre_attack_mitigations"]) > 40


def test_attack_version_is_pinned() -> None:
    assert offline.attack_version() == "18.1"


def test_pysigma_serves_pinned_data(
    connection_attempts: list[object], pysigma_cache_dir: Path
) -> None:
    offline.use_pinned_data()

    assert mitre_attack.mitre_attack_version == "18.1"
    assert mitre_attack.mitre_attack_techniques["T1543.003"] == "Windows Service"
    assert "persistence" in mitre_attack.mitre_attack_tactics.values()
    assert not pysigma_cache_dir.exists()


def test_valid_attack_tags_raise_no_issues(
    connection_attempts: list[object], pysigma_cache_dir: Path
) -> None:
    issues = validate_offline(VALID_RULE)

    tag_issues = [issue for issue in issues if isinstance(issue, TAG_ISSUE_TYPES)]
    assert tag_issues == []
    assert issues == []
    assert not pysigma_cache_dir.exists()


def test_unknown_technique_is_reported(
    connection_attempts: list[object], pysigma_cache_dir: Path
) -> None:
    issues = validate_offline(BOGUS_TECHNIQUE_RULE)

    attack_issues = [issue for issue in issues if isinstance(issue, InvalidATTACKTagIssue)]
    assert len(attack_issues) == 1
    assert str(attack_issues[0].tag) == "attack.t9999"
    assert issues == attack_issues
    assert not pysigma_cache_dir.exists()


def test_elastic_siem_rule_uses_pinned_data(
    connection_attempts: list[object], pysigma_cache_dir: Path
) -> None:
    offline.use_pinned_data()
    backend = LuceneBackend()

    rules = backend.convert(SigmaCollection.from_yaml(VALID_RULE), output_format="siem_rule")

    threat = rules[0]["params"]["threat"]
    assert threat[0]["tactic"]["id"] == "TA0003"
    technique = threat[0]["technique"][0]
    assert technique["id"] == "T1543"
    assert technique["subtechnique"][0]["id"] == "T1543.003"
    assert technique["subtechnique"][0]["name"] == "Windows Service"
    assert not pysigma_cache_dir.exists()


def test_every_core_validator_is_run_or_listed_unavailable() -> None:
    all_validators = enumerate_core_validators()
    available = offline.available_validators()

    assert "attacktag" in available
    assert set(offline.UNAVAILABLE_VALIDATORS) <= set(all_validators)
    assert set(available) | set(offline.UNAVAILABLE_VALIDATORS) == set(all_validators)
    assert set(available) & set(offline.UNAVAILABLE_VALIDATORS) == set()


def test_d3fend_validator_is_unavailable() -> None:
    offline.use_pinned_data()

    assert "d3_fendtag" in offline.UNAVAILABLE_VALIDATORS
    assert enumerate_core_validators()["d3_fendtag"] is D3FENDTagValidator
    assert "d3_fendtag" not in offline.available_validators()


def test_d3fend_validator_raises_instead_of_downloading(
    connection_attempts: list[object], pysigma_cache_dir: Path
) -> None:
    offline.use_pinned_data()
    validator = SigmaValidator([D3FENDTagValidator])
    rule = SigmaRule.from_yaml(VALID_RULE)

    with pytest.raises(offline.OfflineDataError, match="D3FEND data is not available offline"):
        validator.validate_rule(rule)
    with pytest.raises(offline.OfflineDataError):
        _ = mitre_d3fend.mitre_d3fend_techniques
    assert not pysigma_cache_dir.exists()


@pytest.mark.parametrize("module", [mitre_attack, mitre_d3fend], ids=["attack", "d3fend"])
def test_loader_download_is_rejected(module: ModuleType, connection_attempts: list[object]) -> None:
    offline.use_pinned_data()

    with pytest.raises(offline.OfflineDataError, match="rejected"):
        module.urlopen("https://github.com/mitre-attack/attack-stix-data", timeout=30)


def test_connection_blocker_is_active(connection_attempts: list[object]) -> None:
    with pytest.raises(NetworkAccessError):
        socket.create_connection(("127.0.0.1", 9))
    assert connection_attempts == [("127.0.0.1", 9)]
    connection_attempts.clear()


def test_use_pinned_data_is_idempotent() -> None:
    offline.use_pinned_data()
    first = offline.available_validators()
    offline.use_pinned_data()

    assert offline.available_validators() == first
    assert mitre_attack._get_cached_data is offline.pinned_attack_data


def test_build_skips_revoked_and_deprecated_objects() -> None:
    build = load_build_script()
    tables: dict[str, Any] = {
        build.INFRASTRUCTURE_FILE: {
            "collections": [{"version": "99.0"}],
            "tactics": [{"external_id": "TA0003", "shortname": "persistence"}],
        },
        build.ATTACK_PATTERNS_FILE: {
            "attack_patterns": [
                {"external_id": "T1543", "name": "Current", "tactics": ["persistence"]},
                {"external_id": "T1000", "name": "Old", "tactics": [], "revoked": True},
                {"external_id": "T1001", "name": "Gone", "tactics": [], "deprecated": True},
            ]
        },
        build.GROUPS_FILE: {
            "groups_campaigns": [
                {"external_id": "G0001", "name": "Group", "stix_type": "intrusion-set"},
                {"external_id": "C0001", "name": "Campaign", "stix_type": "campaign"},
            ]
        },
        build.SOFTWARE_FILE: {"software": [{"external_id": "S0001", "name": "Tool"}]},
        build.DETECTION_FILE: {
            "data_sources": [{"external_id": "DS0001", "name": "Old", "deprecated": True}]
        },
        build.MITIGATIONS_FILE: {"mitigations": [{"external_id": "M1013", "name": "Guide"}]},
    }

    data = build.build_attack_data(tables)

    assert data["mitre_attack_version"] == "99.0"
    assert data["mitre_attack_tactics"] == {"TA0003": "persistence"}
    assert data["mitre_attack_techniques"] == {"T1543": "Current"}
    assert data["mitre_attack_techniques_tactics_mapping"] == {"T1543": ["persistence"]}
    assert data["mitre_attack_intrusion_sets"] == {"G0001": "Group"}
    assert data["mitre_attack_software"] == {"S0001": "Tool"}
    assert data["mitre_attack_datasources"] == {}
    assert data["mitre_attack_mitigations"] == {"M1013": "Guide"}
    assert set(data) == offline.ATTACK_DATA_KEYS


def test_shipped_file_names_source_and_licence() -> None:
    build = load_build_script()
    document = json.loads(
        (REPO_ROOT / "converter" / "data" / offline.ATTACK_DATA_FILE).read_text(encoding="utf-8")
    )

    assert document["format_version"] == offline.SUPPORTED_FORMAT_VERSION
    assert document["source"]["package"] == build.PACKAGE
    assert document["source"]["package_version"] == build.PACKAGE_VERSION
    assert document["source"]["wheel_sha256"] == build.WHEEL_SHA256
    assert document["licence"] == build.ATTACK_LICENCE
    assert "The MITRE Corporation" in document["copyright"]


def test_attack_bundle_restores_shipped_data(tmp_path: Path) -> None:
    from sigma.data import mitre_attack

    from converter.offline import attack_bundle, pinned_attack_data, use_pinned_data

    bundle = tmp_path / "enterprise-attack.json"
    bundle.write_text(
        json.dumps(
            {
                "objects": [
                    {"type": "x-mitre-collection", "x_mitre_version": "99.0"},
                    {
                        "type": "x-mitre-tactic",
                        "name": "Stealth",
                        "x_mitre_shortname": "stealth",
                        "external_references": [
                            {"source_name": "mitre-attack", "external_id": "TA9001"}
                        ],
                    },
                    {
                        "type": "attack-pattern",
                        "name": "Newer",
                        "kill_chain_phases": [
                            {"kill_chain_name": "mitre-attack", "phase_name": "stealth"}
                        ],
                        "external_references": [
                            {"source_name": "mitre-attack", "external_id": "T9001"}
                        ],
                    },
                ]
            }
        )
    )
    use_pinned_data()
    with attack_bundle(bundle) as version:
        assert version == "99.0"
        assert "T9001" in mitre_attack.mitre_attack_techniques
    assert mitre_attack._get_cached_data is pinned_attack_data
    assert "T9001" not in mitre_attack.mitre_attack_techniques
