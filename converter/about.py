"""Versions of sigmapack and of the data and libraries that decide its results."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from converter import __version__


def versions() -> dict[str, str]:
    """Return the versions of sigmapack, pySigma and the shipped ATT&CK data."""
    from converter.offline import attack_version

    try:
        pysigma = version("pySigma")
    except PackageNotFoundError:
        pysigma = "unknown"
    return {"sigmapack": __version__, "pysigma": pysigma, "attack": attack_version()}


def version_line() -> str:
    """Return the `sigmapack --version` text.

    For example "sigmapack 0.1.0 (pySigma 1.5.1, ATT&CK 18.1)".
    """
    found = versions()
    return f"sigmapack {found['sigmapack']} (pySigma {found['pysigma']}, ATT&CK {found['attack']})"
