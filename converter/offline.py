"""Run pySigma without network access, on the MITRE ATT&CK data shipped with sigmapack.

pySigma 1.5.1 downloads data on first use. ``sigma.data.mitre_attack`` fetches the Enterprise
ATT&CK STIX bundle from GitHub and ``sigma.data.mitre_d3fend`` fetches the D3FEND ontology from
d3fend.mitre.org, both with ``urllib.request.urlopen``, and both store the parsed result in a
diskcache (pickle) database under ``~/.cache/pysigma``. The ATT&CK tables are read by the
``attacktag`` validator (ATTACKTagValidator) and by the SIEM rule output formats of the
Elasticsearch backends. The D3FEND tables are read only by the ``d3_fendtag`` validator
(D3FENDTagValidator).

``use_pinned_data()`` serves the ATT&CK tables from converter/data/mitre_attack.json (built by
tools/build_attack_data.py) and makes every remaining download path in those two modules raise
``OfflineDataError``. No D3FEND data is available offline, so it also removes ``d3_fendtag``
from pySigma's registry of core validators.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Final, NoReturn

if TYPE_CHECKING:
    from sigma.validators.base import SigmaRuleValidator

ATTACK_DATA_FILE: Final = "mitre_attack.json"

# Layout version of ATTACK_DATA_FILE that this module reads.
SUPPORTED_FORMAT_VERSION: Final = 1

# Keys of the dictionary that pySigma's ATT&CK loader returns and that the shipped file contains.
ATTACK_DATA_KEYS: Final = frozenset(
    {
        "mitre_attack_version",
        "mitre_attack_tactics",
        "mitre_attack_techniques",
        "mitre_attack_techniques_tactics_mapping",
        "mitre_attack_intrusion_sets",
        "mitre_attack_software",
        "mitre_attack_datasources",
        "mitre_attack_mitigations",
    }
)

# pySigma core validators that cannot run offline, with the reason. The keys are pySigma's
# identifiers from validator_classname_to_identifier, so D3FENDTagValidator is d3_fendtag.
UNAVAILABLE_VALIDATORS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "d3_fendtag": "it reads the MITRE D3FEND ontology, which sigmapack does not ship",
    }
)


class OfflineDataError(RuntimeError):
    """Error raised in place of a download when pySigma requests data that is not shipped."""


@cache
def pinned_attack_data() -> dict[str, Any]:
    """Load the shipped ATT&CK tables once, in the shape pySigma's loader returns.

    Raises OfflineDataError if the file is missing keys or has an unsupported layout.
    """
    text = (resources.files("converter") / "data" / ATTACK_DATA_FILE).read_text(encoding="utf-8")
    document = json.loads(text)

    format_version = document.get("format_version")
    if format_version != SUPPORTED_FORMAT_VERSION:
        raise OfflineDataError(
            f"converter/data/{ATTACK_DATA_FILE} has format_version {format_version!r}, "
            f"expected {SUPPORTED_FORMAT_VERSION}. Rebuild it with tools/build_attack_data.py"
        )

    data: dict[str, Any] = document["data"]
    missing = ATTACK_DATA_KEYS - data.keys()
    if missing:
        raise OfflineDataError(
            f"converter/data/{ATTACK_DATA_FILE} is missing the keys {sorted(missing)}. "
            "Rebuild it with tools/build_attack_data.py"
        )
    return data


def attack_version() -> str:
    """Return the version of the shipped MITRE ATT&CK data, for example "18.1"."""
    return str(pinned_attack_data()["mitre_attack_version"])


def use_pinned_data() -> None:
    """Make pySigma read the shipped ATT&CK data and raise instead of downloading anything.

    Call it before any pySigma code reads ATT&CK or D3FEND data. Every call installs the same
    replacements again, so repeated calls are harmless and cost a few attribute assignments.
    """
    from sigma.data import mitre_attack, mitre_d3fend
    from sigma.validators import core

    # The modules' __getattr__ serves every mitre_attack_* / mitre_d3fend_* name from
    # _get_cached_data(), so replacing it bypasses the download and the on-disk cache.
    _replace(mitre_attack, "_get_cached_data", _attack_source[0])
    _replace(mitre_d3fend, "_get_cached_data", _reject_d3fend_data)

    # Code that calls a loader directly, bypassing _get_cached_data(), reaches urlopen when the
    # disk cache has no entry.
    _replace(mitre_attack, "urlopen", _reject_download)
    _replace(mitre_d3fend, "urlopen", _reject_download)

    # SigmaValidator.from_dict ("all") and InstalledSigmaPlugins.autodiscover() both read
    # this dictionary, so a removed validator is unknown to them.
    for identifier in UNAVAILABLE_VALIDATORS:
        core.validators.pop(identifier, None)


# The function that serves ATT&CK tables to pySigma: the shipped data unless
# use_attack_bundle() chose a bundle given by the user.
_attack_source: list[Callable[[], dict[str, Any]]] = [pinned_attack_data]


class _NoCache:
    """Stands in for pySigma's disk cache while a local bundle is parsed: stores nothing."""

    def get(self, key: str) -> None:
        return None

    def set(self, key: str, value: object) -> None:
        return None


def load_attack_bundle(path: Path) -> dict[str, Any]:
    """Parse a MITRE ATT&CK Enterprise STIX bundle file into the tables pySigma uses.

    The parsing is pySigma's own (sigma.data.mitre_attack), run on the local file with its
    disk cache and downloads disabled. Raises OfflineDataError if the file can't be used.
    """
    from sigma.data import mitre_attack

    use_pinned_data()  # downloads stay rejected while the file is parsed
    saved = (mitre_attack._custom_url, mitre_attack._get_cache)
    _replace(mitre_attack, "_custom_url", str(path))
    _replace(mitre_attack, "_get_cache", _NoCache)
    try:
        data = mitre_attack._load_mitre_attack_data()
    except RuntimeError as err:
        cause = err.__cause__ or err
        raise OfflineDataError(f"cannot read the ATT&CK bundle {path}: {cause}") from err
    finally:
        _replace(mitre_attack, "_custom_url", saved[0])
        _replace(mitre_attack, "_get_cache", saved[1])

    if not data["mitre_attack_techniques"] or not data["mitre_attack_tactics"]:
        raise OfflineDataError(
            f"{path} contains no ATT&CK tactics or techniques; give the Enterprise ATT&CK STIX"
            " bundle (enterprise-attack.json)"
        )
    return dict(data)


@contextmanager
def attack_bundle(path: Path) -> Iterator[str]:
    """Serve pySigma the ATT&CK tables of a local STIX bundle inside the with block.

    Yields the bundle's ATT&CK version; the shipped data is served again afterwards. Raises
    OfflineDataError if the file can't be used.
    """
    data = load_attack_bundle(path)
    _attack_source[0] = lambda: data
    try:
        use_pinned_data()
        yield str(data["mitre_attack_version"])
    finally:
        _attack_source[0] = pinned_attack_data
        use_pinned_data()


def available_validators() -> dict[str, type[SigmaRuleValidator]]:
    """Return pySigma's core validator classes that work offline, keyed by identifier.

    Calls use_pinned_data() first.
    """
    from sigma.validators import core

    use_pinned_data()
    return dict(core.validators)


def _replace(module: ModuleType, name: str, value: object) -> None:
    setattr(module, name, value)


def _reject_download(url: object, *args: object, **kwargs: object) -> NoReturn:
    raise OfflineDataError(
        f"download of {url!r} rejected because sigmapack runs pySigma offline. ATT&CK data "
        f"comes from converter/data/{ATTACK_DATA_FILE}, and no D3FEND data is shipped"
    )


def _reject_d3fend_data() -> NoReturn:
    raise OfflineDataError(
        "MITRE D3FEND data is not available offline because sigmapack does not ship it. "
        "Run the validators from converter.offline.available_validators(), which omit d3_fendtag"
    )
