"""Start-up imports only what a command needs: no backend for help or check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RULE = "sigma/windows/process_creation/proc_creation_win_service_new_or_changed.yml"


def imported_backends(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "converter", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return set(re.findall(r"sigma\.backends\.(\w+)", result.stderr))


@pytest.mark.parametrize("args", [("--help",), ("check", RULE), ("convert", "--help")])
def test_command_imports_no_backend(args: tuple[str, ...]) -> None:
    assert imported_backends(*args) == set()


def test_kql_conversion_imports_only_kusto_backend() -> None:
    assert imported_backends("convert", "-t", "kql", RULE) == {"kusto"}
