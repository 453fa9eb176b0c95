"""The hostile input corpus: broken or malicious rule files against `check` and `convert`.

Each case puts one file of tests/hostile/ (or one made here: a 20 MB file, a symbolic link
loop, an unreadable file) next to a good rule and runs both commands in a subprocess. Both
must name the file with the expected message, still process the good rule, exit 1, print
no traceback, finish within MAX_SECONDS and MAX_RSS_BYTES, and write nothing outside
output/.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "hostile"
GOOD_RULE = REPO / "sigma/windows/process_creation/proc_creation_win_service_new_or_changed.yml"

MAX_SECONDS = 5.0
MAX_RSS_BYTES = 500 * 1024 * 1024
# Address-space cap of each run, so a runaway allocation fails the test instead of the host.
ADDRESS_SPACE_LIMIT = 4 * 1024**3
KILL_AFTER_SECONDS = 60.0

# Linux prctl option and capabilities (linux/prctl.h, linux/capability.h).
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2


@dataclass(frozen=True)
class Case:
    """One hostile file and the message each command must print for it.

    convert_message None means the file is valid Sigma, so convert must succeed on it.
    """

    check_message: str
    convert_message: str | None


TOO_DEEP = "nesting is too deep to parse"
CASES: dict[str, Case] = {
    "invalid_yaml.yml": Case(
        "invalid_yaml.yml:2:6: high: invalid YAML: did not find expected ','",
        "invalid_yaml.yml:2:6: invalid YAML: did not find expected ','",
    ),
    "tab_indentation.yml": Case(
        "tab_indentation.yml:14:1: high: invalid YAML: tab character; indent with spaces",
        "tab_indentation.yml:14:1: invalid YAML: tab character",
    ),
    "duplicate_key.yml": Case(
        "duplicate_key.yml:17:9: high: duplicate key 'CommandLine|contains' (first defined on"
        " line 16)",
        "duplicate_key.yml:17:9: duplicate key 'CommandLine|contains'",
    ),
    "duplicate_top_key.yml": Case(
        "duplicate_top_key.yml:21:1: high: duplicate key 'level' (first defined on line 20)",
        "duplicate_top_key.yml:21:1: duplicate key 'level'",
    ),
    "empty.yml": Case("empty.yml: high: file is empty", "empty.yml: file is empty"),
    "comments_only.yml": Case(
        "comments_only.yml: high: file is empty", "comments_only.yml: file is empty"
    ),
    "binary.yml": Case(
        "binary.yml: high: binary file (NUL byte at offset 7), not YAML",
        "binary.yml: binary file (NUL byte at offset 7), not YAML",
    ),
    "latin1.yml": Case(
        "latin1.yml: high: not UTF-8 text (invalid byte at offset 10)",
        "latin1.yml: not UTF-8 text (invalid byte at offset 10)",
    ),
    "alias_bomb.yml": Case(
        "alias_bomb.yml:1:1: high: YAML aliases or size expand the rule to more than 100000",
        "alias_bomb.yml:1:1: YAML aliases or size expand the rule to more than 100000",
    ),
    "recursive_alias.yml": Case(
        "recursive_alias.yml:14:16: high: YAML alias refers to a value that contains it",
        "recursive_alias.yml:14:16: YAML alias refers to a value that contains it",
    ),
    "deep_flow_nesting.yml": Case(
        f"deep_flow_nesting.yml:2:1011: high: invalid YAML: {TOO_DEEP}",
        f"deep_flow_nesting.yml:2:1011: invalid YAML: {TOO_DEEP}",
    ),
    "deep_block_nesting.yml": Case(
        "deep_block_nesting.yml:66:129: high: values are nested more than 64 levels deep",
        "deep_block_nesting.yml:66:129: values are nested more than 64 levels deep",
    ),
    "missing_condition.yml": Case(
        "missing_condition.yml:13:1: high: invalid Sigma rule: 'detection' has no 'condition'",
        "missing_condition.yml:13:1: invalid Sigma rule: 'detection' has no 'condition'",
    ),
    "dangling_condition.yml": Case(
        "dangling_condition.yml:17:34: high: invalid Sigma rule: Detection 'filter' not defined",
        "dangling_condition.yml:17:34: invalid Sigma rule: Detection 'filter' not defined",
    ),
    "condition_syntax.yml": Case(
        "condition_syntax.yml:17:26: high: invalid Sigma rule: Detection 'and' not defined",
        "condition_syntax.yml:17:26: invalid Sigma rule: Detection 'and' not defined",
    ),
    "condition_number.yml": Case(
        "condition_number.yml:17:16: high: invalid Sigma rule: 'condition' must be text",
        "condition_number.yml:17:16: invalid Sigma rule: 'condition' must be text",
    ),
    "unknown_modifier.yml": Case(
        "unknown_modifier.yml:16:9: high: invalid Sigma rule: Unknown modifier 'containz'",
        "unknown_modifier.yml:16:9: invalid Sigma rule: Unknown modifier 'containz'",
    ),
    "invalid_regex.yml": Case(
        "invalid_regex.yml:16:25: high: invalid Sigma rule: Regular expression '(unclosed['"
        " is invalid",
        "invalid_regex.yml:16:25: invalid Sigma rule: Regular expression '(unclosed['",
    ),
    "id_not_text.yml": Case(
        "id_not_text.yml:2:5: high: invalid Sigma rule: 'id' must be text, not a number",
        "id_not_text.yml:2:5: invalid Sigma rule: 'id' must be text, not a number",
    ),
    "id_path_traversal.yml": Case(
        "id_path_traversal.yml:2:1: high: invalid Sigma rule: Sigma rule identifier must be an"
        " UUID",
        "id_path_traversal.yml:2:1: invalid Sigma rule: Sigma rule identifier must be an UUID",
    ),
    "mapping_as_value.yml": Case(
        "mapping_as_value.yml:17:13: high: invalid Sigma rule: value of 'CommandLine|contains'"
        " is a mapping",
        "mapping_as_value.yml:17:13: invalid Sigma rule: value of 'CommandLine|contains' is a"
        " mapping",
    ),
    "list_as_tags.yml": Case(
        "list_as_tags.yml:7:7: high: invalid Sigma rule: 'tags' must be a list of text",
        "list_as_tags.yml:7:7: invalid Sigma rule: 'tags' must be a list of text",
    ),
    "field_name_number.yml": Case(
        "field_name_number.yml:16:9: high: invalid Sigma rule: field name 12345 must be text",
        "field_name_number.yml:16:9: invalid Sigma rule: field name 12345 must be text",
    ),
    "empty_selection.yml": Case(
        "empty_selection.yml:14:15: high: invalid Sigma rule: search identifier 'selection' is"
        " empty",
        "empty_selection.yml:14:15: invalid Sigma rule: search identifier 'selection' is empty",
    ),
    "impossible_date.yml": Case(
        "impossible_date.yml:6:7: high: invalid YAML value: month must be in 1..12",
        "impossible_date.yml:6:7: invalid YAML value: month must be in 1..12",
    ),
    "several_documents.yml": Case(
        "several_documents.yml:22:1: high: file contains several YAML documents",
        "several_documents.yml:22:1: file contains several YAML documents",
    ),
    "not_a_mapping.yml": Case(
        "not_a_mapping.yml:1: high: a rule must be a YAML mapping",
        "not_a_mapping.yml:1: a rule must be a YAML mapping",
    ),
    "title_path_traversal.yml": Case(
        "title_path_traversal.yml:1:8: high: title contains a relative path", None
    ),
    "title_control_characters.yml": Case(
        "title_control_characters.yml:1:8: high: title contains a control character", None
    ),
    "unknown_attack_tag.yml": Case(
        "unknown_attack_tag.yml:9:7: medium: Invalid MITRE ATT&CK tagging (tag 'attack.t9999.999')",
        None,
    ),
    "huge.yml": Case(
        "huge.yml: high: file is 20971520 bytes; a rule file may have at most 1000000",
        "huge.yml: file is 20971520 bytes; a rule file may have at most 1000000",
    ),
    "symlink_loop": Case(
        "symlink_loop: high: symbolic link loop: it points to",
        "symlink_loop: symbolic link loop: it points to",
    ),
    "self_link.yml": Case(
        "self_link.yml: high: symbolic link loop", "self_link.yml: symbolic link loop"
    ),
    "unreadable.yml": Case(
        "unreadable.yml: high: cannot read file: Permission denied",
        "unreadable.yml: cannot read file: Permission denied",
    ),
}

# Files that are only hostile together: each names the other's id.
DUPLICATE_IDS = ("duplicate_id_first.yml", "duplicate_id_second.yml")


def make_huge(rules: Path) -> None:
    line = "# " + "x" * 1021 + "\n"
    with (rules / "huge.yml").open("w", encoding="utf-8") as stream:
        stream.write("title: huge\n")
        stream.write(line * (20 * 1024 - 1))
        stream.write("#" * (1024 - len("title: huge\n") - 1) + "\n")


def make_symlink_loop(rules: Path) -> None:
    (rules / "symlink_loop").symlink_to(rules)


def make_self_link(rules: Path) -> None:
    (rules / "self_link.yml").symlink_to(rules / "self_link.yml")


def make_unreadable(rules: Path) -> None:
    path = rules / "unreadable.yml"
    shutil.copyfile(GOOD_RULE, path)
    path.chmod(0)


GENERATED: dict[str, Callable[[Path], None]] = {
    "huge.yml": make_huge,
    "symlink_loop": make_symlink_loop,
    "self_link.yml": make_self_link,
    "unreadable.yml": make_unreadable,
}


@dataclass(frozen=True)
class Run:
    """The outcome of one command run: exit code, output, time and peak memory."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_bytes: int


def _limit_child() -> None:
    """Cap the child's address space, and make root subject to file permissions.

    CI runs as root, which reads files whatever their mode. Dropping CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH from the bounding set before exec removes them from the child, so a
    chmod 000 file is unreadable there as for any other user.
    """
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def run_measured(args: list[str], cwd: Path) -> Run:
    """Run sigmapack in a subprocess and measure its wall time and peak resident memory."""
    stdout_path = cwd / ".stdout"
    stderr_path = cwd / ".stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "converter", *args],
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            preexec_fn=_limit_child,
        )
        watchdog = threading.Timer(KILL_AFTER_SECONDS, process.kill)
        watchdog.start()
        try:
            # wait4 reports the child's peak RSS, including the worker processes it reaped.
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    run = Run(
        process.returncode,
        stdout_path.read_text(encoding="utf-8", errors="replace"),
        stderr_path.read_text(encoding="utf-8", errors="replace"),
        seconds,
        usage.ru_maxrss * 1024,
    )
    stdout_path.unlink()
    stderr_path.unlink()
    print(
        f"hostile-measure {args[0]} {cwd.name}: {seconds:.2f} s,"
        f" {run.max_rss_bytes / 1024**2:.0f} MB, exit {run.code}"
    )
    return run


def files_outside(root: Path, allowed: tuple[str, ...]) -> set[str]:
    """Return every file below root, not following links, outside the allowed top folders."""
    found = set()
    for folder, _, names in os.walk(root):
        relative = Path(folder).relative_to(root)
        if relative.parts and relative.parts[0] in allowed:
            continue
        found.update((relative / name).as_posix() for name in names)
    return found


def setup_rules(root: Path, names: list[str]) -> Path:
    rules = root / "rules"
    good_folder = rules / "windows" / "process_creation"
    good_folder.mkdir(parents=True)
    shutil.copyfile(GOOD_RULE, good_folder / GOOD_RULE.name)
    for name in names:
        if name in GENERATED:
            GENERATED[name](rules)
        else:
            shutil.copyfile(CORPUS / name, rules / name)
    return rules


def assert_bounded(run: Run) -> None:
    assert "Traceback" not in run.stderr
    assert run.seconds < MAX_SECONDS
    assert run.max_rss_bytes < MAX_RSS_BYTES


def assert_good_rule_checked(run: Run) -> None:
    report = json.loads(run.stdout)
    by_name = {Path(item["path"]).name: item for item in report["files"]}
    assert by_name[GOOD_RULE.name]["passed"] is True
    assert by_name[GOOD_RULE.name]["findings"] == []


def assert_good_rule_converted(root: Path) -> None:
    assert (root / "output" / "kql" / f"{GOOD_RULE.stem}.kql").is_file()
    assert (root / "output" / "splunk" / f"{GOOD_RULE.stem}.spl").is_file()


def assert_no_partial_files(root: Path) -> None:
    leftovers = [path for path in (root / "output").rglob(".*") if path.is_file()]
    assert leftovers == []


def test_corpus_has_every_committed_file() -> None:
    committed = {path.name for path in CORPUS.iterdir()}
    listed = {name for name in CASES if name not in GENERATED} | set(DUPLICATE_IDS)
    assert committed == listed
    assert len(committed) + len(GENERATED) >= 25


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_reports_hostile_file(name: str, tmp_path: Path) -> None:
    setup_rules(tmp_path, [name])
    before = files_outside(tmp_path, ("rules",))

    run = run_measured(["check", "--format", "json", "rules"], tmp_path)
    assert run.code == 1
    assert_bounded(run)
    assert_good_rule_checked(run)
    assert files_outside(tmp_path, ("rules",)) == before

    text = run_measured(["check", "rules"], tmp_path)
    assert CASES[name].check_message in text.stdout
    assert text.code == 1
    assert_bounded(text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_convert_reports_hostile_file(name: str, tmp_path: Path) -> None:
    setup_rules(tmp_path, [name])
    before = files_outside(tmp_path, ("rules", "output"))
    expected = CASES[name].convert_message

    run = run_measured(["convert", "--output", "output", "rules"], tmp_path)
    assert_bounded(run)
    assert_good_rule_converted(tmp_path)
    assert_no_partial_files(tmp_path)
    assert files_outside(tmp_path, ("rules", "output")) == before
    if expected is None:
        assert run.code == 0, run.stderr
        stem = Path(name).stem
        assert (tmp_path / "output" / "kql" / f"{stem}.kql").is_file()
    else:
        assert run.code == 1
        assert expected in run.stderr
        assert len([line for line in run.stderr.splitlines() if name in line]) == 1


def test_duplicate_ids_fail_check(tmp_path: Path) -> None:
    setup_rules(tmp_path, list(DUPLICATE_IDS))
    run = run_measured(["check", "rules"], tmp_path)
    assert run.code == 1
    assert_bounded(run)
    for name, other in (DUPLICATE_IDS, tuple(reversed(DUPLICATE_IDS))):
        expected = (
            f"rules/{name}:2:1: high: Rule identifier used by multiple rules (identifier"
            f" '7d1c4d0e-3b1a-4f6e-9c2d-5a8b7e6f1a2b'); also in rules/{other}"
        )
        assert expected in run.stdout


def test_duplicate_ids_still_convert(tmp_path: Path) -> None:
    setup_rules(tmp_path, list(DUPLICATE_IDS))
    run = run_measured(["convert", "--output", "output", "rules"], tmp_path)
    assert run.code == 0, run.stderr
    assert_bounded(run)
    for name in DUPLICATE_IDS:
        assert (tmp_path / "output" / "kql" / f"{Path(name).stem}.kql").is_file()


def test_whole_corpus_in_one_run(tmp_path: Path) -> None:
    names = sorted(CASES) + list(DUPLICATE_IDS)
    setup_rules(tmp_path, names)

    check = run_measured(["check", "rules"], tmp_path)
    assert check.code == 1
    assert "Traceback" not in check.stderr
    for name, case in CASES.items():
        assert case.check_message in check.stdout, name

    convert = run_measured(["convert", "--output", "output", "rules"], tmp_path)
    assert convert.code == 1
    assert "Traceback" not in convert.stderr
    assert_good_rule_converted(tmp_path)
    for name, case in CASES.items():
        if case.convert_message is not None:
            assert case.convert_message in convert.stderr, name
