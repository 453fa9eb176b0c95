"""The generated KQL returns the same rows as each branch of the reference query.

Both queries run with duckdb-kql over the same MDE test tables. Rows are compared as
multisets, and the output columns must have the same names in the same order.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import duckdb_kql
import pytest
from mde_tables import load_rows, load_tables, report_ids, run_kql, run_reference_branch

from converter.output import COMBINED_NAME, strip_header

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "output"

BRANCHES = {
    "NewServiceCreation": "proc_creation_win_service_new_or_changed.kql",
    "SuspiciousServiceBinary": "registry_set_service_imagepath_suspicious_folder_or_lolbin.kql",
    "UnusualParentService": "proc_creation_win_sc_create_service_unusual_parent.kql",
    "AutostartServiceReg": "registry_set_service_start_auto_or_boot.kql",
}
BRANCH_TABLES = {
    "NewServiceCreation": "DeviceProcessEvents",
    "SuspiciousServiceBinary": "DeviceRegistryEvents",
    "UnusualParentService": "DeviceProcessEvents",
    "AutostartServiceReg": "DeviceRegistryEvents",
}


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb_kql.connect()
    load_tables(connection)
    return connection


def generated(file_name: str) -> str:
    return strip_header((OUTPUT / file_name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("branch", sorted(BRANCHES))
def test_same_columns_as_reference(con: duckdb.DuckDBPyConnection, branch: str) -> None:
    reference_columns, _ = run_reference_branch(con, branch)
    columns, _ = run_kql(con, generated(f"kql/{BRANCHES[branch]}"))
    assert columns == reference_columns


@pytest.mark.parametrize("branch", sorted(BRANCHES))
def test_same_rows_as_reference(con: duckdb.DuckDBPyConnection, branch: str) -> None:
    _, reference_rows = run_reference_branch(con, branch)
    _, rows = run_kql(con, generated(f"kql/{BRANCHES[branch]}"))
    missing = Counter(reference_rows) - Counter(rows)
    extra = Counter(rows) - Counter(reference_rows)
    assert not missing, f"rows the reference returns but the generated query does not: {missing}"
    assert not extra, f"rows the generated query returns but the reference does not: {extra}"


@pytest.mark.parametrize("branch", sorted(BRANCHES))
def test_branch_has_hits_and_misses(con: duckdb.DuckDBPyConnection, branch: str) -> None:
    """The comparison means something only when both sides return rows and reject rows."""
    table = BRANCH_TABLES[branch]
    columns, rows = run_kql(con, generated(f"kql/{BRANCHES[branch]}"))
    hits = set(report_ids(con, table, columns, rows))
    expected = {row["ReportId"] for row in load_rows(table) if branch in row["expected"]}
    assert hits == expected
    assert len(hits) >= 3
    assert len(load_rows(table)) - len(hits) >= 5


def test_combined_query_returns_every_branch(con: duckdb.DuckDBPyConnection) -> None:
    """The reference's own union drops the two registry branches; the combined query keeps them."""
    expected: Counter[tuple[object, ...]] = Counter()
    for branch in BRANCHES:
        _, rows = run_reference_branch(con, branch)
        expected.update(_label_row(row) for row in rows)
    columns, combined_rows = run_kql(con, generated(COMBINED_NAME))
    assert Counter(_label_row(row) for row in combined_rows) == expected

    labels = {row[columns.index("DetectionType")] for row in combined_rows}
    assert {"SuspiciousServiceBinaryPath", "AutostartServiceRegistered"} <= labels


def test_combined_query_keeps_overlap_rows(con: duckdb.DuckDBPyConnection) -> None:
    """An UnusualParentService hit is also a NewServiceCreation hit: two rows, two labels."""
    _, unusual = run_kql(con, generated(f"kql/{BRANCHES['UnusualParentService']}"))
    _, new_service = run_kql(con, generated(f"kql/{BRANCHES['NewServiceCreation']}"))
    assert unusual
    new_service_events = {row[:-1] for row in new_service}
    assert all(row[:-1] in new_service_events for row in unusual)


def test_combined_query_sorted_newest_first(con: duckdb.DuckDBPyConnection) -> None:
    columns, rows = run_kql(con, generated(COMBINED_NAME))
    timestamps = [row[columns.index("Timestamp")] for row in rows]
    assert timestamps == sorted(timestamps, reverse=True)


def _label_row(row: tuple[object, ...]) -> tuple[object, ...]:
    """Key a row by its non-null values, since the union's columns differ per table."""
    return tuple(sorted(str(value) for value in row if value is not None))


HAYSTACKS = [
    "C:\\Users\\a\\AppData\\Local\\Temp\\x.exe",
    "c:\\temp\\x",
    "x\\TEMP\\y",
    "xTemp\\y",
    "%appdata%\\a",
    "a%APPDATA%b",
    "cmd.exe /c whoami",
    "cmd.exe/c",
    "",
]


@pytest.mark.parametrize("needle", ["\\Temp\\", "%APPDATA%", " /c "])
def test_has_safe_needle_matches_like_contains(con: duckdb.DuckDBPyConnection, needle: str) -> None:
    """duckdb-kql agrees that `has` equals `contains` for needles the backend turns into has."""
    from converter.backends.kql import is_has_safe, kql_string

    assert is_has_safe(needle)
    rows = ", ".join(kql_string(text) for text in HAYSTACKS)
    base = f"datatable(s: string) [{rows}]"
    _, with_contains = run_kql(con, f"{base} | where s contains {kql_string(needle)}")
    _, with_has = run_kql(con, f"{base} | where s has {kql_string(needle)}")
    assert with_contains
    assert sorted(with_has) == sorted(with_contains)
