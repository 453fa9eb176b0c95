"""The repository's `sigma/` rule folder must not shadow pySigma's `sigma` namespace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESERVED = {"backends", "pipelines", "validators", "processing", "conversion", "rule", "data"}


def test_backends_import_with_repo_root_on_path() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from sigma.backends.kusto import KustoBackend;"
        "from sigma.backends.splunk import SplunkBackend;"
        "from sigma.backends.elasticsearch import LuceneBackend, EqlBackend, ESQLBackend;"
        "from sigma.pipelines.sysmon import sysmon_pipeline;"
        "import sigma.rule, sigma.collection;"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_rule_folder_holds_only_rules() -> None:
    offenders = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "sigma").rglob("*")
        if path.is_file() and path.suffix not in {".yml", ".yaml"}
    ]
    assert offenders == []


def test_rule_folder_has_no_reserved_names() -> None:
    offenders = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "sigma").rglob("*")
        if path.is_dir() and path.name in RESERVED
    ]
    assert offenders == []
