"""Map one Sysmon-shaped event to an MDE table row and to an ECS document, and back.

`sigmapack test` keeps each event of its corpus in one shape: a Sysmon event (the fields
of Sysmon's EventData plus EventID, Channel and the host name), or a real Microsoft
Defender for Endpoint (MDE) DeviceProcessEvents row. These functions derive the other
shapes, so every event can be run in every target's engine:

- Sysmon event ID 1 (process creation) becomes a DeviceProcessEvents row, and event ID 13
  (registry value set) a DeviceRegistryEvents row, as MDE's advanced-hunting schema
  documents those tables.
- Sysmon events become ECS documents as Winlogbeat's Sysmon module writes them, given here
  as flat `field.name -> value` maps, the way the Elasticsearch index mapping sees them.
- A real MDE process row becomes a Sysmon event ID 1, for the Sigma and ECS engines.
"""

from __future__ import annotations

import re
from typing import Any

Event = dict[str, Any]

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
PROCESS_CREATION = 1
REGISTRY_VALUE_SET = 13

PROCESS_TABLE = "DeviceProcessEvents"
REGISTRY_TABLE = "DeviceRegistryEvents"

HIVES = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKU": "HKEY_USERS",
    "HKCU": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
}

# Sysmon's EventData fields per event ID (Sysmon 13 schema). Winlogbeat copies them to
# winlog.event_data; the other keys of a recorded event are event-log metadata.
EVENT_DATA_FIELDS = {
    PROCESS_CREATION: (
        "RuleName",
        "UtcTime",
        "ProcessGuid",
        "ProcessId",
        "Image",
        "FileVersion",
        "Description",
        "Product",
        "Company",
        "OriginalFileName",
        "CommandLine",
        "CurrentDirectory",
        "User",
        "LogonGuid",
        "LogonId",
        "TerminalSessionId",
        "IntegrityLevel",
        "Hashes",
        "ParentProcessGuid",
        "ParentProcessId",
        "ParentImage",
        "ParentCommandLine",
        "ParentUser",
    ),
    REGISTRY_VALUE_SET: (
        "RuleName",
        "EventType",
        "UtcTime",
        "ProcessGuid",
        "ProcessId",
        "Image",
        "TargetObject",
        "Details",
        "User",
    ),
}

DWORD_PATTERN = re.compile(r"^DWORD \(0x([0-9a-fA-F]{1,8})\)$")
QWORD_PATTERN = re.compile(r"^QWORD \(0x([0-9a-fA-F]{1,8})-0x([0-9a-fA-F]{1,8})\)$")


class EventShapeError(ValueError):
    """An event that lacks what a mapping needs, such as its EventID."""


def event_id(sysmon: Event) -> int:
    """Return the Sysmon event ID of an event, or raise EventShapeError."""
    value = sysmon.get("EventID")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise EventShapeError(f"EventID is {value!r}, expected a Sysmon event ID such as 1 or 13")


def mde_table(sysmon: Event) -> str:
    """Return the MDE table that a Sysmon event maps to."""
    number = event_id(sysmon)
    if number == PROCESS_CREATION:
        return PROCESS_TABLE
    if number == REGISTRY_VALUE_SET:
        return REGISTRY_TABLE
    raise EventShapeError(f"Sysmon event ID {number} has no MDE mapping; use 1 or 13")


def sysmon_to_mde(sysmon: Event) -> Event:
    """Map a Sysmon event ID 1 or 13 to a DeviceProcessEvents or DeviceRegistryEvents row.

    Columns that the event has no data for are left out (NULL in the table).
    """
    if mde_table(sysmon) == PROCESS_TABLE:
        return _process_row(sysmon)
    return _registry_row(sysmon)


def _process_row(sysmon: Event) -> Event:
    domain, account = split_user(sysmon.get("User"))
    row: Event = {
        "ActionType": "ProcessCreated",
        "DeviceName": _device_name(sysmon),
        "FileName": file_name(sysmon.get("Image")),
        "FolderPath": sysmon.get("Image"),
        "ProcessCommandLine": sysmon.get("CommandLine"),
        "ProcessId": _integer(sysmon.get("ProcessId")),
        "ProcessIntegrityLevel": sysmon.get("IntegrityLevel"),
        "ProcessVersionInfoOriginalFileName": sysmon.get("OriginalFileName"),
        "ProcessVersionInfoCompanyName": sysmon.get("Company"),
        "ProcessVersionInfoProductName": sysmon.get("Product"),
        "ProcessVersionInfoFileDescription": sysmon.get("Description"),
        "AccountDomain": domain,
        "AccountName": account,
        "LogonId": _integer(sysmon.get("LogonId")),
        "InitiatingProcessFileName": file_name(sysmon.get("ParentImage")),
        # Real MDE rows hold the folder only in InitiatingProcessFolderPath, but the whole
        # path, file name included, in FolderPath.
        "InitiatingProcessFolderPath": folder(sysmon.get("ParentImage")),
        "InitiatingProcessCommandLine": sysmon.get("ParentCommandLine"),
        "InitiatingProcessId": _integer(sysmon.get("ParentProcessId")),
    }
    return {name: value for name, value in row.items() if value is not None}


def _registry_row(sysmon: Event) -> Event:
    key, value_name = split_target_object(sysmon.get("TargetObject"))
    data, data_type = registry_data(sysmon.get("Details"))
    domain, account = split_user(sysmon.get("User"))
    row: Event = {
        "ActionType": "RegistryValueSet",
        "DeviceName": _device_name(sysmon),
        "RegistryKey": key,
        "RegistryValueName": value_name,
        "RegistryValueData": data,
        "RegistryValueType": data_type,
        "InitiatingProcessFileName": file_name(sysmon.get("Image")),
        "InitiatingProcessFolderPath": folder(sysmon.get("Image")),
        "InitiatingProcessId": _integer(sysmon.get("ProcessId")),
        "InitiatingProcessAccountDomain": domain,
        "InitiatingProcessAccountName": account,
    }
    return {name: value for name, value in row.items() if value is not None}


def mde_to_sysmon(table: str, row: Event) -> Event:
    """Map a real DeviceProcessEvents row to a Sysmon event ID 1."""
    if table != PROCESS_TABLE:
        raise EventShapeError(f"only {PROCESS_TABLE} rows map to Sysmon events, not {table}")
    parent_folder = row.get("InitiatingProcessFolderPath")
    parent_name = row.get("InitiatingProcessFileName")
    parent_image = f"{parent_folder}\\{parent_name}" if parent_folder and parent_name else None
    domain, account = row.get("AccountDomain"), row.get("AccountName")
    user = f"{domain}\\{account}" if domain and account else account
    event: Event = {
        "EventID": PROCESS_CREATION,
        "Channel": SYSMON_CHANNEL,
        "Hostname": row.get("DeviceName"),
        "Image": row.get("FolderPath"),
        "CommandLine": row.get("ProcessCommandLine"),
        "ProcessId": row.get("ProcessId"),
        "OriginalFileName": row.get("ProcessVersionInfoOriginalFileName"),
        "IntegrityLevel": row.get("ProcessIntegrityLevel"),
        "User": user,
        "ParentImage": parent_image,
        "ParentCommandLine": row.get("InitiatingProcessCommandLine"),
        "ParentProcessId": row.get("InitiatingProcessId"),
    }
    return {name: value for name, value in event.items() if value is not None}


def sysmon_to_ecs(sysmon: Event) -> Event:
    """Map a Sysmon event ID 1 or 13 to flat ECS fields as Winlogbeat's Sysmon module does.

    Every EventData field is also kept as `winlog.event_data.<name>`. String fields of the
    process get a `.caseless` twin holding the lower-cased value, which is how Elastic's
    index templates expose the `caseless` multi-field that pySigma's ECS pipeline queries.
    """
    number = event_id(sysmon)
    if number not in EVENT_DATA_FIELDS:
        raise EventShapeError(f"Sysmon event ID {number} has no ECS mapping; use 1 or 13")

    document: Event = {
        "event.code": str(number),
        "event.provider": "Microsoft-Windows-Sysmon",
        "winlog.channel": sysmon.get("Channel", SYSMON_CHANNEL),
        "winlog.event_id": str(number),
        "host.name": sysmon.get("Hostname") or sysmon.get("Computer"),
    }
    for name in EVENT_DATA_FIELDS[number]:
        if sysmon.get(name) is not None:
            document[f"winlog.event_data.{name}"] = sysmon[name]

    if number == PROCESS_CREATION:
        document.update(_ecs_process(sysmon))
    else:
        document.update(_ecs_registry(sysmon))
    for name in [name for name in document if name in CASELESS_FIELDS]:
        if isinstance(document[name], str):
            document[f"{name}.caseless"] = document[name].lower()
    return {name: value for name, value in document.items() if value is not None}


CASELESS_FIELDS = frozenset(
    {"process.executable", "process.name", "process.parent.executable", "process.parent.name"}
)


def _ecs_process(sysmon: Event) -> Event:
    domain, account = split_user(sysmon.get("User"))
    return {
        "event.category": "process",
        "event.type": "start",
        "process.executable": sysmon.get("Image"),
        "process.name": file_name(sysmon.get("Image")),
        "process.command_line": sysmon.get("CommandLine"),
        "process.pid": _integer(sysmon.get("ProcessId")),
        "process.entity_id": sysmon.get("ProcessGuid"),
        "process.working_directory": sysmon.get("CurrentDirectory"),
        "process.pe.original_file_name": sysmon.get("OriginalFileName"),
        "process.parent.executable": sysmon.get("ParentImage"),
        "process.parent.name": file_name(sysmon.get("ParentImage")),
        "process.parent.command_line": sysmon.get("ParentCommandLine"),
        "process.parent.pid": _integer(sysmon.get("ParentProcessId")),
        "user.domain": domain,
        "user.name": account,
    }


def _ecs_registry(sysmon: Event) -> Event:
    target = sysmon.get("TargetObject")
    key, value_name = split_target_object(target, long_hive=False)
    hive, _, key_without_hive = key.partition("\\") if key else (None, "", "")
    details = sysmon.get("Details")
    domain, account = split_user(sysmon.get("User"))
    return {
        "event.category": "registry",
        "event.type": "change",
        "registry.path": target,
        "registry.hive": hive or None,
        "registry.key": key_without_hive or None,
        "registry.value": value_name,
        "registry.data.strings": [details] if details is not None else None,
        "process.executable": sysmon.get("Image"),
        "process.name": file_name(sysmon.get("Image")),
        "process.pid": _integer(sysmon.get("ProcessId")),
        "process.entity_id": sysmon.get("ProcessGuid"),
        "user.domain": domain,
        "user.name": account,
    }


def file_name(path: object) -> str | None:
    """Return the last backslash-separated segment of a Windows path."""
    if not isinstance(path, str) or not path:
        return None
    return path.rpartition("\\")[2]


def folder(path: object) -> str | None:
    """Return a Windows path without its last segment, or None when it has no folder."""
    if not isinstance(path, str) or "\\" not in path:
        return None
    return path.rpartition("\\")[0]


def split_user(user: object) -> tuple[str | None, str | None]:
    """Split `DOMAIN\\name` into (domain, name); a name without a domain keeps domain None."""
    if not isinstance(user, str) or not user:
        return None, None
    domain, separator, name = user.partition("\\")
    if not separator:
        return None, user
    return domain, name


def split_target_object(target: object, long_hive: bool = True) -> tuple[str | None, str | None]:
    """Split Sysmon's TargetObject into (registry key, value name) at the last backslash.

    With long_hive, a short hive name (HKLM) is written out as MDE shows it
    (HKEY_LOCAL_MACHINE). The rest of the key keeps its recorded letter case.
    """
    if not isinstance(target, str) or "\\" not in target:
        return None, None
    key, _, value_name = target.rpartition("\\")
    if long_hive:
        hive, separator, rest = key.partition("\\")
        key = HIVES.get(hive.upper(), hive) + separator + rest
    return key, value_name


def registry_data(details: object) -> tuple[str | None, str | None]:
    """Return (RegistryValueData, RegistryValueType) for Sysmon's Details text.

    Sysmon writes numbers as `DWORD (0x00000002)` and `QWORD (0xHIGH-0xLOW)`; MDE shows them
    as decimal text. Other data is kept as recorded, with no type, because Sysmon does not
    record the type of string values.
    """
    if not isinstance(details, str):
        return None, None
    dword = DWORD_PATTERN.match(details)
    if dword:
        return str(int(dword.group(1), 16)), "Dword"
    qword = QWORD_PATTERN.match(details)
    if qword:
        high, low = (int(group, 16) for group in qword.groups())
        return str(high << 32 | low), "Qword"
    return details, None


def _device_name(sysmon: Event) -> str | None:
    name = sysmon.get("Hostname") or sysmon.get("Computer")
    return name.lower() if isinstance(name, str) else None


def _integer(value: object) -> int | None:
    """Read an integer that Sysmon writes in decimal or as 0x hexadecimal text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None
