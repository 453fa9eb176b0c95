"""The table of conversion targets: backend, pipelines, output format and file suffix.

Backends are imported only when a target is used, so commands that convert to one target
don't pay for loading the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PIPELINE_DIRS = (
    Path(__file__).parent / "pipelines",  # installed wheel
    Path(__file__).parent.parent / "pipelines",  # source checkout
)


class TargetError(Exception):
    """A target name or option that sigmapack can't use."""


@dataclass(frozen=True)
class Options:
    """Conversion options that apply to every rule."""

    lookback: str = "24h"


@dataclass(frozen=True)
class Target:
    """One query language and data model that rules are converted to."""

    name: str
    suffix: str
    description: str
    output_format: str
    make_backend: Callable[[Options], Any]


def pipeline_path(file_name: str) -> Path:
    """Return the path of a pipeline YAML shipped with sigmapack."""
    for folder in PIPELINE_DIRS:
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    raise TargetError(
        f"pipeline file {file_name} not found in {', '.join(map(str, PIPELINE_DIRS))}"
    )


@cache
def _pipeline_text(file_name: str) -> tuple[str, str]:
    path = pipeline_path(file_name)
    return path.read_text(encoding="utf-8"), str(path)


def yaml_pipeline(file_name: str) -> Any:
    """Load one of sigmapack's pipeline YAML files, with its transformations registered.

    Each call builds new pipeline objects: pySigma's processing items keep a reference to
    the pipeline that holds them, so two backends must not share items.
    """
    from sigma.processing.pipeline import ProcessingPipeline

    from converter.transformations import register

    register()
    text, source = _pipeline_text(file_name)
    return ProcessingPipeline.from_yaml(text, source_path=source)


def _kql(options: Options) -> Any:
    from converter.backends.kql import MdeKqlBackend

    pipeline = yaml_pipeline("mde.yml") + yaml_pipeline("t1543_pack.yml")
    return MdeKqlBackend(pipeline, collect_errors=False, lookback=options.lookback)


def _splunk(options: Options) -> Any:
    from sigma.pipelines.splunk.splunk import splunk_windows_pipeline
    from sigma.pipelines.sysmon.sysmon import sysmon_pipeline

    from converter.backends.splunk import SafeSplunkBackend

    return SafeSplunkBackend(sysmon_pipeline() + splunk_windows_pipeline())


def _splunk_cim(options: Options) -> Any:
    from sigma.pipelines.splunk.splunk import splunk_cim_data_model

    from converter.backends.splunk import SafeSplunkBackend

    return SafeSplunkBackend(splunk_cim_data_model())


def _lucene(options: Options) -> Any:
    from sigma.pipelines.elasticsearch.windows import ecs_windows

    from converter.backends.lucene import SafeLuceneBackend

    return SafeLuceneBackend(ecs_windows())


def _eql(options: Options) -> Any:
    from sigma.pipelines.elasticsearch.windows import ecs_windows

    from converter.backends.eql import SafeEqlBackend

    return SafeEqlBackend(ecs_windows())


def _esql(options: Options) -> Any:
    from sigma.pipelines.elasticsearch.windows import ecs_windows

    from converter.backends.esql import CaselessEsqlBackend

    return CaselessEsqlBackend(ecs_windows())


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("kql", ".kql", "Microsoft Defender for Endpoint advanced hunting", "default", _kql),
        Target("splunk", ".spl", "Splunk SPL on Sysmon events", "default", _splunk),
        Target(
            "splunk-cim",
            ".spl",
            "Splunk SPL on the CIM Endpoint data model",
            "data_model",
            _splunk_cim,
        ),
        Target("lucene", ".lucene", "Elasticsearch Lucene query on ECS", "default", _lucene),
        Target("eql", ".eql", "Elastic EQL query on ECS", "default", _eql),
        Target("esql", ".esql", "Elastic ES|QL query on ECS", "default", _esql),
    )
}


def get_target(name: str) -> Target:
    """Return the target called name, or raise TargetError listing the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        known = ", ".join(TARGETS)
        raise TargetError(f"unknown target '{name}'; choose one of: {known}") from None
