"""The T1543 reference query, run with duckdb-kql over the MDE test tables.

Each test row in tests/data/mde lists the reference branches that must return
it. These tests check those labels against what the reference returns, so the
same rows can later check the project's generated KQL.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import duckdb
import duckdb_kql
import mde_tables
import pytest

# SHA-256 of the reference query exactly as the detection brief gives it.
REFERENCE_SHA256 = "ac14df81b9c759fcfa7cd3b1ffae56f07bbe3c20978d68bd6dca91c5f3507044"

UNION_DETECTION_TYPES = {"NewServiceCreation", "ServiceCreatedByOfficeOrScript"}


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb_kql.connect()
    mde_tables.load_tables(connection)
    yield connection
    connection.close()


def expected_ids(branch: str) -> list[int]:
    """Return the ReportIds of the rows labelled with *branch*, in file order."""
    rows = mde_tables.load_rows(mde_tables.BRANCH_TABLES[branch])
    return [row["ReportId"] for row in rows if branch in row["expected"]]


def describe(table: str, ids: set[int]) -> str:
    """Format one line per ReportId with its note, for failure messages."""
    notes = {row["ReportId"]: row["note"] for row in mde_tables.load_rows(table)}
    return "\n".join(f"  {report_id}: {notes.get(report_id, '?')}" for report_id in sorted(ids))


def branch_ids(con: duckdb.DuckDBPyConnection, branch: str) -> list[int]:
    columns, rows = mde_tables.run_reference_branch(con, branch)
    return mde_tables.report_ids(con, mde_tables.BRANCH_TABLES[branch], columns, rows)


def test_fixture_body_is_unchanged() -> None:
    body = mde_tables.reference_body()
    assert hashlib.sha256(body).hexdigest() == REFERENCE_SHA256


def test_fixture_header_is_comments() -> None:
    header = mde_tables.reference_text().split(mde_tables.REFERENCE_BODY_MARKER, 1)[0]
    not_comments = [line for line in header.splitlines() if not line.startswith("//")]
    assert not_comments == []


def test_has_backslash_needle_edges(con: duckdb.DuckDBPyConnection) -> None:
    # Branch 2's needles start and end with a backslash or %. Kusto requires a
    # term boundary only next to a needle edge that is a letter or digit, and the
    # labels assume duckdb-kql does the same (checked on duckdb-kql 1.1.2).
    query = (
        r'print a = @"C:\Windows\Temp\x.exe" has @"\Temp\", '
        'b = "x%TEMP%y" has "%TEMP%", c = "recreate" has "create"'
    )
    columns, rows = mde_tables.run_kql(con, query)
    assert rows == [(True, True, False)], dict(zip(columns, rows[0], strict=True))


def test_tables_have_every_schema_column(con: duckdb.DuckDBPyConnection) -> None:
    schema = mde_tables.load_schema()
    for table in mde_tables.TABLES:
        described = con.execute(f'DESCRIBE "{table}"').fetchall()
        actual_columns = [(name, column_type) for name, column_type, *_ in described]
        expected_columns = [(name, mde_tables.DUCKDB_TYPES[kind]) for name, kind in schema[table]]
        assert actual_columns == expected_columns, table


def test_timestamp_is_load_time_minus_offset() -> None:
    connection = duckdb_kql.connect()
    now = mde_tables.load_tables(connection)
    for table in mde_tables.TABLES:
        offsets = {
            row["ReportId"]: row["TimestampOffsetMinutes"] for row in mde_tables.load_rows(table)
        }
        stored = connection.execute(f'SELECT "ReportId", "Timestamp" FROM "{table}"').fetchall()
        wrong = [
            report_id
            for report_id, timestamp in stored
            if now - timestamp != timedelta(minutes=offsets[report_id])
        ]
        assert wrong == [], f"{table}: Timestamp is not now minus the offset for {wrong}"
    connection.close()


@pytest.mark.parametrize("branch", list(mde_tables.BRANCH_TABLES))
def test_projected_columns_identify_rows(con: duckdb.DuckDBPyConnection, branch: str) -> None:
    # Result rows are mapped back to ReportIds through their projected columns,
    # so no two table rows may share all of them.
    table = mde_tables.BRANCH_TABLES[branch]
    columns, _ = mde_tables.run_reference_branch(con, branch)
    key = ", ".join(f'"{name}"' for name in columns if name != "DetectionType")
    duplicates = con.execute(
        f'SELECT list("ReportId") FROM "{table}" GROUP BY {key} HAVING count(*) > 1'
    ).fetchall()
    assert duplicates == [], f"{table} rows share every column {branch} projects: {duplicates}"


@pytest.mark.parametrize("branch", list(mde_tables.BRANCH_TABLES))
def test_reference_branch_returns_expected_rows(
    con: duckdb.DuckDBPyConnection, branch: str
) -> None:
    table = mde_tables.BRANCH_TABLES[branch]
    returned = branch_ids(con, branch)
    expected = set(expected_ids(branch))

    assert len(returned) == len(set(returned)), f"{branch} returned a row twice: {returned}"
    missing = expected - set(returned)
    unexpected = set(returned) - expected
    assert not missing, (
        f"{branch} did not return rows labelled with it:\n{describe(table, missing)}"
    )
    assert not unexpected, (
        f"{branch} returned rows not labelled with it:\n{describe(table, unexpected)}"
    )


@pytest.mark.parametrize("branch", list(mde_tables.BRANCH_TABLES))
def test_branch_has_hits_and_near_misses(branch: str) -> None:
    rows = mde_tables.load_rows(mde_tables.BRANCH_TABLES[branch])
    hits = [row for row in rows if branch in row["expected"]]
    misses = [row for row in rows if branch not in row["expected"]]
    assert len(hits) >= 5, f"{branch} has only {len(hits)} rows labelled with it"
    assert len(misses) >= 5, f"{branch} has only {len(misses)} rows not labelled with it"


def test_final_union_returns_process_branches_only(con: duckdb.DuckDBPyConnection) -> None:
    # Documented defect of the reference: the union names only the two
    # DeviceProcessEvents branches, so registry hits never reach the output.
    columns, rows = mde_tables.run_kql(con, mde_tables.reference_text())
    returned = mde_tables.report_ids(con, "DeviceProcessEvents", columns, rows)
    expected = Counter(expected_ids("NewServiceCreation") + expected_ids("UnusualParentService"))

    detection_types = {row[columns.index("DetectionType")] for row in rows}
    assert detection_types <= UNION_DETECTION_TYPES, detection_types
    assert "RegistryKey" not in columns
    missing = expected - Counter(returned)
    unexpected = Counter(returned) - expected
    assert not missing, f"union lacks these rows (ReportId: count): {dict(missing)}"
    assert not unexpected, f"union has extra rows (ReportId: count): {dict(unexpected)}"

    registry_hits = expected_ids("SuspiciousServiceBinary") + expected_ids("AutostartServiceReg")
    assert registry_hits, "no registry rows are labelled, so the missing branches go untested"


def test_final_union_is_sorted_newest_first(con: duckdb.DuckDBPyConnection) -> None:
    columns, rows = mde_tables.run_kql(con, mde_tables.reference_text())
    timestamps = [row[columns.index("Timestamp")] for row in rows]
    assert timestamps == sorted(timestamps, reverse=True)


def test_unusual_parent_hits_are_new_service_hits(con: duckdb.DuckDBPyConnection) -> None:
    # Second documented defect: branch 3 is a subset of branch 1, so the union
    # repeats every UnusualParentService row.
    unusual = set(branch_ids(con, "UnusualParentService"))
    new_service = set(branch_ids(con, "NewServiceCreation"))
    only_unusual = unusual - new_service
    assert unusual, "UnusualParentService returned no rows, so the subset check proves nothing"
    assert not only_unusual, (
        "UnusualParentService rows missing from NewServiceCreation:\n"
        + describe("DeviceProcessEvents", only_unusual)
    )


def test_unusual_parent_labels_imply_new_service() -> None:
    rows = mde_tables.load_rows("DeviceProcessEvents")
    wrong = {
        row["ReportId"]
        for row in rows
        if "UnusualParentService" in row["expected"] and "NewServiceCreation" not in row["expected"]
    }
    assert not wrong, "rows labelled UnusualParentService only:\n" + describe(
        "DeviceProcessEvents", wrong
    )
