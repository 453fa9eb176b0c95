"""`sigmapack test`: the rule x target x event matrix over the regression corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from converter.cli import main
from converter.engines import EngineEvent, EqlEngine, KqlEngine, SigmaEngine
from converter.event_mapping import sysmon_to_ecs, sysmon_to_mde

REPO = Path(__file__).resolve().parent.parent
NEW_SERVICE = "regression/rules/proc_creation_win_service_new_or_changed.yml"


@pytest.fixture(scope="module")
def pack_report() -> dict[str, object]:
    """The JSON report of the shipped pack, run from the repository root."""
    result = CliRunner().invoke(
        main,
        ["test", "--format", "json", "--regression", str(REPO / "regression"), str(REPO / "sigma")],
    )
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


@pytest.fixture
def work_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the pack and its regression folder, as the working directory."""
    shutil.copytree(REPO / "sigma", tmp_path / "sigma")
    shutil.copytree(REPO / "regression", tmp_path / "regression")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["test", *args])


def test_pack_matrix_covers_all_rules(pack_report: dict[str, object]) -> None:
    rules = pack_report["rules"]
    assert isinstance(rules, list)
    assert len(rules) == 4
    assert pack_report["targets"] == ["sigma", "kql", "eql"]
    for rule in rules:
        assert rule["errors"] == []
        assert rule["failures"] == []
        assert len(rule["events"]) == pack_report["events"]


def test_pack_rules_hit_and_miss(pack_report: dict[str, object]) -> None:
    """Each rule has listed hits and listed near misses, so the matrix can fail both ways."""
    for rule in pack_report["rules"]:  # type: ignore[attr-defined]
        listed = [event for event in rule["events"] if event["listed"]]
        assert sum(event["match"] for event in listed) >= 3, rule["name"]
        assert sum(not event["match"] for event in listed) >= 5, rule["name"]


def test_real_false_positive_found(pack_report: dict[str, object]) -> None:
    """The Azure guest agent's sc.exe config (a real MDE row) matches the first rule."""
    rule = next(r for r in pack_report["rules"] if r["name"] == "NewServiceCreation")  # type: ignore[attr-defined]
    row = next(event for event in rule["events"] if event["event"] == "mde:291")
    assert row["results"] == {"sigma": True, "kql": True, "eql": True}


def test_term_matching_difference_documented(pack_report: dict[str, object]) -> None:
    rule = next(r for r in pack_report["rules"] if r["name"] == "NewServiceCreation")  # type: ignore[attr-defined]
    row = next(event for event in rule["events"] if event["event"] == "written:sc-recreate")
    assert row["results"] == {"sigma": True, "kql": False, "eql": True}
    assert row["disagreement"] is True
    assert "kql" in row["exceptions"]
    assert row["failed_targets"] == []


def test_text_matrix_marks_difference(work_copy: Path) -> None:
    result = invoke()
    assert result.exit_code == 0, result.output
    assert "written:sc-recreate" in result.stdout
    assert "miss*" in result.stdout
    assert "splunk (no engine runs here, checked structurally): structure ok" in result.stdout
    assert "0 failed" in result.stdout


def test_failed_expectation_exits_1(work_copy: Path) -> None:
    path = work_copy / NEW_SERVICE
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in document["match"]:
        if entry["event"] == "written:sc-recreate":
            del entry["except"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    result = invoke()
    assert result.exit_code == 1
    assert "written:sc-recreate" in result.stdout
    assert "FAILED: kql" in result.stdout
    assert "problem(s) found" in result.stderr


def test_unexpected_hit_exits_1(work_copy: Path) -> None:
    """An event that a rule matches but its file does not list is a failure."""
    path = work_copy / NEW_SERVICE
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["match"] = [e for e in document["match"] if e["event"] != "mde:291"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    result = invoke("--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    rule = next(r for r in report["rules"] if r["name"] == "NewServiceCreation")
    assert "event mde:291: sigma expected no match, got hit" in rule["failures"]


def test_invalid_event_line_reported(work_copy: Path) -> None:
    events = work_copy / "regression/events/written.jsonl"
    events.write_text(events.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    result = invoke()
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{Path('regression/events/written.jsonl')}:32: invalid JSON")
    assert "Traceback" not in result.output


def test_unknown_event_in_expectations(work_copy: Path) -> None:
    path = work_copy / NEW_SERVICE
    path.write_text(
        path.read_text(encoding="utf-8") + "  - event: written:no-such-event\n", encoding="utf-8"
    )
    result = invoke()
    assert result.exit_code == 1
    assert "event written:no-such-event is not in the corpus" in result.stderr


def test_rule_without_expectations(work_copy: Path) -> None:
    (work_copy / NEW_SERVICE).unlink()
    result = invoke()
    assert result.exit_code == 1
    assert "no expectation file in the regression folder lists rule id fbfe105f" in result.stdout


def test_missing_regression_folder_is_usage_error(work_copy: Path) -> None:
    result = invoke("--regression", "nowhere")
    assert result.exit_code == 2
    assert "no such file or folder: nowhere" in result.stderr


def _engine_event(event_id: str, sysmon: dict[str, object]) -> EngineEvent:
    table = "DeviceProcessEvents" if sysmon["EventID"] == 1 else "DeviceRegistryEvents"
    return EngineEvent(event_id, sysmon, table, sysmon_to_mde(sysmon), sysmon_to_ecs(sysmon))


EVENTS = [
    _engine_event("upper", {"EventID": 1, "Image": "C:\\X\\SC.EXE", "CommandLine": "A*B"}),
    _engine_event("lower", {"EventID": 1, "Image": "c:\\x\\sc.exe", "CommandLine": "axb"}),
    _engine_event("other", {"EventID": 1, "Image": "c:\\x\\cmd.exe", "CommandLine": "a\nb"}),
]


def test_sigma_engine_ignores_case() -> None:
    engine = SigmaEngine(EVENTS)
    assert engine.run("SELECT * FROM logs WHERE Image = 'c:\\x\\sc.exe'") == {"upper", "lower"}
    assert engine.run("SELECT * FROM logs WHERE CommandLine REGEXP 'x'") == {"lower"}


def test_eql_engine_reads_caseless_multi_field() -> None:
    engine = EqlEngine(EVENTS)
    query = 'any where process.executable.caseless : "*\\\\sc.exe"'
    assert engine.run(query) == {"upper", "lower"}


def test_eql_engine_question_mark_is_one_character() -> None:
    """Elastic's EQL documents `?` as exactly one character for `:` and `like`."""
    engine = EqlEngine(EVENTS)
    assert engine.run('any where process.command_line : "a?b"') == {"upper", "lower", "other"}
    assert engine.run('any where process.command_line : "a??b"') == set()
    assert engine.run('any where process.command_line like~ "A*"') == {"upper", "lower", "other"}


def test_kql_engine_maps_rows_to_events() -> None:
    engine = KqlEngine(EVENTS)
    query = (
        'DeviceProcessEvents | where Timestamp > ago(1d) | where FileName =~ "sc.exe"'
        " | project Timestamp, FileName"
    )
    assert engine.run(query) == {"upper", "lower"}


def test_duplicate_key_in_expectations_is_rejected(tmp_path: Path) -> None:
    from converter.regression import RegressionError, load_expectations

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "dup.yml").write_text(
        "rule_metadata:\n  - id: x\n    title: t\nmatch: []\nmatch: []\n", encoding="utf-8"
    )
    with pytest.raises(RegressionError, match="duplicate key 'match'") as caught:
        load_expectations(folder, [])
    assert caught.value.line == 5


def test_missing_rule_path_is_usage_error() -> None:
    result = CliRunner().invoke(main, ["test", "no/such/rule.yml"])
    assert result.exit_code == 2
    assert "no such file or folder: no/such/rule.yml" in result.stderr


def test_unknown_event_error_names_line(tmp_path: Path) -> None:
    from converter.regression import RegressionError, load_expectations

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "r.yml").write_text(
        "rule_metadata:\n  - id: x\n    title: t\nmatch:\n  - event: written:a\n"
        "  - event: written:missing\n",
        encoding="utf-8",
    )
    with pytest.raises(RegressionError, match="written:missing is not in the corpus") as caught:
        load_expectations(folder, ["written:a"])
    assert caught.value.line == 6
