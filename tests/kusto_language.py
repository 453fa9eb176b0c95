"""Check KQL with Microsoft's Kusto.Language through tools/kql-check/check.js.

Test helper, imported from tests as ``from kusto_language import check_kql_files``.
It needs Node 20+ and the pinned npm package, installed with::

    npm ci --prefix tools/kql-check

One call starts one Node process (about a second to load Kusto.Language), so
pass all files of a run in a single call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKER_DIR = REPO_ROOT / "tools" / "kql-check"
CHECK_JS = CHECKER_DIR / "check.js"
KUSTO_PACKAGE = CHECKER_DIR / "node_modules" / "@kusto" / "language-service-next"
MDE_SCHEMA = REPO_ROOT / "converter" / "data" / "mde_schema.json"

DEFAULT_TIMEOUT = 120.0


class KqlCheckError(RuntimeError):
    """Error raised when the checker fails to run or prints invalid output."""


@dataclass(frozen=True)
class KqlDiagnostic:
    """A diagnostic that Kusto.Language reported for a query."""

    severity: str  # "Error", "Warning" or "Suggestion"
    code: str  # such as "KS142", with KS5xx for analyzer codes
    category: str
    message: str
    source: str  # "compiler" (parser and binder) or "analyzer"
    line: int | None  # 1-based; None when Kusto gives no location
    column: int | None  # 1-based, in code points
    start: int | None  # 0-based offset into the text
    length: int | None

    @property
    def is_error(self) -> bool:
        return self.severity == "Error"

    def describe(self, where: str = "") -> str:
        """Format the diagnostic on one line.

        For example ``a.kql:3:9: Error KS142 The name 'Foo' does not refer to ...``.
        """
        place = f"{where}:{self.line}:{self.column}" if self.line is not None else where
        first_line = self.message.splitlines()[0] if self.message else ""
        prefix = f"{place}: " if place else ""
        return f"{prefix}{self.severity} {self.code} {first_line}"


@dataclass(frozen=True)
class KqlResult:
    """The diagnostics and result kind of one file or query."""

    diagnostics: list[KqlDiagnostic]
    # "table" for a tabular query, "scalar" for a scalar expression, None when
    # the text contains no query (only comments or only `let` statements).
    result_kind: str | None

    @property
    def errors(self) -> list[KqlDiagnostic]:
        return only_errors(self.diagnostics)


def _diagnostic(raw: dict[str, Any]) -> KqlDiagnostic:
    return KqlDiagnostic(
        severity=raw["severity"],
        code=raw["code"],
        category=raw["category"],
        message=raw["message"],
        source=raw["source"],
        line=raw["line"],
        column=raw["column"],
        start=raw["start"],
        length=raw["length"],
    )


def _result(raw: dict[str, Any]) -> KqlResult:
    return KqlResult(
        diagnostics=[_diagnostic(d) for d in raw["diagnostics"]],
        result_kind=raw["result_kind"],
    )


def _ensure_installed() -> str:
    node = shutil.which("node")
    if node is None:
        raise KqlCheckError("node not found on PATH: install Node 20 or later to check KQL")
    if not (KUSTO_PACKAGE / "package.json").is_file():
        raise KqlCheckError(
            f"Kusto.Language not found under {CHECKER_DIR / 'node_modules'}. "
            "Run: npm ci --prefix tools/kql-check"
        )
    return node


def run_checker(request: dict[str, Any], *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Send one request to check.js and return its parsed JSON response.

    See the header of tools/kql-check/check.js for the request and response format.
    """
    node = _ensure_installed()
    try:
        proc = subprocess.run(
            [node, str(CHECK_JS)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise KqlCheckError(f"the KQL checker timed out after {timeout:g} s") from exc
    if proc.returncode != 0:
        raise KqlCheckError(
            f"the KQL checker failed with exit code {proc.returncode}: {proc.stderr.strip()}"
        )
    try:
        response: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise KqlCheckError(f"the KQL checker printed invalid JSON: {exc}") from exc
    return response


def analyze_kql_files(
    paths: Iterable[str | os.PathLike[str]],
    schema: str | os.PathLike[str] = MDE_SCHEMA,
    *,
    analyzers: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[Path, KqlResult]:
    """Check each KQL file like check_kql_files, and also return its result kind."""
    files = [Path(p) for p in paths]
    if not files:
        return {}
    request = {
        "schema": str(Path(schema).resolve()),
        "files": [str(f.resolve()) for f in files],
        "analyzers": analyzers,
    }
    results = run_checker(request, timeout=timeout)["results"]
    if len(results) != len(files):
        raise KqlCheckError(
            f"expected {len(files)} results from the KQL checker, got {len(results)}"
        )
    return {path: _result(raw) for path, raw in zip(files, results, strict=True)}


def check_kql_files(
    paths: Iterable[str | os.PathLike[str]],
    schema: str | os.PathLike[str] = MDE_SCHEMA,
    *,
    analyzers: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[Path, list[KqlDiagnostic]]:
    """Parse and analyze each KQL file against the MDE schema.

    Returns the diagnostics of every file, keyed by the path as given, in
    offset order. A file with no diagnostics maps to an empty list. Errors are
    the diagnostics whose ``is_error`` is true; ``analyzers=False`` leaves out
    the KS5xx analyzer hints (such as KS500 for ``contains``), which are never
    errors. All files go to one Node process. Raises KqlCheckError when the
    checker cannot run.
    """
    found = analyze_kql_files(paths, schema, analyzers=analyzers, timeout=timeout)
    return {path: result.diagnostics for path, result in found.items()}


def check_kql_text(
    text: str,
    schema: str | os.PathLike[str] = MDE_SCHEMA,
    *,
    analyzers: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[KqlDiagnostic]:
    """Check one query given as a string, like check_kql_files does for files."""
    request = {
        "schema": str(Path(schema).resolve()),
        "queries": [{"name": "query", "text": text}],
        "analyzers": analyzers,
    }
    results = run_checker(request, timeout=timeout)["results"]
    return _result(results[0]).diagnostics


def only_errors(diagnostics: Iterable[KqlDiagnostic]) -> list[KqlDiagnostic]:
    """Return only the diagnostics with severity "Error"."""
    return [d for d in diagnostics if d.is_error]
