"""Query engines that run converted rules over the regression corpus, one per target.

- `kql`: duckdb-kql runs the MDE advanced-hunting query over DeviceProcessEvents and
  DeviceRegistryEvents tables built from converter/data/mde_schema.json.
- `eql`: Elastic's `eql` Python engine runs the EQL query over ECS documents.
- `sigma`: pySigma's SQLite backend, with pySigma's Sysmon pipeline, runs the rule's own
  logic over Sysmon-shaped events in SQLite, with case-insensitive text columns and a
  REGEXP function, as Sigma's matching semantics require.

Each engine loads the whole corpus once and returns, per query, the ids of the events it
matched.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Protocol

from converter.event_mapping import Event


class EngineError(Exception):
    """A query that an engine cannot parse or run."""


@dataclass(frozen=True)
class EngineEvent:
    """One corpus event in the shapes the engines read."""

    event_id: str
    sysmon: Event
    mde_table: str
    mde_row: Event
    ecs: Event


class Engine(Protocol):
    name: str

    def run(self, query: str) -> set[str]: ...


# --- KQL -------------------------------------------------------------------------------

MDE_TABLES = ("DeviceProcessEvents", "DeviceRegistryEvents")
DUCKDB_TYPES = {
    "datetime": "TIMESTAMP",
    "string": "VARCHAR",
    "long": "BIGINT",
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "dynamic": "JSON",
}
# msticpy's export adds this column, which the advanced-hunting schema does not have.
NON_SCHEMA_COLUMNS = frozenset({"CreatedProcessParentId"})


@cache
def mde_schema() -> dict[str, list[tuple[str, str]]]:
    """Return the MDE tables shipped in converter/data: table -> [(column, type), ...]."""
    text = (resources.files("converter") / "data" / "mde_schema.json").read_text("utf-8")
    raw: dict[str, list[list[str]]] = json.loads(text)
    return {table: [(name, kind) for name, kind in columns] for table, columns in raw.items()}


class KqlEngine:
    """duckdb-kql over MDE tables holding every corpus event.

    Each row gets its own Timestamp, one millisecond apart before the engine was created,
    so a result row is mapped back to its event by Timestamp, which every pack query
    projects, and a window of `ago(1m)` or longer keeps up to 60,000 rows.
    """

    name = "kql"

    def __init__(self, events: Sequence[EngineEvent], now: datetime | None = None) -> None:
        import duckdb_kql

        self._connection = duckdb_kql.connect()
        self._events_by_time: dict[datetime, str] = {}
        now = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        schema = mde_schema()
        for table in MDE_TABLES:
            columns = schema[table]
            definitions = ", ".join(f'"{name}" {DUCKDB_TYPES[kind]}' for name, kind in columns)
            self._connection.execute(f'CREATE TABLE "{table}" ({definitions})')

        rows: dict[str, list[list[Any]]] = {table: [] for table in MDE_TABLES}
        for index, event in enumerate(events):
            timestamp = now - timedelta(milliseconds=index + 1)
            self._events_by_time[timestamp] = event.event_id
            rows[event.mde_table].append(
                _table_row(event.mde_row, schema[event.mde_table], timestamp)
            )
        for table, values in rows.items():
            if values:
                marks = ", ".join("?" for _ in schema[table])
                self._connection.executemany(f'INSERT INTO "{table}" VALUES ({marks})', values)

    def run(self, query: str) -> set[str]:
        import duckdb_kql

        try:
            relation = duckdb_kql.kql(self._connection, query)
            columns = list(relation.columns)
            rows = relation.fetchall()
        except Exception as err:  # duckdb-kql raises its own and DuckDB's error types
            raise EngineError(f"duckdb-kql failed: {_one_line(err)}") from err
        if "Timestamp" not in columns:
            raise EngineError(
                "the KQL query does not return a Timestamp column, which sigmapack test needs"
                " to tell the matched events apart"
            )
        position = columns.index("Timestamp")
        return {self._events_by_time[row[position]] for row in rows}


def _table_row(row: Event, columns: list[tuple[str, str]], timestamp: datetime) -> list[Any]:
    unknown = set(row) - {name for name, _ in columns} - NON_SCHEMA_COLUMNS
    if unknown:
        raise EngineError(f"MDE row has columns the schema lacks: {sorted(unknown)}")
    values: list[Any] = []
    for name, kind in columns:
        value = row.get(name)
        if name == "Timestamp":
            values.append(timestamp)
        elif kind == "datetime" and isinstance(value, str):
            values.append(_parse_datetime(value))
        elif kind == "dynamic" and value is not None:
            values.append(json.dumps(value))
        else:
            values.append(value)
    return values


def _parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 time to naive UTC; MDE exports use 7 fractional digits and Z."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


# --- EQL -------------------------------------------------------------------------------


class EqlEngine:
    """Elastic's `eql` Python engine (pip `eql`) over flat ECS documents."""

    name = "eql"

    def __init__(self, events: Sequence[EngineEvent]) -> None:
        import eql

        # The event's position is kept in Event.time, which only sequence queries read.
        self._ids = [event.event_id for event in events]
        self._events = [
            eql.Event(str(event.ecs.get("event.category", "any")), index, event.ecs)
            for index, event in enumerate(events)
        ]

    def run(self, query: str) -> set[str]:
        import eql

        try:
            with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
                analytic = eql.parse_query(query)
        except eql.EqlError as err:
            raise EngineError(f"eql cannot parse the query: {_one_line(err)}") from err

        matched: list[int] = []
        engine = flat_field_engine()
        engine.add_output_hook(lambda output: matched.extend(event.time for event in output.events))
        engine.add_query(analytic)
        engine.stream_events(self._events)
        return {self._ids[index] for index in matched}


def flat_field_engine() -> Any:
    """Return an eql PythonEngine that reads dotted ECS names and Elastic's wildcards.

    The stock engine walks nested objects, so it cannot see Elasticsearch multi-fields
    such as `process.executable.caseless` next to `process.executable`. It also treats
    `?` as a literal, while Elastic's EQL documents `?` as a one-character wildcard for
    `:` and `like`. This engine looks a field up by its whole dotted name and matches
    wildcards as Elastic documents them, ignoring letter case as `:` and `like~` do.
    """
    from eql.engine import PythonEngine

    class FlatFieldEngine(PythonEngine):  # type: ignore[misc]
        def _convert_field(self, node: Any) -> Callable[[Any], object]:
            if node.base in self._scoped or self._in_pipe:
                return super()._convert_field(node)  # type: ignore[no-any-return]
            name = ".".join([node.base, *(str(part) for part in node.path)])

            def lookup(scope: Any) -> object:
                return scope.event.data.get(name)

            return lookup

        def _function_wildcard(self, arguments: Any) -> Callable[[Any], object]:
            get_source = self.convert(arguments[0])
            pattern = re.compile(
                "|".join(elastic_wildcard_regex(arg.value) for arg in arguments[1:]),
                re.DOTALL | re.IGNORECASE,
            )

            def match(scope: Any) -> object:
                value = get_source(scope)
                if isinstance(value, list):
                    return any(isinstance(v, str) and pattern.fullmatch(v) for v in value)
                if isinstance(value, str):
                    return pattern.fullmatch(value) is not None
                return None

            return match

    return FlatFieldEngine()


def elastic_wildcard_regex(pattern: str) -> str:
    """Translate an EQL wildcard pattern (`*` any text, `?` one character) to a regex."""
    pieces = []
    for char in pattern:
        if char == "*":
            pieces.append(".*")
        elif char == "?":
            pieces.append(".")
        else:
            pieces.append(re.escape(char))
    return "(?:" + "".join(pieces) + ")"


# --- Sigma (SQLite) ----------------------------------------------------------------------

ROW_COLUMN = "sigmapack_row"
SQLITE_TABLE = "logs"


class SigmaEngine:
    """pySigma's SQLite backend over one table of Sysmon-shaped events.

    Every column is TEXT COLLATE NOCASE, so `=` ignores letter case as Sigma requires
    (SQLite folds ASCII letters only), and LIKE is case-insensitive by default.
    REGEXP is Python's re.search: Sigma's `re` modifier matches anywhere in the value.
    """

    name = "sigma"

    def __init__(self, events: Sequence[EngineEvent]) -> None:
        self._ids = [event.event_id for event in events]
        fields = sorted({name for event in events for name in event.sysmon})
        self._connection = sqlite3.connect(":memory:")
        self._connection.create_function("REGEXP", 2, _regexp, deterministic=True)
        columns = ", ".join(f'"{name}" TEXT COLLATE NOCASE' for name in [ROW_COLUMN, *fields])
        self._connection.execute(f"CREATE TABLE {SQLITE_TABLE} ({columns})")
        names = ", ".join(f'"{name}"' for name in [ROW_COLUMN, *fields])
        marks = ", ".join("?" for _ in range(len(fields) + 1))
        self._connection.executemany(
            f"INSERT INTO {SQLITE_TABLE} ({names}) VALUES ({marks})",
            [
                [index, *(_sqlite_value(event.sysmon.get(name)) for name in fields)]
                for index, event in enumerate(events)
            ],
        )
        self._fields = {name.lower() for name in fields}

    def add_missing_fields(self, fields: Sequence[str]) -> None:
        """Add NULL columns for fields that the rule names and no event has."""
        for name in fields:
            if name.lower() not in self._fields:
                self._connection.execute(
                    f'ALTER TABLE {SQLITE_TABLE} ADD COLUMN "{name}" TEXT COLLATE NOCASE'
                )
                self._fields.add(name.lower())

    def run(self, query: str) -> set[str]:
        try:
            cursor = self._connection.execute(query)
        except sqlite3.Error as err:
            raise EngineError(f"SQLite failed: {_one_line(err)}") from err
        columns = [description[0] for description in cursor.description]
        position = columns.index(ROW_COLUMN)
        return {self._ids[int(row[position])] for row in cursor.fetchall()}


def _regexp(pattern: str | None, value: object) -> bool:
    if pattern is None or value is None:
        return False
    return re.search(pattern, str(value)) is not None


def _sqlite_value(value: object) -> object:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())
