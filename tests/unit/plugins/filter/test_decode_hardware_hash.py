from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.winfleet.autopilot.plugins.filter.decode_hardware_hash import FilterModule
from winfleet_lab import hashgen


def test_filter_is_registered_and_reports():
    filt = FilterModule().filters()["decode_hardware_hash"]
    dev = hashgen.fleet(9, 1)[0]
    out = filt(hashgen.build_hash(dev), serial_number=dev.serial)
    assert out["valid"] is True and out["serial_number"] == dev.serial
    bad = filt("not a hash at all")
    assert bad["valid"] is False and bad["errors"]
    assert filt(None)["errors"] == ["hardware hash is empty"]
    assert filt(42)["valid"] is False


def test_filter_rejects_bad_stale_days():
    with pytest.raises(AnsibleFilterError):
        FilterModule().filters()["decode_hardware_hash"]("x", stale_days="soon")
