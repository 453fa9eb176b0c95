"""Tests of conversion accounting: workers, failure reasons, the summary and the JSON report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError, SigmaTransformationError

from converter.cli import main
from converter.conversion import (
    INTERNAL_ERROR,
    UNMAPPED_FIELD,
    UNSUPPORTED_FEATURE,
    UNSUPPORTED_LOGSOURCE,
    classify,
    convert,
)
from converter.targets import TARGETS, Options

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests/data/sigmahq_sample"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def snapshot(jobs: int) -> tuple[list[tuple[str, str, str]], list[tuple[str, str | None, str]]]:
    result = convert([SAMPLE, REPO / "sigma"], list(TARGETS.values()), Options(), jobs=jobs)
    queries = [(q.rule.path.name, q.target.name, q.text) for q in result.queries]
    failures = [(f.path.name, f.target, str(f.error)) for f in result.failures]
    return queries, failures


def test_workers_give_same_result_in_same_order() -> None:
    assert snapshot(jobs=1) == snapshot(jobs=2)


def test_sample_has_no_internal_error() -> None:
    result = convert([SAMPLE], list(TARGETS.values()), Options(), jobs=1)
    assert result.files == len(list(SAMPLE.glob("*.yml")))
    assert [str(f.error) for f in result.failures if f.reason == INTERNAL_ERROR] == []


def test_every_rule_accounted_for_each_target() -> None:
    result = convert([SAMPLE], list(TARGETS.values()), Options(), jobs=1)
    for target in TARGETS:
        converted = {q.rule.path for q in result.queries if q.target.name == target}
        failed = {f.path for f in result.failures if f.target == target}
        assert not converted & failed
        assert len(converted | failed) == result.files


@pytest.mark.parametrize(
    ("rule", "target", "reason"),
    [
        # The MDE pipeline maps only Windows process creation and registry rules.
        ("proc_creation_lnx_base64_decode.yml", "kql", UNSUPPORTED_LOGSOURCE),
        # MDE keeps hashes in separate SHA1/SHA256/MD5 columns, not Sysmon's Hashes list.
        ("proc_creation_win_cloudflared_quicktunnel_execution.yml", "kql", UNMAPPED_FIELD),
        # Lucene can't compare one field with another (fieldref modifier).
        ("aws_update_login_profile.yml", "lucene", UNSUPPORTED_FEATURE),
    ],
)
def test_failure_reasons(rule: str, target: str, reason: str) -> None:
    result = convert([SAMPLE / rule], [TARGETS[target]], Options(), jobs=1)
    assert [(f.path.name, f.reason) for f in result.failures] == [(rule, reason)]


def test_classify_by_exception() -> None:
    assert classify(SigmaTransformationError("field 'x' cannot be mapped")) == UNMAPPED_FIELD
    assert classify(SigmaTransformationError("supports only windows")) == UNSUPPORTED_LOGSOURCE
    assert classify(SigmaFeatureNotSupportedByBackendError("no")) == UNSUPPORTED_FEATURE
    assert classify(NotImplementedError("no")) == UNSUPPORTED_FEATURE
    assert classify(KeyError("x")) == INTERNAL_ERROR


def test_json_report_lists_every_rule_and_target() -> None:
    code, stdout, _ = run("convert", "-t", "all", "-j", "1", "--format", "json", str(SAMPLE))
    assert code == 1
    report = json.loads(stdout)
    assert len(report["rules"]) == len(list(SAMPLE.glob("*.yml")))
    for rule in report["rules"]:
        assert list(rule["targets"]) == list(TARGETS)
    for target in TARGETS:
        statuses = [rule["targets"][target]["status"] for rule in report["rules"]]
        assert report["summary"][target]["converted"] == statuses.count("converted")
        assert sum(report["summary"][target]["failed"].values()) == statuses.count("failed")


def test_json_report_includes_queries_when_printing() -> None:
    rule = str(SAMPLE / "proc_creation_win_sc_create_service.yml")
    code, stdout, _ = run("convert", "-t", "kql", "--format", "json", rule)
    assert code == 0
    entry = json.loads(stdout)["rules"][0]["targets"]["kql"]
    assert entry["query"].startswith("DeviceProcessEvents\n")


def test_summary_counts_on_stderr() -> None:
    _, _, stderr = run("convert", "-t", "kql", "-j", "1", str(SAMPLE))
    assert "sigmapack: 8 rule files, 8 loaded, 0 invalid" in stderr
    assert "kql  converted     3  failed     5" in stderr


def test_skip_unsupported_passes_only_unsupported(tmp_path: Path) -> None:
    rule = SAMPLE / "proc_creation_lnx_base64_decode.yml"
    shutil.copy(rule, tmp_path)
    assert run("convert", "-t", "kql", str(tmp_path))[0] == 1
    assert run("convert", "-t", "kql", "--skip-unsupported", str(tmp_path))[0] == 0
    (tmp_path / "broken.yml").write_text("title: [x\n")
    assert run("convert", "-t", "kql", "--skip-unsupported", str(tmp_path))[0] == 1


def test_no_progress_bar_without_terminal() -> None:
    _, _, stderr = run("convert", "-t", "kql", str(SAMPLE))
    assert "Converting" not in stderr


def test_reason_ignores_rule_path(tmp_path: Path) -> None:
    """A file name containing 'field' must not turn a log source failure into a field one."""
    rule = SAMPLE / "proc_creation_lnx_base64_decode.yml"
    renamed = tmp_path / "lnx_field_named.yml"
    shutil.copy(rule, renamed)
    result = convert([renamed], [TARGETS["kql"]], Options(), jobs=1)
    assert [f.reason for f in result.failures] == [UNSUPPORTED_LOGSOURCE]
