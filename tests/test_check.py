"""Tests of `sigmapack check`, its report formats, `sigmapack new` and `--version`."""

from __future__ import annotations

import json
import re
import shutil
import uuid
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from converter.checks.findings import CheckReport, Finding, RuleFile, Severity
from converter.checks.formats import render
from converter.cli import main

REPO = Path(__file__).resolve().parent.parent
PACK_RULE = REPO / "sigma/windows/process_creation/proc_creation_win_service_new_or_changed.yml"
PACK_TEXT = PACK_RULE.read_text(encoding="utf-8")
SARIF_SCHEMA = REPO / "tests/data/sarif-schema-2.1.0.json"
GITHUB_LINE = re.compile(
    r"^::(error|warning|notice) file=[^,:]+(,line=\d+(,col=\d+)?)?,title=[^:]+::.+$"
)


def line_of(text: str, needle: str) -> int:
    """Return the 1-based number of the first line of text that contains needle."""
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


MODIFIER_LINE = line_of(PACK_TEXT, "CommandLine|contains")
TAG_LINE = line_of(PACK_TEXT, "attack.t1543.003")
LEVEL_LINE = line_of(PACK_TEXT, "level: high")
DATE_LINE = line_of(PACK_TEXT, "date: 2026-12-04")
TAGS_LINE = line_of(PACK_TEXT, "tags:")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A rules folder with one pack rule in its conventional place, as the working folder."""
    folder = tmp_path / "rules" / "windows" / "process_creation"
    folder.mkdir(parents=True)
    shutil.copyfile(PACK_RULE, folder / PACK_RULE.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "rules"


def add_rule(rules: Path, name: str, *replacements: tuple[str, str]) -> Path:
    """Copy the pack rule under a new name and id, with text replacements."""
    text = PACK_RULE.read_text(encoding="utf-8")
    text = text.replace("fbfe105f-4019-4ca9-ac1e-1c5a863ba4ce", str(uuid.uuid4()))
    text = text.replace("title: New or Changed", f"title: {name} New or Changed")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = rules / "windows" / "process_creation" / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def broken(rules: Path) -> Path:
    """The rules folder with one high, one medium and one low finding in separate files."""
    add_rule(rules, "proc_creation_win_bad_modifier.yml", ("CommandLine|contains", "x|bogus"))
    add_rule(rules, "proc_creation_win_unknown_tag.yml", ("attack.t1543.003", "attack.t9999"))
    add_rule(rules, "proc_creation_win_extra_field.yml", ("level: high", "level: high\nextra: 1"))
    return rules


def test_pack_passes_check() -> None:
    code, stdout, stderr = invoke("check", str(REPO / "sigma"))
    assert code == 0, stdout
    assert stdout == ""
    assert "checked 4 rule file(s): 0 high, 0 medium, 0 low finding(s)" in stderr


def test_version_names_pysigma_and_attack() -> None:
    code, stdout, _ = invoke("--version")
    assert code == 0
    assert stdout == "sigmapack 0.1.0 (pySigma 1.5.1, ATT&CK 18.1)\n"


def test_text_lines_have_location(broken: Path) -> None:
    code, stdout, _ = invoke("check", "rules")
    assert code == 1
    assert (
        "rules/windows/process_creation/proc_creation_win_bad_modifier.yml:34:9: high:"
        " invalid Sigma rule: Unknown modifier 'bogus' [schema]"
    ) in stdout
    assert (
        "rules/windows/process_creation/proc_creation_win_unknown_tag.yml:26:7: medium:"
        " Invalid MITRE ATT&CK tagging (tag 'attack.t9999')"
    ) in stdout
    assert (
        "rules/windows/process_creation/proc_creation_win_extra_field.yml:59:1: low:"
        " 'extra' is not a field of the Sigma specification"
    ) in stdout


@pytest.mark.parametrize(("fail_level", "expected_code"), [("low", 1), ("medium", 1), ("high", 1)])
def test_fail_level_with_high_finding(broken: Path, fail_level: str, expected_code: int) -> None:
    assert invoke("check", "--fail-level", fail_level, "rules")[0] == expected_code


@pytest.mark.parametrize(("fail_level", "expected_code"), [("low", 1), ("medium", 1), ("high", 0)])
def test_fail_level_with_medium_finding(rules: Path, fail_level: str, expected_code: int) -> None:
    add_rule(rules, "proc_creation_win_unknown_tag.yml", ("attack.t1543.003", "attack.t9999"))
    assert invoke("check", "--fail-level", fail_level, "rules")[0] == expected_code


@pytest.mark.parametrize(("fail_level", "expected_code"), [("low", 1), ("medium", 0), ("high", 0)])
def test_fail_level_with_low_finding(rules: Path, fail_level: str, expected_code: int) -> None:
    add_rule(rules, "proc_creation_win_extra_field.yml", ("level: high", "level: high\nextra: 1"))
    assert invoke("check", "--fail-level", fail_level, "rules")[0] == expected_code


def test_json_report(broken: Path) -> None:
    code, stdout, _ = invoke("check", "--format", "json", "--fail-level", "medium", "rules")
    report = json.loads(stdout)
    assert code == 1
    assert report["tool"] == {"sigmapack": "0.1.0", "pysigma": "1.5.1", "attack": "18.1"}
    assert report["fail_level"] == "medium"
    assert report["passed"] is False
    assert report["summary"] == {
        "files": 4,
        "failed_files": 2,
        "findings": {"high": 1, "medium": 1, "low": 1},
    }
    by_name = {Path(item["path"]).name: item for item in report["files"]}
    assert by_name[PACK_RULE.name]["passed"] is True
    assert by_name["proc_creation_win_extra_field.yml"]["passed"] is True
    finding = by_name["proc_creation_win_bad_modifier.yml"]["findings"][0]
    assert finding["severity"] == "high"
    assert finding["check"] == "schema"
    assert (finding["line"], finding["column"]) == (34, 9)
    assert uuid.UUID(finding["rule_id"]).version == 4


def test_sarif_report_matches_schema(broken: Path) -> None:
    code, stdout, _ = invoke("check", "--format", "sarif", "rules")
    document = json.loads(stdout)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(document)

    assert code == 1
    run = document["runs"][0]
    assert run["tool"]["driver"]["name"] == "sigmapack"
    assert len(run["results"]) == 3
    levels = sorted(result["level"] for result in run["results"])
    assert levels == ["error", "note", "warning"]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
    error = next(result for result in run["results"] if result["level"] == "error")
    location = error["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == (
        "rules/windows/process_creation/proc_creation_win_bad_modifier.yml"
    )
    assert location["region"] == {"startLine": 34, "startColumn": 9}


def test_sarif_without_findings_matches_schema(rules: Path) -> None:
    code, stdout, _ = invoke("check", "--format", "sarif", "rules")
    document = json.loads(stdout)
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(document)
    assert code == 0
    assert document["runs"][0]["results"] == []


def test_schema_rejects_broken_sarif() -> None:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate({"version": "2.1.0", "runs": [{}]})


def test_github_annotations(broken: Path) -> None:
    code, stdout, _ = invoke("check", "--format", "github", "rules")
    lines = stdout.splitlines()
    assert code == 1
    assert len(lines) == 3
    for line in lines:
        assert GITHUB_LINE.match(line), line
    assert (
        "::error file=rules/windows/process_creation/proc_creation_win_bad_modifier.yml,"
        "line=34,col=9,title=sigmapack schema::high: invalid Sigma rule: Unknown modifier"
        " 'bogus'"
    ) in lines


def test_github_escapes_values() -> None:
    finding = Finding(Severity.LOW, "a,b:c", "50% done\nnext", Path("x,y.yml"), 2, 3)
    text = render(
        CheckReport([RuleFile(Path("x,y.yml"), findings=[finding])]), "github", Severity.LOW
    )
    assert text == (
        "::notice file=x%2Cy.yml,line=2,col=3,title=sigmapack a%2Cb%3Ac::low: 50%25 done%0Anext\n"
    )


def test_junit_lists_every_rule(broken: Path) -> None:
    code, stdout, _ = invoke("check", "--format", "junit", "--fail-level", "medium", "rules")
    root = ET.fromstring(stdout)
    cases = root.findall("./testsuite/testcase")
    assert code == 1
    assert root.get("tests") == "4"
    assert root.get("failures") == "2"
    assert len(cases) == 4
    failed = {case.get("name") for case in cases if case.find("failure") is not None}
    assert {Path(name or "").name for name in failed} == {
        "proc_creation_win_bad_modifier.yml",
        "proc_creation_win_unknown_tag.yml",
    }
    low = next(case for case in cases if "extra_field" in (case.get("name") or ""))
    assert low.find("failure") is None
    assert "is not a field of the Sigma specification" in (low.findtext("system-out") or "")


def test_junit_replaces_control_characters() -> None:
    finding = Finding(Severity.HIGH, "x", "bell \x07 and escape \x1b", Path("r.yml"))
    text = render(CheckReport([RuleFile(Path("r.yml"), findings=[finding])]), "junit", Severity.LOW)
    failure = ET.fromstring(text).find("./testsuite/testcase/failure")
    assert failure is not None
    assert failure.text == "r.yml: high: bell \ufffd and escape \ufffd [x]\n"


def test_text_escapes_control_characters() -> None:
    finding = Finding(Severity.HIGH, "x", "title \x1b[31mred", Path("r.yml"), 1, 8)
    text = render(CheckReport([RuleFile(Path("r.yml"), findings=[finding])]), "text", Severity.LOW)
    assert text == "r.yml:1:8: high: title \\x1b[31mred [x]\n"


def test_output_option_writes_report(broken: Path, tmp_path: Path) -> None:
    code, stdout, _ = invoke("check", "--format", "sarif", "-o", "report.sarif", "rules")
    assert code == 1
    assert stdout == ""
    assert json.loads((tmp_path / "report.sarif").read_text())["version"] == "2.1.0"


def test_missing_path_is_usage_error(rules: Path) -> None:
    code, _, stderr = invoke("check", "no/such/folder")
    assert code == 2
    assert "no such file or folder: no/such/folder" in stderr


def test_bad_file_does_not_stop_others(rules: Path) -> None:
    (rules / "broken.yml").write_text("title: [\n")
    code, stdout, _ = invoke("check", "--format", "json", "rules")
    report = json.loads(stdout)
    assert code == 1
    assert [Path(item["path"]).name for item in report["files"]] == [
        "broken.yml",
        PACK_RULE.name,
    ]
    assert report["files"][1]["passed"] is True


CONVENTION_CASES = [
    (("title: proc", "title: Detects proc"), "sigmahq.title-style", 1),
    (("date: 2026-12-04", "date: 2026/12/04"), "sigmahq.date", 22),
    (("date: 2026-12-04", "date: 2999-01-01"), "sigmahq.date", 22),
    (("date: 2026-12-04", "date: 2026-12-04\nmodified: 2026-01-01"), "sigmahq.date", 23),
    (("    - attack.t1543.003\n", ""), "sigmahq.attack-tag", 23),
    (("status: experimental\n", ""), "sigmahq.status", None),
    (("description: |", "description: Short.\nx_description: |"), "sigmahq.description", 5),
]


@pytest.mark.parametrize(("replacement", "check", "line"), CONVENTION_CASES)
def test_convention_findings(
    rules: Path, replacement: tuple[str, str], check: str, line: int | None
) -> None:
    add_rule(rules, "proc_creation_win_case.yml", replacement)
    _, stdout, _ = invoke("check", "--format", "json", "rules")
    report = json.loads(stdout)
    findings = [item for entry in report["files"] for item in entry["findings"]]
    matching = [item for item in findings if item["check"] == check]
    assert len(matching) == 1, findings
    assert matching[0]["line"] == line


@pytest.mark.parametrize(
    "rule_id", ["FBFE105F-4019-4CA9-AC1E-1C5A863BA4CF", "fbfe105f-4019-1ca9-ac1e-1c5a863ba4cf"]
)
def test_id_format_finding(rules: Path, rule_id: str) -> None:
    path = add_rule(rules, "proc_creation_win_case.yml")
    text = re.sub(r"^id: .*$", f"id: {rule_id}", path.read_text(), count=1, flags=re.M)
    path.write_text(text)
    _, stdout, _ = invoke("check", "rules")
    assert f"proc_creation_win_case.yml:2:5: medium: id '{rule_id}' must be a random UUID" in stdout


def test_file_name_prefix_finding(rules: Path) -> None:
    add_rule(rules, "service_rule.yml")
    _, stdout, _ = invoke("check", "rules")
    assert "file name 'service_rule.yml' of a process_creation rule must start with" in stdout


def test_new_rule_fails_check_until_filled(rules: Path) -> None:
    code, stdout, _ = invoke("new", "--name", "sc_failure_command", "--rules-dir", "rules")
    path = Path(stdout.strip())
    assert code == 0
    assert path == Path("rules/windows/process_creation/proc_creation_win_sc_failure_command.yml")
    text = path.read_text(encoding="utf-8")
    assert f"date: {date.today().isoformat()}" in text

    code, stdout, _ = invoke("check", "--fail-level", "high", str(path))
    placeholders = [line for line in stdout.splitlines() if "[sigmahq.placeholder]" in line]
    assert code == 1
    assert len(placeholders) == 7
    assert placeholders[0].startswith(f"{path.as_posix()}:1:8: high: 'title' still has")

    filled = (
        text.replace("TODO short title of what the rule detects, at most 110 characters", "Sc Fail")
        .replace("TODO Detects ...", "Detects sc.exe failure commands that run a program.")
        .replace("TODO https://attack.mitre.org", "https://attack.mitre.org")
        .replace("    - TODO https://attack.mitre.org/techniques/T1543/003/ or another source", "")
        .replace("TODO your name or handle", "sigmapack tests")
        .replace("'TODO.exe'", "'\\sc.exe'")
        .replace("TODO text of the command line", "failure")
        .replace("TODO legitimate activity that also matches, or Unknown", "Unknown")
    )
    path.write_text(filled, encoding="utf-8")
    code, stdout, _ = invoke("check", str(path))
    assert code == 0, stdout


def test_new_registry_rule_path(rules: Path) -> None:
    code, stdout, _ = invoke(
        "new", "--category", "registry_set", "--name", "failure_actions", "--rules-dir", "rules"
    )
    assert code == 0
    assert stdout.strip() == ("rules/windows/registry_set/registry_set_failure_actions.yml")


def test_new_rules_get_fresh_ids(rules: Path) -> None:
    first = Path(invoke("new", "--name", "one", "--rules-dir", "rules")[1].strip())
    second = Path(invoke("new", "--name", "two", "--rules-dir", "rules")[1].strip())
    ids = [re.search(r"^id: (\S+)$", p.read_text(), re.M) for p in (first, second)]
    assert ids[0] is not None
    assert ids[1] is not None
    assert ids[0].group(1) != ids[1].group(1)
    assert uuid.UUID(ids[0].group(1)).version == 4


def test_new_keeps_existing_file(rules: Path) -> None:
    invoke("new", "--name", "one", "--rules-dir", "rules")
    path = rules / "windows/process_creation/proc_creation_win_one.yml"
    path.write_text("mine\n")
    code, _, stderr = invoke("new", "--name", "one", "--rules-dir", "rules")
    assert code == 1
    assert "already exists" in stderr
    assert path.read_text() == "mine\n"


def test_new_rejects_invalid_name(rules: Path) -> None:
    code, _, stderr = invoke("new", "--name", "../escape", "--rules-dir", "rules")
    assert code == 2
    assert "invalid --name '../escape'" in stderr


@pytest.mark.parametrize(
    ("folder", "reported"),
    [
        ("windows/process_creation", False),
        ("windows/builtin/process_creation", False),
        ("windows/registry_set", True),
        ("process_creation", True),
    ],
)
def test_folder_finding(tmp_path: Path, folder: str, reported: bool) -> None:
    rule = tmp_path / folder / PACK_RULE.name
    rule.parent.mkdir(parents=True)
    shutil.copyfile(PACK_RULE, rule)
    _, stdout, _ = invoke("check", str(tmp_path))
    assert ("[sigmahq.folder]" in stdout) is reported


def test_sigmahq_test_fields_accepted(rules: Path) -> None:
    add_rule(
        rules,
        "proc_creation_win_case.yml",
        ("level: high", "level: high\nregression_tests_path: x/info.yml\nsimulation: []"),
    )
    _, stdout, _ = invoke("check", "--format", "json", "rules")
    findings = [item for entry in json.loads(stdout)["files"] for item in entry["findings"]]
    assert [item for item in findings if item["check"] == "sigmahq.unknown-field"] == []


def test_powershell_rule_in_sigmahq_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SigmaHQ keeps ps_script rules in windows/powershell/powershell_script/."""
    folder = tmp_path / "rules" / "windows" / "powershell" / "powershell_script"
    folder.mkdir(parents=True)
    text = PACK_RULE.read_text(encoding="utf-8").replace(
        "category: process_creation", "category: ps_script"
    )
    (folder / "posh_ps_case.yml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _, stdout, _ = invoke("check", "--format", "json", "rules")
    findings = [item for entry in json.loads(stdout)["files"] for item in entry["findings"]]
    assert [item for item in findings if item["check"] == "sigmahq.folder"] == []


def test_sarif_uri_outside_working_folder(
    broken: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file outside the working folder gets an absolute file URI and no base id."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, stdout, _ = invoke("check", "--format", "sarif", str(broken.resolve()))
    assert code == 1
    results = json.loads(stdout)["runs"][0]["results"]
    locations = [
        result["locations"][0]["physicalLocation"]["artifactLocation"] for result in results
    ]
    assert locations
    for location in locations:
        assert location["uri"].startswith("file:///")
        assert "uriBaseId" not in location


def stix_bundle(path: Path) -> Path:
    """A minimal ATT&CK STIX bundle with one newer tactic and technique."""
    reference = {"source_name": "mitre-attack"}
    objects = [
        {"type": "x-mitre-collection", "id": "x-mitre-collection--1", "x_mitre_version": "99.0"},
        {
            "type": "x-mitre-tactic",
            "id": "x-mitre-tactic--1",
            "name": "Stealth",
            "x_mitre_shortname": "stealth",
            "external_references": [{**reference, "external_id": "TA9001"}],
        },
        {
            "type": "attack-pattern",
            "id": "attack-pattern--1",
            "name": "Newer Technique",
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "stealth"}],
            "external_references": [{**reference, "external_id": "T9001"}],
        },
    ]
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}))
    return path


def attack_tag_findings(stdout: str) -> list[dict[str, object]]:
    findings = [item for entry in json.loads(stdout)["files"] for item in entry["findings"]]
    return [item for item in findings if item["check"] == "pysigma.attacktag"]


def test_attack_data_option_accepts_newer_tags(rules: Path, tmp_path: Path) -> None:
    add_rule(
        rules,
        "proc_creation_win_case.yml",
        ("    - attack.persistence\n", "    - attack.stealth\n    - attack.t9001\n"),
    )
    _, shipped, _ = invoke("check", "--format", "json", "rules")
    shipped_messages = " ".join(str(item["message"]) for item in attack_tag_findings(shipped))
    assert "'attack.stealth'" in shipped_messages
    assert "'attack.t9001'" in shipped_messages

    # The small bundle contains only its own tactic and technique, so the pack's usual
    # tags are the ones reported now.
    bundle = stix_bundle(tmp_path / "enterprise-attack.json")
    _, newer, stderr = invoke("check", "--format", "json", "--attack-data", str(bundle), "rules")
    newer_messages = " ".join(str(item["message"]) for item in attack_tag_findings(newer))
    assert "ATT&CK 99.0" in stderr
    assert "'attack.stealth'" not in newer_messages
    assert "'attack.t9001'" not in newer_messages
    assert "'attack.t1543.003'" in newer_messages


def test_attack_data_option_rejects_other_json(rules: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"objects": []}')
    code, _, stderr = invoke("check", "--attack-data", str(other), "rules")
    assert code == 2
    assert "contains no ATT&CK tactics or techniques" in stderr


def test_junit_message_names_worst_finding() -> None:
    findings = [
        Finding(Severity.LOW, "a", "minor wording", Path("r.yml")),
        Finding(Severity.HIGH, "b", "condition is invalid", Path("r.yml")),
    ]
    text = render(CheckReport([RuleFile(Path("r.yml"), findings=findings)]), "junit", Severity.LOW)
    failure = ET.fromstring(text).find("./testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("type") == "high"
    assert failure.get("message", "").endswith(": condition is invalid")
