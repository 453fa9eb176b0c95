"""The `sigmapack check` and `sigmapack new` commands, apart from their option parsing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click

from converter.checks.findings import CheckReport, Severity
from converter.checks.formats import display_path, render
from converter.checks.run import check_paths
from converter.checks.template import NAME, rule_path, rule_text


@dataclass
class CheckRequest:
    """The options of one `sigmapack check` run."""

    paths: list[Path]
    output_format: str = "text"
    fail_level: str = "low"
    output_file: Path | None = None
    attack_data: Path | None = None


def run_check(request: CheckRequest) -> int:
    """Check the rules, print or write the report, summarize on stderr; return the exit code."""
    missing = [str(path) for path in request.paths if not path.exists() and not path.is_symlink()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")

    with _attack_data(request.attack_data):
        report = check_paths(request.paths)
    fail_level = Severity.from_label(request.fail_level)
    document = render(report, request.output_format, fail_level)
    if request.output_file is None:
        click.echo(document, nl=False)
    else:
        from converter.output import write_atomic

        write_atomic(request.output_file, document)
    _summarize(report, fail_level)
    return 1 if report.failed(fail_level) else 0


@contextmanager
def _attack_data(path: Path | None) -> Iterator[None]:
    """Check tags against the ATT&CK bundle at path, or the shipped data when path is None."""
    if path is None:
        yield
        return

    from converter.offline import OfflineDataError, attack_bundle

    with ExitStack() as stack:
        try:
            version = stack.enter_context(attack_bundle(path))
        except OfflineDataError as err:
            raise click.BadParameter(str(err), param_hint="--attack-data") from err
        click.echo(f"sigmapack: checking ATT&CK tags against {path} (ATT&CK {version})", err=True)
        yield


def _summarize(report: CheckReport, fail_level: Severity) -> None:
    counts = report.counts()
    failed = [rule_file for rule_file in report.files if rule_file.failed(fail_level)]
    found = ", ".join(f"{counts[severity]} {severity.label}" for severity in reversed(Severity))
    verdict = (
        f"{len(failed)} failed at --fail-level {fail_level.label}"
        if failed
        else f"all passed at --fail-level {fail_level.label}"
    )
    click.echo(
        f"sigmapack: checked {len(report.files)} rule file(s): {found} finding(s); {verdict}",
        err=True,
    )


def run_new(rules_dir: Path, category: str, name: str, today: date | None = None) -> int:
    """Write a new rule from the template and print its path; return the exit code."""
    if not NAME.match(name):
        raise click.UsageError(
            f"invalid --name '{name}': use lowercase letters and digits separated by '_',"
            " for example 'sc_failure_command'"
        )
    path = rule_path(rules_dir, category, name)
    if path.exists():
        click.echo(f"sigmapack: {path} already exists; choose another --name", err=True)
        return 1

    try:
        _create(path, rule_text(category, today or date.today()))
    except FileExistsError:
        click.echo(f"sigmapack: {path} already exists; choose another --name", err=True)
        return 1
    click.echo(display_path(path))
    click.echo(
        f"sigmapack: wrote {path}; replace every TODO, then run: sigmapack check {path}",
        err=True,
    )
    return 0


def _create(path: Path, content: str) -> None:
    """Write a new file completely or not at all, never replacing an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(content)
        os.link(temporary, path)
    finally:
        os.unlink(temporary)
