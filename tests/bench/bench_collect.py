"""Bench (collect): 1,000 healthy emulated devices, NTLM with message encryption over HTTP, 20 ms injected latency per
request, read by ``ansible-playbook`` in one task with ``winfleet.autopilot.fleet_hardware_hash_info``.

It measures, in the same run:

* the collector: devices/s of the whole ``ansible-playbook`` run (start to exit; the task writes the CSV files and
  the journal, as in a campaign) and of the task alone, and the controller's CPU per device (``ansible-playbook`` and
  its workers and processes, start-up included);
* the floor: the same five WS-Man exchanges per device (``_wsman_collect.collect``) with the same client library, in
  a plain loop without Ansible, over a sample of the devices: its CPU per device.

Then, in the same run, **Kerberos**: a Samba AD DC (the KDC) is started, the same number of devices (another address
range) are joined to its domain (computer accounts with HTTP/<fqdn> SPNs, keys exported by Samba) and refuse NTLM,
and the same playbook reads them with ``ansible_winrm_transport: kerberos`` (a password: one TGT per collector
process, one service ticket per device; message encryption over HTTP): its devices/s and controller CPU per device
are reported beside NTLM's (``kerberos`` in the JSON; ``skipped`` with the reason when Samba or the GSSAPI bindings
are missing, ``--kerberos-devices 0`` to leave it out).

The lab runs in its own process; its CPU is reported apart. Prints the figures and one line ``BENCH_COLLECT {json}``.
Exit 0 with the figures; ``--strict`` exits 1 when a goal (>= 100 devices/s, CPU per device <= 1.5x the floor) is
missed.

    python tests/bench/bench_collect.py [--devices 1000] [--concurrency 256] [--floor-sample 200]
                                        [--kerberos-devices 1000]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / ".build" / "collections"))

from winfleet_lab.fixtures_wsman import BIN, LabProcess, ansible_env  # noqa: E402


def fleet_playbook(**options):
    """A playbook that reads the group windows in one fleet_hardware_hash_info task with ``options`` (values are
    YAML), then prints the task's summary (debug runs in the worker: no module start-up)."""
    lines = "".join("        %s: %s\n" % kv for kv in options.items())
    return ("- name: Collect hardware hashes (bench)\n  hosts: windows\n  gather_facts: false\n  tasks:\n"
            "    - name: Read every device\n      winfleet.autopilot.fleet_hardware_hash_info:\n%s"
            "      run_once: true\n      register: fleet\n\n"
            "    - name: Print the summary\n      ansible.builtin.debug:\n        var: fleet.summary\n"
            "      run_once: true\n" % lines)


def printed_summary(stdout):
    """The summary the playbook's debug task printed."""
    start = stdout.index('"fleet.summary": ') + len('"fleet.summary": ')
    return json.JSONDecoder().raw_decode(stdout[start:])[0]


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def reference_cpu_seconds():
    """CPU seconds of a fixed pure-Python loop, printed with the figures to tell a slow machine from a regression."""
    t0 = time.process_time()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.process_time() - t0


def fleet_run(inventory, workdir, concurrency, env=None):
    workdir.mkdir(parents=True, exist_ok=True)
    playbook = workdir / "collect.yml"
    playbook.write_text(fleet_playbook(csv_dir='"{{ csv_dir }}"', journal='"{{ journal }}"',
                                       concurrency='"{{ concurrency }}"'))
    cmd = [str(BIN / "ansible-playbook"), "-i", inventory, str(playbook), "-e",
           json.dumps({"csv_dir": str(workdir / "csv"), "journal": str(workdir / "campaign"), "concurrency": concurrency})]
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(**(env or {})), check=False)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit("bench_collect: the collect run failed (exit %d)" % proc.returncode)
    return wall, cpu, printed_summary(proc.stdout)


def floor(base_address, sample, latency_ms):
    """CPU seconds per device of the five exchanges in a plain loop (same client, same settings as the inventory)."""
    from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman import WSManClient, prewarm
    from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman_collect import collect

    prewarm()
    first = ipaddress.IPv4Address(base_address)

    def read(i):
        client = WSManClient(host=str(first + i), port=5985, scheme="http", transport="ntlm", username="admin",
                             password="Fleet-Pass-1", label="pc%04d" % i)
        try:
            collect(client)
        finally:
            client.close()

    read(0)  # imports and first-use set-up, as the collector's warm-up does
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(1, sample + 1):
        read(i)
    return (time.process_time() - cpu0) / sample, time.perf_counter() - t0


def kerberos_run(work, devices, base_address, latency_ms, concurrency, seed=2027):
    """The same read over Kerberos, from devices that refuse NTLM, with the Samba DC as the KDC: figures, or
    ``{"skipped": why}``."""
    from winfleet_lab import kerberos, samba
    from winfleet_lab.wsman.fleet import Fleet

    why = kerberos.kerberos_missing() or ", ".join(samba.samba_missing())
    if why:
        return {"skipped": "missing %s (tools/install-kerberos.sh, make sysdeps)" % why}
    password = "Bench-Kerb-2027!"
    dc = samba.SambaDC(work / "dc")
    try:
        dc.start()
    except Exception as exc:  # another DC on the ports, not root, ...
        return {"skipped": "the Samba DC did not start: %s" % str(exc).splitlines()[0]}
    try:
        conf = kerberos.write_krb5_conf(work / "krb5.conf")
        principal = kerberos.add_user(dc, "benchcollector", password)
        fleet = Fleet.generate(seed=seed, count=devices, base_address=base_address, domain=samba.REALM.lower(),
                               username=principal, password=password)
        t0 = time.perf_counter()
        keytab = kerberos.join_devices(dc, fleet.hosts, work / "devices.keytab")
        join_s = time.perf_counter() - t0
        env = {"KRB5_CONFIG": conf, "KRB5CCNAME": "MEMORY:bench"}
        with LabProcess(work / "krb-lab", "--count", devices, "--healthy", "--base-address", base_address, "--no-https",
                        "--latency-ms", latency_ms, "--seed", seed, "--domain", samba.REALM.lower(), "--no-ntlm",
                        "--keytab", keytab, env=env) as lab:
            inventory = fleet.write_inventory(
                str(work / "krb-inventory.ini"), transport="kerberos",
                host_vars={h.name: {"ansible_winrm_kerberos_hostname_override": kerberos.device_fqdn(h)}
                           for h in fleet.hosts})
            lab_cpu0 = lab.cpu_seconds()
            wall, cpu, summary = fleet_run(inventory, work / "krb-run", concurrency, env=env)
            lab_cpu = lab.cpu_seconds() - lab_cpu0
    finally:
        dc.stop()
    collected = summary["collected"]
    return {"devices": devices, "collected": collected, "devices_per_s": round(collected / wall, 1),
            "wall_s": round(wall, 2), "task_devices_per_s": summary["devices_per_s"],
            "controller_cpu_ms_per_device": round(1000 * cpu / max(collected, 1), 2),
            "lab_cpu_ms_per_device": round(1000 * lab_cpu / max(collected, 1), 2), "join_s": round(join_s, 1),
            "by_error": summary.get("by_error"), "auth": "kerberos (password) + message encryption over http"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--floor-sample", type=int, default=200, help="devices read in the plain loop (default 200)")
    ap.add_argument("--base-address", default="127.0.32.1")
    ap.add_argument("--kerberos-devices", type=int, default=None,
                    help="devices read over Kerberos in the same run (default: --devices; 0: none)")
    ap.add_argument("--kerberos-base-address", default="127.0.48.1")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    a = ap.parse_args(argv)

    reference = reference_cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        work = pathlib.Path(tmp)
        with LabProcess(work / "lab", "--count", a.devices, "--healthy", "--base-address", a.base_address, "--no-https",
                        "--latency-ms", a.latency_ms, "--seed", 2026) as lab:
            lab_cpu0 = lab.cpu_seconds()
            wall, cpu, summary = fleet_run(lab.inventory, work, a.concurrency)
            lab_cpu = lab.cpu_seconds() - lab_cpu0
            floor_cpu, floor_wall = floor(a.base_address, min(a.floor_sample, a.devices - 1), a.latency_ms)
        csv_files = len(list((work / "csv").glob("*.csv")))
        krb_devices = a.devices if a.kerberos_devices is None else a.kerberos_devices
        krb = (kerberos_run(work / "kerberos", krb_devices, a.kerberos_base_address, a.latency_ms, a.concurrency)
               if krb_devices > 0 else {"skipped": "--kerberos-devices 0"})
    collected = summary["collected"]
    cpu_ms = 1000 * cpu / max(collected, 1)
    floor_ms = 1000 * floor_cpu
    figures = {
        "devices": a.devices, "collected": collected, "csv_files": csv_files,
        "devices_per_s": round(collected / wall, 1), "wall_s": round(wall, 2),
        "task_devices_per_s": summary["devices_per_s"], "task_elapsed_s": summary["elapsed_s"],
        "controller_cpu_ms_per_device": round(cpu_ms, 2), "floor_cpu_ms_per_device": round(floor_ms, 2),
        "cpu_vs_floor": round(cpu_ms / floor_ms, 2) if floor_ms else None,
        "lab_cpu_ms_per_device": round(1000 * lab_cpu / max(collected, 1), 2),
        "floor_sample": min(a.floor_sample, a.devices - 1), "floor_wall_s": round(floor_wall, 2),
        "concurrency": summary["concurrency"], "latency_ms": a.latency_ms,
        "auth": "ntlm + message encryption over http", "reference_loop_cpu_s": round(reference, 3),
        "kerberos": krb,
    }
    print("bench_collect: %d devices, %s, %d ms latency/request; machine reference loop %.2f s of CPU"
          % (a.devices, figures["auth"], a.latency_ms, reference))
    print("  fleet_hardware_hash_info, concurrency %d: %d collected in %.1f s = %.1f devices/s (the task alone: %.1f s, "
          "%.1f devices/s)" % (summary["concurrency"], collected, wall, figures["devices_per_s"], summary["elapsed_s"],
                               summary["devices_per_s"]))
    print("  controller CPU %.2f ms/device (ansible-playbook and its workers, start-up included); lab CPU %.2f ms/device"
          % (cpu_ms, figures["lab_cpu_ms_per_device"]))
    print("  floor: the five exchanges in a plain loop, %d devices: %.2f ms CPU/device -> collector %.2fx the floor"
          % (figures["floor_sample"], floor_ms, figures["cpu_vs_floor"] or 0))
    if "skipped" in krb:
        print("  kerberos: skipped (%s)" % krb["skipped"])
    else:
        print("  kerberos (devices refusing NTLM, Samba as the KDC): %d of %d collected in %.1f s = %.1f devices/s "
              "(NTLM: %.1f); controller CPU %.2f ms/device (NTLM: %.2f); lab CPU %.2f ms/device; joining took %.1f s"
              % (krb["collected"], krb["devices"], krb["wall_s"], krb["devices_per_s"], figures["devices_per_s"],
                 krb["controller_cpu_ms_per_device"], cpu_ms, krb["lab_cpu_ms_per_device"], krb["join_s"]))
    goals = {"devices_per_s": figures["devices_per_s"] >= 100, "cpu_vs_floor": (figures["cpu_vs_floor"] or 99) <= 1.5,
             "complete": collected == a.devices and csv_files == a.devices}
    print("  goals: >= 100 devices/s -> %s, <= 1.5x the floor -> %s, every device -> %s"
          % tuple("met" if goals[k] else "MISSED" for k in ("devices_per_s", "cpu_vs_floor", "complete")))
    print("BENCH_COLLECT " + json.dumps(figures))
    if a.strict and not all(goals.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
