"""Benchmark sigmapack against sigma-cli on a folder of Sigma rules.

Converts the folder with one `sigmapack convert` run to all five targets and with five
sigma-cli runs (one per target, as sigma-cli converts one target per process), alternating
the two tools, and prints median wall time, peak memory of the whole process tree, rules
converted per target and the ratio. It also times start-up, the pack's own conversion, and
counts KQL `contains` predicates that `has` could replace.

Usage (after `bash benchmarks/setup.sh`):
    .venv/bin/python benchmarks/run.py PATH/TO/rules [--runs 3] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
SIGMA_CLI = REPO / "benchmarks" / ".venv-sigma-cli" / "bin" / "sigma"
SIGMAPACK = Path(sys.executable).parent / "sigmapack"
TARGETS = ("kql", "splunk", "lucene", "eql", "esql")

# sigma-cli's closest equivalent of each sigmapack target. sigma-cli cannot load
# sigmapack's MDE pipeline (it uses transformations registered by sigmapack), so its KQL
# run uses pySigma's stock microsoft_xdr pipeline.
SIGMA_CLI_ARGS = {
    "kql": ["-t", "kusto", "-p", "microsoft_xdr"],
    "splunk": ["-t", "splunk", "-p", "sysmon", "-p", "splunk_windows"],
    "lucene": ["-t", "lucene", "-p", "ecs_windows"],
    "eql": ["-t", "eql", "-p", "ecs_windows"],
    "esql": ["-t", "esql", "-p", "ecs_windows", "--disable-pipeline-check"],
}


@dataclass
class Run:
    """One measured command: wall time in seconds, peak memory in bytes, exit code."""

    seconds: float
    peak_bytes: int
    exit_code: int
    stdout: str


def measure(command: list[str], cwd: Path | None = None) -> Run:
    """Run command, sampling the summed RSS of its process tree every 10 ms."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(process.pid)
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    return Run(seconds, peak, process.returncode, stdout)


def run_sigmapack(corpus: Path, jobs: int, out: Path) -> tuple[Run, dict[str, Any]]:
    shutil.rmtree(out, ignore_errors=True)
    command = [str(SIGMAPACK), "convert", str(corpus), "-o", str(out), "--format", "json"]
    command += [f"--target={target}" for target in TARGETS] + [f"--jobs={jobs}"]
    run = measure(command)
    return run, json.loads(run.stdout)["summary"]


def run_sigma_cli(corpus: Path, out: Path) -> tuple[Run, dict[str, int], dict[str, int]]:
    """Run sigma-cli once per target; return the summed run and per-target counts and codes."""
    total = Run(0.0, 0, 0, "")
    converted = {}
    codes = {}
    for target in TARGETS:
        folder = out / target
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        command = [str(SIGMA_CLI), "convert", *SIGMA_CLI_ARGS[target], "--skip-unsupported"]
        command += ["-od", str(folder), "-ot", "{stem}-{index}.txt", str(corpus)]
        run = measure(command)
        total.seconds += run.seconds
        total.peak_bytes = max(total.peak_bytes, run.peak_bytes)
        converted[target] = len({path.name.rsplit("-", 1)[0] for path in folder.iterdir()})
        codes[target] = run.exit_code
    return total, converted, codes


def median_of(command: list[str], runs: int, cwd: Path | None = None) -> float:
    return statistics.median(measure(command, cwd).seconds for _ in range(runs))


def startup_figures(runs: int) -> dict[str, float]:
    rule = REPO / "sigma/windows/process_creation/proc_creation_win_service_new_or_changed.yml"
    with tempfile.TemporaryDirectory() as scratch:
        pack = Path(scratch)
        shutil.copytree(REPO / "sigma", pack / "sigma")
        return {
            "sigmapack --help": median_of([str(SIGMAPACK), "--help"], runs),
            "convert one rule to kql": median_of(
                [str(SIGMAPACK), "convert", "-t", "kql", str(rule)], runs
            ),
            "convert the pack, all targets": median_of([str(SIGMAPACK), "convert"], runs, pack),
        }


def query_cost(out: Path) -> tuple[int, int]:
    from converter.output import strip_header
    from converter.query_cost import count_all

    queries = (strip_header(path.read_text()) for path in (out / "kql").glob("*.kql"))
    total = count_all(queries)
    return total.replaceable, total.necessary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="folder of Sigma rules to convert")
    parser.add_argument("--runs", type=int, default=3, help="rounds of both tools (default 3)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="sigmapack --jobs")
    args = parser.parse_args()
    if not SIGMA_CLI.exists():
        sys.exit(f"sigma-cli not found at {SIGMA_CLI}; run: bash benchmarks/setup.sh")

    cores = os.cpu_count()
    print(f"machine: {platform.platform()}, {cores} cores, Python {platform.python_version()}")
    rule_files = sum(1 for _ in args.corpus.rglob("*.yml"))
    print(f"corpus: {args.corpus} ({rule_files} .yml files)")

    pack_runs: list[Run] = []
    cli_runs: list[Run] = []
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        for round_number in range(1, args.runs + 1):
            pack_run, pack_summary = run_sigmapack(args.corpus, args.jobs, out / "sigmapack")
            pack_counts = {target: pack_summary[target]["converted"] for target in TARGETS}
            cli_run, cli_counts, cli_codes = run_sigma_cli(args.corpus, out / "sigma-cli")
            pack_runs.append(pack_run)
            cli_runs.append(cli_run)
            print(
                f"round {round_number}: sigmapack {pack_run.seconds:.2f} s,"
                f" sigma-cli {cli_run.seconds:.2f} s"
            )
        replaceable, necessary = query_cost(out / "sigmapack")

    pack_seconds = statistics.median(run.seconds for run in pack_runs)
    cli_seconds = statistics.median(run.seconds for run in cli_runs)
    print()
    print("| tool | median wall (s) | peak memory (MiB) | " + " | ".join(TARGETS) + " |")
    print("| --- | ---: | ---: | " + " | ".join("---:" for _ in TARGETS) + " |")
    for name, runs, counts in (
        (f"sigmapack, 1 run, --jobs {args.jobs}", pack_runs, pack_counts),
        ("sigma-cli 3.1.0, 5 runs", cli_runs, cli_counts),
    ):
        seconds = statistics.median(run.seconds for run in runs)
        peak = max(run.peak_bytes for run in runs) / 2**20
        cells = " | ".join(str(counts[target]) for target in TARGETS)
        print(f"| {name} | {seconds:.2f} | {peak:.0f} | {cells} |")
    print()
    print(f"ratio sigmapack / sigma-cli wall time: {pack_seconds / cli_seconds:.3f}")
    print("sigma-cli exit codes: " + ", ".join(f"{t} {c}" for t, c in cli_codes.items()))
    print(f"KQL contains that has could replace: {replaceable}; contains kept: {necessary}")
    print(
        f"sigmapack accounting: {pack_summary['files']} files, {pack_summary['loaded']} loaded,"
        f" {pack_summary['invalid']} invalid"
    )
    for target in TARGETS:
        failed = ", ".join(f"{k} {v}" for k, v in pack_summary[target]["failed"].items())
        print(f"  {target}: converted {pack_counts[target]}, failed: {failed or 'none'}")
    for label, seconds in startup_figures(max(5, args.runs)).items():
        print(f"{label}: median {seconds:.3f} s")


if __name__ == "__main__":
    main()
