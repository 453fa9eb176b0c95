"""The `sigmapack` command line: thin click commands over the converter modules.

Exit codes: 0 when everything succeeded, 1 when a rule failed or `--check` found
differences, 2 for a usage error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

DEFAULT_RULES = Path("sigma")
DEFAULT_OUTPUT = Path("output")


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from converter.about import version_line

    click.echo(version_line())
    ctx.exit()


@click.group()
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the versions of sigmapack, pySigma and the shipped ATT&CK data, and exit.",
)
def main() -> None:
    """Convert Sigma rules to KQL, Splunk and Elastic queries; check, test and create rules."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--target",
    "-t",
    "target_names",
    multiple=True,
    help="Target to convert to: kql, splunk, splunk-cim, lucene, eql, esql, or all. Repeat"
    " for several. Default: all targets.",
)
@click.option(
    "--output",
    "-o",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per rule and target into this folder instead of printing.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 if the output folder is not what conversion would write.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for conversion. Default: the number of CPU cores.",
)
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text prints queries (or writes files) and a summary on stderr; json prints a report"
    " of every rule and target on stdout.",
)
@click.option(
    "--skip-unsupported",
    is_flag=True,
    help="Exit 0 even when rules use log sources, fields or features a target can't express."
    " Invalid rules still fail the run.",
)
@click.option(
    "--lookback",
    default="24h",
    show_default=True,
    help="Time window of the KQL queries, as a whole number and a unit d, h, m or s.",
)
def convert(
    paths: tuple[Path, ...],
    target_names: tuple[str, ...],
    output_dir: Path | None,
    check: bool,
    jobs: int | None,
    report_format: str,
    skip_unsupported: bool,
    lookback: str,
) -> None:
    """Convert Sigma rules in PATHS (files or folders, default: sigma/).

    With no PATHS and no --target, convert the pack to every target and write output/,
    including the combined KQL hunting query.
    """
    from converter.commands import ConvertRequest, run_convert

    pack_mode = not paths and not target_names
    if pack_mode and output_dir is None:
        output_dir = DEFAULT_OUTPUT
    if check and output_dir is None:
        output_dir = DEFAULT_OUTPUT

    request = ConvertRequest(
        paths=list(paths) or [DEFAULT_RULES],
        target_names=list(target_names),
        output_dir=output_dir,
        check=check,
        lookback=lookback,
        combined=pack_mode or (output_dir is not None and not target_names),
        jobs=jobs or os.cpu_count() or 1,
        report_format=report_format,
        skip_unsupported=skip_unsupported,
    )
    sys.exit(run_convert(request))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "sarif", "github", "junit"]),
    default="text",
    show_default=True,
    help="Report format: text lines, JSON, SARIF 2.1.0 for code scanning, GitHub workflow"
    " annotations, or JUnit XML with one test case per rule file.",
)
@click.option(
    "--fail-level",
    type=click.Choice(["low", "medium", "high"]),
    default="low",
    show_default=True,
    help="Exit 1 if any finding has this severity or a higher one.",
)
@click.option(
    "--output",
    "-o",
    "output_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of stdout.",
)
@click.option(
    "--attack-data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="MITRE ATT&CK Enterprise STIX bundle (enterprise-attack.json) to check tags against,"
    " instead of the ATT&CK data shipped with sigmapack. Read from disk; nothing is downloaded.",
)
def check(
    paths: tuple[Path, ...],
    output_format: str,
    fail_level: str,
    output_file: Path | None,
    attack_data: Path | None,
) -> None:
    """Check Sigma rule files in PATHS (files or folders, default: sigma/), fully offline.

    Reports YAML errors, Sigma schema errors, pySigma validator issues and SigmaHQ
    conventions, each with file, line and column where known.
    """
    from converter.checks.command import CheckRequest, run_check

    request = CheckRequest(
        list(paths) or [DEFAULT_RULES], output_format, fail_level, output_file, attack_data
    )
    sys.exit(run_check(request))


@main.command()
@click.option(
    "--category",
    type=click.Choice(["process_creation", "registry_set"]),
    default="process_creation",
    show_default=True,
    help="Log source category of the rule; it decides the folder and the file name prefix.",
)
@click.option(
    "--name",
    required=True,
    help="File name after the prefix, lowercase words joined by '_', e.g. sc_failure_command.",
)
@click.option(
    "--rules-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_RULES,
    show_default=True,
    help="Folder of the rule pack.",
)
def new(category: str, name: str, rules_dir: Path) -> None:
    """Write a new rule from the template, with a fresh id and today's date.

    The file goes to <rules-dir>/windows/<category>/. Its TODO placeholders fail
    `sigmapack check` until they are replaced.
    """
    from converter.checks.command import run_new

    sys.exit(run_new(rules_dir, category, name))


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--regression",
    "regression_dir",
    default="regression",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder with the event corpus (events/*.jsonl) and expectation files (rules/*.yml).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text prints the matrix for reading; json prints every rule, target and event.",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="In text output, list every event, not only the listed ones and those that hit.",
)
def test_command(
    paths: tuple[Path, ...], regression_dir: Path, output_format: str, show_all: bool
) -> None:
    """Run rules in PATHS (default: sigma/) over the regression corpus in every engine.

    KQL runs in duckdb-kql on MDE tables, EQL in Elastic's eql engine on ECS documents and
    the Sigma logic in SQLite; Splunk queries are checked structurally. Exit 1 when an
    expectation fails, targets disagree without a documented reason, or a rule fails.
    """
    from converter.regression_run import TestRequest, run_test

    missing = [str(path) for path in (*paths, regression_dir) if not path.exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    request = TestRequest(list(paths) or [DEFAULT_RULES], regression_dir, output_format, show_all)
    sys.exit(run_test(request))


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line with argv and return its exit code, for tests and embedding."""
    try:
        main.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except click.ClickException as err:
        err.show()
        return err.exit_code
    return 0
