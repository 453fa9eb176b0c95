"""Tests of the GitHub Actions workflow and of the pre-commit hooks that rule repositories use.

The hook test runs `pre-commit try-repo` against a git copy of this repository, which makes
pre-commit install sigmapack from it with pip. pip is pointed at `.wheelhouse/`, the wheels
that scripts/test.sh builds, with PIP_NO_INDEX set, so the test needs no network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github/workflows/ci.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
WHEELHOUSE = REPO / ".wheelhouse"
PACK_RULE = REPO / "sigma/windows/process_creation/proc_creation_win_service_new_or_changed.yml"
GIT_IDENTITY = ["-c", "user.name=sigmapack tests", "-c", "user.email=tests@sigmapack.invalid"]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def workflow_steps() -> list[dict[str, Any]]:
    workflow = load_yaml(WORKFLOW)
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def step_running(text: str) -> dict[str, Any]:
    matching = [step for step in workflow_steps() if text in step.get("run", "")]
    assert len(matching) == 1, f"expected one step running {text!r}"
    return matching[0]


def test_workflow_triggers() -> None:
    workflow = load_yaml(WORKFLOW)
    # YAML 1.1, which PyYAML reads, turns the key `on` into True.
    triggers = workflow[True]
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]


def test_workflow_runs_every_check() -> None:
    sarif = step_running("sigmapack check --format sarif --output sigmapack.sarif")
    assert 'test "$status" -le 1' in sarif["run"]
    assert step_running("sigmapack check --format github")
    assert step_running("sigmapack convert --check")
    assert step_running("bash scripts/test.sh")


def test_workflow_uploads_sarif() -> None:
    workflow = load_yaml(WORKFLOW)
    job = next(iter(workflow["jobs"].values()))
    upload = [
        step
        for step in job["steps"]
        if step.get("uses", "").startswith("github/codeql-action/upload-sarif@")
    ]
    assert len(upload) == 1
    assert upload[0]["with"]["sarif_file"] == "sigmapack.sarif"
    assert "!cancelled()" in upload[0]["if"]
    assert job["permissions"]["security-events"] == "write"


def test_workflow_steps_are_ordered() -> None:
    runs = [step.get("run", "") + step.get("uses", "") for step in workflow_steps()]
    positions = [
        next(index for index, text in enumerate(runs) if marker in text)
        for marker in (
            "pip install -c requirements.lock",
            "--format sarif",
            "upload-sarif",
            "--format github",
            "convert --check",
            "scripts/test.sh",
        )
    ]
    assert positions == sorted(positions)


def test_workflow_actions_use_versions() -> None:
    for step in workflow_steps():
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w/-]+@v\d+", step["uses"]), step["uses"]


def test_hook_manifest() -> None:
    hooks = {hook["id"]: hook for hook in load_yaml(HOOKS)}
    assert set(hooks) == {"sigmapack-check", "sigmapack-convert-check"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["entry"].startswith("sigmapack ")
    assert hooks["sigmapack-check"]["require_serial"] is True
    assert hooks["sigmapack-convert-check"]["pass_filenames"] is False


@pytest.mark.parametrize(
    ("path", "matched"),
    [
        ("sigma/windows/process_creation/rule.yml", True),
        ("rules/windows/registry_set/rule.yaml", True),
        (".github/workflows/ci.yml", False),
        (".pre-commit-config.yaml", False),
        ("sigma/README.md", False),
    ],
)
def test_check_hook_file_pattern(path: str, matched: bool) -> None:
    hooks = {hook["id"]: hook for hook in load_yaml(HOOKS)}
    assert bool(re.search(hooks["sigmapack-check"]["files"], path)) is matched


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *GIT_IDENTITY, *args], cwd=cwd, check=True, capture_output=True)


def project_files() -> list[str]:
    """Return the repository's tracked and new files, without ignored ones."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return [name for name in listing.stdout.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def hook_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository with the current files of this project, for pre-commit to install."""
    source = tmp_path_factory.mktemp("hook-source")
    for name in project_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    git("init", "-q", cwd=source)
    git("add", "-A", cwd=source)
    git("commit", "-q", "-m", "snapshot", cwd=source)
    return source


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pre-commit cache for the module, so the hook environment is installed once."""
    return tmp_path_factory.mktemp("pre-commit-home")


def try_repo(
    consumer: Path, source: Path, home: Path, hook: str
) -> subprocess.CompletedProcess[str]:
    if not any(WHEELHOUSE.glob("sigmapack-*.whl")):
        pytest.fail(f"no wheels in {WHEELHOUSE}; build them as scripts/test.sh does")
    environment = {
        **os.environ,
        "PRE_COMMIT_HOME": str(home),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
    }
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(source), hook, "--all-files"],
        cwd=consumer,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def rule_repository(root: Path, broken: bool) -> Path:
    """A git repository of rules, as another project using the hooks would have."""
    folder = root / "rules" / "windows" / "process_creation"
    folder.mkdir(parents=True)
    shutil.copyfile(PACK_RULE, folder / PACK_RULE.name)
    if broken:
        text = PACK_RULE.read_text(encoding="utf-8").replace(
            "condition: all of selection_sc_*", "condition: all of selection_sc_* and filter"
        )
        (folder / "proc_creation_win_broken.yml").write_text(text, encoding="utf-8")
    git("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "rules", cwd=root)
    return root


def test_check_hook_passes_good_rules(
    tmp_path: Path, hook_source: Path, pre_commit_home: Path
) -> None:
    consumer = rule_repository(tmp_path, broken=False)
    result = try_repo(consumer, hook_source, pre_commit_home, "sigmapack-check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sigmapack check" in result.stdout
    assert "Passed" in result.stdout


def test_check_hook_fails_broken_rule(
    tmp_path: Path, hook_source: Path, pre_commit_home: Path
) -> None:
    consumer = rule_repository(tmp_path, broken=True)
    result = try_repo(consumer, hook_source, pre_commit_home, "sigmapack-check")
    assert result.returncode == 1
    assert "Failed" in result.stdout
    condition = (
        PACK_RULE.read_text(encoding="utf-8")
        .splitlines()
        .index("    condition: all of selection_sc_* or all of selection_powershell_*")
    )
    assert (
        f"rules/windows/process_creation/proc_creation_win_broken.yml:{condition + 1}:42: high:"
        " invalid Sigma rule: Detection 'filter' not defined in detections"
    ) in result.stdout


def test_convert_hook_passes_on_pack(hook_source: Path, pre_commit_home: Path) -> None:
    result = try_repo(hook_source, hook_source, pre_commit_home, "sigmapack-convert-check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sigmapack convert --check" in result.stdout
