"""Tests of rule file discovery and loading: positions, YAML limits, links, merged errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from converter.rule_yaml import MAX_DEPTH, MAX_NODES, Position, YamlProblem, load_document
from converter.rules import (
    RuleError,
    combine_errors_by_file,
    find_rule_files,
    load_rule,
    try_load_rule,
)

GOOD_RULE = """\
title: Good
id: 5b0b2f2c-8a5f-4e8e-9a57-1f0f3d2d7c11
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        CommandLine|contains: evil
    condition: selection
level: low
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def only_error(path: Path) -> RuleError:
    loaded, errors = try_load_rule(path)
    assert loaded is None
    assert len(errors) == 1, errors
    return errors[0]


def test_locations_of_keys_and_values() -> None:
    _, locations = load_document(GOOD_RULE)
    assert locations.key(("detection", "selection", "CommandLine|contains")) == Position(8, 9)
    assert locations.value(("detection", "selection", "CommandLine|contains")) == Position(8, 31)
    assert locations.key(("level",)) == Position(10, 1)


def test_sequence_items_have_positions() -> None:
    _, locations = load_document("tags:\n    - a\n    - b\n")
    assert locations.value(("tags", 1)) == Position(3, 7)


def test_find_key_returns_first_in_file() -> None:
    _, locations = load_document("a:\n  x: 1\nb:\n  x: 2\n")
    assert locations.find_key("x") == ("a", "x")
    assert locations.find_key("x", under=("b",)) == ("b", "x")


def test_duplicate_key_names_both_lines() -> None:
    with pytest.raises(YamlProblem) as raised:
        load_document("title: a\nlevel: low\ntitle: b\n")
    assert raised.value.position == Position(3, 1)
    assert "duplicate key 'title' (first defined on line 1)" in raised.value.message


def test_duplicate_nested_key_is_rejected(tmp_path: Path) -> None:
    text = GOOD_RULE.replace(
        "        CommandLine|contains: evil\n",
        "        CommandLine|contains: evil\n        CommandLine|contains: good\n",
    )
    error = only_error(write(tmp_path, "dup.yml", text))
    assert (error.line, error.column) == (9, 9)
    assert "duplicate key 'CommandLine|contains'" in error.message


def test_merge_keys_are_not_duplicates() -> None:
    document, _ = load_document("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    assert document == {"base": {"x": 1}, "other": {"x": 1, "y": 2}}


def test_alias_bomb_is_rejected_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(YamlProblem) as raised:
        load_document("\n".join(lines) + "\n")
    assert f"more than {MAX_NODES} values" in raised.value.message


def test_recursive_alias_is_rejected() -> None:
    with pytest.raises(YamlProblem) as raised:
        load_document("a: &loop\n  - *loop\n")
    assert "contains it" in raised.value.message


def test_nesting_limit() -> None:
    deep = "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"
    with pytest.raises(YamlProblem) as raised:
        load_document(deep)
    assert f"more than {MAX_DEPTH} levels" in raised.value.message


def test_several_documents_are_rejected() -> None:
    with pytest.raises(YamlProblem) as raised:
        load_document("title: a\n---\ntitle: b\n")
    assert raised.value.position == Position(3, 1)


def test_tab_indentation_message(tmp_path: Path) -> None:
    error = only_error(write(tmp_path, "tab.yml", "title: a\ndetection:\n\tselection: x\n"))
    assert error.line == 3
    assert "tab character; indent with spaces" in error.message


def test_impossible_date_is_located(tmp_path: Path) -> None:
    error = only_error(write(tmp_path, "date.yml", GOOD_RULE + "date: 2026-13-45\n"))
    assert (error.line, error.column) == (11, 7)
    assert "yyyy-mm-dd" in error.message


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bin.yml"
    path.write_bytes(b"title: a\n\x00\x01\x02")
    error = only_error(path)
    assert error.message == "binary file (NUL byte at offset 9), not YAML"


def test_oversized_file_is_rejected_without_reading_all(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    with path.open("wb") as stream:
        stream.truncate(5_000_000)
    assert "a rule file may have at most 1000000" in only_error(path).message


@pytest.mark.parametrize(
    ("replacement", "message", "line", "column"),
    [
        (
            ("condition: selection", "condition: selection and filter"),
            "'filter' not defined",
            9,
            30,
        ),
        (("CommandLine|contains", "CommandLine|bogus"), "Unknown modifier 'bogus'", 8, 9),
        (
            ("CommandLine|contains: evil", "CommandLine|contains:\n            a: b"),
            "value of 'CommandLine|contains' is a mapping",
            9,
            13,
        ),
        (("CommandLine|contains: evil", "5: evil"), "field name 5 must be text", 8, 9),
        (("id: 5b0b2f2c-8a5f-4e8e-9a57-1f0f3d2d7c11", "id: 12"), "'id' must be text", 2, 5),
        (("level: low", "level: severe"), "'severe' is not a valid Sigma rule level", 10, 1),
        (("    condition: selection\n", ""), "'detection' has no 'condition'", 6, 1),
        (("condition: selection", "condition: 5"), "'condition' must be text", 9, 16),
    ],
)
def test_sigma_errors_are_located(
    tmp_path: Path, replacement: tuple[str, str], message: str, line: int, column: int
) -> None:
    error = only_error(write(tmp_path, "rule.yml", GOOD_RULE.replace(*replacement)))
    assert message in error.message
    assert (error.line, error.column) == (line, column)


def test_error_carries_rule_id(tmp_path: Path) -> None:
    error = only_error(write(tmp_path, "r.yml", GOOD_RULE.replace("level: low", "level: x")))
    assert error.rule_id == "5b0b2f2c-8a5f-4e8e-9a57-1f0f3d2d7c11"


def test_loaded_rule_keeps_document_and_locations(tmp_path: Path) -> None:
    loaded = load_rule(write(tmp_path, "good.yml", GOOD_RULE))
    assert loaded.document["title"] == "Good"
    assert loaded.locations.key(("title",)) == Position(1, 1)


def test_symlink_loop_is_reported(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "sub").mkdir(parents=True)
    write(rules / "sub", "good.yml", GOOD_RULE)
    (rules / "sub" / "back").symlink_to(rules)
    (rules / "self.yml").symlink_to(rules / "self.yml")
    files, errors = find_rule_files([rules])
    assert files == [rules / "sub" / "good.yml"]
    messages = {error.path.name: error.message for error in errors}
    assert messages["back"].startswith("symbolic link loop: it points to")
    assert messages["self.yml"].startswith("symbolic link loop")


def test_broken_link_and_fifo_are_reported(tmp_path: Path) -> None:
    (tmp_path / "gone.yml").symlink_to(tmp_path / "missing.yml")
    os.mkfifo(tmp_path / "pipe.yml")
    files, errors = find_rule_files([tmp_path])
    assert files == []
    messages = {error.path.name: error.message for error in errors}
    assert messages["gone.yml"].startswith("broken symbolic link to ")
    assert messages["pipe.yml"] == "not a regular file; a rule must be a YAML file"


def test_linked_folder_is_followed_once(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    write(tmp_path / "real", "good.yml", GOOD_RULE)
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    files, errors = find_rule_files([tmp_path])
    assert errors == []
    assert len(files) == 1


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.yml", GOOD_RULE)

    def deny(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    # chmod 000 does not stop root, which CI runs as, so the open call is made to fail.
    monkeypatch.setattr(Path, "open", deny)
    assert only_error(path).message == "cannot read file: Permission denied"


def test_combine_errors_lists_targets_once() -> None:
    path = Path("rule.yml")
    merged = combine_errors_by_file(
        [
            RuleError(path, "cannot convert to kql: field 'X' cannot be mapped", 3, 5),
            RuleError(Path("other.yml"), "invalid YAML: bad"),
            RuleError(path, "cannot convert to splunk: field 'X' cannot be mapped"),
            RuleError(path, "cannot convert to eql: no backend"),
        ]
    )
    assert [str(error) for error in merged] == [
        "rule.yml:3:5: cannot convert to kql, splunk: field 'X' cannot be mapped;"
        " cannot convert to eql: no backend",
        "other.yml: invalid YAML: bad",
    ]


def test_rule_error_survives_pickling() -> None:
    error = RuleError(Path("rule.yml"), "invalid YAML: bad", 3, 5, "an-id")
    assert pickle.loads(pickle.dumps(error)) == error
