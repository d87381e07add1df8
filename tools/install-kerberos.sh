#!/usr/bin/env bash
# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Kerberos for the collection's clients (WinRM and LDAP through pyspnego) and for the labs (the Samba AD DC is the
# KDC, the WS-Man lab accepts Kerberos): the MIT Kerberos headers and tools (libkrb5-dev, krb5-user) from Debian,
# then the pinned gssapi and krb5 bindings (requirements/kerberos.txt, C extensions compiled against those headers:
# about a minute) into .venv. Checks that pyspnego really sees them (spnego._gss.HAS_GSSAPI, and IOV wrapping for
# WinRM message encryption).
# Idempotent: does nothing when pyspnego already does Kerberos in .venv.
# Never fails the build: when it cannot install (not root, no apt-get, no network), it says so loudly and exits 0;
# the Kerberos tests then skip with a message that names this script.
set -u

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
REQS="$ROOT/requirements/kerberos.txt"
CHECK='import importlib.metadata as m, spnego._gss as g, spnego._context; assert g.HAS_GSSAPI, g.GSSAPI_IMP_ERR; assert g.HAS_IOV, "gssapi without IOV: no WinRM message encryption"; print("install-kerberos.sh: pyspnego %s does Kerberos with gssapi %s and krb5 %s" % tuple(m.version(p) for p in ("pyspnego", "gssapi", "krb5")))'

loud() {
    echo "################################################################################" >&2
    echo "# install-kerberos.sh: $*" >&2
    echo "# The Kerberos tests (tests/integration/test_kerberos.py, ...) will be SKIPPED." >&2
    echo "# To run them: as root on Debian 12, apt-get install -y libkrb5-dev krb5-user gcc" >&2
    echo "# then run tools/install-kerberos.sh again." >&2
    echo "################################################################################" >&2
}

if [ ! -x "$PY" ]; then
    loud "$PY does not exist (run make venv first)"
    exit 0
fi
if "$PY" -c "$CHECK" 2>/dev/null; then
    exit 0
fi
if ! command -v krb5-config >/dev/null 2>&1 || ! command -v kinit >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        loud "libkrb5-dev, krb5-user or gcc is missing and this is not root: cannot install them"
        exit 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        loud "libkrb5-dev, krb5-user or gcc is missing and there is no apt-get on this machine"
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    APT=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
    if ! "${APT[@]}" install --no-install-recommends libkrb5-dev krb5-user gcc; then
        echo "install-kerberos.sh: first attempt failed, refreshing the package lists" >&2
        if ! { "${APT[@]}" update && "${APT[@]}" install --no-install-recommends libkrb5-dev krb5-user gcc; }; then
            loud "apt-get install libkrb5-dev krb5-user gcc failed"
            exit 0
        fi
    fi
fi
# --no-deps: the pins are complete (requirements/kerberos.txt); pyspnego itself comes from requirements/dev.txt.
# The two C extensions compile at the same time (one core each; pip would build them one after the other), then
# install from the wheels just built.
WHEELS="$(mktemp -d)"
trap 'rm -rf "$WHEELS"' EXIT
pids=()
for req in $(grep -v '^[[:space:]]*#' "$REQS"); do
    "$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$WHEELS" "$req" &
    pids+=("$!")
done
built=1
for pid in "${pids[@]}"; do
    wait "$pid" || built=0
done
if [ "$built" -ne 1 ] || ! "$PY" -m pip install -q --disable-pip-version-check --no-deps --no-index \
        --find-links "$WHEELS" -r "$REQS"; then
    loud "pip install -r requirements/kerberos.txt failed (gssapi and krb5 compile against libkrb5-dev)"
    exit 0
fi
if ! "$PY" -c "$CHECK"; then
    loud "gssapi and krb5 are installed but pyspnego cannot do Kerberos with them"
    exit 0
fi
exit 0
