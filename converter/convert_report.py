"""The per-target summary and the JSON report of a conversion run."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from converter import __version__
from converter.conversion import REASONS, Conversion
from converter.output import relative_source
from converter.targets import Target


def summary_lines(result: Conversion, targets: Sequence[Target]) -> list[str]:
    """Return the text summary: rule files, then converted and failed counts per target."""
    invalid = [failure for failure in result.failures if failure.target is None]
    lines = [
        f"sigmapack: {result.files} rule files, {len(result.rules)} loaded, {len(invalid)} invalid"
    ]
    width = max(len(target.name) for target in targets)
    for target in targets:
        converted = sum(1 for query in result.queries if query.target is target)
        reasons = Counter(f.reason for f in result.failures if f.target == target.name)
        failed = sum(reasons.values())
        detail = ", ".join(f"{reason} {reasons[reason]}" for reason in REASONS if reasons[reason])
        line = f"  {target.name:<{width}}  converted {converted:>5}  failed {failed:>5}"
        lines.append(line + (f"  ({detail})" if detail else ""))
    return lines


def json_report(
    result: Conversion, targets: Sequence[Target], root: Path, include_queries: bool
) -> str:
    """Return the full report as JSON: every rule file with its status for every target."""
    statuses: dict[Path, dict[str, Any]] = {}
    for rule in result.rules:
        statuses[rule.path] = {
            "path": relative_source(rule.path, root),
            "id": rule.id,
            "title": rule.title,
            "targets": {},
        }
    for query in result.queries:
        entry: dict[str, Any] = {"status": "converted"}
        if include_queries:
            entry["query"] = query.text
        statuses[query.rule.path]["targets"][query.target.name] = entry

    invalid = []
    for failure in result.failures:
        detail = {"status": "failed", "reason": failure.reason, "message": failure.error.message}
        if failure.target is None:
            invalid.append({"path": relative_source(failure.path, root), **detail})
        else:
            statuses[failure.path]["targets"][failure.target] = detail

    order = {target.name: index for index, target in enumerate(targets)}
    for status in statuses.values():
        status["targets"] = dict(sorted(status["targets"].items(), key=lambda item: order[item[0]]))

    document = {
        "sigmapack": __version__,
        "targets": [target.name for target in targets],
        "summary": _summary(result, targets),
        "rules": list(statuses.values()),
        "invalid": invalid,
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def _summary(result: Conversion, targets: Sequence[Target]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "files": result.files,
        "loaded": len(result.rules),
        "invalid": sum(1 for failure in result.failures if failure.target is None),
    }
    for target in targets:
        reasons = Counter(f.reason for f in result.failures if f.target == target.name)
        summary[target.name] = {
            "converted": sum(1 for query in result.queries if query.target is target),
            "failed": dict(sorted(reasons.items())),
        }
    return summary
