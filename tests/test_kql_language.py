"""KQL checks with Microsoft's Kusto.Language against the MDE schema.

Needs Node and `npm ci --prefix tools/kql-check`.
"""

from __future__ import annotations

from pathlib import Path

import kusto_language
import pytest
from kusto_language import (
    REPO_ROOT,
    KqlCheckError,
    KqlResult,
    analyze_kql_files,
    check_kql_text,
)

# A hand-written MDE hunting query in the shape the converter is meant to emit.
GOOD_QUERY = """\
// title: Service created or changed with sc.exe
// id: 00000000-0000-0000-0000-000000000000
// level: medium
let lookback = ago(24h);
let ScCreate = DeviceProcessEvents
| where Timestamp > lookback
| where FileName in~ ("sc.exe", "sc")
| where ProcessCommandLine has_any ("create", "config")
| where InitiatingProcessFileName !in~ ("services.exe", "msiexec.exe");
let PowerShellService = DeviceProcessEvents
| where Timestamp > lookback
| where FileName in~ ("powershell.exe", "pwsh.exe")
| where ProcessCommandLine has_any ("New-Service", "Set-Service");
union ScCreate, PowerShellService
| extend CommandLineLength = strlen(ProcessCommandLine)
| project Timestamp, DeviceName, AccountName, FileName, ProcessCommandLine,
    InitiatingProcessFileName, CommandLineLength
| sort by Timestamp desc
"""

UNKNOWN_COLUMN_QUERY = """\
DeviceProcessEvents
| where Timestamp > ago(1h)
| where ServiceBinaryPath has "cmd.exe"
"""

UNKNOWN_TABLE_QUERY = """\
DeviceServiceEvents
| where Timestamp > ago(1h)
"""

# The doubled comma on line 5 leaves an expression missing there.
SYNTAX_ERROR_QUERY = """\
// title: broken on purpose
// line 3 follows
DeviceProcessEvents
| where FileName =~ "sc.exe"
| project Timestamp,, DeviceName
"""

# `contains` with a term of 3+ characters draws an analyzer hint, not an error.
CONTAINS_QUERY = """\
DeviceRegistryEvents
| where RegistryKey contains "ControlSet001"
"""

# Two queries with no `;` between them are one script, and that is an error.
TWO_QUERIES_NO_SEMICOLON = """\
DeviceProcessEvents | take 1

DeviceFileEvents | take 1
"""

CASES = {
    "good": GOOD_QUERY,
    "unknown_column": UNKNOWN_COLUMN_QUERY,
    "unknown_table": UNKNOWN_TABLE_QUERY,
    "syntax_error": SYNTAX_ERROR_QUERY,
    "contains": CONTAINS_QUERY,
    "two_queries": TWO_QUERIES_NO_SEMICOLON,
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KqlResult]:
    """Write every case to a .kql file and check them all in one Node run."""
    folder = tmp_path_factory.mktemp("kql")
    paths = {}
    for name, text in CASES.items():
        path = folder / f"{name}.kql"
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    found = analyze_kql_files(paths.values())
    return {name: found[path] for name, path in paths.items()}


def _listing(result: KqlResult) -> str:
    return "\n".join(d.describe() for d in result.diagnostics) or "(no diagnostics)"


def test_good_query_has_no_errors(checked: dict[str, KqlResult]) -> None:
    result = checked["good"]
    assert result.errors == [], _listing(result)
    assert result.result_kind == "table"


def test_unknown_column_error_names_it(checked: dict[str, KqlResult]) -> None:
    result = checked["unknown_column"]
    assert len(result.errors) == 1, _listing(result)
    error = result.errors[0]
    assert "'ServiceBinaryPath'" in error.message
    assert error.line == 3
    assert error.column == 9


def test_unknown_table_error_names_it(checked: dict[str, KqlResult]) -> None:
    result = checked["unknown_table"]
    assert result.errors, _listing(result)
    error = result.errors[0]
    assert "'DeviceServiceEvents'" in error.message
    assert error.line == 1
    assert error.column == 1


def test_syntax_error_line_number(checked: dict[str, KqlResult]) -> None:
    result = checked["syntax_error"]
    assert result.errors, _listing(result)
    assert {d.line for d in result.errors} == {5}, _listing(result)
    assert result.errors[0].column == 21


def test_contains_is_suggestion_not_error(checked: dict[str, KqlResult]) -> None:
    result = checked["contains"]
    assert result.errors == [], _listing(result)
    hints = [d for d in result.diagnostics if d.code == "KS500"]
    assert len(hints) == 1, _listing(result)
    assert hints[0].severity == "Suggestion"
    assert hints[0].source == "analyzer"
    assert hints[0].line == 2
    assert hints[0].column == 21


def test_file_is_one_script(checked: dict[str, KqlResult]) -> None:
    result = checked["two_queries"]
    assert [d.code for d in result.errors] == ["KS005"], _listing(result)
    assert "Expected: ;" in result.errors[0].message


def test_check_kql_text_without_analyzers() -> None:
    diagnostics = check_kql_text(CONTAINS_QUERY, analyzers=False)
    assert diagnostics == []


def test_missing_install_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kusto_language, "KUSTO_PACKAGE", tmp_path / "not-installed")
    with pytest.raises(KqlCheckError, match=r"npm ci --prefix tools/kql-check"):
        check_kql_text("DeviceProcessEvents | take 1")


def test_generated_kql_has_no_errors() -> None:
    output = REPO_ROOT / "output"
    files = sorted(output.rglob("*.kql"))
    if not files:
        pytest.fail("no generated KQL files in output/; run sigmapack convert")
    found = analyze_kql_files(files, analyzers=False)
    problems: list[str] = []
    for path, result in found.items():
        where = str(path.relative_to(REPO_ROOT))
        problems.extend(d.describe(where) for d in result.errors)
        if result.result_kind != "table":
            problems.append(f"{where}: holds no tabular query")
    assert not problems, f"{len(problems)} problems in {len(files)} files:\n" + "\n".join(problems)
