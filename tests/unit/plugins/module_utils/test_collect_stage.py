"""The collect stage's events for devices found in hash files."""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.module_utils._collect_stage import file_events, winrm_serials

JOURNAL = {
    "PF3XK2L9": {"collect": {"outcome": "changed", "detail": {"source": "winrm", "host": "pc0001"}}},
    "5CD1234ABC": {"collect": {"outcome": "changed", "detail": {"source": "oem/a.csv:2"}}},
    "pc0003": {"collect": {"outcome": "failed", "detail": {"source": "winrm", "host": "pc0003"}}},
}


def test_winrm_serials_are_those_read_over_winrm():
    assert sorted(winrm_serials(JOURNAL)) == ["PF3XK2L9", "pc0003"]
    assert winrm_serials(None) == []


def test_file_devices_become_events_unless_read_over_winrm():
    devices = [
        {"serial_number": "PF3XK2L9", "source": "/c/collected/files/usb/PC1.csv:2", "manufacturer": "LENOVO",
         "model": "21CB", "warnings": []},
        {"serial_number": "5CD1234ABC", "source": "/c/collected/files/oem/a.csv:2", "manufacturer": "HP",
         "model": "EliteBook", "warnings": ["stale capture"]},
        {"serial_number": "", "source": "/c/collected/files/oem/a.csv:3"},
    ]
    assert file_events(devices, JOURNAL, "/c/collected/files") == [
        {"serial": "5CD1234ABC", "outcome": "changed", "status": "Hash collected",
         "detail": {"source": "oem/a.csv:2", "host": "", "findings": ["stale capture"], "manufacturer": "HP",
                    "model": "EliteBook"}},
    ]
    assert file_events([], JOURNAL, "/c/collected/files") == []
