# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A campaign of 30 devices with mixed outcomes over two runs, as journal batches, and what its report must say.

Used by test_campaign_report.py (through ansible-playbook) and test_report_browser.py (in Chromium). The batches
are what the roles would pass to campaign_journal: ``[{"stage", "run", "events"}]`` in the order they happen.
"""

from __future__ import annotations

XSS_NAME = "<img src=x onerror=\"document.title='pwned'\">PC-&amp;-'01'"
XSS_FINDING = "</td><script>document.title='pwned'</script>"
FORMULA_NAME = "=HYPERLINK(\"http://example.invalid/x\",\"click\")"

MODELS = [("LENOVO", "21CB0041US"), ("Dell Inc.", "Latitude 5440"), ("HP", "EliteBook 840 G10"),
          ("Microsoft Corporation", "Surface Laptop 5")]
SOURCES = ["winrm", "usb:E:/hashes/%s.csv", "oem:lenovo-order-4471.csv", "configmgr:report-2026-11.csv"]

# (count, final state, failed stage, cause)
PLAN = [
    (17, "Ready for user", "", ""),
    (2, "Active", "", ""),
    (2, "Device already registered", "", ""),
    (2, "Registration pending", "", ""),
    (2, "Not collected", "collect", "Host unreachable"),
    (1, "Not collected", "collect", "Access denied"),
    (1, "Not in upload file", "merge", "hardware hash is truncated (4n+1 characters)"),
    (1, "Device claimed by another organization", "register", "Device claimed by another organization"),
    (1, "Hardware hash not valid", "register", "Hardware hash not valid"),
    (1, "Licence missing", "deliver", "Licence missing"),
]


def devices():
    """``[(serial, name, final_state, failed_stage, cause)]``, 30 of them."""
    out = []
    index = 0
    for count, state, stage, cause in PLAN:
        for _n in range(count):
            serial = "CZC%05d" % (4100 + index * 7)
            name = "PC-%03d" % index
            if index == 3:
                name = XSS_NAME
            elif index == 5:
                name = FORMULA_NAME
            elif index == 8:
                name = "Büro-Ω-PC"
            out.append((serial, name, state, stage, cause))
            index += 1
    return out


def batches():
    """The journal batches of two runs. Run 1 could not reach two hosts that run 2 then collected."""
    r1, r2 = "2026-11-21T09:00:00Z", "2026-11-22T09:00:00Z"
    devs = devices()
    collect1, collect2, merge, cleanup, register, deliver = [], [], [], [], [], []
    for i, (serial, name, state, stage, cause) in enumerate(devs):
        make, model = MODELS[i % len(MODELS)]
        source = SOURCES[i % len(SOURCES)]
        if "%s" in source:
            source = source % serial
        findings = []
        if i % 6 == 1:
            findings.append("TPM 1.2: Autopilot self-deploying and pre-provisioning need TPM 2.0")
        if i % 9 == 2:
            findings.append("capture is 400 days old")
        if i == 3:
            findings.append(XSS_FINDING)
        collect_ok = {"serial": serial, "outcome": "ok", "status": "Hash collected",
                      "detail": {"source": source, "host": name, "findings": findings, "manufacturer": make,
                                 "model": model}}
        if stage == "collect":
            collect1.append({"serial": serial, "outcome": "failed", "status": cause,
                             "detail": {"source": "winrm", "host": name, "findings": []}})
            continue
        if i in (10, 11):  # unreachable in run 1, collected in run 2
            collect1.append({"serial": serial, "outcome": "failed", "status": "Host unreachable",
                             "detail": {"source": "winrm", "host": name, "findings": []}})
            collect2.append(collect_ok)
        else:
            collect1.append(collect_ok)
        if stage == "merge":
            merge.append({"serial": serial, "outcome": "failed", "status": cause,
                          "detail": {"file": "upload/registration.csv", "line": 0}})
            continue
        merge.append({"serial": serial, "outcome": "changed", "status": "In upload file",
                      "detail": {"file": "upload/registration.csv", "line": i + 2, "batch": 1}})
        if i % 4 == 0:
            cleanup.append({"serial": serial, "outcome": "changed", "status": "Cleaned",
                            "detail": {"removed": [{"service": "ad", "id": "CN=%s" % name, "name": name},
                                                   {"service": "intune", "id": "md-%d" % i, "name": name}]}})
        else:
            cleanup.append({"serial": serial, "outcome": "ok", "status": "Nothing to clean", "detail": {"removed": []}})
        if stage == "register":
            register.append({"serial": serial, "outcome": "failed", "status": cause,
                             "detail": {"import_id": "winfleet-abc", "error_code": 808 if "claimed" in cause else 810,
                                        "request_id": "req-%d" % i}})
            continue
        if state in ("Device already registered", "Registration pending"):
            register.append({"serial": serial, "outcome": "ok" if "already" in state else "changed", "status": state,
                             "detail": {"import_id": "winfleet-abc"}})
            continue
        register.append({"serial": serial, "outcome": "changed", "status": "Registered",
                         "detail": {"import_id": "winfleet-abc"}})
        user = "user%02d@contoso.example" % i
        if stage == "deliver":
            deliver.append({"serial": serial, "outcome": "failed", "status": cause,
                            "detail": {"group_tag": "FLEET-A", "assigned_user": user, "licence": "none",
                                       "prerequisites": ["Intune licence"]}})
        else:
            deliver.append({"serial": serial, "outcome": "changed" if state == "Ready for user" else "ok",
                            "status": state,
                            "detail": {"group_tag": "FLEET-A", "assigned_user": user, "licence": "Microsoft 365 E3",
                                       "prerequisites": []}})
    return [
        {"stage": "collect", "run": r1, "events": collect1},
        {"stage": "collect", "run": r2, "events": collect2},
        {"stage": "merge", "run": r2, "events": merge},
        {"stage": "cleanup", "run": r2, "events": cleanup},
        {"stage": "register", "run": r2, "events": register},
        {"stage": "deliver", "run": r2, "events": deliver},
    ]


def expected():
    devs = devices()
    by_status = {}
    for _serial, _name, state, _stage, _cause in devs:
        by_status[state] = by_status.get(state, 0) + 1
    failed = [d for d in devs if d[3]]
    return {
        "devices": len(devs),
        "by_status": by_status,
        "failed": len(failed),
        "failed_percentage": round(100.0 * len(failed) / len(devs), 1),
        "failed_serials": sorted(d[0] for d in failed),
        "cause": {d[0]: d[4] for d in failed},
    }
