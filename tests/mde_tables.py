"""MDE test tables for duckdb-kql, and helpers that run KQL over them.

The tables are DeviceProcessEvents and DeviceRegistryEvents, loaded from
tests/data/mde/*.jsonl with every column of the advanced-hunting schema. Each
JSONL row carries test metadata next to its columns: TimestampOffsetMinutes
(minutes before load time), expected (reference branches that must return the
row), note and source. See tests/data/SOURCES.md for where the rows come from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql

# Schema type to DuckDB column type, shared with sigmapack test's KQL engine.
from converter.engines import DUCKDB_TYPES

TESTS_DIR = Path(__file__).parent
DATA_DIR = TESTS_DIR / "data" / "mde"
SCHEMA_PATH = DATA_DIR / "mde_schema.json"
REFERENCE_PATH = TESTS_DIR / "fixtures" / "t1543_reference.kql"

# Last line of the fixture's header. The reference query starts on the next line.
REFERENCE_BODY_MARKER = "// ---- reference query below, copied unchanged ----\n"

TABLES = ("DeviceProcessEvents", "DeviceRegistryEvents")

# Reference branch name -> the table it reads.
BRANCH_TABLES = {
    "NewServiceCreation": "DeviceProcessEvents",
    "SuspiciousServiceBinary": "DeviceRegistryEvents",
    "UnusualParentService": "DeviceProcessEvents",
    "AutostartServiceReg": "DeviceRegistryEvents",
}

# Keys of a JSONL row that are test metadata, not table columns.
METADATA_KEYS = ("TimestampOffsetMinutes", "expected", "note", "source")


Rows = list[tuple[Any, ...]]


def load_schema() -> dict[str, list[tuple[str, str]]]:
    """Read the MDE schema: table name -> [(column, schema type), ...] in schema order."""
    raw = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return {table: [(name, kind) for name, kind in columns] for table, columns in raw.items()}


def load_rows(table: str) -> list[dict[str, Any]]:
    """Read and validate the JSONL rows of one test table.

    Raises ValueError listing every row with an unknown column, a missing
    metadata key, a duplicate ReportId or an expected branch of another table.
    """
    columns = {name for name, _ in load_schema()[table]}
    branches = {name for name, branch_table in BRANCH_TABLES.items() if branch_table == table}
    path = DATA_DIR / f"{table}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    problems = []
    seen_ids: set[int] = set()
    for number, row in enumerate(rows, start=1):
        where = f"{path.name} line {number}"
        unknown = set(row) - columns - set(METADATA_KEYS)
        if unknown:
            problems.append(f"{where}: unknown columns {sorted(unknown)}")
        missing = [key for key in ("ReportId", *METADATA_KEYS) if key not in row]
        if missing:
            problems.append(f"{where}: missing keys {missing}")
        if "Timestamp" in row:
            problems.append(f"{where}: use TimestampOffsetMinutes, not Timestamp")
        report_id = row.get("ReportId")
        if not isinstance(report_id, int) or report_id in seen_ids:
            problems.append(f"{where}: ReportId {report_id!r} is not a unique int")
        seen_ids.add(report_id)
        wrong = set(row.get("expected", [])) - branches
        if wrong:
            problems.append(f"{where}: expected names branches not on {table}: {sorted(wrong)}")
    if problems:
        raise ValueError("invalid test rows:\n" + "\n".join(problems))
    return rows


def load_tables(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> datetime:
    """Create and fill DeviceProcessEvents and DeviceRegistryEvents in *con*.

    Every schema column is created, and a column absent from a row is NULL.
    Timestamp is *now* (naive UTC, the form duckdb-kql's ago() compares with)
    minus the row's TimestampOffsetMinutes. Returns the *now* used.
    """
    if now is None:
        now = datetime.now(UTC).replace(tzinfo=None)
    schema = load_schema()

    for table in TABLES:
        columns = schema[table]
        definitions = ", ".join(f'"{name}" {_duckdb_type(kind)}' for name, kind in columns)
        con.execute(f'CREATE TABLE "{table}" ({definitions})')

        values = [_table_row(row, columns, now) for row in load_rows(table)]
        placeholders = ", ".join("?" for _ in columns)
        con.executemany(f'INSERT INTO "{table}" VALUES ({placeholders})', values)
    return now


def run_kql(con: duckdb.DuckDBPyConnection, query: str) -> tuple[list[str], Rows]:
    """Run a KQL query with duckdb-kql and return (column names, rows)."""
    relation = duckdb_kql.kql(con, query)
    return list(relation.columns), relation.fetchall()


def reference_text() -> str:
    """Return the whole reference fixture, header included."""
    return REFERENCE_PATH.read_text(encoding="utf-8")


def reference_body() -> bytes:
    """Return the reference query below the fixture's header, as bytes."""
    data = REFERENCE_PATH.read_bytes()
    marker = REFERENCE_BODY_MARKER.encode()
    if marker not in data:
        raise ValueError(
            f"{REFERENCE_PATH} is missing the header marker line {REFERENCE_BODY_MARKER!r}"
        )
    return data.split(marker, 1)[1]


def run_reference_branch(con: duckdb.DuckDBPyConnection, name: str) -> tuple[list[str], Rows]:
    """Run one `let` branch of the reference query and return (column names, rows).

    The query is the fixture up to its final `union` statement, followed by the
    branch name, so the reference text itself is not edited.
    """
    if name not in BRANCH_TABLES:
        raise ValueError(
            f"reference branch {name!r} not found. Expected one of {sorted(BRANCH_TABLES)}"
        )
    text = reference_text()
    union_at = text.rfind("\nunion ")
    if union_at < 0:
        raise ValueError(f"{REFERENCE_PATH} is missing its final union statement")
    return run_kql(con, text[: union_at + 1] + name)


def report_ids(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: Rows
) -> list[int]:
    """Map result rows back to the ReportIds of the table rows they came from.

    A result row is matched on every one of its columns that the table has
    (computed columns such as DetectionType are skipped). Raises LookupError
    when a result row matches no table row or more than one.
    """
    table_columns = {name for name, _ in load_schema()[table]}
    positions = [i for i, name in enumerate(columns) if name in table_columns]
    selected = ", ".join(f'"{columns[i]}"' for i in positions)

    table_rows = con.execute(f'SELECT "ReportId", {selected} FROM "{table}"').fetchall()
    index: dict[tuple[Any, ...], list[int]] = {}
    for report_id, *values in table_rows:
        index.setdefault(tuple(values), []).append(report_id)

    found = []
    for row in rows:
        key = tuple(row[i] for i in positions)
        matches = index.get(key, [])
        if len(matches) != 1:
            raise LookupError(f"result row matches {len(matches)} {table} rows {matches}: {row}")
        found.append(matches[0])
    return found


def _duckdb_type(kind: str) -> str:
    if kind not in DUCKDB_TYPES:
        raise ValueError(f"schema type {kind!r} has no DuckDB type in DUCKDB_TYPES")
    return DUCKDB_TYPES[kind]


def _table_row(row: dict[str, Any], columns: list[tuple[str, str]], now: datetime) -> list[Any]:
    values: list[Any] = []
    for name, kind in columns:
        if name == "Timestamp":
            values.append(now - timedelta(minutes=row["TimestampOffsetMinutes"]))
        elif kind == "datetime" and isinstance(row.get(name), str):
            values.append(_parse_datetime(row[name]))
        elif kind == "dynamic" and row.get(name) is not None:
            values.append(json.dumps(row[name]))
        else:
            values.append(row.get(name))
    return values


def _parse_datetime(text: str) -> datetime:
    """Parse an ISO-8601 time (MDE exports use 7 fractional digits and Z) to naive UTC."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed
