"""The Sysmon to MDE and ECS mapping that lets every corpus event run in every engine."""

from __future__ import annotations

import pytest

from converter.event_mapping import (
    EventShapeError,
    mde_to_sysmon,
    registry_data,
    split_target_object,
    sysmon_to_ecs,
    sysmon_to_mde,
)

PROCESS = {
    "EventID": 1,
    "Hostname": "WORKSTATION5",
    "Image": "C:\\Windows\\System32\\sc.exe",
    "CommandLine": "sc  config Fax binPath= x",
    "User": "WORKSTATION5\\wardog",
    "ParentImage": "C:\\Windows\\System32\\cmd.exe",
    "ParentCommandLine": '"C:\\windows\\system32\\cmd.exe" ',
    "ProcessId": "3112",
    "ParentProcessId": "8692",
    "LogonId": "0xc61d9",
    "OriginalFileName": "sc.exe",
}
REGISTRY = {
    "EventID": 13,
    "Hostname": "WORKSTATION5",
    "EventType": "SetValue",
    "Image": "C:\\windows\\system32\\services.exe",
    "TargetObject": "HKLM\\System\\CurrentControlSet\\Services\\Fax\\ImagePath",
    "Details": "C:\\windows\\system32\\fxssvc.exe",
    "ProcessId": "716",
}


def test_process_row_columns() -> None:
    row = sysmon_to_mde(PROCESS)
    assert row["FileName"] == "sc.exe"
    assert row["FolderPath"] == "C:\\Windows\\System32\\sc.exe"
    assert row["ProcessCommandLine"] == "sc  config Fax binPath= x"
    assert row["InitiatingProcessFileName"] == "cmd.exe"
    assert row["InitiatingProcessFolderPath"] == "C:\\Windows\\System32"
    assert row["InitiatingProcessCommandLine"] == '"C:\\windows\\system32\\cmd.exe" '
    assert row["AccountDomain"] == "WORKSTATION5"
    assert row["AccountName"] == "wardog"
    assert row["DeviceName"] == "workstation5"
    assert row["ProcessId"] == 3112
    assert row["InitiatingProcessId"] == 8692
    assert row["LogonId"] == 0xC61D9
    assert row["ActionType"] == "ProcessCreated"


def test_registry_row_splits_target_object() -> None:
    row = sysmon_to_mde(REGISTRY)
    assert row["RegistryKey"] == "HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services\\Fax"
    assert row["RegistryValueName"] == "ImagePath"
    assert row["RegistryValueData"] == "C:\\windows\\system32\\fxssvc.exe"
    assert row["InitiatingProcessFileName"] == "services.exe"
    assert row["InitiatingProcessId"] == 716
    assert row["ActionType"] == "RegistryValueSet"


@pytest.mark.parametrize(
    ("details", "data", "kind"),
    [
        ("DWORD (0x00000002)", "2", "Dword"),
        ("DWORD (0x0000001a)", "26", "Dword"),
        ("QWORD (0x00000001-0x00000002)", str((1 << 32) + 2), "Qword"),
        ("Binary Data", "Binary Data", None),
        ("DWORD 2", "DWORD 2", None),
    ],
)
def test_registry_data_in_decimal(details: str, data: str, kind: str | None) -> None:
    assert registry_data(details) == (data, kind)


def test_short_hive_written_out() -> None:
    assert split_target_object("HKU\\S-1-5-18\\x\\Start") == ("HKEY_USERS\\S-1-5-18\\x", "Start")
    assert split_target_object("HKLM\\a\\b", long_hive=False) == ("HKLM\\a", "b")
    assert split_target_object("nobackslash") == (None, None)


def test_ecs_process_fields() -> None:
    document = sysmon_to_ecs(PROCESS)
    assert document["process.executable"] == "C:\\Windows\\System32\\sc.exe"
    assert document["process.executable.caseless"] == "c:\\windows\\system32\\sc.exe"
    assert document["process.name"] == "sc.exe"
    assert document["process.command_line"] == "sc  config Fax binPath= x"
    assert document["process.parent.executable.caseless"] == "c:\\windows\\system32\\cmd.exe"
    assert document["user.name"] == "wardog"
    assert document["event.category"] == "process"
    assert document["event.code"] == "1"
    assert document["winlog.event_data.CommandLine"] == "sc  config Fax binPath= x"


def test_ecs_registry_fields() -> None:
    document = sysmon_to_ecs(REGISTRY)
    assert document["registry.path"] == REGISTRY["TargetObject"]
    assert document["registry.hive"] == "HKLM"
    assert document["registry.key"] == "System\\CurrentControlSet\\Services\\Fax"
    assert document["registry.value"] == "ImagePath"
    assert document["registry.data.strings"] == ["C:\\windows\\system32\\fxssvc.exe"]
    assert document["winlog.event_data.Details"] == "C:\\windows\\system32\\fxssvc.exe"
    assert document["process.executable.caseless"] == "c:\\windows\\system32\\services.exe"
    assert document["event.category"] == "registry"


def test_mde_row_to_sysmon() -> None:
    row = {
        "FileName": "sc.exe",
        "FolderPath": "C:\\Windows\\System32\\sc.exe",
        "ProcessCommandLine": '"sc.exe" config WindowsAzureGuestAgent error= normal',
        "InitiatingProcessFileName": "WaAppAgent.exe",
        "InitiatingProcessFolderPath": "c:\\windowsazure\\guestagent",
        "AccountDomain": "nt authority",
        "AccountName": "system",
    }
    sysmon = mde_to_sysmon("DeviceProcessEvents", row)
    assert sysmon["EventID"] == 1
    assert sysmon["Image"] == "C:\\Windows\\System32\\sc.exe"
    assert sysmon["ParentImage"] == "c:\\windowsazure\\guestagent\\WaAppAgent.exe"
    assert sysmon["User"] == "nt authority\\system"
    assert (
        sysmon_to_mde(sysmon)["InitiatingProcessFolderPath"] == row["InitiatingProcessFolderPath"]
    )


@pytest.mark.parametrize("event", [{"EventID": 12}, {"EventID": "x"}, {}])
def test_unmapped_event_rejected(event: dict[str, object]) -> None:
    with pytest.raises(EventShapeError):
        sysmon_to_mde(event)
    with pytest.raises(EventShapeError):
        sysmon_to_ecs(event)


def test_registry_row_rejected_for_sysmon() -> None:
    with pytest.raises(EventShapeError):
        mde_to_sysmon("DeviceRegistryEvents", {})
