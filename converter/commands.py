"""The work of the `sigmapack` commands, apart from parsing their options."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from converter.conversion import UNSUPPORTED_REASONS, Conversion, Query, convert
from converter.convert_report import json_report, summary_lines
from converter.output import (
    COMBINED_NAME,
    FileNamer,
    OutputWriter,
    PlannedFile,
    comment,
    compare,
    is_generated,
    plan_combined_kql,
    relative_source,
)
from converter.rules import combine_errors_by_file, find_rule_files
from converter.targets import TARGETS, Options, Target, TargetError, get_target


@dataclass
class ConvertRequest:
    """The options of one `sigmapack convert` run."""

    paths: list[Path]
    target_names: list[str] = field(default_factory=list)
    output_dir: Path | None = None
    check: bool = False
    lookback: str = "24h"
    combined: bool = False
    jobs: int = 1
    report_format: str = "text"
    skip_unsupported: bool = False


def run_convert(request: ConvertRequest) -> int:
    """Convert, then print, write or check; return the exit code."""
    try:
        targets = _targets(request.target_names)
        options = Options(lookback=request.lookback)
        _validate_options(targets, options)
    except TargetError as err:
        raise click.UsageError(str(err)) from err

    missing = [str(path) for path in request.paths if not path.exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")

    # Output file names depend on every rule file found, failed ones included, so that a
    # rule that starts or stops failing doesn't rename another rule's files.
    rule_files, _ = find_rule_files(request.paths)
    namer = FileNamer(rule_files, Path.cwd())
    owned = owned_paths(targets, request.combined)
    writer = None
    if request.output_dir is not None and not request.check:
        writer = OutputWriter(request.output_dir, owned)

    def write_queries(queries: list[Query]) -> None:
        if writer is not None:
            writer.write(namer.plan(query) for query in queries)

    with Progress() as progress:
        result = convert(
            request.paths, targets, options, request.jobs, progress.update, write_queries
        )
    _report(result, targets, request)

    failed = _failed(result, request.skip_unsupported)
    if request.output_dir is None:
        if request.report_format == "text":
            _print_queries(result.queries)
        return 1 if failed else 0

    combined = _combined(result, targets, request)
    if writer is not None:
        return _finish_writing(writer, result, combined, failed)
    planned = sorted((namer.plan(query) for query in result.queries), key=_file_name)
    return _check(request.output_dir, planned + combined, owned, failed)


def _file_name(item: PlannedFile) -> str:
    return item.relative_path


class Progress:
    """A progress bar on stderr while files are converted, shown only on a terminal."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.shown = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.render_finish()

    def update(self, done: int, total: int) -> None:
        if total < 50 or not sys.stderr.isatty():
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="Converting", file=sys.stderr)
        self.bar.update(done - self.shown)
        self.shown = done


def _failed(result: Conversion, skip_unsupported: bool) -> bool:
    """Tell whether the run failed: any failure, or with skip_unsupported any other failure."""
    if not skip_unsupported:
        return bool(result.failures)
    return any(failure.reason not in UNSUPPORTED_REASONS for failure in result.failures)


def _report(result: Conversion, targets: list[Target], request: ConvertRequest) -> None:
    for error in combine_errors_by_file([failure.error for failure in result.failures]):
        click.echo(str(error), err=True)
    if request.report_format == "json":
        include_queries = request.output_dir is None
        click.echo(json_report(result, targets, Path.cwd(), include_queries), nl=False)
    if request.report_format == "json" or result.failures or result.files >= 50:
        for line in summary_lines(result, targets):
            click.echo(line, err=True)


def _targets(names: list[str]) -> list[Target]:
    if not names or "all" in names:
        return list(TARGETS.values())
    chosen: list[Target] = []
    for name in names:
        target = get_target(name)
        if target not in chosen:
            chosen.append(target)
    return chosen


def _validate_options(targets: list[Target], options: Options) -> None:
    from sigma.exceptions import SigmaError

    kql = TARGETS["kql"]
    if kql in targets:
        try:
            kql.make_backend(options)
        except SigmaError as err:
            raise TargetError(str(err)) from err


def _print_queries(queries: list[Query]) -> None:
    root = Path.cwd()
    several = len(queries) > 1
    for index, query in enumerate(queries):
        if several:
            if index:
                click.echo()
            source = relative_source(query.rule.path, root)
            click.echo(comment(query.target.name, f"{query.target.name}: {source}"))
        click.echo(query.text)


def _combined(
    result: Conversion, targets: list[Target], request: ConvertRequest
) -> list[PlannedFile]:
    kql = TARGETS["kql"]
    if not request.combined or kql not in targets:
        return []
    combined = plan_combined_kql(result.queries, Path.cwd(), kql)
    return [combined] if combined is not None else []


def owned_paths(targets: list[Target], combined: bool) -> tuple[str, ...]:
    """Return the output paths a run owns: its targets' folders and the combined query.

    A run of every target with the combined query owns the whole folder.
    """
    if combined and len(targets) == len(TARGETS):
        return ("",)
    owned = tuple(f"{target.name}/" for target in targets)
    if combined and TARGETS["kql"] in targets:
        owned += (COMBINED_NAME,)
    return owned


def _check(folder: Path, planned: list[PlannedFile], owned: tuple[str, ...], failed: bool) -> int:
    differences = compare(folder, planned, owned)
    foreign = 0
    for difference in differences:
        path = folder / difference.relative_path
        if difference.kind == "extra" and not is_generated(path):
            foreign += 1
            click.echo(
                f"{path}: extra, not generated by sigmapack; move it out of {folder}", err=True
            )
        else:
            click.echo(f"{path}: {difference.kind}", err=True)
    if len(differences) > foreign:
        click.echo(
            f"sigmapack: {len(differences) - foreign} file(s) in {folder} differ from the rules;"
            " run 'sigmapack convert' and commit the result",
            err=True,
        )
    if differences:
        return 1
    if failed:
        return 1
    click.echo(f"sigmapack: {folder} is current ({len(planned)} files)", err=True)
    return 0


def _finish_writing(
    writer: OutputWriter, result: Conversion, combined: list[PlannedFile], failed: bool
) -> int:
    writer.write(combined)
    # A failed rule keeps its previous files: deleting them would lose the last good query.
    kept = writer.finish(prune=not failed)
    for name in kept:
        click.echo(f"{writer.folder / name}: kept, not generated by sigmapack", err=True)
    click.echo(
        f"sigmapack: {len(writer.planned)} files in {writer.folder},"
        f" {writer.changed} written, the others already current",
        err=True,
    )
    return 1 if failed else 0
